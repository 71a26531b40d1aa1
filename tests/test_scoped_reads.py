"""The aws target reads the stack, not the account: the calls that read a deployed reference
do not grow when the account holds 200 more roles, log groups and functions of no stack."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter

import pytest

from stackproof.results.evaluate import evaluate
from tests.conftest import REGION
from tests.test_targets import LiveStack, live_stack, read_live

__all__ = ["live_stack"]  # the fixture, imported for this module's tests

pytestmark = [pytest.mark.moto, pytest.mark.slow]
UNRELATED = 200
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}
ADMIN = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def calls_of_a_read() -> Counter[str]:
    target = read_live()
    model = target.deployment()
    assert evaluate(model, "IAM-03")[0] == "PASS"  # the stack's own roles were read
    assert evaluate(model, "OBS-01")[0] == "PASS"  # and its log groups
    return Counter(model.api_calls)


def add_unrelated(endpoint: str) -> None:
    """Roles with an admin policy, log groups without retention, functions with reserved
    concurrency: all outside the stack, so no control may see them."""
    import boto3

    assert endpoint.startswith("http://127.0.0.1:")  # loopback only, ever
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    logs = boto3.client("logs", region_name=REGION, endpoint_url=endpoint)
    awslambda = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return None\n")
    for n in range(UNRELATED):
        role = iam.create_role(RoleName=f"unrelated-{n}", AssumeRolePolicyDocument=json.dumps(TRUST))["Role"]
        iam.put_role_policy(RoleName=f"unrelated-{n}", PolicyName="admin", PolicyDocument=json.dumps(ADMIN))
        logs.create_log_group(logGroupName=f"/unrelated/{n}")
        awslambda.create_function(
            FunctionName=f"unrelated-{n}",
            Runtime="python3.12",
            Role=role["Arn"],
            Handler="index.handler",
            Code={"ZipFile": code.getvalue()},
        )


def test_reading_the_stack_costs_the_same_calls_however_full_the_account(live_stack: LiveStack) -> None:
    before = calls_of_a_read()
    add_unrelated(live_stack.endpoint)
    after = calls_of_a_read()
    assert after == before
    assert sum(before.values()) <= 100, before
    assert not any(call.startswith(("iam.GetAccountAuthorizationDetails", "lambda.ListFunctions")) for call in after)
