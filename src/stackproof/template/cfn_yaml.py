"""A YAML loader for CloudFormation: short-form intrinsic tags and no duplicate keys.

PyYAML's safe loader rejects ``!Ref`` and friends and silently keeps the last of two equal
keys; CloudFormation rejects duplicates, so we do too, naming the line.
"""

from __future__ import annotations

from typing import Any

import yaml

SHORT_FORMS = {
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


class TemplateSyntaxError(Exception):
    """The template is not valid CloudFormation YAML; the message names file and line."""


class CfnLoader(yaml.SafeLoader):
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
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if name == "Ref":
        return {"Ref": value}
    if name == "Condition":
        return {"Condition": value}
    if name == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        value = [resource, attribute]
    return {f"Fn::{name}": value}


def _construct_mapping(loader: CfnLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping",
                node.start_mark,
                f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=True)


CfnLoader.add_multi_constructor("!", _construct_tag)
CfnLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_text(text: str, source: str = "<template>") -> dict[str, Any]:
    try:
        data = yaml.load(text, Loader=CfnLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise TemplateSyntaxError(f"{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TemplateSyntaxError(f"{source}: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateSyntaxError(f"{source}: a template must be a mapping")
    return data
