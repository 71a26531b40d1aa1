"""A deployed stack a drill may change: its clients, its resources, and a stack update."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.targets import deploy


@dataclass
class StackHandle:
    client: Callable[[str], Any]
    stack_name: str
    parameters: dict[str, str]
    template: Path
    region: str
    account_id: str = "123456789012"
    emulated: bool = True  # the data plane (file system contents) is reachable directly
    _resources: dict[str, str] = field(default_factory=dict)

    def resources(self) -> dict[str, str]:
        """Logical ID -> physical ID, as CloudFormation has them now."""
        found = {}
        paginator = self.client("cloudformation").get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack_name):
            for summary in page["StackResourceSummaries"]:
                found[summary["LogicalResourceId"]] = summary.get("PhysicalResourceId") or ""
        return found

    def physical(self, logical_id: str) -> str:
        found = self.resources().get(logical_id)
        if not found:
            raise KeyError(f"stack {self.stack_name} has no {logical_id}")
        return found

    def outputs(self) -> dict[str, str]:
        stack = self.client("cloudformation").describe_stacks(StackName=self.stack_name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def update(self, changes: dict[str, str | None]) -> str:
        """Update the stack with these parameter values (None: back to its default), keeping
        the deployed template and every other parameter's deployed value; the new status."""
        status = deploy.update_parameters(self.client("cloudformation"), self.stack_name, changes)
        wanted = {**self.parameters, **{k: v for k, v in changes.items() if v is not None}}
        for key, value in changes.items():
            if value is None:
                wanted.pop(key, None)
        self.parameters = wanted
        return status
