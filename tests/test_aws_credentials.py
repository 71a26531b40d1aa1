"""The aws target with the credential chain as users have it, on moto's server on loopback.

A profile with ``role_arn`` + ``source_profile``, web identity (``AWS_ROLE_ARN`` +
``AWS_WEB_IDENTITY_TOKEN_FILE``) and the region rules each read a deployed stack; the credential
providers' own STS calls are not refused by the read-only hook, the calls stackproof makes still
are; every client has the one documented botocore Config, one per service and region; the run's
deadline turns what is unread into gaps, never into PASS.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackproof.targets import TargetError, TargetOptions
from stackproof.targets.aws import AwsTarget, resolve_region
from stackproof.targets.aws_calls import (
    ATTEMPTS,
    CONNECT_TIMEOUT,
    MAX_RETRIES,
    READ_TIMEOUT,
    DeadlinePassed,
    WriteRefused,
    client_config,
)
from tests.sweep_deploy import SMALL

pytestmark = pytest.mark.moto

ACCOUNT = "111122223333"  # the stacks' account; the test keys alone see moto's default one
OTHER_ACCOUNT = "123456789012"
REGIONS = ("eu-west-1", "eu-central-1", "us-west-2")
TEMPLATE = SMALL  # a few resources of the kinds the controls read, quick to deploy


@dataclass
class Server:
    endpoint: str
    template: Path
    config: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """moto's server on loopback with stack "small" in ACCOUNT in every region of REGIONS,
    created through an assumed role (moto keeps one backend per account)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from stackproof.support.ports import free_port

    port = free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto.start()
    endpoint = f"http://127.0.0.1:{port}"
    tmp = tmp_path_factory.mktemp("aws-credentials")
    template = tmp / "small.json"
    template.write_text(json.dumps(TEMPLATE))
    try:
        plain: dict[str, Any] = {
            "endpoint_url": endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        creds = boto3.client("sts", region_name=REGIONS[0], **plain).assume_role(
            RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="setup"
        )["Credentials"]
        for region in REGIONS:
            cfn = boto3.client(
                "cloudformation",
                region_name=region,
                endpoint_url=endpoint,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
            )
            cfn.create_stack(StackName="small", TemplateBody=template.read_text())
        yield Server(endpoint, template, tmp / "config")
    finally:
        moto.stop()


@pytest.fixture
def env(server: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Server:
    """Nothing of the machine's AWS setup; only loopback reachable: every endpoint is the server
    (STS included) and any other traffic would go to a proxy on a closed loopback port."""
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_SESSION_NAME",
    ):
        monkeypatch.delenv(key, raising=False)
    config = tmp_path / "config"
    config.write_text("")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_ENDPOINT_URL", server.endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", server.endpoint)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    return Server(server.endpoint, server.template, config)


def write_config(env: Server, text: str) -> None:
    env.config.write_text(text)


ROLE_PROFILE = f"""
[profile base]
aws_access_key_id = testing
aws_secret_access_key = testing
region = us-west-2

[profile reader]
role_arn = arn:aws:iam::{ACCOUNT}:role/reader
source_profile = base
region = eu-central-1
"""


def target(env: Server, *, region: str | None = None, profile: str | None = None, **extra: Any) -> AwsTarget:
    options = TargetOptions(
        str(env.template),
        None,
        region,  # type: ignore[arg-type]  # None: the chain's region, as the CLI passes it resolved
        stack_name="small",
        profile=profile,
        probe_tls=False,
    )
    return AwsTarget(options, **extra)


def read(t: AwsTarget) -> Any:
    model = t.deployment()
    assert t.recorder is not None
    # The credential providers' STS calls were made (the account is the role's) but are not the run's.
    assert not [c for c in t.recorder.calls if c.startswith("sts.Assume")]
    assert t.recorder.calls["sts.GetCallerIdentity"] == 1
    assert model.api_calls == dict(t.recorder.calls)
    return model


def test_a_profile_with_role_arn_and_source_profile_reads_the_role_s_account_in_its_region(env: Server) -> None:
    write_config(env, ROLE_PROFILE)
    t = target(env, profile="reader")
    read(t)
    assert (t.account, t.region, t.stacks) == (ACCOUNT, "eu-central-1", ["small"])


