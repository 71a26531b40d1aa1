"""A deployment as vendors ship it: several templates linked by ``Export``/``Fn::ImportValue``,
and parents whose ``AWS::CloudFormation::Stack`` children are expanded with the parameters
the parent passes. Each stack is resolved by the ordinary resolver; this module only feeds it
what the other stacks provide, until nothing changes.

Export names are usually built from ``${AWS::StackName}``, which a template alone cannot know.
Unless the stack names are given, each exporting stack's name is inferred from the names the
importers ask for (``dashboard-network-Vpc`` asked, ``${AWS::StackName}-Vpc`` exported: the
stack is ``dashboard-network``), consistently for all its exports. An import that nothing in
the set exports is a problem that names the export and the importing resource; it is never
guessed.

Logical IDs that two stacks share are kept apart as ``<stack>/<LogicalId>``: references
resolved in one stack, exports included, are renamed before any other stack reads them.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stackproof.template.loader import Template, TemplateError, load_template
from stackproof.template.resolver import ResolvedResource, ResolvedTemplate, resolve
from stackproof.template.values import AttrRef, ResourceRef, Symbolic, Unknown

STACK = "AWS::CloudFormation::Stack"
TEMPLATE_SUFFIXES = (".yaml", ".yml", ".json", ".template")
NOT_TEMPLATES = (".params.json", ".parts.yaml", ".parameters.json")
STACK_NAME = "${AWS::StackName}"
MISSING_EXPORT = "no stack of the set exports "  # the resolver's reasons for an import it cannot answer
UNKNOWN_EXPORT_NAME = "Fn::ImportValue of an export name not known offline: "


class StackSetError(TemplateError):
    """The set cannot be assembled (nothing matched, a duplicate export, a nested stack whose
    template cannot be found): one message, exit 2."""


@dataclass(frozen=True)
class SetProblem:
    """Something about the set a run must show as ERROR (it decides nothing by itself)."""

    stack: str
    file: str
    line: int | None
    resource: str | None
    message: str


@dataclass
class Stack:
    """One stack of the set: a top-level template or a nested child."""

    name: str
    template: Template
    parameters: dict[str, Any]
    parent: str | None = None
    logical_id: str | None = None  # the AWS::CloudFormation::Stack resource in the parent
    stack_name: str | None = None  # the name CloudFormation knows it by, when given or inferred
    resolved: ResolvedTemplate | None = None
    renames: dict[str, str] = field(default_factory=dict)


@dataclass
class ResolvedSet:
    stacks: list[Stack]
    problems: list[SetProblem]
    imports: int = 0  # export names some stack imported and another provided

    def resolved(self) -> list[tuple[Stack, ResolvedTemplate]]:
        return [(s, s.resolved) for s in self.stacks if s.resolved is not None]


def expand(specs: Sequence[str]) -> list[Path]:
    """The template files ``--template`` names: files, directories (their templates, not
    parameter or partition files) and glob patterns, in order, each once."""
    found: list[Path] = []
    for spec in specs:
        path = Path(spec)
        if path.is_dir():
            matches = sorted(p for p in path.iterdir() if _is_template(p))
            if not matches:
                raise StackSetError(f"{spec}: no templates in this directory ({', '.join(TEMPLATE_SUFFIXES)})")
        elif any(ch in spec for ch in "*?["):
            matches = sorted(Path(p) for p in glob.glob(spec, recursive=True) if _is_template(Path(p)))
            if not matches:
                raise StackSetError(f"{spec}: no template matches this pattern")
        else:
            matches = [path]
        found += [m for m in matches if m.resolve() not in {f.resolve() for f in found}]
    return found


def _is_template(path: Path) -> bool:
    return path.is_file() and path.name.endswith(TEMPLATE_SUFFIXES) and not path.name.endswith(NOT_TEMPLATES)


class AskedExports(Mapping[str, Any]):
    """The exports a set provides (a template's ``imports``), recording every name an importer
    asks for: what names the exporting stacks, and what no stack answers."""

    def __init__(self, provided: Mapping[str, Any]) -> None:
        self.provided = provided
        self.asked: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.asked.add(str(name))
        return name in self.provided

    def __getitem__(self, name: str) -> Any:
        return self.provided[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.provided)

    def __len__(self) -> int:
        return len(self.provided)


def _rename(value: Any, renames: Mapping[str, str]) -> Any:
    if not renames:
        return value
    if isinstance(value, ResourceRef):
        return ResourceRef(renames.get(value.logical_id, value.logical_id))
    if isinstance(value, AttrRef):
        return AttrRef(renames.get(value.logical_id, value.logical_id), value.attribute)
    if isinstance(value, Symbolic):
        if not value.refs & set(renames):
            return value
        text = str(value)
        for old, new in renames.items():
            text = text.replace("${" + old + "}", "${" + new + "}").replace("${" + old + ".", "${" + new + ".")
        return Symbolic(text, frozenset(renames.get(r, r) for r in value.refs), secret=value.secret)
    if isinstance(value, dict):
        return {k: _rename(v, renames) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename(v, renames) for v in value]
    return value


def _renamed(resolved: ResolvedTemplate, renames: Mapping[str, str]) -> ResolvedTemplate:
    if not renames:
        return resolved
    resources = {
        renames.get(lid, lid): replace(r, logical_id=renames.get(lid, lid), properties=_rename(r.properties, renames))
        for lid, r in resolved.resources.items()
    }
    return replace(
        resolved,
        resources=resources,
        outputs=_rename(resolved.outputs, renames),
        exports={k: _rename(v, renames) for k, v in resolved.exports.items()},
    )


def unknowns(value: Any) -> Iterator[Unknown]:
    """Every Unknown inside a resolved value."""
    if isinstance(value, Unknown):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from unknowns(v)
    elif isinstance(value, list):
        for v in value:
            yield from unknowns(v)


def _pattern(symbolic: str) -> re.Pattern[str] | None:
    """A regular expression for an export name built from ``${AWS::StackName}`` and nothing
    else unknown; None for any other symbolic name."""
    parts = str(symbolic).split(STACK_NAME)
    if len(parts) < 2 or any("${" in p for p in parts):
        return None
    return re.compile("(?P<stack>[A-Za-z][A-Za-z0-9-]*)".join(map(re.escape, parts)) + r"\Z")


class _SetResolver:
    def __init__(
        self, stacks: list[Stack], region: str, template_urls: Mapping[str, Path], max_depth: int = 10
    ) -> None:
        self.stacks = stacks
        self.region = region
        self.template_urls = template_urls
        self.max_depth = max_depth
        self.problems: list[SetProblem] = []

    def by_name(self) -> dict[str, Stack]:
        return {s.name: s for s in self.stacks}

    def provided(self, asked: set[str]) -> dict[str, Any]:
        """Export name to value over the set, inferring stack names from what was asked."""
        exports: dict[str, Any] = {}
        owners: dict[str, str] = {}
        for stack in self.stacks:
            if stack.resolved is None:
                continue
            if stack.stack_name is None:
                self._infer(stack, asked)
            for name, value in stack.resolved.exports.items():
                text = str(name)
                if isinstance(name, Symbolic) and STACK_NAME in text:
                    if stack.stack_name is None:
                        continue
                    text = text.replace(STACK_NAME, stack.stack_name)
                    if "${" in text:
                        continue
                if text in owners and owners[text] != stack.name:
                    raise StackSetError(
                        f"{stack.template.path}: export {text} is also exported by stack {owners[text]}"
                        " (CloudFormation refuses a second export of a name)"
                    )
                owners[text] = stack.name
                exports[text] = value
        return exports

    def _infer(self, stack: Stack, asked: set[str]) -> None:
        """The stack name under which most of ``stack``'s ``${AWS::StackName}`` exports are
        asked for; none when two names tie (the set is ambiguous: nothing is guessed)."""
        assert stack.resolved is not None
        votes: dict[str, int] = {}
        for name in stack.resolved.exports:
            pattern = _pattern(str(name)) if isinstance(name, Symbolic) else None
            for candidate in {m["stack"] for m in map(pattern.match, asked) if m} if pattern else ():
                votes[candidate] = votes.get(candidate, 0) + 1
        ranked = sorted(votes.items(), key=lambda item: -item[1])
        if ranked and (len(ranked) == 1 or ranked[0][1] > ranked[1][1]):
            stack.stack_name = ranked[0][0]

    def children(self, stack: Stack) -> None:
        """Discover (or update the parameters of) ``stack``'s nested stacks."""
        assert stack.resolved is not None
        depth = stack.name.count("/")
        known = {s.logical_id: s for s in self.stacks if s.parent == stack.name}
        for lid, resource in stack.resolved.resources.items():
            if resource.type != STACK or resource.exists is False:
                continue
            given = resource.properties.get("Parameters") or {}
            parameters = dict(given) if isinstance(given, dict) else {}
            if lid in known:
                known[lid].parameters = parameters
                continue
            path = self._template_of(stack, resource)
            if path is None:
                continue
            if depth + 1 > self.max_depth:
                raise StackSetError(
                    f"{stack.template.path}:{resource.line}: nested stacks deeper than {self.max_depth}"
                )
            child = Stack(f"{stack.name}/{lid}", load_template(path), parameters, parent=stack.name, logical_id=lid)
            self.stacks.append(child)

    def _template_of(self, stack: Stack, resource: ResolvedResource) -> Path | None:
        url = resource.properties.get("TemplateURL")
        where = f"{stack.template.path}:{resource.line_of('TemplateURL')}"
        if not isinstance(url, str) or isinstance(url, Symbolic):
            reason = url.reason if isinstance(url, Unknown) else f"{url!s} is not known offline"
            self._problem(stack, resource, f"nested stack {resource.logical_id}: its TemplateURL: {reason}")
            return None
        for prefix, directory in self.template_urls.items():
            if url.startswith(prefix):
                mapped = directory / url[len(prefix) :].lstrip("/")
                if not mapped.is_file():
                    raise StackSetError(f"{where}: {url} maps to {mapped}, which does not exist")
                return mapped
        if re.match(r"^[a-z][a-z0-9+.-]*://", url):
            self._problem(
                stack,
                resource,
                f"nested stack {resource.logical_id}: {url} is not a local file;"
                " map its location to a directory with --template-url PREFIX=DIR",
            )
            return None
        path = (stack.template.path.parent / url).resolve()
        if not path.is_file():
            raise StackSetError(f"{where}: nested stack {resource.logical_id}: no template at {path}")
        return path

    def _problem(self, stack: Stack, resource: ResolvedResource | None, message: str, line: int | None = None) -> None:
        self.problems.append(
            SetProblem(
                stack.name,
                str(stack.template.path),
                line if line is not None else (resource.line if resource else None),
                resource.logical_id if resource else None,
                message,
            )
        )

    def run(self) -> ResolvedSet:
        previous: str | None = None
        provided: dict[str, Any] = {}
        asked: set[str] = set()
        outputs: dict[str, dict[str, Any]] = {}
        for _ in range(4 * len(self.stacks) + 8):
            for stack in list(self.stacks):
                children = {s.logical_id: outputs.get(s.name) for s in self.stacks if s.parent == stack.name}
                nested = {lid: o for lid, o in children.items() if lid is not None and o is not None}
                recording = AskedExports(provided)
                resolved = resolve(
                    stack.template,
                    stack.parameters,
                    self.region,
                    imports=recording,
                    nested_outputs=nested,
                )
                asked |= recording.asked
                stack.resolved = _renamed(resolved, stack.renames)
                outputs[stack.name] = stack.resolved.outputs
                self.children(stack)
            self._apply_renames()
            provided = self.provided(asked)
            state = repr((sorted(provided), [(s.name, s.resolved and s.resolved.outputs) for s in self.stacks]))
            if state == previous:
                break
            previous = state
        self._missing_imports()
        return ResolvedSet(self.stacks, self.problems, len(asked & set(provided)))

    def _apply_renames(self) -> None:
        """Logical IDs two stacks share become ``<stack>/<LogicalId>`` in each of them."""
        seen: dict[str, list[Stack]] = {}
        for stack in self.stacks:
            for lid in stack.template.resources:
                seen.setdefault(str(lid), []).append(stack)
        for lid, holders in seen.items():
            if len(holders) > 1:
                for stack in holders:
                    stack.renames[lid] = f"{stack.name}/{lid}"

    def _missing_imports(self) -> None:
        for stack in self.stacks:
            assert stack.resolved is not None
            for resource in stack.resolved.resources.values():
                if resource.exists is False:
                    continue
                reported: set[str] = set()
                for unknown in unknowns(resource.properties):
                    if unknown.reason in reported:
                        continue
                    if unknown.reason.startswith(MISSING_EXPORT):
                        export = unknown.reason.removeprefix(MISSING_EXPORT)
                        message = f"{resource.logical_id} imports {export}, which no stack of the set exports"
                    elif unknown.reason.startswith(UNKNOWN_EXPORT_NAME):
                        why = unknown.reason.removeprefix(UNKNOWN_EXPORT_NAME)
                        message = (
                            f"{resource.logical_id} imports an export whose name is not known offline ({why});"
                            " give the parameters it is built from a value"
                        )
                    else:
                        continue
                    reported.add(unknown.reason)
                    self._problem(stack, resource, message, unknown.line)


def resolve_set(
    paths: Sequence[Path],
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    *,
    stack_names: Sequence[str] | None = None,
    template_urls: Mapping[str, Path] | None = None,
) -> ResolvedSet:
    """Resolve the templates at ``paths`` as one deployment. ``parameters`` apply by name to
    every stack that declares them (a name no stack declares is an error); ``stack_names``, in
    the order of ``paths``, are the names the stacks are deployed under (default: inferred from
    the exports the others import, else the file's stem); ``template_urls`` maps a nested
    stack's TemplateURL prefix (``s3://bucket/prefix``) to a local directory."""
    given = dict(parameters or {})
    if stack_names is not None and len(stack_names) != len(paths):
        raise StackSetError(f"{len(stack_names)} stack names for {len(paths)} templates")
    templates = [load_template(p) for p in paths]
    declared = {name for t in templates for name in t.parameters}
    unknown = sorted(set(given) - declared)
    if unknown:
        where = "the template" if len(templates) == 1 else "any template of the set"
        raise StackSetError(f"parameters not in {where}: {', '.join(unknown)}")
    stems = [p.stem for p in paths]
    stacks = [
        Stack(
            stem if stems.count(stem) == 1 else f"{stem}{i}",
            template,
            {k: v for k, v in given.items() if k in template.parameters},
            stack_name=stack_names[i] if stack_names else None,
        )
        for i, (stem, template) in enumerate(zip(stems, templates, strict=True))
    ]
    children = _SetResolver(list(stacks), region, dict(template_urls or {}))
    result = children.run()
    referenced = {s.template.path.resolve() for s in result.stacks if s.parent is not None}
    top = [s for s in result.stacks if s.parent is None and s.template.path.resolve() in referenced]
    if top:  # a child given as a member of the set as well: it is deployed by its parent only
        names = {s.name for s in top}
        kept = [p for p, s in zip(paths, stacks, strict=True) if s.name not in names]
        kept_names = [n for n, s in zip(stack_names or [], stacks, strict=False) if s.name not in names] or None
        return resolve_set(kept, parameters, region, stack_names=kept_names, template_urls=template_urls)
    for stack in result.stacks:
        if stack.stack_name is None and stack.parent is None:
            stack.stack_name = stack.name
    return result
