"""Deployed targets: the same checks on moto, moto-server and (read-only) aws."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.domain.drift import compare
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.model.types import AutoScalingGroup, LogGroup
from stackproof.results.evaluate import evaluate, load_checks
from stackproof.targets import TargetError, TargetOptions, deploy, load
from stackproof.targets.aws_calls import CallRecorder, WriteRefused
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from stackproof.template.values import Unknown
from tests.conftest import REGION, ROOT, TEMPLATE
from tests.mutants import MUTANTS

PARAMS = str(TEMPLATE.with_name("dashboard.params.json"))
ACTIVE = sorted(
    c
    for c, control in catalogue.load().items()
    if control.active and "moto" in control.targets and control.suite == "checks" and "dashboard" in control.references
)

pytestmark = pytest.mark.moto


def test_reference_on_moto_passes_every_control_within_61_calls(aws_credentials: None) -> None:
    target = load("moto", TargetOptions(str(TEMPLATE), PARAMS, REGION))
    try:
        model = target.deployment()
    finally:
        target.close()
    # Each of the stack's five roles is read by name (GetRole, its two policy listings, each
    # inline policy): the count follows the stack, never the account (tests/test_scoped_reads.py).
    assert sum(model.api_calls.values()) <= 61, model.api_calls
    assert model.skipped == {}
    verdicts = {cid: evaluate(model, cid) for cid in ACTIVE}
    # TLS-05's handshake half needs a live load balancer; its certificate half passes (tested below).
    # DEP-01: one stack that imports and nests nothing has no links between stacks to check.
    expected = {"TLS-05": "SKIP", "DEP-01": "SKIP"}
    assert {cid: v[0] for cid, v in verdicts.items() if v[0] != "PASS"} == expected, verdicts


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
        [
            sys.executable,
            "-m",
            "stackproof.cli",
            "run",
            "--target",
            "template,moto,moto-server",
            "--tools",
            "none",
            "--no-reports",
        ],
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
    assert len(rows) == 34
    for row in rows:
        cells = row[2:5]
        if row[0] == "QTA-01":  # the catalogue shows QTA-01 on the template only
            assert cells == ["PASS", "SKIP", "SKIP"]
        elif row[0] == "QTA-02":  # and QTA-02 only on deployed targets
            assert cells == ["SKIP", "PASS", "PASS"]
        elif row[0] == "TLS-05":  # deployed only, and the handshake needs a live load balancer
            assert cells == ["SKIP", "SKIP", "SKIP"]
        else:
            assert cells == ["PASS", "PASS", "PASS"], row
    assert "61 API calls" in proc.stdout


def test_moto_server_clients_come_from_the_one_client_cache_and_count_from_the_deploy(aws_credentials: None) -> None:
    from stackproof.targets.aws_calls import CONNECT_TIMEOUT, READ_TIMEOUT, ClientCache

    target = load("moto-server", TargetOptions(str(TEMPLATE), PARAMS, REGION))
    try:
        stack = target.open_stack()
        clients = stack.client
        assert isinstance(clients, ClientCache)
        ec2 = clients("ec2")
        assert clients("ec2") is ec2
        assert clients("ec2", "us-east-1") is not ec2
        assert ec2.meta.endpoint_url == clients.endpoint_url == target._endpoint
        config = ec2.meta.config
        assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)
        assert config.retries == {"mode": "adaptive", "total_max_attempts": 5}
        # Deploying is not counted; what the stack's user does from then on is.
        assert dict(clients.recorder.calls) == {}
        stack.resources()
        assert dict(clients.recorder.calls) == {"cloudformation.ListStackResources": 1}
    finally:
        target.close()


@dataclass
class LiveStack:
    endpoint: str
    parameters: dict[str, str]


@pytest.fixture
def live_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[LiveStack]:
    """The reference deployed as stack "live" on moto's server; AWS_ENDPOINT_URL points there."""
    import boto3
    from moto.moto_api._internal.models import moto_api_backend
    from moto.server import ThreadedMotoServer

    from stackproof.build.lambda_zip import build_zip
    from stackproof.emulator.moto_patches import install
    from stackproof.support.ports import free_port

    install()
    moto_api_backend.reset()  # moto's accounts live in the process: start from empty ones
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        zip_path = build_zip(ROOT / "reference" / "lambda" / "s3_to_efs", tmp_path / "code.zip")
        deploy.upload_code(s3, "code", "s3_to_efs.zip", zip_path, REGION)
        acm = boto3.client("acm", region_name=REGION, endpoint_url=endpoint)
        parameters = {
            "CertificateArn": deploy.import_certificate(acm, "d.example.com"),
            "SyncFunctionCodeBucket": "code",
            "DomainName": "d.example.com",
        }
        cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
        deploy.create_stack(cfn, "live", TEMPLATE, parameters, s3=s3, staging_bucket="code")
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield LiveStack(endpoint, parameters)
    finally:
        server.stop()


