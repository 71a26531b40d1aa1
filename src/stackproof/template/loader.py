"""Load a template and its parameters, rejecting bad input with one clear message.

Every error is a :class:`TemplateError` whose text starts with ``file:line``; the command
line prints it and exits 2, never a traceback.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.template.cfn_yaml import LocatedDict, TemplateSyntaxError, load_text


class TemplateError(Exception):
    """Bad input: the message names the file and, where there is one, the line."""


SUB_REFERENCE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass
class Template:
    path: Path
    data: LocatedDict

    @property
    def resources(self) -> LocatedDict:
        resources: LocatedDict = self.data["Resources"]
        return resources

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.data.get("Parameters") or {}

    def resource_line(self, logical_id: str) -> int:
        return self.resources.line_of(logical_id)

    def property_line(self, logical_id: str, prop: str) -> int:
        resource = self.resources.get(logical_id)
        if isinstance(resource, LocatedDict):
            props = resource.get("Properties")
            if isinstance(props, LocatedDict) and prop in props:
                return props.line_of(prop)
        return self.resource_line(logical_id)


def load_template(path: Path) -> Template:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read template: {exc}") from None
    try:
        data = load_text(text, str(path))
    except TemplateSyntaxError as exc:
        raise TemplateError(str(exc)) from None
    template = Template(path, data)
    _validate(template)
    _reject_cycles(template)
    return template


def _validate(template: Template) -> None:
    data, path = template.data, template.path
    if "Resources" not in data:
        raise TemplateError(f"{path}:1: the template has no Resources section")
    resources = data["Resources"]
    if not isinstance(resources, LocatedDict) or not resources:
        raise TemplateError(f"{path}:{data.line_of('Resources')}: Resources must be a non-empty mapping")
    for section in ("Parameters", "Conditions", "Mappings", "Outputs"):
        if section in data and not isinstance(data[section], dict):
            raise TemplateError(f"{path}:{data.line_of(section)}: {section} must be a mapping")
    for logical_id, resource in resources.items():
        line = resources.line_of(logical_id)
        if not isinstance(resource, dict):
            raise TemplateError(f"{path}:{line}: resource {logical_id} must be a mapping")
        if not isinstance(resource.get("Type"), str):
            raise TemplateError(f"{path}:{line}: resource {logical_id} has no Type")
        props = resource.get("Properties", {})
        if props is not None and not isinstance(props, dict):
            raise TemplateError(f"{path}:{line}: Properties of {logical_id} must be a mapping")
        condition = resource.get("Condition")
        if condition is not None and condition not in (data.get("Conditions") or {}):
            raise TemplateError(f"{path}:{line}: resource {logical_id} uses undefined condition {condition!r}")


def references(node: Any, names: Mapping[str, Any]) -> Iterator[str]:
    """Logical IDs in ``names`` that ``node`` refers to (Ref, GetAtt, Sub)."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str) and arg in names:
                yield arg
                return
            if key == "Fn::GetAtt" and isinstance(arg, list) and arg and arg[0] in names:
                yield arg[0]
                return
            if key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) and arg else arg
                if isinstance(text, str):
                    for match in SUB_REFERENCE.finditer(text):
                        name = match[1].split(".", 1)[0]
                        if name in names:
                            yield name
                if isinstance(arg, list) and len(arg) > 1:
                    yield from references(arg[1], names)
                return
        for value in node.values():
            yield from references(value, names)
    elif isinstance(node, list):
        for value in node:
            yield from references(value, names)


def dependencies(template: Template) -> dict[str, set[str]]:
    resources = template.resources
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        deps = set(references(resource.get("Properties") or {}, resources))
        depends_on = resource.get("DependsOn") or []
        deps.update([depends_on] if isinstance(depends_on, str) else depends_on)
        graph[logical_id] = deps
    return graph


def _reject_cycles(template: Template) -> None:
    graph = dependencies(template)
    for logical_id, deps in graph.items():
        for dep in deps:
            if dep not in graph:
                line = template.resource_line(logical_id)
                raise TemplateError(f"{template.path}:{line}: {logical_id} depends on undefined resource {dep}")
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(graph, white)
    for start in graph:
        if colour[start] != white:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        colour[start] = grey
        path = [start]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                colour[node] = black
                stack.pop()
                path.pop()
            elif colour[child] == grey:
                cycle = [*path[path.index(child) :], child]
                line = template.resource_line(child)
                raise TemplateError(f"{template.path}:{line}: dependency cycle: {' -> '.join(cycle)}")
            elif colour[child] == white:
                colour[child] = grey
                stack.append((child, iter(sorted(graph[child]))))
                path.append(child)


def load_parameters(path: Path) -> dict[str, str]:
    """Parameters from the CloudFormation CLI format (a list of ParameterKey/ParameterValue)
    or a plain JSON mapping of names to values."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read parameters: {exc}") from None
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        return {str(k): _parameter_text(path, k, v) for k, v in data.items()}
    if isinstance(data, list):
        values: dict[str, str] = {}
        for index, entry in enumerate(data):
            if not isinstance(entry, dict) or "ParameterKey" not in entry:
                raise TemplateError(f"{path}: entry {index} needs ParameterKey and ParameterValue")
            if entry.get("UsePreviousValue"):
                raise TemplateError(f"{path}: entry {index} ({entry['ParameterKey']}) uses UsePreviousValue")
            if "ParameterValue" not in entry:
                raise TemplateError(f"{path}: entry {index} ({entry['ParameterKey']}) has no ParameterValue")
            values[str(entry["ParameterKey"])] = _parameter_text(path, entry["ParameterKey"], entry["ParameterValue"])
        return values
    raise TemplateError(f"{path}: parameters must be a JSON list or mapping")


def _parameter_text(path: Path, key: object, value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, (dict, type(None))):
        raise TemplateError(f"{path}: parameter {key} must be a string, number or list")
    return str(value).lower() if isinstance(value, bool) else str(value)
