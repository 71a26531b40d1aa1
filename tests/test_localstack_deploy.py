"""The references deployed into a running LocalStack (``tox -e localstack`` runs these under
``localstack_runner``, which gives ``LOCALSTACK_ENDPOINT`` and ``STACKPROOF_EFS_ROOT``): every
resource of the stack is created with a real physical ID, none left as the free edition's
``unknown`` placeholder, so stackproof's providers (stackproof.emulator.localstack_ext) are
proven by LocalStack's own CloudFormation engine; and the sync function, run by stackproof's
local Lambda executor, receives LocalStack's own S3 notifications and writes through its EFS
access point. Without an endpoint they are skipped, saying so."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCES = ROOT / "reference" / "cloudformation"

pytestmark = pytest.mark.skipif(
    not os.environ.get("LOCALSTACK_ENDPOINT"),
    reason="needs a running LocalStack: tox -e localstack runs these (LOCALSTACK_ENDPOINT)",
)


class Deployed:
    def __init__(self, client: Callable[[str], Any], stacks: list[str], result: Any) -> None:
        self.client = client
        self.result = result
        self.resources: list[dict[str, Any]] = []
        for name in stacks:
            for page in client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name):
                self.resources += page["StackResourceSummaries"]

    def physical(self, logical_id: str) -> str:
        return next(str(r["PhysicalResourceId"]) for r in self.resources if r["LogicalResourceId"] == logical_id)


@pytest.fixture(scope="module", params=["dashboard", "analytics"])
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    from stackproof.targets import TargetOptions
    from stackproof.targets.localstack import LocalStackTarget

    reference = request.param
    # An EnvironmentName of its own: what other deployments of the reference in this LocalStack
    # retain (DeletionPolicy: Retain, as on AWS: buckets, the file system) keeps their names.
    parameters = json.loads((REFERENCES / f"{reference}.params.json").read_text(encoding="utf-8"))
    parameters.append({"ParameterKey": "EnvironmentName", "ParameterValue": f"proof-{reference}"})
    params = tmp_path_factory.mktemp(reference) / "params.json"
    params.write_text(json.dumps(parameters), encoding="utf-8")
    options = TargetOptions(template=str(REFERENCES / f"{reference}.yaml"), params=str(params), region="us-east-1")
    target = LocalStackTarget(options)
    failed = True
    try:
        _, client, _, result = target._open()
        yield Deployed(client, list(target.deployed), result)
        failed = False
    finally:
        target.cleanup(failed)


def test_every_resource_gets_a_real_physical_id(deployed: Deployed) -> None:
    placeholders = [
        f"{r['LogicalResourceId']} ({r['ResourceType']}): {r.get('PhysicalResourceId')!r} {r['ResourceStatus']}"
        for r in deployed.resources
        if r.get("PhysicalResourceId") in (None, "", "unknown") or r["ResourceStatus"] != "CREATE_COMPLETE"
    ]
    assert placeholders == []
    assert deployed.result.status == "CREATE_COMPLETE"
    assert deployed.result.skipped == {}
    assert len(deployed.resources) == len(deployed.result.expected)


def empty_bucket(s3: Any, bucket: str) -> None:
    """A versioned bucket CloudFormation is to delete must hold no version of anything."""
    listed = s3.list_object_versions(Bucket=bucket)
    for item in listed.get("Versions", []) + listed.get("DeleteMarkers", []):
        s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])


def function_log(deployed: Deployed, function: str, text: str) -> bool:
    """Whether the function's CloudWatch log group holds ``text`` (LocalStack delivers the logs
    the executor hands back)."""
    logs = deployed.client("logs")
    group = f"/aws/lambda/{function}"
    try:
        streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    except logs.exceptions.ResourceNotFoundException:
        return False
    return any(
        text in event["message"]
        for stream in streams
        for event in logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    )


def wait_for(find: Callable[[], Any], seconds: float = 60.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = find()
        if found:
            return found
        time.sleep(0.5)
    return None


def test_upload_under_images_reaches_the_efs_directory_and_a_failure_the_dead_letter_queue(
    deployed: Deployed,
) -> None:
    if deployed.result.expected.get("SyncFunction") is None:
        pytest.skip("this reference has no sync function")
    s3, sqs = deployed.client("s3"), deployed.client("sqs")
    bucket, function = deployed.physical("ContentBucket"), deployed.physical("SyncFunction")
    efs_root = Path(os.environ["STACKPROOF_EFS_ROOT"])
    try:
        s3.put_object(Bucket=bucket, Key="images/stackproof-logo.png", Body=b"\x89PNG stackproof")
        s3.put_object(Bucket=bucket, Key="reports/not-synced.csv", Body=b"a,b")
        written = wait_for(lambda: list(efs_root.glob("*/*/images/stackproof-logo.png")))
        assert written, f"nothing under {efs_root} after the upload"
        (path,) = written
        assert path.read_bytes() == b"\x89PNG stackproof"
        assert not list(efs_root.rglob("not-synced.csv"))  # no notification outside images/, themes/, excel-data/
        assert wait_for(lambda: function_log(deployed, function, "images/stackproof-logo.png")), "no log of the write"

        lam = deployed.client("lambda")
        lam.put_function_event_invoke_config(FunctionName=function, MaximumRetryAttempts=0)
        lam.invoke(FunctionName=function, InvocationType="Event", Payload=json.dumps({"Records": "not a list"}))
        queue = sqs.get_queue_url(QueueName=deployed.physical("SyncFunctionDeadLetterQueue").rsplit("/", 1)[-1])
        received = wait_for(
            lambda: sqs.receive_message(QueueUrl=queue["QueueUrl"], WaitTimeSeconds=1).get("Messages"), 90.0
        )
        assert received, "the failed invocation did not reach the dead-letter queue"
        assert json.loads(received[0]["Body"]) == {"Records": "not a list"}
    finally:
        empty_bucket(s3, bucket)


SLEEPER = """
import os, time

