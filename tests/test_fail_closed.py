"""The aws target fails closed when AWS answers badly (issue 13, point 1).

The reference and mutants that break one promise each are deployed as stacks on moto's server
(loopback only), then read by the ``aws`` target while a fault-injecting wrapper around botocore's
``BaseClient._make_api_call`` empties, cuts or fails one chosen operation's answer. Whatever the
fault, a control that reads what the fault hid is never PASS, and a FAIL or an ERROR never turns
into a SKIP: on a live account a resource not shown is a gap in what was read, not something
"not emulated".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackproof.model.deployment import Deployment
from stackproof.model.from_aws import IncompleteAnswer, pages
from stackproof.model.outcomes import NotEmulated, Undecidable
from stackproof.model.types import (
    AutoScalingGroup,
    Gateway,
    LaunchTemplate,
    Location,
    Obj,
    RouteTable,
    SecurityGroup,
    Subnet,
)
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetOptions, deploy, load
from stackproof.template.values import Unknown
from tests.conftest import REGION, ROOT, TEMPLATE
from tests.mutants import MUTANTS

pytestmark = pytest.mark.moto

Answer = dict[str, Any]


@dataclass(frozen=True)
class Fault:
    """One operation answered badly: ``kind`` is ``empty`` (its list emptied), ``first-page``
    (its first item alone, no NextToken or Marker: as if pagination stopped), ``no-key`` (the list left out,
    as an empty or unparseable body parses) or ``fail`` (a 500 after botocore's retries)."""

    operation: str
    kind: str
    key: str = ""

    def answer(self, call: Callable[[], Answer]) -> Answer:
        if self.kind == "fail":
            from botocore.exceptions import ClientError

            error = {"Error": {"Code": "InternalFailure", "Message": "injected"}, "ResponseMetadata": {}}
            raise ClientError(error, self.operation)  # type: ignore[arg-type]
        result = dict(call())
        if self.kind == "empty" and "." in self.key:  # a list inside the answer's one object
            outer, inner = self.key.split(".", 1)
            result[outer] = {**result[outer], inner: []}
        elif self.kind == "empty":
            result[self.key] = []
        elif self.kind == "first-page":
            result[self.key] = list(result[self.key])[:1]
            for more in ("NextToken", "Marker", "IsTruncated"):
                result.pop(more, None)
        elif self.kind == "no-key":
            result.pop(self.key, None)
        return result


@contextmanager
def injected(fault: Fault | None) -> Iterator[None]:
    """Every botocore call in this process goes through ``fault`` (when there is one)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def faulty(self: Any, operation_name: str, api_params: Any) -> Any:
        if fault is None or operation_name != fault.operation:
            return original(self, operation_name, api_params)
        return fault.answer(lambda: original(self, operation_name, api_params))

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseClient, "_make_api_call", faulty)
        yield


LISTING = "StackResourceSummaries"
FAULTS: dict[str, Fault] = {
    "listing-emptied": Fault("ListStackResources", "empty", LISTING),
    "listing-first-page": Fault("ListStackResources", "first-page", LISTING),
    "security-groups-emptied": Fault("DescribeSecurityGroups", "empty", "SecurityGroups"),
    "security-groups-no-key": Fault("DescribeSecurityGroups", "no-key", "SecurityGroups"),
    "security-groups-first-page": Fault("DescribeSecurityGroups", "first-page", "SecurityGroups"),
    "role-policies-emptied": Fault("ListRolePolicies", "empty", "PolicyNames"),
    "role-policies-first-page": Fault("ListRolePolicies", "first-page", "PolicyNames"),
    "role-policies-no-key": Fault("ListRolePolicies", "no-key", "PolicyNames"),
    "route-tables-failing": Fault("DescribeRouteTables", "fail"),
    "vpcs-failing": Fault("DescribeVpcs", "fail"),
}
# Which controls each fault hides the facts of, and the mutant (a stack name) that FAILs each.
MUTANT_OF = {
    "IAM-03": "admin-inline-policy",
    "TLS-02": "http-listener-forwards",
    "TLS-04": "content-bucket-allows-http",
    "NET-03": "db-open-to-vpc-range",
    "QTA-02": None,
}
HIDES: dict[str, list[str]] = {
    "listing-emptied": ["IAM-03", "TLS-02", "TLS-04", "NET-03", "QTA-02"],
    "listing-first-page": ["IAM-03", "TLS-02", "TLS-04", "NET-03", "QTA-02"],
    "security-groups-emptied": ["NET-03"],
    "security-groups-no-key": ["NET-03"],
    "security-groups-first-page": ["NET-03"],
    "role-policies-emptied": ["IAM-03"],
    "role-policies-first-page": ["IAM-03"],
    "role-policies-no-key": ["IAM-03"],
    "route-tables-failing": ["NET-03"],
    "vpcs-failing": ["NET-03"],
}
REFERENCE = "reference"
# QTA-02 on the reference weighs the region's usage, which in moto is process-wide: other tests
# in the same worker change it, so its verdict without a fault is PASS or FAIL. Under a fault
# it must still be neither PASS nor SKIP.
UNSETTLED = frozenset({"QTA-02"})


def stacks_for(controls: list[str]) -> list[str]:
    """The reference and the mutant of each control (QTA-02 has none deployable here)."""
    return [REFERENCE, *sorted({mutant for c in controls if (mutant := MUTANT_OF[c])})]


CASES = [
    pytest.param(fault, stack, id=f"{fault}-{stack}")
    for fault, controls in HIDES.items()
    for stack in stacks_for(controls)
]


def controls_on(fault: str, stack: str) -> list[str]:
    return [c for c in HIDES[fault] if stack == REFERENCE or MUTANT_OF[c] == stack]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """moto's server on a loopback port, with fake credentials; its endpoint."""
    from tests.sweep_deploy import moto_server

    with pytest.MonkeyPatch.context() as env:
        for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(key, raising=False)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        }.items():
            env.setenv(key, value)
        with moto_server() as endpoint:
            yield endpoint


