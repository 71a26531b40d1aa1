"""Split one template into the forms vendors ship: a set of stacks linked by ``Export`` and
``Fn::ImportValue``, and a parent with nested ``AWS::CloudFormation::Stack`` children that
pass values through parameters and ``Fn::GetAtt Child.Outputs.X``.

The reference exists once, as ``dashboard.yaml``; the other two forms are generated from it by
a partition (which resource goes to which stack) kept as data beside it, so they cannot drift:
``stackproof build stack-set --check`` fails CI when the generated files differ from what the
single file gives. Every control must give the same verdict on all three forms.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")
PSEUDO = re.compile(r"^AWS::")
SSM_TYPE = "AWS::SSM::Parameter::Value<"
# An attribute holding a secret's value (an access key's SecretAccessKey) is passed as a NoEcho
# parameter; a reference to a secret (its ARN, as Ref of a Secrets Manager secret gives) is not
# secret, and NoEcho on it would read as a secret written into the user data it is named in.
SECRET_NAME = re.compile(r"(?i)password|secret|token")
REFERENCE_NAME = re.compile(r"(?i)(arn|id|name)$")


class SplitError(Exception):
    """The partition does not fit the template (a resource in no part, or in two)."""


def plain(node: Any) -> Any:
    """The loader's located mappings as plain dicts and lists, for dumping."""
    if isinstance(node, Mapping):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def _walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every intrinsic (name, argument) in ``node``."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" or key.startswith("Fn::") or key == "Condition":
                yield key, arg
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _sub_parts(arg: Any) -> tuple[str, dict[str, Any]]:
    if isinstance(arg, list) and arg and isinstance(arg[0], str):
        variables = arg[1] if len(arg) > 1 and isinstance(arg[1], dict) else {}
        return arg[0], variables
    return (arg if isinstance(arg, str) else ""), {}


def names_used(node: Any) -> set[str]:
    """Logical IDs and parameter names ``node`` refers to (Ref, GetAtt, Sub variables)."""
    found: set[str] = set()
    for key, arg in _walk(node):
        if key == "Ref" and isinstance(arg, str):
            found.add(arg)
        elif key == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) and arg else str(arg).split(".", 1)[0]
            found.add(str(target))
        elif key == "Fn::Sub":
            text, variables = _sub_parts(arg)
            found |= {v.split(".", 1)[0] for v in SUB_VARIABLE.findall(text) if v not in variables}
    return {n for n in found if not PSEUDO.match(n)}


def conditions_used(node: Any) -> set[str]:
    found: set[str] = set()
    for key, arg in _walk(node):
        if key == "Fn::If" and isinstance(arg, list) and arg:
            found.add(str(arg[0]))
        elif key == "Condition" and isinstance(arg, str):
            found.add(arg)
    return found


def mappings_used(node: Any) -> set[str]:
    return {str(arg[0]) for key, arg in _walk(node) if key == "Fn::FindInMap" and isinstance(arg, list) and arg}


def output_name(logical_id: str, attribute: str | None) -> str:
    return logical_id + (attribute or "").replace(".", "")


@dataclass(frozen=True)
class Link:
    """A value one part reads from another: ``Ref`` (attribute None) or ``GetAtt``."""

    owner: str  # the part that holds the resource
    logical_id: str
    attribute: str | None

    @property
    def name(self) -> str:
        return output_name(self.logical_id, self.attribute)


def secret_attribute(link: Link) -> bool:
    """Whether the value a link passes is a secret's value: an attribute named like one."""
    return bool(link.attribute and SECRET_NAME.search(link.attribute) and not REFERENCE_NAME.search(link.attribute))


def imported(template: Mapping[str, Any], link: Link) -> str:
    """The parameter a nested child receives a sibling's value as. A secret's Ref is its ARN,
    and the name says so: a parameter named like a secret is taken to hold one (DAT-03, DAT-07)."""
    resource = (template.get("Resources") or {}).get(link.logical_id) or {}
    arn = link.attribute is None and resource.get("Type") == "AWS::SecretsManager::Secret"
    return f"Imported{link.name}{'Arn' if arn else ''}"