def handle(event, context):
    time.sleep(event.get("sleep", 0))
    return {"greeting": os.environ["GREETING"], "endpoint": bool(os.environ.get("AWS_ENDPOINT_URL"))}
"""


def test_local_executor_gives_the_function_its_environment_and_enforces_its_timeout(tmp_path: Path) -> None:
    import io
    import zipfile

    import boto3

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
    endpoint = os.environ["LOCALSTACK_ENDPOINT"]
    iam, lam = session.client("iam", endpoint_url=endpoint), session.client("lambda", endpoint_url=endpoint)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName="stackproof-sleeper", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("sleeper.py", SLEEPER)
    lam.create_function(
        FunctionName="stackproof-sleeper",
        Runtime="python3.12",
        Handler="sleeper.handle",
        Role=role,
        Code={"ZipFile": archive.getvalue()},
        Timeout=1,
        Environment={"Variables": {"GREETING": "hello from the function's environment"}},
    )
    try:
        lam.get_waiter("function_active_v2").wait(FunctionName="stackproof-sleeper")
        answer = lam.invoke(FunctionName="stackproof-sleeper", Payload=json.dumps({}))
        assert "FunctionError" not in answer
        assert json.loads(answer["Payload"].read()) == {
            "greeting": "hello from the function's environment",
            "endpoint": True,
        }
        started = time.monotonic()
        answer = lam.invoke(FunctionName="stackproof-sleeper", Payload=json.dumps({"sleep": 20}))
        assert time.monotonic() - started < 15
        assert answer.get("FunctionError")
        assert "timed out" in json.loads(answer["Payload"].read())["errorMessage"]
    finally:
        lam.delete_function(FunctionName="stackproof-sleeper")
        iam.delete_role(RoleName="stackproof-sleeper")
