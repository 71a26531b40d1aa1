"""One deployment model from a set of resolved stacks (a stack set, nested stacks, or both).

The checks judge a deployment, not a file: an Auto Scaling group in the instances stack and
the subnets it launches into in the network stack are one system. Every resource keeps the
file, line and stack it came from, so evidence names them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import Context, parameters_of, populate, stack_facts
from stackproof.model.from_template import declared as declared_by
from stackproof.template.loader import Template
from stackproof.template.resolver import ResolvedResource, ResolvedTemplate
from stackproof.template.stack_set import ResolvedSet, Stack
from stackproof.template.values import refers_to


class SetContext(Context):
    """A builder context over every stack of the set: locations carry each resource's own
    file and stack, and references reach resources of any stack."""

    def __init__(self, merged: ResolvedTemplate, deployment: Deployment, origin: dict[str, Stack]) -> None:
        super().__init__(merged, deployment)
        self.origin = origin

    def loc(self, r: ResolvedResource, prop: str | None = None) -> m.Location:
        stack = self.origin.get(r.logical_id)
        file = str(stack.template.path) if stack else self.file
        return m.Location(
            r.logical_id, r.type, file, r.line_of(prop) if prop else r.line, stack=stack.name if stack else None
        )

    def type_of(self, value: Any) -> str | None:
        lid = refers_to(value)
        resource = self.resolved.resources.get(lid) if lid else None
        return resource.type if resource else None


def declared_of(templates: Iterable[Template]) -> dict[str, Any]:
    """The ``Metadata.stackproof`` of a set's templates together: the first value of each key,
    and every declared quota increase once (by code, the largest whole value). An increase
    whose value is not a whole number is no declaration (the loader refuses it in a template;
    a deployed stack's Metadata is read without the loader)."""
    declared: dict[str, Any] = {}
    increases: dict[str, dict[str, Any]] = {}
    for template in templates:
        for key, value in declared_by(template.data).items():
            if key != "quota_increases":
                declared.setdefault(key, value)
                continue
            for entry in value if isinstance(value, list) else ():
                code = entry.get("code") if isinstance(entry, dict) else None
                amount = entry.get("value") if isinstance(entry, dict) else None
                if not isinstance(code, str) or not isinstance(amount, int) or isinstance(amount, bool):
                    continue
                if code not in increases or amount > increases[code]["value"]:
                    increases[code] = dict(entry)
    if increases:
        declared["quota_increases"] = list(increases.values())
    return declared


def build_set(resolved_set: ResolvedSet, name: str) -> Deployment:
    stacks = [s for s in resolved_set.stacks if s.resolved is not None]
    if not stacks:
        raise ValueError("a set with no resolved stack")
    first = stacks[0].resolved
    assert first is not None
    merged_resources: dict[str, ResolvedResource] = {}
    origin: dict[str, Stack] = {}
    parameters: dict[str, Any] = {}
    for stack in stacks:
        assert stack.resolved is not None
        for lid, resource in stack.resolved.resources.items():
            merged_resources[lid] = resource
            origin[lid] = stack
        for key, value in stack.resolved.parameters.items():
            parameters.setdefault(key, value)
    merged = dataclasses.replace(first, resources=merged_resources, parameters=parameters)
    deployment = Deployment(
        target="template",
        name=name,
        region=first.region,
        source=", ".join(dict.fromkeys(str(s.template.path) for s in stacks)),
    )
    deployment.stacks = {s.name: str(s.template.path) for s in stacks}
    deployment.link_problems = list(resolved_set.problems)
    deployment.links = resolved_set.imports + sum(1 for s in stacks if s.parent is not None)
    deployment.parameter_values = parameters
    deployment.declared = declared_of(s.template for s in stacks)
    for stack in stacks:
        deployment.parameters += parameters_of(stack.template.data, str(stack.template.path), stack.name)
    populate(SetContext(merged, deployment, origin), merged_resources.values())
    for stack in stacks:
        assert stack.resolved is not None
        stack_facts(stack.resolved, deployment, stack.name)
    return deployment