def rewrite(node: Any, outside: Mapping[str, str], link: Callable[[Link], Any]) -> Any:
    """``node`` with every reference to a resource of another part (``outside``: logical ID to
    its part) replaced by ``link(...)``'s expression; ``DependsOn`` on them is dropped."""
    if isinstance(node, list):
        return [rewrite(v, outside, link) for v in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((key, arg),) = node.items()
        if key == "Ref" and isinstance(arg, str) and arg in outside:
            return link(Link(outside[arg], arg, None))
        if key == "Fn::GetAtt":
            target, attribute = (arg[0], ".".join(map(str, arg[1:]))) if isinstance(arg, list) else arg.split(".", 1)
            if target in outside:
                return link(Link(outside[target], target, attribute))
        if key == "Fn::Sub":
            return {"Fn::Sub": _rewrite_sub(arg, outside, link)}
    return {k: rewrite(v, outside, link) for k, v in node.items()}


def _rewrite_sub(arg: Any, outside: Mapping[str, str], link: Callable[[Link], Any]) -> Any:
    text, variables = _sub_parts(arg)
    extra: dict[str, Any] = {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        target, _, attribute = name.partition(".")
        if name in variables or target not in outside:
            return match.group(0)
        found = Link(outside[target], target, attribute or None)
        extra[found.name] = link(found)
        return "${" + found.name + "}"

    rewritten = SUB_VARIABLE.sub(replace, text)
    if not extra:
        return rewrite(arg, outside, link)
    return [rewritten, {**{k: rewrite(v, outside, link) for k, v in variables.items()}, **extra}]


@dataclass
class Part:
    name: str
    resources: dict[str, Any]
    links: set[Link]


def partition(template: Mapping[str, Any], parts: Mapping[str, list[str]]) -> list[Part]:
    """The template's resources by part, with the values each part reads from another."""
    resources = template["Resources"]
    owner: dict[str, str] = {}
    for part, logical_ids in parts.items():
        for logical_id in logical_ids:
            if logical_id in owner:
                raise SplitError(f"{logical_id} is in both {owner[logical_id]} and {part}")
            if logical_id not in resources:
                raise SplitError(f"{part}: no resource {logical_id} in the template")
            owner[logical_id] = part
    unassigned = [r for r in resources if r not in owner]
    if unassigned:
        raise SplitError(f"in no part: {', '.join(unassigned)}")
    found = []
    for part in parts:
        mine = {r: plain(resources[r]) for r in resources if owner[r] == part}
        outside = {r: p for r, p in owner.items() if p != part}
        links: set[Link] = set()
        rewrite(mine, outside, links.add)
        found.append(Part(part, mine, links))
    return found


def _closure(template: Mapping[str, Any], body: Any) -> tuple[list[str], list[str], list[str]]:
    """The parameters, conditions and mappings ``body`` needs, following conditions."""
    declared_conditions = template.get("Conditions") or {}
    conditions: set[str] = set()
    pending = conditions_used(body) | {
        str(r.get("Condition")) for r in (body.get("Resources") or {}).values() if r.get("Condition")
    }
    while pending:
        name = pending.pop()
        if name in conditions or name not in declared_conditions:
            continue
        conditions.add(name)
        pending |= conditions_used(declared_conditions[name])
    needed = names_used(body) | {n for c in conditions for n in names_used(declared_conditions[c])}
    parameters = [p for p in (template.get("Parameters") or {}) if p in needed]
    mappings = mappings_used(body) | {m for c in conditions for m in mappings_used(declared_conditions[c])}
    return (
        parameters,
        [c for c in declared_conditions if c in conditions],
        [m for m in template.get("Mappings") or {} if m in mappings],
    )


def _unused_parameters(template: Mapping[str, Any], split: list[Part]) -> list[str]:
    """Parameters the template declares and no part uses: they stay with the first part, so
    every form accepts the same parameters file."""
    used = {p for part in split for p in _closure(template, {"Resources": part.resources})[0]}
    return [p for p in template.get("Parameters") or {} if p not in used]


def _assemble(
    template: Mapping[str, Any], description: str, body: dict[str, Any], keep: Sequence[str] = ()
) -> dict[str, Any]:
    parameters, conditions, mappings = _closure(template, body)
    parameters += [p for p in keep if p not in parameters]
    own_parameters = body.pop("Parameters", {})
    metadata = dict(plain(template.get("Metadata") or {}))
    interface = metadata.get("AWS::CloudFormation::Interface")
    if interface:
        groups = []
        for group in interface.get("ParameterGroups", []):
            kept = [p for p in group.get("Parameters", []) if p in parameters]
            if kept:
                groups.append({**group, "Parameters": kept})
        metadata["AWS::CloudFormation::Interface"] = {"ParameterGroups": groups}
    result: dict[str, Any] = {"AWSTemplateFormatVersion": "2010-09-09", "Description": description}
    if metadata:
        result["Metadata"] = metadata
    all_parameters = {p: plain(template["Parameters"][p]) for p in parameters} | own_parameters
    if all_parameters:
        result["Parameters"] = all_parameters
    if mappings:
        result["Mappings"] = {m: plain(template["Mappings"][m]) for m in mappings}
    if conditions:
        result["Conditions"] = {c: plain(template["Conditions"][c]) for c in conditions}
    result["Resources"] = body["Resources"]
    if body.get("Outputs"):
        result["Outputs"] = body["Outputs"]
    return result


def _take_resolved_values(child: dict[str, Any]) -> None:
    """A nested child receives what its parent already resolved: an SSM-typed parameter of the
    parent (``AWS::SSM::Parameter::Value<T>``) arrives as its value, so the child declares ``T``
    (CloudFormation would look the value up in Parameter Store again and fail)."""
    for spec in (child.get("Parameters") or {}).values():
        kind = str(spec.get("Type", ""))
        if kind.startswith(SSM_TYPE) and kind.endswith(">"):
            spec["Type"] = kind[len(SSM_TYPE) : -1]
            spec.pop("Default", None)


def _exported_value(template: Mapping[str, Any], link: Link) -> Any:
    """What the owning part outputs for ``link``; a resource that exists only under a
    condition outputs "none" otherwise, so that importers can always import."""
    value: Any = (
        {"Ref": link.logical_id} if link.attribute is None else {"Fn::GetAtt": [link.logical_id, link.attribute]}
    )
    condition = template["Resources"][link.logical_id].get("Condition")
    return {"Fn::If": [condition, value, "none"]} if condition else value


def _drop_cross_depends(resources: dict[str, Any]) -> None:
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if depends is None:
            continue
        kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d in resources]
        if kept:
            resource["DependsOn"] = kept[0] if len(kept) == 1 else kept
        else:
            del resource["DependsOn"]


def _split(
    template: Mapping[str, Any], parts: Mapping[str, list[str]]
) -> tuple[list[Part], list[str], dict[str, set[Link]], dict[str, str]]:
    """The parts, the parameters no part uses, what each part gives the others, and which part
    holds each resource."""
    split = partition(template, parts)
    exported: dict[str, set[Link]] = {p.name: set() for p in split}
    for part in split:
        for link in part.links:
            exported[link.owner].add(link)
    owner = {r: p.name for p in split for r in p.resources}
    return split, _unused_parameters(template, split), exported, owner


def stack_set(template: Mapping[str, Any], parts: Mapping[str, list[str]], prefix: str) -> dict[str, dict[str, Any]]:
    """One template per part; a part reads another's values with ``Fn::ImportValue`` of
    ``<that part's stack name>-<Output>``, the stack name a parameter defaulting to
    ``<prefix>-<part>`` (how vendors chain their stacks)."""
    split, unused, exported, owner = _split(template, parts)
    documents = {}
    for part in split:
        stack_parameter = {p: f"{p.capitalize()}StackName" for p in parts}

        def imported(link: Link, names: Mapping[str, str] = stack_parameter) -> Any:
            return {"Fn::ImportValue": {"Fn::Sub": "${" + names[link.owner] + "}-" + link.name}}

        outside = {r: p for r, p in owner.items() if p != part.name}
        resources = rewrite(part.resources, outside, imported)
        _drop_cross_depends(resources)
        body: dict[str, Any] = {"Resources": resources}
        readers = sorted({link.owner for link in part.links})
        body["Parameters"] = {
            stack_parameter[p]: {
                "Type": "String",
                "Default": f"{prefix}-{p}",
                "Description": f"the name of the {p} stack of this set, whose exports this stack imports",
            }
            for p in readers
        }
        outputs = {
            link.name: {
                "Value": _exported_value(template, link),
                "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-" + link.name}},
            }
            for link in sorted(exported[part.name], key=lambda k: k.name)
        }
        if outputs:
            body["Outputs"] = outputs
        documents[part.name] = _assemble(
            template,
            f"{template.get('Description', '').strip()} [stack set: the {part.name} stack]".strip(),
            body,
            unused if part is split[0] else (),
        )
    return documents