def read_live(stack_name: str = "live") -> Any:
    return load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name=stack_name, probe_tls=False))


def test_aws_target_reads_a_stack_through_an_endpoint_and_never_writes(live_stack: LiveStack) -> None:
    model = read_live().deployment()
    assert all(name.split(".")[1].startswith(("Describe", "Get", "List")) for name in model.api_calls)
    assert evaluate(model, "NET-02")[0] == "PASS"
    assert evaluate(model, "DAT-01")[0] == "PASS"
    # moto's server has no Backup selection API: DAT-04 cannot be decided, so it is ERROR.
    status, message = evaluate(model, "DAT-04")
    assert status == "ERROR"
    assert "BackupSelection objects: the aws target could not read them" in message

    changed_outside_cloudformation(live_stack.endpoint, model)
    drifted = read_live().deployment()
    template_model = build(resolve(load_template(TEMPLATE), live_stack.parameters, REGION))
    assert sorted(str(d) for d in compare(template_model, model)) == []
    found = sorted((d.logical_id, d.field, d.template, d.deployed) for d in compare(template_model, drifted))
    assert found == [("AppLogGroup", "retention_days", 365, 30), ("AutoScalingGroup", "max_size", 5, 7)]

    with pytest.raises(TargetError, match="stack nope"):
        read_live("nope").deployment()


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


def test_certificate_expiring_soon_or_for_another_domain_fails_tls05(aws_credentials: None) -> None:
    import datetime

    from stackproof.model.types import Certificate

    target = load("moto", TargetOptions(str(TEMPLATE), PARAMS, REGION))
    try:
        model = target.deployment()
    finally:
        target.close()
    (certificate,) = model.all(Certificate)
    assert evaluate(model, "TLS-05")[0] == "SKIP"  # the handshake half needs a live load balancer
    checks = [c for c in load_checks() if c.control == "TLS-05" and "issued" in c.name]
    check = checks[0].function
    check(deployment=model)
    certificate.not_after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=10)
    with pytest.raises(AssertionError, match="certificate expires in 9 days"):
        check(deployment=model)
    certificate.not_after = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=300)
    certificate.domain, certificate.alternative_names = "other.example.org", []
    with pytest.raises(AssertionError, match="does not cover the dashboard's domain"):
        check(deployment=model)


def test_tls_probe_sees_which_protocols_a_loopback_listener_accepts(tmp_path: Path) -> None:
    import socket
    import ssl
    import threading

    from stackproof.targets.tls_probe import probe

    certificate, key = deploy.self_signed_pem("localhost", days=1)
    (tmp_path / "cert.pem").write_bytes(certificate)
    (tmp_path / "key.pem").write_bytes(key)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.minimum_version = ssl.TLSVersion.TLSv1_2
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with server_context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert probe("127.0.0.1", "TLSv1.2", port=port).accepted is True
        old = probe("127.0.0.1", "TLSv1.1", port=port).accepted
        assert old is False or isinstance(old, Unknown)  # refused, or this OpenSSL cannot even offer it
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
