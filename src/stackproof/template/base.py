"""The loaded template and the checks that refuse what CloudFormation refuses.

Every error is a :class:`TemplateError` whose text starts with ``file:line``; the command
line prints it and exits 2, never a traceback. What CloudFormation accepts but is probably a
mistake (a duplicate key) is loaded as CloudFormation deploys it and kept in
:attr:`Template.warnings` for the reports.

The shape of every section and of every intrinsic function is checked here, once, so the
resolver and the model can rely on it instead of failing with a Python exception on input
CloudFormation would have refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.template.cfn_yaml import LocatedDict, TemplateWarning
from stackproof.template.values import Unknown


class TemplateError(Exception):
    """Bad input: the message names the file and, where there is one, the line."""


SUB_REFERENCE = re.compile(r"\$\{([^}!][^}]*)\}")
FOR_EACH = re.compile(r"^Fn::ForEach::[A-Za-z0-9]+$")
MAX_CIDR_COUNT = 256
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SERVERLESS = "AWS::Serverless-2016-10-31"


@dataclass
class Template:
    """A loaded template.

    ``warnings`` holds what CloudFormation accepts but a reviewer should see (duplicate keys,
    transforms that could not be applied offline), each at ``file:line``. ``uncertain`` names
    resources a transform produced whose existence cannot be known (a ``Fn::ForEach`` over an
    unknown collection, a SAM resource the translator refused); the resolver gives them that
    Unknown as their ``exists``.
    """

    path: Path
    data: LocatedDict
    warnings: list[TemplateWarning] = field(default_factory=list)
    uncertain: dict[str, Unknown] = field(default_factory=dict)

    @property
    def resources(self) -> LocatedDict:
        resources: LocatedDict = self.data["Resources"]
        return resources

    @property
    def parameters(self) -> Mapping[str, Any]:
        return self.data.get("Parameters") or {}

    @property
    def transforms(self) -> list[str]:
        """The names in the top-level ``Transform`` section, in order."""
        return transform_names(self.data.get("Transform"))

    def resource_line(self, logical_id: str) -> int:
        return self.resources.line_of(logical_id)

    def property_line(self, logical_id: str, prop: str) -> int:
        resource = self.resources.get(logical_id)
        if isinstance(resource, LocatedDict):
            props = resource.get("Properties")
            if isinstance(props, LocatedDict) and prop in props:
                return props.line_of(prop)
        return self.resource_line(logical_id)


def transform_names(section: Any) -> list[str]:
    entries = section if isinstance(section, list) else [] if section is None else [section]
    names = []
    for entry in entries:
        if isinstance(entry, str):
            names.append(entry)
        elif isinstance(entry, dict) and isinstance(entry.get("Name"), str):
            names.append(entry["Name"])
    return names


def read_text(path: Path, what: str) -> str:
    """The text of ``path``: UTF-8 (with or without a byte-order mark) or UTF-16 with one."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise TemplateError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    encoding = "utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig"
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise TemplateError(f"{path}:{line}: {what} is not UTF-8 text (byte {exc.start})") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise TemplateError(f"{path}:{line}: {what} is binary, not text")
    return text


def _expands_later(template: Template) -> bool:
    """True when the resources of ``template`` are not final until transforms run."""
    return any(name != "AWS::Include" for name in template.transforms)


def validate(template: Template, *, complete: bool = True) -> None:
    """Refuse what CloudFormation refuses, at ``file:line``; used again after expansion.

    ``complete`` False says a transform that could not run may define resources this one
    depends on, so those dependencies are not refused."""
    later = not complete or _expands_later(template)
    _validate_sections(template, later)
    _validate_functions(template)
    _reject_cycles(template, strict=not later)


def _fail(template: Template, line: int, message: str) -> TemplateError:
    return TemplateError(f"{template.path}:{line or 1}: {message}")