def deploy_alone(endpoint: str, stack: str, template: Path, tmp: Path) -> None:
    """``template`` deployed as ``stack`` on an emptied moto (the reference's names, of log
    groups and buckets, are fixed: two stacks of it cannot share one account)."""
    import urllib.request

    import boto3

    from stackproof.build.lambda_zip import build_zip

    assert endpoint.startswith("http://127.0.0.1:")  # loopback only, ever
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=30).close()
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    code = build_zip(ROOT / "reference" / "lambda" / "s3_to_efs", tmp / "code.zip")
    deploy.upload_code(s3, "code", "s3_to_efs.zip", code, REGION)
    acm = boto3.client("acm", region_name=REGION, endpoint_url=endpoint)
    parameters = {
        "CertificateArn": deploy.import_certificate(acm, "d.example.com"),
        "SyncFunctionCodeBucket": "code",
        "DomainName": "d.example.com",
    }
    cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
    deploy.create_stack(cfn, stack, template, parameters, s3=s3, staging_bucket="code")


def read(endpoint: str, stack: str, fault: Fault | None) -> Deployment:
    """The aws target's model of ``stack`` at ``endpoint``, with ``fault`` injected."""
    assert endpoint.startswith("http://127.0.0.1:")  # loopback only, ever
    with pytest.MonkeyPatch.context() as env, injected(fault):
        env.setenv("AWS_ENDPOINT_URL", endpoint)
        return load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name=stack, probe_tls=False)).deployment()


@pytest.mark.parametrize("stack", stacks_for(list(MUTANT_OF)))
def test_no_fault_makes_a_control_pass_or_a_verdict_skip(stack: str, server: str, tmp_path: Path) -> None:
    """For the reference and each mutant: without a fault the controls decide (PASS on the
    reference, FAIL on the mutant: otherwise the table proves nothing); under each fault that
    hides what a control reads, that control is FAIL or ERROR, never PASS and never SKIP."""
    mutant = next((m for m in MUTANTS if m.name == stack), None)
    deploy_alone(server, stack, mutant.apply(TEMPLATE, tmp_path) if mutant else TEMPLATE, tmp_path)
    baseline = read(server, stack, None)
    hidden = sorted({c for fault in HIDES for c in controls_on(fault, stack)})
    before = {c: evaluate(baseline, c)[0] for c in hidden}
    settled = {c: v for c, v in before.items() if c not in UNSETTLED}
    assert settled == {c: "PASS" if stack == REFERENCE else "FAIL" for c in settled}
    wrong = []
    for name, fault in FAULTS.items():
        controls = controls_on(name, stack)
        if not controls:
            continue
        model = read(server, stack, fault)
        for control in controls:
            status, message = evaluate(model, control)
            if status not in ("FAIL", "ERROR"):
                wrong.append(f"{control} under {name}: {before[control]} became {status}: {message}")
    assert wrong == []


class Client:
    """A client whose one operation answers ``answers`` (pages), for the parsing rule alone."""

    def __init__(self, *answers: Any) -> None:
        self.answers = answers

    def can_paginate(self, operation: str) -> bool:
        return False

    def describe_things(self) -> Any:
        return self.answers[0]