def test_the_profile_may_come_from_aws_profile(env: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(env, ROLE_PROFILE)
    monkeypatch.setenv("AWS_PROFILE", "reader")
    t = target(env)
    read(t)
    assert (t.account, t.region) == (ACCOUNT, "eu-central-1")


def test_web_identity_reads_the_role_s_account(env: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("header.payload.signature")  # moto does not verify the token
    monkeypatch.setenv("AWS_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/ci")
    monkeypatch.setenv("AWS_WEB_IDENTITY_TOKEN_FILE", str(token))
    monkeypatch.setenv("AWS_REGION", "us-west-2")
    t = target(env)
    read(t)
    assert (t.account, t.region) == (ACCOUNT, "us-west-2")


def test_environment_keys_read_their_own_account(env: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    t = target(env, region="eu-west-1")
    with pytest.raises(TargetError, match="stack small"):  # the stacks are in ACCOUNT, not this one
        t.deployment()
    assert t.account == OTHER_ACCOUNT


def test_no_credentials_says_how_to_get_them(env: Server) -> None:
    with pytest.raises(TargetError, match=r"no credentials .*AWS_WEB_IDENTITY_TOKEN_FILE"):
        target(env, region="eu-west-1").deployment()


# given --region, the profile's region, AWS_REGION, AWS_DEFAULT_REGION -> the region read
REGION_RULES = [
    ("eu-west-1", "eu-central-1", "us-west-2", "us-west-2", "eu-west-1"),
    (None, "eu-central-1", "us-west-2", "eu-west-1", "eu-central-1"),
    (None, None, "us-west-2", "eu-west-1", "us-west-2"),
    (None, None, None, "eu-west-1", "eu-west-1"),
    (None, None, None, None, None),
]


@pytest.mark.parametrize(("given", "profile_region", "aws_region", "default_region", "expected"), REGION_RULES)
def test_region_rules(
    env: Server,
    monkeypatch: pytest.MonkeyPatch,
    given: str | None,
    profile_region: str | None,
    aws_region: str | None,
    default_region: str | None,
    expected: str | None,
) -> None:
    region_line = f"region = {profile_region}\n" if profile_region else ""
    write_config(
        env,
        f"[profile base]\naws_access_key_id = testing\naws_secret_access_key = testing\n\n"
        f"[profile reader]\nrole_arn = arn:aws:iam::{ACCOUNT}:role/reader\nsource_profile = base\n{region_line}",
    )
    for name, value in (("AWS_REGION", aws_region), ("AWS_DEFAULT_REGION", default_region)):
        if value:
            monkeypatch.setenv(name, value)
    assert resolve_region("reader", given) == expected
    t = target(env, region=given, profile="reader")
    if expected is None:
        with pytest.raises(TargetError, match="no region"):
            t.deployment()
        return
    read(t)
    assert (t.account, t.region) == (ACCOUNT, expected)


def test_an_unknown_profile_is_a_target_error(env: Server) -> None:
    with pytest.raises(TargetError, match="nope"):
        resolve_region("nope")
    with pytest.raises(TargetError, match="nope"):
        target(env, region="eu-west-1", profile="nope").deployment()


def test_writes_by_stackproof_are_still_refused_under_an_assumed_role(env: Server) -> None:
    write_config(env, ROLE_PROFILE)
    t = target(env, profile="reader")
    read(t)
    assert t.clients is not None
    before = dict(t.clients.recorder.calls)
    with pytest.raises(WriteRefused, match=r"s3\.CreateBucket changes the account"):
        t.clients("s3").create_bucket(Bucket="nope", CreateBucketConfiguration={"LocationConstraint": "eu-central-1"})
    with pytest.raises(WriteRefused, match=r"sts\.AssumeRole changes the account"):
        t.clients("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x", RoleSessionName="stackproof")
    assert dict(t.clients.recorder.calls) == before
    assert "nope" not in [b["Name"] for b in t.clients("s3").list_buckets()["Buckets"]]


def test_every_client_has_the_one_config_and_there_is_one_per_service_and_region(env: Server) -> None:
    write_config(env, ROLE_PROFILE)
    t = target(env, profile="reader")
    read(t)
    clients = t.clients
    assert clients is not None
    assert t.recorder is not None
    services = {call.split(".")[0] for call in t.recorder.calls}
    # botocore names services by their endpoint prefix in events; the cache keys by client name
    assert len(clients.clients) == len(services) >= 5
    for (_, region), made in clients.clients.items():
        config = made.meta.config
        assert region == "eu-central-1" == made.meta.region_name
        # botocore keeps max_attempts (retries) as total_max_attempts (the first attempt included)
        assert (
            config.retries
            == {"mode": "adaptive", "total_max_attempts": ATTEMPTS}
            == {
                "mode": "adaptive",
                "total_max_attempts": MAX_RETRIES + 1,
            }
        )
        assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT, READ_TIMEOUT)
    assert client_config().retries == {"mode": "adaptive", "max_attempts": MAX_RETRIES}
    assert clients("ec2") is clients("ec2") is clients("ec2", "eu-central-1")
    other = clients("ec2", "us-west-2")
    assert other is not clients("ec2")
    assert other.meta.region_name == "us-west-2"


def test_after_the_deadline_what_is_unread_is_a_gap_never_a_value(env: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clock that advances one second per call: the deadline falls in the middle of the read."""
    import stackproof.targets.aws_calls as aws_calls

    write_config(env, ROLE_PROFILE)
    now = [0.0]

    class Clock:
        @staticmethod
        def monotonic() -> float:
            now[0] += 1.0
            return now[0]

    monkeypatch.setattr(aws_calls, "time", Clock)
    t = target(env, profile="reader", deadline=6.0)
    model = t.deployment()
    assert t.recorder is not None
    assert 0 < t.recorder.total <= 6
    assert model.gaps, "kinds read after the deadline are gaps"
    assert all("deadline" in str(gap) for gap in model.gaps.values())
    assert all("deadline" in str(facts.applied) for facts in model.quota_facts.values())


def test_a_deadline_before_the_first_call_stops_the_run(env: Server) -> None:
    write_config(env, ROLE_PROFILE)
    with pytest.raises(TargetError, match="deadline"):
        target(env, profile="reader", deadline=-1.0).deployment()


def test_the_deadline_error_is_a_botocore_error() -> None:
    """from_aws and quota_usage turn any failed call into an unknown; this one must look like one."""
    from botocore.exceptions import BotoCoreError

    assert issubclass(DeadlinePassed, BotoCoreError)
    assert "ec2.DescribeVpcs" in str(DeadlinePassed(operation="ec2.DescribeVpcs", deadline=900.0))


def test_a_cli_run_without_region_names_account_region_and_stacks_in_banner_and_report(
    env: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --region: the profile's region is read, named in the banner and in report.json, which
    the schema accepts; the printed call count is the report's, the quota reads included."""
    import jsonschema

    from stackproof.cli.main import main
    from stackproof.reports.run_report import SCHEMA

    write_config(env, ROLE_PROFILE)
    argv = ["run", "--target", "aws", "--template", str(env.template), "--stack-name", "small", "--profile", "reader"]
    main([*argv, "--tools", "none", "--reports", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert f"account {ACCOUNT}, region eu-central-1, stacks small" in out
    (path,) = (tmp_path / "reports").glob("2*/report.json")
    report = json.loads(path.read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    run = report["run"]
    assert (run["account"], run["region"], run["stacks"]) == (ACCOUNT, "eu-central-1", ["small"])
    # The template CloudFormation holds for the stack, as it holds it: here the one deployed.
    deployed = hashlib.sha256(env.template.read_text(encoding="utf-8").encode()).hexdigest()
    assert run["deployed_templates"] == [{"stack": "small", "sha256": deployed}]
    assert f"stack small: deployed template sha256 {deployed}" in out
    assert f"{run['api_calls']['aws']} API calls" in out
    calls = read_calls(env)  # the same read again: every call, the quota reads included, is in the count
    assert any(call.startswith("service-quotas.") for call in calls)
    assert sum(calls.values()) == run["api_calls"]["aws"]


def read_calls(env: Server) -> dict[str, int]:
    t = target(env, profile="reader")
    t.deployment()
    assert t.recorder is not None
    return dict(t.recorder.calls)


@pytest.mark.parametrize(("value", "expected"), [("", 900.0), ("30", 30.0), ("2.5", 2.5)])
def test_the_deadline_comes_from_stackproof_deadline(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: float
) -> None:
    from stackproof.targets.aws import run_deadline
    from stackproof.targets.aws_calls import DEFAULT_DEADLINE

    monkeypatch.setenv("STACKPROOF_DEADLINE", value)
    assert run_deadline() == expected
    assert DEFAULT_DEADLINE == 900.0


@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf"])
def test_a_deadline_that_is_not_a_positive_number_stops_the_run(
    env: Server, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STACKPROOF_DEADLINE", value)
    with pytest.raises(TargetError, match="STACKPROOF_DEADLINE"):
        target(env, region="eu-west-1").deployment()


def test_load_balancers_that_could_not_be_read_make_the_tls_probe_unknown_not_a_traceback(
    env: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The describe fails: the model marks the kind as a gap, and the TLS probe's host list,
    which needs that kind, is an Unknown (TLS-05 ERROR), not an exception out of the target."""
    import stackproof.targets.aws_calls as aws_calls
    from stackproof.model.types import LoadBalancer
    from stackproof.template.values import Unknown

    write_config(env, ROLE_PROFILE)
    seen = aws_calls.CallRecorder._before_call

    def refuse_load_balancers(self: aws_calls.CallRecorder, event_name: str, model: Any, **kwargs: Any) -> None:
        if getattr(model, "name", "") == "DescribeLoadBalancers":
            raise DeadlinePassed(operation="elbv2.DescribeLoadBalancers", deadline=1.0)
        seen(self, event_name, model, **kwargs)

    monkeypatch.setattr(aws_calls.CallRecorder, "_before_call", refuse_load_balancers)
    monkeypatch.setattr("stackproof.targets.tls_probe.probe_all", no_probing)
    create_in_account(env.endpoint, "eu-central-1", "with-lb", WITH_LOAD_BALANCER)
    options = TargetOptions(str(env.template), None, "eu-central-1", stack_name="with-lb", profile="reader")
    model = AwsTarget(options).deployment()
    assert LoadBalancer in model.gaps
    (probe,) = model.tls_probes
    assert isinstance(probe, Unknown)
    assert "could not be read" in str(probe)


def no_probing(hosts: list[str]) -> list[Any]:
    raise AssertionError(f"no handshake may leave loopback: {hosts}")


WITH_LOAD_BALANCER = {
    "AWSTemplateFormatVersion": "2010-09-09",
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": "10.1.0.0/16"}},
        **{
            f"Subnet{i}": {
                "Type": "AWS::EC2::Subnet",
                "Properties": {
                    "VpcId": {"Ref": "Vpc"},
                    "CidrBlock": f"10.1.{i}.0/24",
                    "AvailabilityZone": f"eu-central-1{az}",
                },
            }
            for i, az in ((1, "a"), (2, "b"))
        },
        "Balancer": {
            "Type": "AWS::ElasticLoadBalancingV2::LoadBalancer",
            "Properties": {"Scheme": "internet-facing", "Subnets": [{"Ref": "Subnet1"}, {"Ref": "Subnet2"}]},
        },
    },
}


def create_in_account(endpoint: str, region: str, name: str, template: dict[str, Any]) -> None:
    """Stack ``name`` in ACCOUNT (through an assumed role: moto keeps one backend per account)."""
    import boto3

    keys: dict[str, Any] = {
        "endpoint_url": endpoint,
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    creds = boto3.client("sts", region_name=region, **keys).assume_role(
        RoleArn=f"arn:aws:iam::{ACCOUNT}:role/deployer", RoleSessionName="setup"
    )["Credentials"]
    boto3.client(
        "cloudformation",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    ).create_stack(StackName=name, TemplateBody=json.dumps(template))


# seconds left of the deadline at each handshake -> which probes are made, with which timeout
PROBE_DEADLINES = [
    ([None, None, None], [10.0, 10.0, 10.0]),
    ([30.0, 4.0, 0.5], [10.0, 4.0, 0.5]),
    ([2.0, 0.0, -1.0], [2.0, None, None]),
]


@pytest.mark.parametrize(("left", "timeouts"), PROBE_DEADLINES)
def test_tls_probes_wait_no_longer_than_the_deadline(
    monkeypatch: pytest.MonkeyPatch, left: list[float | None], timeouts: list[float | None]
) -> None:
    """No network: ``probe`` is replaced; what is checked is the timeout each handshake gets and
    that none is attempted (an Unknown instead) once the deadline has passed."""
    from stackproof.model.types import TlsProbe
    from stackproof.targets import tls_probe
    from stackproof.template.values import Unknown

    made: list[float] = []

    def fake(host: str, version: str, port: int = 443, timeout: float = 10.0) -> TlsProbe:
        made.append(timeout)
        return TlsProbe(host, version, True)

    monkeypatch.setattr(tls_probe, "probe", fake)
    clock = iter(left)
    probes = tls_probe.probe_all(["lb.example"], lambda: next(clock))
    assert made == [t for t in timeouts if t is not None]
    assert [isinstance(p.accepted, Unknown) for p in probes] == [t is None for t in timeouts]


def test_clients_the_target_did_not_make_are_not_hooked(env: Server) -> None:
    """What every credential provider (AssumeRole, web identity, SSO's GetRoleCredentials) does:
    a client of its own from the same session. The session's event bus carries no hook, so its
    calls are neither refused nor counted; the target's clients stay read-only."""
    write_config(env, ROLE_PROFILE)
    t = target(env, profile="reader")
    read(t)
    assert t.clients is not None
    assert t.recorder is not None
    before = dict(t.recorder.calls)
    own = t.clients.session.client("sts", region_name="eu-central-1")
    own.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x", RoleSessionName="provider")
    assert dict(t.recorder.calls) == before
    with pytest.raises(WriteRefused):
        t.clients("sts").assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/x", RoleSessionName="provider")
