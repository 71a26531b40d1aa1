"""Evaluate a template's Conditions section for given parameter values.

Enough to know which resources exist for a parameter set; the full intrinsic resolver is
separate. A condition that depends on something unknown raises rather than guessing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ConditionError(Exception):
    pass


def parameter_values(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, spec in (template.get("Parameters") or {}).items():
        if name in given:
            values[name] = given[name]
        elif "Default" in spec:
            values[name] = spec["Default"]
    return values


def evaluate_conditions(template: Mapping[str, Any], parameters: Mapping[str, Any]) -> dict[str, bool]:
    definitions: Mapping[str, Any] = template.get("Conditions") or {}
    results: dict[str, bool] = {}
    visiting: set[str] = set()

    def condition(name: str) -> bool:
        if name in results:
            return results[name]
        if name not in definitions:
            raise ConditionError(f"unknown condition {name!r}")
        if name in visiting:
            raise ConditionError(f"condition {name!r} refers to itself")
        visiting.add(name)
        results[name] = truth(definitions[name])
        visiting.discard(name)
        return results[name]

    def value(node: Any) -> Any:
        if isinstance(node, Mapping) and len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                if arg not in parameters:
                    raise ConditionError(f"parameter {arg!r} has no value")
                return parameters[arg]
            if key == "Condition":
                return condition(arg)
            raise ConditionError(f"{key} is not supported inside Conditions here")
        return node

    def truth(node: Any) -> bool:
        if not isinstance(node, Mapping) or len(node) != 1:
            raise ConditionError(f"not a condition: {node!r}")
        ((key, arg),) = node.items()
        if key == "Fn::Equals":
            left, right = (value(x) for x in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not truth(arg[0])
        if key == "Fn::And":
            return all(truth(x) for x in arg)
        if key == "Fn::Or":
            return any(truth(x) for x in arg)
        if key == "Condition":
            return condition(arg)
        raise ConditionError(f"unsupported condition function {key}")

    for name in definitions:
        condition(name)
    return results


def active_resources(template: Mapping[str, Any], given: Mapping[str, str]) -> dict[str, str]:
    """Logical ID to type of every resource that exists for these parameters."""
    conditions = evaluate_conditions(template, parameter_values(template, given))
    return {
        logical_id: resource["Type"]
        for logical_id, resource in (template.get("Resources") or {}).items()
        if "Condition" not in resource or conditions[resource["Condition"]]
    }
