"""Resolve a template's intrinsic functions for one set of parameters.

Written here because the renderers others use leave ``Fn::If`` on conditions and Refs to
parameters without defaults unresolved or guessed. Whatever cannot be known offline becomes
an :class:`Unknown` that flows through every function that consumes it.
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
    template: Template
    region: str
    parameters: dict[str, Any]
    conditions: dict[str, bool | Unknown]
    resources: dict[str, ResolvedResource]
    outputs: dict[str, Any]


class Resolver:
    def __init__(self, template: Template, given: Mapping[str, str], region: str) -> None:
        self.template = template
        self.region = region
        self.data = template.data
        self.mappings: Mapping[str, Any] = self.data.get("Mappings") or {}
        self.resource_defs: Mapping[str, Any] = template.resources
        self.parameters = self._parameters(given)
        self._conditions: dict[str, bool | Unknown] = {}
        self._visiting: set[str] = set()

    def _parameters(self, given: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in (self.data.get("Parameters") or {}).items():
            spec = spec or {}
            no_echo = str(spec.get("NoEcho", "false")).lower() == "true"
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
    def condition(self, name: str) -> bool | Unknown:
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
            if key == "Fn::Equals":
                left, right = (self.resolve(x) for x in arg)
                unknown = first_unknown([left, right])
                if unknown:
                    return unknown
                return _scalar_text(left) == _scalar_text(right)
            if key == "Fn::Not":
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
        return Unknown(f"not a condition: {node!r}")

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
        condition = self.resource_defs[logical_id].get("Condition")
        return True if condition is None else self.condition(condition)

    def get_att(self, arg: Any, line: int | None) -> Any:
        if isinstance(arg, str):
            arg = arg.split(".", 1)
        if not isinstance(arg, list) or len(arg) != 2:
            return Unknown(f"malformed Fn::GetAtt {arg!r}", line)
        logical_id, attribute = arg[0], self.resolve(arg[1])
        if not isinstance(attribute, str):
            return Unknown("Fn::GetAtt attribute is not known", line)
        if logical_id not in self.resource_defs:
            return Unknown(f"Fn::GetAtt on undefined resource {logical_id}", line)
        if self.resource_exists(logical_id) is False:
            return Unknown(f"Fn::GetAtt on {logical_id}, which does not exist under these parameters", line)
        return AttrRef(logical_id, str(attribute))

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
            return Unknown(f"Fn::If on condition {arg[0]}: {truth.reason}", line)
        return self.resolve(arg[1] if truth else arg[2])

    def find_in_map(self, arg: Any, line: int | None) -> Any:
        if not isinstance(arg, list) or len(arg) < 3:
            return Unknown("malformed Fn::FindInMap", line)
        keys = [self.resolve(x) for x in arg[:3]]
        unknown = first_unknown(keys)
        if unknown:
            return unknown
        node: Any = self.mappings
        for key in keys:
            if not isinstance(node, dict) or str(key) not in node:
                return Unknown(f"Fn::FindInMap: no {key!r} in {'/'.join(map(str, keys))}", line)
            node = node[str(key)]
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
            network = ipaddress.ip_network(str(block), strict=False)
            prefix = network.max_prefixlen - int(str(bits))
            subnets = network.subnets(new_prefix=prefix)
            return [str(next(subnets)) for _ in range(int(str(count)))]
        except (ValueError, StopIteration) as exc:
            return Unknown(f"Fn::Cidr {block}/{count}/{bits}: {exc or 'not enough room'}", line)

    def base64(self, arg: Any, line: int | None) -> Any:
        return self.resolve(arg)

    def import_value(self, arg: Any, line: int | None) -> Any:
        return Unknown(f"Fn::ImportValue {self.resolve(arg)!s} is another stack's output", line)

    def length(self, arg: Any, line: int | None) -> Any:
        items = self.resolve(arg)
        if isinstance(items, Unknown):
            return items
        return len(items) if isinstance(items, list) else Unknown("Fn::Length needs a list", line)

    def to_json_string(self, arg: Any, line: int | None) -> Any:
        value = self.resolve(arg)
        unknown = first_unknown(value)
        if unknown:
            return unknown
        return json.dumps(value, default=str, separators=(",", ":"))

    def condition_fn(self, arg: Any, line: int | None) -> Any:
        return self.condition(arg)

    def logical(self, name: str) -> Any:
        def handler(resolver: Resolver, arg: Any, line: int | None) -> Any:
            return resolver.truth({name: arg})

        return handler

    # ------------------------------------------------------------------ whole template
    def run(self) -> ResolvedTemplate:
        resources: dict[str, ResolvedResource] = {}
        for logical_id, spec in self.resource_defs.items():
            exists = self.resource_exists(logical_id)
            if exists is False:
                continue
            props = spec.get("Properties") or {}
            resolved = self.resolve(props)
            prop_lines = dict(props.key_lines) if isinstance(props, LocatedDict) else {}
            resources[logical_id] = ResolvedResource(
                logical_id=logical_id,
                type=spec["Type"],
                properties=resolved if isinstance(resolved, dict) else {},
                line=self.template.resource_line(logical_id),
                property_lines=prop_lines,
                exists=exists,
                deletion_policy=spec.get("DeletionPolicy"),
                update_replace_policy=spec.get("UpdateReplacePolicy"),
                metadata=dict(spec.get("Metadata") or {}),
            )
        conditions = {name: self.condition(name) for name in self.data.get("Conditions") or {}}
        outputs = {}
        for name, spec in (self.data.get("Outputs") or {}).items():
            if "Condition" in spec and self.condition(spec["Condition"]) is False:
                continue
            outputs[name] = self.resolve(spec.get("Value"))
        return ResolvedTemplate(self.template, self.region, self.parameters, conditions, resources, outputs)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


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


def resolve(
    template: Template, parameters: Mapping[str, str] | None = None, region: str = "us-east-1"
) -> ResolvedTemplate:
    """Resolve ``template`` for ``parameters`` (names to strings) in ``region``."""
    return Resolver(template, parameters or {}, region).run()
