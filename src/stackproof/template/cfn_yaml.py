"""A YAML loader for CloudFormation: short-form intrinsic tags, no duplicate keys, and lines.

PyYAML's safe loader rejects ``!Ref`` and friends and silently keeps the last of two equal
keys; CloudFormation rejects duplicates, so we do too, naming the line. Every mapping
remembers the line of each of its keys, so findings and SARIF results can point at the
property that is wrong, not just the file.
"""

from __future__ import annotations

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
    }
)


class TemplateSyntaxError(Exception):
    """The template is not valid CloudFormation YAML; the message names file and line."""


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
    pass


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
        if key in result.key_lines:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                key_node.start_mark,
            )
        result.key_lines[key] = key_node.start_mark.line + 1
        result[key] = loader.construct_object(value_node, deep=True)
    return result


CfnLoader.add_multi_constructor("!", _construct_tag)
CfnLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_text(text: str, source: str = "<template>") -> LocatedDict:
    try:
        data = yaml.load(text, Loader=CfnLoader)  # CfnLoader derives from SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise TemplateSyntaxError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TemplateSyntaxError(f"{source}: {exc}") from None
    if not isinstance(data, LocatedDict):
        raise TemplateSyntaxError(f"{source}: a template must be a mapping")
    return data
