"""``Fn::ForEach`` of the ``AWS::LanguageExtensions`` transform, expanded as CloudFormation does.

A loop stands wherever a mapping may hold one (Resources, Outputs, Conditions, and inside
them); each item of its collection copies the fragment with the identifier substituted in
keys (``${Id}`` verbatim, ``&{Id}`` with non-alphanumerics removed), in ``Fn::Sub`` text and
for ``Ref: Id``. The collection depends on parameter values, so expansion happens when the
template is resolved. A collection that cannot be known offline still yields the fragment
once, under its unsubstituted key, with the identifier an :class:`Unknown`: the resources it
would generate are kept as resources whose existence is unknown, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackproof.template.cfn_yaml import LocatedDict
from stackproof.template.values import Unknown

FOR_EACH = re.compile(r"^Fn::ForEach::[A-Za-z0-9]+$")
_NON_ALPHANUMERIC = re.compile(r"[^0-9A-Za-z]+")
_VARIABLE = re.compile(r"[$&]\{\s*([^!}\s][^}]*?)\s*\}")


class ForEachError(Exception):
    """A loop CloudFormation would refuse; the message starts with the line."""


Evaluate = Callable[[Any], Any]


@dataclass
class Expansion:
    """The result: the expanded section and the generated keys whose existence is unknown."""

    uncertain: dict[str, Unknown] = field(default_factory=dict)


def expand(node: Any, evaluate: Evaluate, expansion: Expansion, top: bool = False) -> Any:
    """``node`` with every ``Fn::ForEach`` in it expanded; ``evaluate`` resolves a collection."""
    return _walk(node, {}, evaluate, expansion, top)


def _walk(node: Any, bindings: dict[str, Any], evaluate: Evaluate, expansion: Expansion, top: bool) -> Any:
    if isinstance(node, dict):
        if len(node) == 1 and bindings:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str) and arg in bindings:
                return bindings[arg]
            if key == "Fn::Sub":
                return _sub(node, arg, bindings, evaluate, expansion)
        result = LocatedDict()
        result.line = getattr(node, "line", 0)
        lines = getattr(node, "key_lines", {})
        for key, value in node.items():
            line = lines.get(key, result.line)
            if isinstance(key, str) and FOR_EACH.match(key):
                _loop(result, key, value, line, bindings, evaluate, expansion, top)
                continue
            new_key = _substitute_key(key, bindings)
            if new_key in result:
                raise ForEachError(f"{line}: {new_key} is generated twice")
            result[new_key] = _walk(value, bindings, evaluate, expansion, False)
            result.key_lines[new_key] = line
        return result
    if isinstance(node, list):
        return [_walk(item, bindings, evaluate, expansion, False) for item in node]
    return node


def _loop(
    result: LocatedDict,
    key: str,
    value: Any,
    line: int,
    bindings: dict[str, Any],
    evaluate: Evaluate,
    expansion: Expansion,
    top: bool,
) -> None:
    if not (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str) and isinstance(value[2], dict)):
        raise ForEachError(f"{line}: {key} needs [Identifier, Collection, {{OutputKey: OutputValue}}]")
    identifier, collection, fragment = value
    items = _collection(_walk(collection, bindings, evaluate, expansion, False), evaluate, key, line)
    if isinstance(items, Unknown):
        generated = _walk(fragment, {**bindings, identifier: items}, evaluate, expansion, False)
        for out_key, out_value in generated.items():
            if out_key in result:
                raise ForEachError(f"{line}: {out_key} is generated twice")
            result[out_key] = out_value
            result.key_lines[out_key] = generated.line_of(out_key)
            if top:
                expansion.uncertain[out_key] = items
        return
    for item in items:
        generated = _walk(fragment, {**bindings, identifier: item}, evaluate, expansion, False)
        for out_key, out_value in generated.items():
            if out_key in result:
                raise ForEachError(f"{line}: {key} generates {out_key} twice")
            result[out_key] = out_value
            result.key_lines[out_key] = generated.line_of(out_key)


def _collection(node: Any, evaluate: Evaluate, key: str, line: int) -> list[str] | Unknown:
    value = evaluate(node)
    if isinstance(value, Unknown):
        return Unknown(f"{key}: the collection is not known offline ({value.reason})", line)
    if not isinstance(value, list):
        return Unknown(f"{key}: the collection is not a list", line)
    items = []
    for item in value:
        if isinstance(item, Unknown):
            return Unknown(f"{key}: an item of the collection is not known offline ({item.reason})", line)
        if isinstance(item, bool):
            items.append(str(item).lower())
        elif isinstance(item, (str, int, float)):
            items.append(str(item))
        else:
            return Unknown(f"{key}: the collection holds {type(item).__name__} items", line)
    return items


def _substitute_key(key: Any, bindings: dict[str, Any]) -> Any:
    if not bindings or not isinstance(key, str) or ("${" not in key and "&{" not in key):
        return key

    def replace(match: re.Match[str]) -> str:
        name = match[1]
        if name not in bindings:
            return match[0]
        value = bindings[name]
        if isinstance(value, Unknown):
            return match[0]
        return _NON_ALPHANUMERIC.sub("", value) if match[0].startswith("&") else str(value)

    return _VARIABLE.sub(replace, key)


def _sub(node: Any, arg: Any, bindings: dict[str, Any], evaluate: Evaluate, expansion: Expansion) -> Any:
    text = arg[0] if isinstance(arg, list) and arg else arg
    if not isinstance(text, str):
        return node
    used = [m[1] for m in _VARIABLE.finditer(text) if m[1] in bindings]
    for name in used:
        if isinstance(bindings[name], Unknown):
            return bindings[name]
    new_text = _substitute_key(text, bindings)
    line = getattr(node, "line", 0)
    if isinstance(arg, list):
        rest = [_walk(item, bindings, evaluate, expansion, False) for item in arg[1:]]
        new_arg: Any = [new_text, *rest]
    else:
        if "${" not in new_text:
            return new_text
        new_arg = new_text
    result = LocatedDict({"Fn::Sub": new_arg})
    result.line = line
    result.key_lines["Fn::Sub"] = line
    return result