def _validate_sections(template: Template, later: bool) -> None:
    data = template.data
    if "Resources" not in data:
        raise _fail(template, 1, "the template has no Resources section")
    resources = data["Resources"]
    if not isinstance(resources, LocatedDict) or not resources:
        raise _fail(template, data.line_of("Resources"), "Resources must be a non-empty mapping")
    for section in ("Parameters", "Conditions", "Mappings", "Outputs", "Rules", "Metadata"):
        if section in data and data[section] is not None and not isinstance(data[section], dict):
            raise _fail(template, data.line_of(section), f"{section} must be a mapping")
    for name, spec in _entries(data.get("Parameters")):
        line = data["Parameters"].line_of(name)
        if not isinstance(spec, dict):
            raise _fail(template, line, f"parameter {name} must be a mapping with a Type")
        if not isinstance(spec.get("Type"), str):
            raise _fail(template, line, f"parameter {name} has no Type")
        if isinstance(spec.get("Default"), (dict, list)) and not str(spec["Type"]).startswith(
            ("List<", "CommaDelimitedList")
        ):
            raise _fail(template, line, f"the Default of parameter {name} must be a string")
    for name, mapping in _entries(data.get("Mappings")):
        if not isinstance(mapping, dict) or not all(isinstance(v, dict) for v in mapping.values()):
            raise _fail(template, data["Mappings"].line_of(name), f"mapping {name} must be a mapping of mappings")
    conditions = data.get("Conditions") or {}
    for logical_id, resource in resources.items():
        line = resources.line_of(logical_id)
        if later and FOR_EACH.match(logical_id):
            _validate_for_each(template, logical_id, resource, line)
            continue
        _validate_resource(template, logical_id, resource, line, conditions, later)
    for name, output in _entries(data.get("Outputs")):
        line = data["Outputs"].line_of(name)
        if later and FOR_EACH.match(name):
            _validate_for_each(template, name, output, line)
            continue
        if not isinstance(output, dict) or "Value" not in output:
            raise _fail(template, line, f"output {name} must be a mapping with a Value")
        condition = output.get("Condition")
        if condition is not None and not isinstance(condition, str):
            raise _fail(template, line, f"the Condition of output {name} must be a condition name")
        if condition is not None and condition not in conditions and not later:
            raise _fail(template, line, f"output {name} uses undefined condition {condition!r}")
        export = output.get("Export")
        if export is not None and (not isinstance(export, dict) or "Name" not in export):
            raise _fail(template, line, f"the Export of output {name} must be a mapping with a Name")