@pytest.mark.parametrize(
    ("answer", "items"),
    [
        ({"Things": [1, 2]}, [1, 2]),
        ({"Things": []}, []),
        ({}, None),
        ({"Things": None}, None),
        (None, None),
        ({"Other": [1]}, None),
    ],
)
def test_an_answer_without_its_list_is_an_error_not_an_empty_list(answer: Any, items: list[int] | None) -> None:
    if items is None:
        with pytest.raises(IncompleteAnswer, match="describe_things answered without its Things list"):
            list(pages(Client(answer), "describe_things", "Things"))
    else:
        assert list(pages(Client(answer), "describe_things", "Things")) == items


def accessors() -> list[tuple[str, type[Obj], Callable[[Deployment], object]]]:
    """Each way a check looks objects up, with the kind it must read."""
    subnet = Subnet("subnet-1", Location("Subnet", "AWS::EC2::Subnet"), vpc="vpc-1")
    group = AutoScalingGroup("asg", Location("Group", "AWS::AutoScaling::AutoScalingGroup"), launch_template="lt")
    return [
        ("all", SecurityGroup, lambda d: d.all(SecurityGroup)),
        ("get", SecurityGroup, lambda d: d.get(SecurityGroup, "sg-1")),
        ("find", SecurityGroup, lambda d: d.find("sg-1")),
        ("security_groups", SecurityGroup, lambda d: d.security_groups(["sg-1"])),
        ("route_table_of", RouteTable, lambda d: d.route_table_of(subnet)),
        ("tier_of", RouteTable, lambda d: d.tier_of(subnet)),
        ("subnets_by_tier", Subnet, lambda d: d.subnets_by_tier()),
        ("gateway", Gateway, lambda d: d.gateway("igw-1")),
        ("launch_template_of", LaunchTemplate, lambda d: d.launch_template_of(group)),
        ("instance_roles", AutoScalingGroup, lambda d: d.instance_roles()),
    ]


@pytest.mark.parametrize(("name", "kind", "lookup"), [pytest.param(*a, id=a[0]) for a in accessors()])
@pytest.mark.parametrize("declared", [False, True], ids=["gap", "not-emulated"])
def test_every_accessor_raises_on_a_kind_not_read(
    name: str, kind: type[Obj], lookup: Callable[[Deployment], object], declared: bool
) -> None:
    """A kind the target could not read is ERROR through every accessor (``get`` once answered
    None over it, and NET-03 passed); one an emulator declared missing is its SKIP."""
    model = Deployment(target="aws", name="s", region=REGION, source="s")
    model.add(Subnet("subnet-0", Location("Other", "AWS::EC2::Subnet"), vpc="vpc-1"))
    lookup(model)  # nothing missing: an answer, not an exception
    if declared:
        model.not_emulated[kind] = "the emulator did not create it"
        with pytest.raises(NotEmulated, match="did not create it"):
            lookup(model)
    else:
        model.gaps[kind] = Unknown("DescribeThings was refused")
        with pytest.raises(Undecidable, match="DescribeThings was refused"):
            lookup(model)


def test_a_describe_by_name_that_leaves_one_out_is_incomplete() -> None:
    from stackproof.model.from_aws import every_one

    every_one(["Repo-A", "b"], ["repo-a", "b"], "ecr.DescribeRepositories")
    with pytest.raises(IncompleteAnswer, match=r"ecr\.DescribeRepositories did not return b, which it was asked for"):
        every_one(["repo-a"], ["repo-a", "b"], "ecr.DescribeRepositories")


class Regional:
    """A client for every service whose listings return ``count`` items (and nothing else)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def can_paginate(self, operation: str) -> bool:
        return False

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        key = "".join(part.title() for part in operation.split("_")[1:])
        return lambda **kwargs: {key: [{}] * self.count}


def test_a_regional_count_below_what_the_deployment_holds_is_unknown() -> None:
    """An emptied or cut regional listing would read as room to spare under the quota."""
    from stackproof.targets.quota_usage import regional_usage

    usage = regional_usage(lambda service: Regional(1), {}, {"vpcs": 2, "security_groups": 1})
    assert isinstance(usage["vpcs"], Unknown)
    assert "holds 1, fewer than the 2 this deployment alone has" in usage["vpcs"].reason
    assert usage["security_groups"] == 1


def test_an_instance_profile_answered_without_its_roles_is_a_gap(server: str, tmp_path: Path) -> None:
    """The template gives the profile its role; an answer without it is incomplete, never a
    profile with no role to judge."""
    from stackproof.model.types import InstanceProfile

    deploy_alone(server, REFERENCE, TEMPLATE, tmp_path)
    assert InstanceProfile not in read(server, REFERENCE, None).gaps
    model = read(server, REFERENCE, Fault("GetInstanceProfile", "empty", "InstanceProfile.Roles"))
    assert "leaves out role" in str(model.gaps[InstanceProfile])
