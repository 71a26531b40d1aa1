"""Resolve a template's intrinsic functions for one set of parameters.

Written here because the renderers others use leave ``Fn::If`` on conditions and Refs to
parameters without defaults unresolved or guessed. Whatever cannot be known offline becomes
an :class:`Unknown` that flows through every function that consumes it.

Transforms that depend on parameters (``Fn::ForEach``, SAM) run first, so the resolved
template is the one CloudFormation would deploy. For a set of stacks, the caller passes the
exports of the other stacks (``imports``) and the outputs of nested stacks
(``nested_outputs``); what this template exports comes back in ``ResolvedTemplate.exports``.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stackproof.template.azs import availability_zones
from stackproof.template.cfn_yaml import LocatedDict
from stackproof.template.loader import SUB_REFERENCE, Template
from stackproof.template.values import (
    NO_VALUE,
    AttrRef,
    FromParameter,
    ResourceRef,
    Symbolic,
    Unknown,
    first_unknown,
)

PSEUDO_SYMBOLIC = ("AWS::AccountId", "AWS::StackName", "AWS::StackId")
MAX_CIDR_COUNT = 256


@dataclass
class ResolvedResource:
    logical_id: str
    type: str
    properties: dict[str, Any]
    line: int
    property_lines: dict[str, int]
    exists: bool | Unknown = True
    deletion_policy: str | None = None
    update_replace_policy: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def line_of(self, prop: str) -> int:
        return self.property_lines.get(prop, self.line)


@dataclass
class ResolvedTemplate:
    """The template as deployed for one set of parameters.

    ``template`` is the template after its transforms (``template.warnings`` includes the
    loader's). ``exports`` maps each resolved ``Export.Name`` to its resolved ``Value``; a name
    built from ``AWS::StackName`` stays a :class:`Symbolic` with the ``${AWS::StackName}``
    placeholder. Exports whose name cannot be known are in ``unknown_exports`` (output
    logical ID to the Unknown), never guessed.
    """

    template: Template
    region: str
    parameters: dict[str, Any]
    conditions: dict[str, bool | Unknown]
    resources: dict[str, ResolvedResource]
    outputs: dict[str, Any]
    exports: dict[str, Any] = field(default_factory=dict)
    unknown_exports: dict[str, Unknown] = field(default_factory=dict)


class Resolver:
    def __init__(
        self,
        template: Template,
        given: Mapping[str, str],
        region: str,
        *,
        imports: Mapping[str, Any] | None = None,
        nested_outputs: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.template = template
        self.region = region
        self.data = template.data
        self.mappings: Mapping[str, Any] = self.data.get("Mappings") or {}
        self.resource_defs: Mapping[str, Any] = template.resources
        self.parameters = self._parameters(given)
        self.imports = imports
        self.nested_outputs = nested_outputs
        self._conditions: dict[str, bool | Unknown] = {}
        self._visiting: set[str] = set()

    def _parameters(self, given: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in (self.data.get("Parameters") or {}).items():
            spec = spec if isinstance(spec, dict) else {}
            no_echo = str(spec.get("NoEcho", "false")).lower() == "true"
            if name in given and _resolved_elsewhere(given[name]):
                values[name] = given[name]  # a parent passed a reference or an unknown: keep it as such
                continue
            if name in given:
                raw: Any = given[name]
            elif "Default" in spec:
                raw = spec["Default"]
            else:
                line = (
                    self.data["Parameters"].line_of(name) if isinstance(self.data["Parameters"], LocatedDict) else None
                )
                values[name] = Unknown(f"parameter {name} has no default and no value was given", line)
                continue
            if isinstance(raw, list):
                raw = ",".join(_scalar_text(item) for item in raw)
            text = str(raw).lower() if isinstance(raw, bool) else str(raw)
            ptype = str(spec.get("Type", "String"))
            if ptype == "CommaDelimitedList" or ptype.startswith("List<"):
                values[name] = (
                    [FromParameter(p.strip(), name, no_echo=no_echo) for p in text.split(",")] if text else []
                )
            elif ptype.startswith("AWS::SSM::Parameter::Value"):
                values[name] = Unknown(f"parameter {name} is read from SSM parameter {text!r} at deploy time")
            else:
                values[name] = FromParameter(text, name, no_echo=no_echo)
        return values

    # ------------------------------------------------------------------ conditions
    def condition(self, name: Any) -> bool | Unknown:
        if not isinstance(name, str):
            return Unknown(f"condition name {name!r} is not a string")
        if name in self._conditions:
            return self._conditions[name]
        definitions = self.data.get("Conditions") or {}
        if name not in definitions:
            return Unknown(f"undefined condition {name}")
        if name in self._visiting:
            return Unknown(f"condition {name} refers to itself")
        self._visiting.add(name)
        self._conditions[name] = self.truth(definitions[name])
        self._visiting.discard(name)
        return self._conditions[name]

    def truth(self, node: Any) -> bool | Unknown:
        if isinstance(node, dict) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Condition":
                return self.condition(arg)
            if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or") and not isinstance(arg, list):
                return Unknown(f"{key} needs a list")
            if key == "Fn::Equals":
                if len(arg) != 2:
                    return Unknown("Fn::Equals needs two values")
                left, right = (self.resolve(x) for x in arg)
                unknown = first_unknown([left, right])
                if unknown:
                    return unknown
                return _scalar_text(left) == _scalar_text(right)
            if key == "Fn::Not":
                if len(arg) != 1:
                    return Unknown("Fn::Not needs one condition")
                inner = self.truth(arg[0])
                return inner if isinstance(inner, Unknown) else not inner
            if key in ("Fn::And", "Fn::Or"):
                parts = [self.truth(x) for x in arg]
                known = [p for p in parts if not isinstance(p, Unknown)]
                if key == "Fn::And" and False in known:
                    return False
                if key == "Fn::Or" and True in known:
                    return True
                unknown = first_unknown(parts)
                return unknown if unknown else key == "Fn::And"
        value = self.resolve(node)
        if isinstance(value, Unknown):
            return value
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return Unknown(f"not a condition: {str(node)[:80]}")

    # ------------------------------------------------------------------ values
    def resolve(self, node: Any) -> Any:
        if isinstance(node, dict):
            if len(node) == 1:
                ((key, arg),) = node.items()
                handler = _FUNCTIONS.get(key)
                if handler is not None:
                    return handler(self, arg, getattr(node, "line", None))
            result = {}
            for key, value in node.items():
                resolved = self.resolve(value)
                if resolved is not NO_VALUE:
                    result[key] = resolved
            return result
        if isinstance(node, list):
            return [v for v in (self.resolve(x) for x in node) if v is not NO_VALUE]
        if isinstance(node, str) and "{{resolve:" in node:
            return Symbolic(node)
        return node

    def ref(self, name: Any, line: int | None) -> Any:
        if isinstance(name, dict):
            name = self.resolve(name)
        if not isinstance(name, str):
            return Unknown(f"Ref to {name!r}", line)
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::Region":
            return self.region
        if name == "AWS::Partition":
            return "aws-cn" if self.region.startswith("cn-") else "aws-us-gov" if "gov" in self.region else "aws"
        if name == "AWS::URLSuffix":
            return "amazonaws.com.cn" if self.region.startswith("cn-") else "amazonaws.com"
        if name == "AWS::NotificationARNs":
            return []
        if name in PSEUDO_SYMBOLIC:
            return Symbolic("${" + name + "}")
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resource_defs:
            exists = self.resource_exists(name)
            if exists is False:
                return Unknown(f"Ref to {name}, which does not exist under these parameters", line)
            return ResourceRef(name)
        return Unknown(f"Ref to undefined name {name}", line)

    def resource_exists(self, logical_id: str) -> bool | Unknown:
        uncertain = self.template.uncertain.get(logical_id)
        condition = self.resource_defs[logical_id].get("Condition")
        exists = True if condition is None else self.condition(condition)
        if uncertain is not None and exists is not False:
            return uncertain
        return exists

    def get_att(self, arg: Any, line: int | None) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            return Unknown(f"malformed Fn::GetAtt {arg!r}", line)
        logical_id = self.resolve(arg[0]) if isinstance(arg[0], dict) else arg[0]
        if isinstance(logical_id, Unknown):
            return logical_id
        attribute = self.resolve(arg[1])
        if not isinstance(attribute, str):
            return Unknown("Fn::GetAtt attribute is not known", line)
        if not isinstance(logical_id, str) or logical_id not in self.resource_defs:
            return Unknown(f"Fn::GetAtt on undefined resource {logical_id}", line)
        if self.resource_exists(logical_id) is False:
            return Unknown(f"Fn::GetAtt on {logical_id}, which does not exist under these parameters", line)
        if (
            self.nested_outputs is not None
            and attribute.startswith("Outputs.")
            and self.resource_defs[logical_id].get("Type") == "AWS::CloudFormation::Stack"
        ):
            return self.nested_output(logical_id, attribute.removeprefix("Outputs."), line)
        return AttrRef(logical_id, str(attribute))

    def nested_output(self, child: str, output: str, line: int | None) -> Any:
        assert self.nested_outputs is not None
        outputs = self.nested_outputs.get(child)
        if outputs is None:
            return Unknown(f"the outputs of nested stack {child} are not known (output {output})", line)
        if output not in outputs:
            return Unknown(f"nested stack {child} has no output {output}", line)
        return outputs[output]

    def sub(self, arg: Any, line: int | None) -> Any:
        if isinstance(arg, list):
            if len(arg) != 2 or not isinstance(arg[1], dict):
                return Unknown("malformed Fn::Sub", line)
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}
        if not isinstance(text, str):
            return Unknown("Fn::Sub template is not a string", line)
        refs: set[str] = set()
        symbolic = False
        pieces: list[str] = []
        position = 0
        for match in SUB_REFERENCE.finditer(text):
            pieces.append(text[position : match.start()])
            position = match.end()
            name = match[1]
            if name in variables:
                value = variables[name]
            elif "." in name and name.split(".", 1)[0] in self.resource_defs:
                value = self.get_att(name.split(".", 1), line)
            else:
                value = self.ref(name, line)
            if isinstance(value, Unknown):
                return value
            if isinstance(value, (ResourceRef, AttrRef)):
                refs.add(value.logical_id)
                symbolic = True
                pieces.append(str(value))
            elif isinstance(value, Symbolic):
                refs.update(value.refs)
                symbolic = True
                pieces.append(str(value))
            elif isinstance(value, (list, dict)) or value is NO_VALUE:
                return Unknown(f"Fn::Sub variable {name} is not a string", line)
            else:
                pieces.append(_scalar_text(value))
        pieces.append(text[position:])
        result = "".join(pieces).replace("${!", "${")
        if symbolic or "{{resolve:" in result:
            return Symbolic(result, frozenset(refs))
        return result

    def join(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return Unknown("malformed Fn::Join", line)
        delimiter, items = self.resolve(arg[0]), self.resolve(arg[1])
        unknown = first_unknown([delimiter, items])
        if unknown:
            return unknown
        if not isinstance(items, list):
            return Unknown("Fn::Join needs a list", line)
        refs: set[str] = set()
        texts = []
        for item in items:
            if isinstance(item, (ResourceRef, AttrRef)):
                refs.add(item.logical_id)
            elif isinstance(item, Symbolic):
                refs.update(item.refs)
            elif isinstance(item, (list, dict)):
                return Unknown("Fn::Join element is not a string", line)
            texts.append(str(item) if isinstance(item, (ResourceRef, AttrRef)) else _scalar_text(item))
        joined = str(delimiter).join(texts)
        if refs or any(isinstance(i, Symbolic) for i in items):
            return Symbolic(joined, frozenset(refs))
        return joined

    def select(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return Unknown("malformed Fn::Select", line)
        index, items = self.resolve(arg[0]), self.resolve(arg[1])
        unknown = first_unknown([index, items])
        if unknown:
            return unknown
        try:
            position = int(str(index))
        except ValueError:
            return Unknown(f"Fn::Select index {index!r} is not a number", line)
        if not isinstance(items, list):
            return Unknown("Fn::Select needs a list", line)
        if not 0 <= position < len(items):
            return Unknown(f"Fn::Select index {position} out of range for {len(items)} items", line)
        return items[position]

    def split(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) != 2:
            return Unknown("malformed Fn::Split", line)
        delimiter, source = self.resolve(arg[0]), self.resolve(arg[1])
        unknown = first_unknown([delimiter, source])
        if unknown:
            return unknown
        if isinstance(source, Symbolic) and source.refs:
            return Unknown("Fn::Split of a value known only at deploy time", line)
        if not isinstance(source, str) or not isinstance(delimiter, str) or not delimiter:
            return Unknown("Fn::Split needs a delimiter and a string", line)
        return source.split(delimiter)

    def if_(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            return Unknown("malformed Fn::If", line)
        truth = self.condition(arg[0]) if isinstance(arg[0], str) else Unknown("Fn::If condition name")
        if isinstance(truth, Unknown):
            return Unknown(f"Fn::If on condition {str(arg[0])[:80]}: {truth.reason}", line)
        return self.resolve(arg[1] if truth else arg[2])

    def find_in_map(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) not in (3, 4):
            return Unknown("malformed Fn::FindInMap", line)
        keys = [self.resolve(x) for x in arg[:3]]
        unknown = first_unknown(keys)
        if unknown:
            return unknown
        if any(isinstance(key, (list, dict)) for key in keys):
            return Unknown("Fn::FindInMap keys must be strings", line)
        node: Any = self.mappings
        for key in keys:
            if not isinstance(node, dict) or _scalar_text(key) not in node:
                if len(arg) == 4 and isinstance(arg[3], dict) and "DefaultValue" in arg[3]:
                    return self.resolve(arg[3]["DefaultValue"])
                return Unknown(f"Fn::FindInMap: no {key!r} in {'/'.join(map(str, keys))}", line)
            node = node[_scalar_text(key)]
        return self.resolve(node)

    def get_azs(self, arg: Any, line: int | None) -> Any:
        region = self.resolve(arg) or self.region
        if isinstance(region, Unknown):
            return region
        zones = availability_zones(str(region))
        return zones if zones is not None else Unknown(f"no offline Availability Zone list for {region}", line)

    def cidr(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) != 3:
            return Unknown("malformed Fn::Cidr", line)
        block, count, bits = (self.resolve(x) for x in arg)
        unknown = first_unknown([block, count, bits])
        if unknown:
            return unknown
        try:
            number = int(str(count))
            if not 1 <= number <= MAX_CIDR_COUNT:
                return Unknown(f"Fn::Cidr count {number} is outside CloudFormation's 1..{MAX_CIDR_COUNT}", line)
            network = ipaddress.ip_network(str(block), strict=False)
            prefix = network.max_prefixlen - int(str(bits))
            subnets = network.subnets(new_prefix=prefix)
            return [str(next(subnets)) for _ in range(number)]
        except (ValueError, StopIteration) as exc:
            return Unknown(f"Fn::Cidr {block}/{count}/{bits}: {exc or 'not enough room'}", line)

    def base64(self, arg: Any, line: int | None) -> Any:
        return self.resolve(arg)

    def import_value(self, arg: Any, line: int | None) -> Any:
        name = self.resolve(arg)
        if self.imports is None:
            return Unknown(f"Fn::ImportValue {name!s} is another stack's output", line)
        if isinstance(name, Unknown):
            return Unknown(f"Fn::ImportValue of an export name not known offline: {name.reason}", line)
        if not isinstance(name, str):
            return Unknown("Fn::ImportValue needs an export name", line)
        if name not in self.imports:
            return Unknown(f"no stack of the set exports {name}", line)
        return self.imports[name]

    def length(self, arg: Any, line: int | None) -> Any:
        items = self.resolve(arg)
        if isinstance(items, Unknown):
            return items
        if not isinstance(items, list):
            return Unknown("Fn::Length needs a list", line)
        unknown = next((item for item in items if isinstance(item, Unknown)), None)
        if unknown is not None:
            return Unknown(f"Fn::Length of a list with an unknown item ({unknown.reason})", line)
        return len(items)

    def to_json_string(self, arg: Any, line: int | None) -> Any:
        value = self.resolve(arg)
        unknown = first_unknown(value)
        if unknown:
            return unknown
        refs: set[str] = set()
        text = json.dumps(value, default=lambda item: _json_default(item, refs), separators=(",", ":"))
        symbolic = refs or _holds_symbolic(value)
        return Symbolic(text, frozenset(refs)) if symbolic else text

    def condition_fn(self, arg: Any, line: int | None) -> Any:
        return self.condition(arg)

    def logical(self, name: str) -> Any:
        def handler(resolver: Resolver, arg: Any, line: int | None) -> Any:
            return resolver.truth({name: arg})

        return handler

    # ------------------------------------------------------------------ whole template
    def policy(self, value: Any) -> str | None:
        """A DeletionPolicy or UpdateReplacePolicy; an intrinsic (language extensions) resolved."""
        if value is None or isinstance(value, str):
            return value
        resolved = self.resolve(value)
        return resolved if isinstance(resolved, str) else None

    def run(self) -> ResolvedTemplate:
        resources: dict[str, ResolvedResource] = {}
        for logical_id, spec in self.resource_defs.items():
            exists = self.resource_exists(logical_id)
            if exists is False:
                continue
            props = spec.get("Properties") or {}
            resolved = self.resolve(props)
            if isinstance(resolved, Unknown) and not isinstance(exists, Unknown):
                exists = Unknown(f"the properties of {logical_id} are not known: {resolved.reason}", resolved.line)
            prop_lines = dict(props.key_lines) if isinstance(props, LocatedDict) else {}
            metadata = spec.get("Metadata")
            resources[logical_id] = ResolvedResource(
                logical_id=logical_id,
                type=spec["Type"],
                properties=resolved if isinstance(resolved, dict) else {},
                line=self.template.resource_line(logical_id),
                property_lines=prop_lines,
                exists=exists,
                deletion_policy=self.policy(spec.get("DeletionPolicy")),
                update_replace_policy=self.policy(spec.get("UpdateReplacePolicy")),
                metadata=dict(metadata) if isinstance(metadata, dict) else {},
            )
        conditions = {name: self.condition(name) for name in self.data.get("Conditions") or {}}
        outputs: dict[str, Any] = {}
        exports: dict[str, Any] = {}
        unknown_exports: dict[str, Unknown] = {}
        output_specs = self.data.get("Outputs") or {}
        for name, spec in output_specs.items():
            if not isinstance(spec, dict):
                continue
            line = output_specs.line_of(name) if isinstance(output_specs, LocatedDict) else None
            present: bool | Unknown = True
            if "Condition" in spec:
                present = self.condition(spec["Condition"])
                if present is False:
                    continue
            value = self.resolve(spec.get("Value"))
            outputs[name] = value
            export = spec.get("Export")
            if not isinstance(export, dict) or "Name" not in export:
                continue
            export_name = self.resolve(export["Name"])
            if isinstance(present, Unknown):
                unknown_exports[name] = Unknown(f"whether output {name} exists: {present.reason}", line)
            elif isinstance(export_name, Unknown):
                unknown_exports[name] = Unknown(f"the export name of output {name}: {export_name.reason}", line)
            elif not isinstance(export_name, str):
                unknown_exports[name] = Unknown(f"the export name of output {name} is not a string", line)
            else:
                exports[export_name] = value
        return ResolvedTemplate(
            self.template, self.region, self.parameters, conditions, resources, outputs, exports, unknown_exports
        )


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _json_default(item: Any, refs: set[str]) -> str:
    if isinstance(item, (ResourceRef, AttrRef)):
        refs.add(item.logical_id)
    return str(item)


def _holds_symbolic(value: Any) -> bool:
    if isinstance(value, Symbolic):
        return True
    if isinstance(value, dict):
        return any(_holds_symbolic(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_symbolic(v) for v in value)
    return False


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda r, a, line: r.ref(a, line),
    "Fn::GetAtt": Resolver.get_att,
    "Fn::Sub": Resolver.sub,
    "Fn::Join": Resolver.join,
    "Fn::Select": Resolver.select,
    "Fn::Split": Resolver.split,
    "Fn::If": Resolver.if_,
    "Fn::FindInMap": Resolver.find_in_map,
    "Fn::GetAZs": Resolver.get_azs,
    "Fn::Cidr": Resolver.cidr,
    "Fn::Base64": Resolver.base64,
    "Fn::ImportValue": Resolver.import_value,
    "Fn::Length": Resolver.length,
    "Fn::ToJsonString": Resolver.to_json_string,
    "Condition": Resolver.condition_fn,
    "Fn::Equals": lambda r, a, line: r.truth({"Fn::Equals": a}),
    "Fn::Not": lambda r, a, line: r.truth({"Fn::Not": a}),
    "Fn::And": lambda r, a, line: r.truth({"Fn::And": a}),
    "Fn::Or": lambda r, a, line: r.truth({"Fn::Or": a}),
}


def _resolved_elsewhere(value: Any) -> bool:
    """A value a parent stack resolved for its nested child: a reference to one of its
    resources, a symbolic string, an unknown, or a list holding one of these."""
    if isinstance(value, list):
        return any(_resolved_elsewhere(v) for v in value)
    return isinstance(value, (ResourceRef, AttrRef, Symbolic, Unknown))


def resolve(
    template: Template,
    parameters: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    *,
    imports: Mapping[str, Any] | None = None,
    nested_outputs: Mapping[str, Mapping[str, Any]] | None = None,
) -> ResolvedTemplate:
    """Resolve ``template`` for ``parameters`` (names to strings) in ``region``.

    ``imports`` maps export names of the other stacks of a set to their resolved values
    (None: ``Fn::ImportValue`` is another stack's output, unknown). ``nested_outputs`` maps the
    logical ID of an ``AWS::CloudFormation::Stack`` to its resolved outputs, which
    ``Fn::GetAtt [Child, Outputs.X]`` then reads. Raises :class:`TemplateError` when a
    transform produces a template CloudFormation would refuse.
    """
    given = parameters or {}
    if template.transforms:
        from stackproof.template.transforms import expand

        original = Resolver(template, given, region, imports=imports, nested_outputs=nested_outputs)
        template = expand(template, original.resolve, original.parameters, region)
    return Resolver(template, given, region, imports=imports, nested_outputs=nested_outputs).run()