def _entries(section: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(section, dict):
        yield from section.items()


def _validate_for_each(template: Template, key: str, value: Any, line: int) -> None:
    if (
        not isinstance(value, list)
        or len(value) != 3
        or not isinstance(value[0], str)
        or not isinstance(value[2], dict)
    ):
        raise _fail(template, line, f"{key} needs [Identifier, Collection, {{OutputKey: OutputValue}}]")


def _validate_resource(
    template: Template, logical_id: str, resource: Any, line: int, conditions: Mapping[str, Any], later: bool
) -> None:
    if not isinstance(resource, dict):
        raise _fail(template, line, f"resource {logical_id} must be a mapping")
    if not isinstance(resource.get("Type"), str):
        raise _fail(template, line, f"resource {logical_id} has no Type")
    props = resource.get("Properties", {})
    if props is not None and not isinstance(props, (dict, Unknown)):
        raise _fail(template, line, f"Properties of {logical_id} must be a mapping")
    condition = resource.get("Condition")
    if condition is not None:
        if not isinstance(condition, str):
            raise _fail(template, line, f"the Condition of {logical_id} must be a condition name")
        if condition not in conditions and not later:
            raise _fail(template, line, f"resource {logical_id} uses undefined condition {condition!r}")
    depends_on = resource.get("DependsOn")
    if depends_on is not None and not (
        isinstance(depends_on, str) or (isinstance(depends_on, list) and all(isinstance(d, str) for d in depends_on))
    ):
        raise _fail(template, line, f"DependsOn of {logical_id} must be a resource name or a list of them")
    for attribute in ("DeletionPolicy", "UpdateReplacePolicy"):
        value = resource.get(attribute)
        if value is not None and not isinstance(value, (str, dict)):
            raise _fail(template, line, f"{attribute} of {logical_id} must be a string")
    metadata = resource.get("Metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise _fail(template, line, f"Metadata of {logical_id} must be a mapping")
    _validate_lists(template, logical_id, resource, line)


_LISTS_OF_OBJECTS: dict[str, tuple[str, ...]] = {
    "AWS::EC2::SecurityGroup": ("SecurityGroupIngress", "SecurityGroupEgress"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("LoadBalancerAttributes", "SubnetMappings"),
    "AWS::ElasticLoadBalancingV2::Listener": ("Certificates", "DefaultActions"),
    "AWS::ElasticLoadBalancingV2::ListenerCertificate": ("Certificates",),
    "AWS::ECS::Service": ("LoadBalancers",),
    "AWS::ECS::TaskDefinition": ("ContainerDefinitions",),
    "AWS::CloudWatch::Alarm": ("Dimensions",),
    "AWS::Lambda::Function": ("FileSystemConfigs",),
    "AWS::AutoScaling::ScalingPolicy": ("StepAdjustments",),
    "AWS::IAM::Role": ("Policies",),
}
_LISTS_OF_STRINGS: dict[str, tuple[str, ...]] = {
    "AWS::ECS::TaskDefinition": ("RequiresCompatibilities",),
    "AWS::RDS::DBInstance": ("EnableCloudwatchLogsExports",),
    "AWS::IAM::Role": ("ManagedPolicyArns",),
}
"""Properties CloudFormation's schemas declare as lists and the model reads item by item;
a scalar there is refused here rather than met by the model as a Python error."""


def _validate_lists(template: Template, logical_id: str, resource: Mapping[str, Any], line: int) -> None:
    props = resource.get("Properties")
    if not isinstance(props, dict):
        return
    rtype = resource.get("Type")
    for prop in _LISTS_OF_OBJECTS.get(str(rtype), ()) + _LISTS_OF_STRINGS.get(str(rtype), ()):
        value = props.get(prop)
        at = props.line_of(prop) if isinstance(props, LocatedDict) else line
        if value is None or isinstance(value, (dict, Unknown)):
            continue
        if not isinstance(value, list):
            raise _fail(template, at, f"{prop} of {logical_id} must be a list, not {describe(value)}")
        if prop in _LISTS_OF_OBJECTS.get(str(rtype), ()):
            for item in value:
                if not isinstance(item, (dict, Unknown)):
                    raise _fail(template, at, f"each item of {prop} of {logical_id} must be a mapping")


def _list_of(count: range) -> Any:
    def check(arg: Any) -> bool:
        return isinstance(arg, list) and len(arg) in count

    return check


def _sub_shape(arg: Any) -> bool:
    return isinstance(arg, str) or (
        isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], str) and isinstance(arg[1], dict)
    )


def _get_att_shape(arg: Any) -> bool:
    if isinstance(arg, str):
        return "." in arg
    return isinstance(arg, list) and len(arg) == 2 and isinstance(arg[0], (str, dict))


def _find_in_map_shape(arg: Any) -> bool:
    if not isinstance(arg, list):
        return False
    if len(arg) == 3:
        return True
    return len(arg) == 4 and isinstance(arg[3], dict) and set(arg[3]) == {"DefaultValue"}


_SHAPES: dict[str, tuple[Any, str]] = {
    "Fn::Equals": (_list_of(range(2, 3)), "a list of two values"),
    "Fn::Not": (_list_of(range(1, 2)), "a list of one condition"),
    "Fn::And": (_list_of(range(2, 11)), "a list of 2 to 10 conditions"),
    "Fn::Or": (_list_of(range(2, 11)), "a list of 2 to 10 conditions"),
    "Fn::If": (lambda a: isinstance(a, list) and len(a) == 3 and isinstance(a[0], str), "[condition, then, else]"),
    "Fn::Join": (_list_of(range(2, 3)), "[delimiter, list]"),
    "Fn::Select": (_list_of(range(2, 3)), "[index, list]"),
    "Fn::Split": (_list_of(range(2, 3)), "[delimiter, string]"),
    "Fn::Cidr": (_list_of(range(3, 4)), "[ipBlock, count, cidrBits]"),
    "Fn::Sub": (_sub_shape, "a string or [string, {variables}]"),
    "Fn::GetAtt": (_get_att_shape, "[resource, attribute] or 'resource.attribute'"),
    "Fn::FindInMap": (_find_in_map_shape, "[map, key, key] or [map, key, key, {DefaultValue: value}]"),
    "Fn::Transform": (lambda a: isinstance(a, dict) and isinstance(a.get("Name"), str), "{Name, Parameters}"),
}


def _validate_functions(template: Template) -> None:
    """Every intrinsic function in the template has the arguments CloudFormation requires."""
    data = template.data
    language_extensions = LANGUAGE_EXTENSIONS in template.transforms
    for section in ("Resources", "Outputs", "Conditions"):
        stack: list[tuple[Any, int]] = [(data.get(section), data.line_of(section))]
        while stack:
            node, line = stack.pop()
            if isinstance(node, dict):
                line = getattr(node, "line", 0) or line
                if len(node) == 1:
                    ((key, arg),) = node.items()
                    _check_function(template, key, arg, line, language_extensions)
                stack.extend((value, line) for value in node.values())
            elif isinstance(node, list):
                stack.extend((value, line) for value in node)


def _check_function(template: Template, key: str, arg: Any, line: int, language_extensions: bool) -> None:
    if isinstance(arg, Unknown) or (isinstance(arg, list) and any(isinstance(a, Unknown) for a in arg)):
        return  # a transform left it unknown: not an input error
    if key == "Ref":
        if not isinstance(arg, str) and not (language_extensions and isinstance(arg, dict)):
            raise _fail(template, line, f"Ref needs a name, not {describe(arg)}")
        return
    shape = _SHAPES.get(key)
    if shape is not None and not shape[0](arg):
        raise _fail(template, line, f"{key} needs {shape[1]}, not {describe(arg)}")
    if key == "Fn::Cidr":
        count = arg[1]
        if isinstance(count, (int, str)) and not isinstance(count, bool):
            try:
                number = int(count)
            except ValueError:
                raise _fail(template, line, f"Fn::Cidr count {count!r} is not a number") from None
            if not 1 <= number <= MAX_CIDR_COUNT:
                raise _fail(template, line, f"Fn::Cidr count {number} is outside CloudFormation's 1..256")


def describe(value: Any) -> str:
    """A short name for a value of the wrong shape, for a message or an Unknown's reason."""
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def references(node: Any, names: Mapping[str, Any]) -> Iterator[str]:
    """Logical IDs in ``names`` that ``node`` refers to (Ref, GetAtt, Sub)."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref" and isinstance(arg, str) and arg in names:
                yield arg
                return
            if key == "Fn::GetAtt" and isinstance(arg, list) and arg and isinstance(arg[0], str) and arg[0] in names:
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
        if not isinstance(resource, dict):
            continue
        deps = set(references(resource.get("Properties") or {}, resources))
        depends_on = resource.get("DependsOn") or []
        deps.update([depends_on] if isinstance(depends_on, str) else [d for d in depends_on if isinstance(d, str)])
        graph[logical_id] = deps
    return graph


def _reject_cycles(template: Template, *, strict: bool = True) -> None:
    """Refuse dependency cycles and, when ``strict``, dependencies on undefined resources
    (a transform still to run may define them)."""
    graph = dependencies(template)
    for logical_id, deps in graph.items():
        for dep in sorted(deps):
            if dep not in graph:
                if not strict:
                    deps.discard(dep)
                    continue
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
