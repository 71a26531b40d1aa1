"""Repointing a deployed stack as the runbooks do: the update keeps the template CloudFormation
holds (whatever its size, nothing staged) and every parameter's deployed value but the ones
changed; a parameter changed to None takes its default."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackproof.targets.deploy import TEMPLATE_BODY_LIMIT
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import REGION

pytestmark = pytest.mark.moto

PADDING = 60_000  # bytes of Metadata: the template is over UpdateStack's TemplateBody limit


def big_template() -> str:
    parameters = {
        "DbHost": {"Type": "String", "Default": "db.internal"},
        "Tier": {"Type": "String", "Default": "small"},
        "Secret": {"Type": "String", "NoEcho": True, "Default": "default-secret"},
    }
    value = {"Fn::Join": [",", [{"Ref": "DbHost"}, {"Ref": "Tier"}, {"Ref": "Secret"}]]}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Metadata": {"Padding": "x" * PADDING},
        "Parameters": parameters,
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"Setting": {"Value": value}},
    }
    return json.dumps(template)


@pytest.fixture
def deployed(moto_aws: None, tmp_path: Path) -> StackHandle:
    import boto3

    body = big_template()
    assert len(body.encode()) > TEMPLATE_BODY_LIMIT
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="stage", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="stage", Key="big.json", Body=body.encode())
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(
        StackName="big",
        TemplateURL="https://stage.s3.amazonaws.com/big.json",
        Parameters=[
            {"ParameterKey": "DbHost", "ParameterValue": "old.example"},
            {"ParameterKey": "Tier", "ParameterValue": "large"},
            {"ParameterKey": "Secret", "ParameterValue": "deployed-secret"},
        ],
    )
    s3.delete_object(Bucket="stage", Key="big.json")

    def client(service: str, region: str | None = None) -> Any:
        return boto3.client(service, region_name=region or REGION)

    # No local template and no parameters known: a live stack's handle knows neither.
    return StackHandle(client, "big", {}, tmp_path / "absent.yaml", REGION, emulated=False)


def setting(stack: StackHandle) -> str:
    return stack.outputs()["Setting"]


def parameters(stack: StackHandle) -> dict[str, str]:
    described = stack.client("cloudformation").describe_stacks(StackName="big")["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}


def test_an_update_keeps_the_deployed_template_and_every_other_value(deployed: StackHandle) -> None:
    cloudformation = deployed.client("cloudformation")
    before = cloudformation.get_template(StackName="big")["TemplateBody"]
    assert setting(deployed) == "old.example,large,deployed-secret"

    assert deployed.update({"DbHost": "restored.example"}) == "UPDATE_COMPLETE"

    assert setting(deployed) == "restored.example,large,deployed-secret"
    assert parameters(deployed)["Tier"] == "large"
    assert cloudformation.get_template(StackName="big")["TemplateBody"] == before
    objects = deployed.client("s3").list_objects_v2(Bucket="stage")
    assert objects.get("KeyCount", 0) == 0, "nothing was staged: the deployed template was reused"


def test_a_parameter_changed_to_none_takes_its_default(deployed: StackHandle) -> None:
    deployed.update({"DbHost": "restored.example"})
    deployed.update({"DbHost": None})
    assert setting(deployed) == "db.internal,large,deployed-secret"
