"""Deployed targets: the same checks on moto, moto-server and (read-only) aws."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stackproof import catalogue, deploy
from stackproof.drift import compare
from stackproof.evaluate import evaluate
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.model.types import AutoScalingGroup, LogGroup
from stackproof.targets import TargetError, TargetOptions, load
from stackproof.targets.aws_calls import CallRecorder, WriteRefused
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from tests.conftest import REGION, ROOT, TEMPLATE
from tests.mutants import MUTANTS

PARAMS = str(TEMPLATE.with_name("dashboard.params.json"))
ACTIVE = sorted(c for c, control in catalogue.load().items() if control.active and "moto" in control.targets)

pytestmark = pytest.mark.moto


def test_reference_on_moto_passes_every_control_within_40_calls(aws_credentials: None) -> None:
    target = load("moto", TargetOptions(str(TEMPLATE), PARAMS, REGION))
    try:
        model = target.deployment()
    finally:
        target.close()
    assert sum(model.api_calls.values()) <= 40, model.api_calls
    assert model.skipped == {}
    verdicts = {cid: evaluate(model, cid) for cid in ACTIVE}
    assert {cid: v[0] for cid, v in verdicts.items() if v[0] != "PASS"} == {}, verdicts


@pytest.mark.parametrize("name", ["db-subnet-through-nat", "http-listener-forwards", "sync-role-writes-s3"])
def test_mutant_deployed_to_moto_fails_its_control(name: str, tmp_path: Path, aws_credentials: None) -> None:
    mutant = next(m for m in MUTANTS if m.name == name)
    target = load("moto", TargetOptions(str(mutant.apply(TEMPLATE, tmp_path)), PARAMS, REGION))
    try:
        model = target.deployment()
    finally:
        target.close()
    status, message = evaluate(model, mutant.control)
    assert status == "FAIL", message


def test_account_without_the_declared_increase_fails_qta02(tmp_path: Path, aws_credentials: None) -> None:
    mutant = next(m for m in MUTANTS if m.name == "undeclared-vcpu-increase")
    target = load("moto", TargetOptions(str(mutant.apply(TEMPLATE, tmp_path)), PARAMS, REGION))
    try:
        model = target.deployment()
    finally:
        target.close()
    status, message = evaluate(model, "QTA-02")
    assert status == "FAIL", message
    assert "L-1216C47A" in message
    assert "needs 10, the account allows 5" in message
    assert "request an increase to 13" in message


def test_run_on_template_and_both_emulators_agrees() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "run", "--target", "template,moto,moto-server"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = [
        line.split()
        for line in proc.stdout.splitlines()
        if line[:4] in {"NET-", "TLS-", "SCL-", "QTA-", "DAT-", "IAM-", "OBS-"}
    ]
    assert len(rows) == 29
    for row in rows:
        cells = row[2:5]
        if row[0] == "QTA-01":  # the catalogue shows QTA-01 on the template only
            assert cells == ["PASS", "SKIP", "SKIP"]
        elif row[0] == "QTA-02":  # and QTA-02 only on deployed targets
            assert cells == ["SKIP", "PASS", "PASS"]
        else:
            assert cells == ["PASS", "PASS", "PASS"], row
    assert "40 API calls" in proc.stdout


def test_aws_target_reads_a_stack_through_an_endpoint_and_never_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None
) -> None:
    import boto3
    from moto.server import ThreadedMotoServer

    from stackproof.build.lambda_zip import build_zip
    from stackproof.emulator.moto_patches import install
    from stackproof.targets.moto import free_port

    install()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
        zip_path = build_zip(ROOT / "reference" / "lambda" / "s3_to_efs", tmp_path / "code.zip")
        deploy.upload_code(
            boto3.client("s3", region_name=REGION, endpoint_url=endpoint), "code", "s3_to_efs.zip", zip_path, REGION
        )
        cert = deploy.create_certificate(
            boto3.client("acm", region_name=REGION, endpoint_url=endpoint), "d.example.com"
        )
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        parameters = {"CertificateArn": cert, "SyncFunctionCodeBucket": "code"}
        deploy.create_stack(cfn, "live", TEMPLATE, parameters, s3=s3, staging_bucket="code")

        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        target = load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name="live"))
        model = target.deployment()
        assert all(name.split(".")[1].startswith(("Describe", "Get", "List")) for name in model.api_calls)
        assert evaluate(model, "NET-02")[0] == "PASS"
        assert evaluate(model, "DAT-01")[0] == "PASS"
        # moto's server has no Backup selection API: DAT-04 cannot be decided, so it is ERROR.
        status, message = evaluate(model, "DAT-04")
        assert status == "ERROR"
        assert "BackupSelection objects: the aws target could not read them" in message

        changed_outside_cloudformation(endpoint, model)
        drifted = load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name="live")).deployment()
        template_model = build(
            resolve(load_template(TEMPLATE), {"CertificateArn": cert, "SyncFunctionCodeBucket": "code"}, REGION)
        )
        assert sorted(str(d) for d in compare(template_model, model)) == []
        found = sorted((d.logical_id, d.field, d.template, d.deployed) for d in compare(template_model, drifted))
        assert found == [("AppLogGroup", "retention_days", 365, 30), ("AutoScalingGroup", "max_size", 5, 7)]

        missing = load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name="nope"))
        with pytest.raises(TargetError, match="stack nope"):
            missing.deployment()
    finally:
        server.stop()


def changed_outside_cloudformation(endpoint: str, model: Deployment) -> None:
    import boto3

    group = model.all(AutoScalingGroup)[0].key
    boto3.client("autoscaling", region_name=REGION, endpoint_url=endpoint).update_auto_scaling_group(
        AutoScalingGroupName=group, MaxSize=7
    )
    log_group = next(g for g in model.all(LogGroup) if g.location.resource == "AppLogGroup")
    boto3.client("logs", region_name=REGION, endpoint_url=endpoint).put_retention_policy(
        logGroupName=log_group.key, retentionInDays=30
    )


def test_aws_target_needs_a_stack_name() -> None:
    with pytest.raises(TargetError, match="needs --stack-name"):
        load("aws", TargetOptions(str(TEMPLATE), None, REGION)).deployment()


def test_read_only_hook_refuses_writes_and_allows_reads(moto_aws: None) -> None:
    import boto3

    session = boto3.Session(region_name=REGION)
    recorder = CallRecorder(session, read_only=True)
    s3 = session.client("s3")
    s3.list_buckets()
    with pytest.raises(WriteRefused, match=r"s3\.CreateBucket changes the account"):
        s3.create_bucket(Bucket="nope", CreateBucketConfiguration={"LocationConstraint": REGION})
    assert dict(recorder.calls) == {"s3.ListBuckets": 1}
    assert boto3.client("s3", region_name=REGION).list_buckets()["Buckets"] == []


def test_a_scenario_allowed_by_name_may_write(moto_aws: None) -> None:
    import boto3

    session = boto3.Session(region_name=REGION)
    CallRecorder(session, read_only=True, allowed=frozenset({"s3.CreateBucket"}))
    session.client("s3").create_bucket(Bucket="allowed", CreateBucketConfiguration={"LocationConstraint": REGION})
