"""A YAML loader for CloudFormation: short-form intrinsic tags, duplicate keys, lines and budgets.

PyYAML's safe loader rejects ``!Ref`` and friends. CloudFormation deploys a mapping with two
equal keys by keeping the last one, so the loader does the same and, when the caller collects
warnings, records each duplicate at its line (cfn-lint warns about them too); without a
warnings list duplicates stay errors, which is right for stackproof's own files. Every mapping
remembers the line of each of its keys, so findings and SARIF results can point at the
property that is wrong, not just the file.

Aliases are shared, not copied, while loading, but everything downstream walks the expanded
tree: ten anchors of ten aliases each expand to 10^10 nodes. The composed document is measured
(expanded size and depth) before anything is constructed and refused past a budget, naming
the line of the innermost node that crosses it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

SHORT_FORMS = frozenset(
    {
        "Ref",
        "Condition",
        "Base64",
        "Cidr",
        "FindInMap",
        "GetAtt",
        "GetAZs",
        "ImportValue",
        "Join",
        "Select",
        "Split",
        "Sub",
        "Transform",
        "And",
        "Equals",
        "If",
        "Not",
        "Or",
        "ToJsonString",
        "Length",
        # The rules functions (Rules: Assertions).
        "Contains",
        "EachMemberEquals",
        "EachMemberIn",
        "RefAll",
        "ValueOf",
        "ValueOfAll",
    }
)

MAX_EXPANDED_NODES = 1_000_000
"""More nodes than a 1 MB template (CloudFormation's largest) can hold without aliases."""

MAX_DEPTH = 128
"""Nesting deeper than any real template; deeper input would exhaust Python's stack later."""


class TemplateSyntaxError(Exception):
    """The template is not valid CloudFormation YAML; the message names file and line."""


@dataclass(frozen=True)
class TemplateWarning:
    """Something CloudFormation accepts but that is probably a mistake, at ``file:line``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class LocatedDict(dict[str, Any]):
    """A mapping that knows the 1-based line where it starts and where each key stands."""

    __slots__ = ("key_lines", "line")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 0
        self.key_lines: dict[str, int] = {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CfnLoader(_BaseLoader):  # type: ignore[valid-type,misc]
    """The safe loader with CloudFormation's tags; ``warnings`` set per document by ``load_text``."""

    warnings: list[TemplateWarning] | None = None
    source: str = "<template>"

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        _check_budget(node)
        return self.construct_document(node)


def _check_budget(root: yaml.Node) -> None:
    """Refuse a document whose expanded tree is too large or too deep, before constructing it."""
    sizes: dict[int, tuple[int, int]] = {}
    active: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        ident = id(node)
        if ident in sizes and not children_done:
            continue
        children = _children(node)
        if not children_done:
            if ident in active:
                raise yaml.constructor.ConstructorError(None, None, "recursive alias", node.start_mark)
            active.add(ident)
            stack.append((node, True))
            for child in children:
                if id(child) in active:
                    raise yaml.constructor.ConstructorError(None, None, "recursive alias", child.start_mark)
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        active.discard(ident)
        size, height = 1, 1
        for child in children:
            child_size, child_height = sizes[id(child)]
            size += child_size
            height = max(height, child_height + 1)
        if size > MAX_EXPANDED_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"aliases expand to more than {MAX_EXPANDED_NODES:,} nodes", node.start_mark
            )
        if height > MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None, None, f"nested more than {MAX_DEPTH} levels deep", node.start_mark
            )
        sizes[ident] = (size, height)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix
    if name not in SHORT_FORMS:
        raise yaml.constructor.ConstructorError(None, None, f"unknown tag !{name}", node.start_mark)
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = _construct_mapping(loader, node)  # type: ignore[arg-type]
    if name == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    key = name if name in ("Ref", "Condition") else f"Fn::{name}"
    result = LocatedDict({key: value})
    result.line = node.start_mark.line + 1
    result.key_lines[key] = result.line
    return result


def _construct_mapping(loader: CfnLoader, node: yaml.MappingNode) -> LocatedDict:
    loader.flatten_mapping(node)
    result = LocatedDict()
    result.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in result.key_lines:
            first = result.key_lines[key]
            if loader.warnings is None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r} (first at line {first})",
                    key_node.start_mark,
                )
            loader.warnings.append(
                TemplateWarning(
                    loader.source,
                    line,
                    f"duplicate key {key!r} (first at line {first}); CloudFormation keeps this last one",
                )
            )
            del result[key]
        result.key_lines[key] = line
        result[key] = loader.construct_object(value_node, deep=True)
    return result


CfnLoader.add_multi_constructor("!", _construct_tag)
CfnLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


NOT_JSON_AS_YAML = re.compile("[^\x09\x0a\x0d\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters JSON allows raw inside strings that YAML refuses (DEL, C1 controls) or reads as
line breaks (NEL, U+2028, U+2029) and so would fold into a space."""


def _escape_for_json(text: str) -> str:
    """A JSON template with a character YAML does not take as JSON does inside a string:
    CloudFormation reads it as JSON, so it is escaped (``\\u007f``, the same string to a JSON
    reader) before the YAML reader sees it. Lines do not move; outside a string it stays an error."""
    if not text.lstrip().startswith("{"):
        return text
    return NOT_JSON_AS_YAML.sub(lambda found: f"\\u{ord(found[0]):04x}", text)


def load_text(text: str, source: str = "<template>", *, warnings: list[TemplateWarning] | None = None) -> LocatedDict:
    """Parse ``text``; with a ``warnings`` list, duplicate keys are kept last-wins and recorded there."""
    text = _escape_for_json(text)
    loader = CfnLoader(text)
    loader.warnings = warnings
    loader.source = source
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise TemplateSyntaxError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise TemplateSyntaxError(
            f"{source}:{line}: character #x{exc.character:04x} is not allowed in YAML ({exc.reason})"
        ) from None
    except yaml.YAMLError as exc:
        raise TemplateSyntaxError(f"{source}:1: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise TemplateSyntaxError(f"{source}:1: nested too deeply to read") from None
    finally:
        loader.dispose()
    if not isinstance(data, LocatedDict):
        raise TemplateSyntaxError(f"{source}: a template must be a mapping")
    return data
