"""The references deployed into a running LocalStack (``tox -e localstack`` runs these under
``localstack_runner``, which gives ``LOCALSTACK_ENDPOINT``): every resource of the stack is
created with a real physical ID, none left as the free edition's ``unknown`` placeholder, so
stackproof's providers (stackproof.emulator.localstack_ext) are proven by LocalStack's own
CloudFormation engine. Without an endpoint they are skipped, saying so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "reference" / "cloudformation"

pytestmark = pytest.mark.skipif(
    not os.environ.get("LOCALSTACK_ENDPOINT"),
    reason="needs a running LocalStack: tox -e localstack runs these (LOCALSTACK_ENDPOINT)",
)


def stack_resources(client: Any, names: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for name in names:
        for page in client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name):
            found += page["StackResourceSummaries"]
    return found


@pytest.mark.parametrize("reference", ["dashboard", "analytics"])
def test_every_resource_gets_a_real_physical_id(reference: str) -> None:
    from stackproof.targets import TargetOptions
    from stackproof.targets.localstack import LocalStackTarget

    options = TargetOptions(
        template=str(REFERENCES / f"{reference}.yaml"),
        params=str(REFERENCES / f"{reference}.params.json"),
        region="us-east-1",
    )
    target = LocalStackTarget(options)
    failed = True
    try:
        _, client, _, result = target._open()
        resources = stack_resources(client, target.deployed)
        placeholders = [
            f"{r['LogicalResourceId']} ({r['ResourceType']}): {r.get('PhysicalResourceId')!r} {r['ResourceStatus']}"
            for r in resources
            if r.get("PhysicalResourceId") in (None, "", "unknown") or r["ResourceStatus"] != "CREATE_COMPLETE"
        ]
        assert placeholders == []
        assert result.status == "CREATE_COMPLETE"
        assert result.skipped == {}
        assert len(resources) == len(result.expected)
        failed = False
    finally:
        target.cleanup(failed)