def nested(
    template: Mapping[str, Any], parts: Mapping[str, list[str]], children: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """A parent (key ``parent``) whose ``AWS::CloudFormation::Stack`` children (``children``:
    part to TemplateURL, relative to the parent) receive what they read from their siblings as
    parameters, from ``Fn::GetAtt <Sibling>.Outputs.<Name>``."""
    split, unused, exported, owner = _split(template, parts)
    stack_id = {p.name: f"{p.name.capitalize()}Stack" for p in split}
    documents: dict[str, dict[str, Any]] = {}
    parent_resources: dict[str, Any] = {}
    for part in split:
        outside = {r: p for r, p in owner.items() if p != part.name}
        resources = rewrite(part.resources, outside, lambda link: {"Ref": imported(template, link)})
        _drop_cross_depends(resources)
        body: dict[str, Any] = {"Resources": resources}
        body["Parameters"] = {
            imported(template, link): {
                "Type": "String",
                "Description": f"{link.name} of the {link.owner} stack",
                **({"NoEcho": True} if secret_attribute(link) else {}),
            }
            for link in sorted(part.links, key=lambda k: k.name)
        }
        outputs = {
            link.name: {"Value": _exported_value(template, link)}
            for link in sorted(exported[part.name], key=lambda k: k.name)
        }
        if outputs:
            body["Outputs"] = outputs
        child = _assemble(
            template,
            f"{template.get('Description', '').strip()} [nested: the {part.name} stack]".strip(),
            body,
            unused if part is split[0] else (),
        )
        _take_resolved_values(child)
        documents[part.name] = child
        passed = {p: {"Ref": p} for p in child.get("Parameters", {}) if not p.startswith("Imported")}
        passed |= {
            imported(template, link): {"Fn::GetAtt": [stack_id[link.owner], f"Outputs.{link.name}"]}
            for link in sorted(part.links, key=lambda k: k.name)
        }
        parent_resources[stack_id[part.name]] = {
            "Type": "AWS::CloudFormation::Stack",
            "Properties": {"TemplateURL": children[part.name], **({"Parameters": passed} if passed else {})},
        }
    parent_body: dict[str, Any] = {"Resources": parent_resources}
    parent = _assemble(
        template, f"{template.get('Description', '').strip()} [nested: the parent stack]".strip(), parent_body
    )
    parent["Parameters"] = {
        p: plain(template["Parameters"][p])
        for p in template.get("Parameters") or {}
        if any(p in d.get("Parameters", {}) for d in documents.values())
    }
    parent.pop("Conditions", None)
    parent.pop("Mappings", None)
    interface = (parent.get("Metadata") or {}).get("AWS::CloudFormation::Interface")
    if interface:
        for group in interface["ParameterGroups"]:
            group["Parameters"] = [p for p in group["Parameters"] if p in parent["Parameters"]]
        interface["ParameterGroups"] = [g for g in interface["ParameterGroups"] if g["Parameters"]]
    return {"parent": parent, **documents}


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (user data) as literal blocks, so the generated files read as the
    reference does."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump(document: Mapping[str, Any], source: str) -> str:
    header = f"# Generated from {source} by `stackproof build stack-set`; do not edit.\n"
    return header + yaml.dump(dict(document), Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)


def generate(template_path: Path, parts_path: Path) -> dict[Path, str]:
    """Every generated file (path to text) of the forms described in ``parts_path``."""
    from stackproof.template.cfn_yaml import load_text

    template = load_text(template_path.read_text(encoding="utf-8"), str(template_path))
    spec = yaml.safe_load(parts_path.read_text(encoding="utf-8"))
    parts: dict[str, list[str]] = spec["parts"]
    base = template_path.parent
    source = template_path.name
    files: dict[Path, str] = {}
    set_dir = base / spec["stack_set"]["directory"]
    for name, document in stack_set(template, parts, spec["stack_set"]["prefix"]).items():
        files[set_dir / f"{name}.yaml"] = dump(document, source)
    nested_dir = base / spec["nested"]["directory"]
    children = {name: f"{name}.yaml" for name in parts}
    for name, document in nested(template, parts, children).items():
        files[nested_dir / f"{name}.yaml"] = dump(document, source)
    return files
