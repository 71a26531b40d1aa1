"""A deployment is a set of stacks, deployed: the three forms of the reference (one template, a
three-stack set linked by exports, a parent with nested stacks) deployed into moto give the
same verdict on every control; a set is created exporters first and a parent after its
children are uploaded; an import nothing exports is refused by CloudFormation; and the aws
target reads ``--stack-name a,b`` (and the stacks nested in them) as one deployment."""

from __future__ import annotations

import json
import random
import textwrap
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.model.deployment import Deployment
from stackproof.model.types import SecurityGroup, Subnet, Vpc
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetError, TargetOptions, deploy, load
from stackproof.template.stack_set import resolve_set
from tests.conftest import REGION, ROOT, TEMPLATE
from tests.mutants import MUTANTS, Mutant
from tests.test_agreement import DEPLOYED_DECIDES, NOT_DEPLOYABLE
from tests.test_stack_sets import differences, forms

CFN = ROOT / "reference" / "cloudformation"
PARAMS = CFN / "dashboard.params.json"
ON_MOTO = [  # the dashboard's controls moto shows
    c
    for c, control in catalogue.load().items()
    if control.active and control.suite == "checks" and "moto" in control.targets and "dashboard" in control.references
]
SSM_TYPE = "AWS::SSM::Parameter::Value<"


# ---------------------------------------------------------------- helpers


def on_moto(*specs: Path, target: str = "moto", stack_name: str | None = None) -> Deployment:
    options = TargetOptions(str(specs[0]), str(PARAMS), REGION, stack_name, templates=tuple(map(str, specs)))
    opened = load(target, options)
    try:
        return opened.deployment()
    finally:
        opened.close()


def verdicts(deployment: Deployment) -> dict[str, str]:
    """Every control moto shows, but DEP-01, whose subject (links between stacks) only the set
    and nested forms have."""
    return {c: evaluate(deployment, c)[0] for c in ON_MOTO if c != "DEP-01"}


def verdicts_on_moto(template: Path, directory: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    generated = forms(template, directory)
    for form, specs in generated.items():
        deployment = on_moto(*specs)
        assert deployment.link_problems == [], (form, deployment.link_problems)
        found[form] = verdicts(deployment)
        found[form]["DEP-01"] = evaluate(deployment, "DEP-01")[0]
    assert found["single"].pop("DEP-01") == "SKIP"
    assert found["set"].pop("DEP-01") == "PASS"
    assert found["nested"].pop("DEP-01") == "PASS"
    return found


# ---------------------------------------------------------------- the three forms agree on moto

pytestmark = pytest.mark.moto


@pytest.mark.slow
def test_the_three_forms_of_the_reference_agree_on_moto(tmp_path: Path, aws_credentials: None) -> None:
    found = verdicts_on_moto(TEMPLATE, tmp_path)
    assert found["set"] == found["single"], differences(found["single"], found["set"])
    assert found["nested"] == found["single"], differences(found["single"], found["nested"])
    assert {c: v for c, v in found["single"].items() if v != "PASS"} == {"TLS-05": "SKIP"}


def representatives() -> list[Mutant]:
    """One deployable mutant per control moto shows (the first the table lists)."""
    chosen: dict[str, Mutant] = {}
    for mutant in MUTANTS:
        if mutant.control in ON_MOTO and mutant.name not in NOT_DEPLOYABLE:
            chosen.setdefault(mutant.control, mutant)
    return list(chosen.values())


# Mutants that change disjoint parts of the reference, deployed together: each group is one
# deployment per form, so every control's failure is shown on all three forms in four rounds
# instead of twenty-eight. A control's verdict is checked against its own mutant's.
GROUPS = 4


def grouped() -> list[list[Mutant]]:
    chosen = representatives()
    return [chosen[i::GROUPS] for i in range(GROUPS)]


@dataclass(frozen=True)
class Combined:
    mutants: tuple[Mutant, ...]

    def apply(self, reference: Path, directory: Path) -> Path:
        from stackproof.template.cfn_yaml import load_text

        data: dict[str, Any] = json.loads(json.dumps(load_text(reference.read_text(encoding="utf-8"))))
        for mutant in self.mutants:
            mutant.change(data)
        path = directory / "combined.json"
        path.write_text(json.dumps(data, indent=1), encoding="utf-8")
        return path


def test_the_groups_cover_every_control_moto_shows() -> None:
    covered = sorted(m.control for group in grouped() for m in group)
    assert covered == sorted(c for c in ON_MOTO if c not in ("DEP-01", "TLS-05", "QTA-02"))
    assert len(covered) == len(set(covered))


@pytest.mark.slow
@pytest.mark.parametrize("group", grouped(), ids=lambda g: ",".join(m.control for m in g))
def test_the_three_forms_agree_on_moto_for_mutants(group: list[Mutant], tmp_path: Path, aws_credentials: None) -> None:
    path = Combined(tuple(group)).apply(TEMPLATE, tmp_path)
    found = verdicts_on_moto(path, tmp_path)
    assert found["set"] == found["single"], differences(found["single"], found["set"])
    assert found["nested"] == found["single"], differences(found["single"], found["nested"])
    for mutant in group:
        seen = found["single"][mutant.control]
        if mutant.name in DEPLOYED_DECIDES:
            assert seen in ("PASS", "FAIL"), (mutant.name, seen)
        else:
            assert seen == mutant.expected, (mutant.name, seen)


def deployable() -> list[Mutant]:
    return [m for m in MUTANTS if m.control in ON_MOTO and m.name not in NOT_DEPLOYABLE]


def assert_forms_agree_for(mutant: Mutant, directory: Path) -> None:
    """Every control, not only the mutant's own, agrees across the forms: a mutant must not
    change another control's verdict in one form and not in the others."""
    found = verdicts_on_moto(mutant.apply(TEMPLATE, directory), directory)
    assert found["set"] == found["single"], differences(found["single"], found["set"])
    assert found["nested"] == found["single"], differences(found["single"], found["nested"])
    seen = found["single"][mutant.control]
    if mutant.name in DEPLOYED_DECIDES:
        assert seen in ("PASS", "FAIL"), (mutant.name, seen)
    else:
        assert seen == mutant.expected, (mutant.name, seen)


# CI deploys a fixed sample of single mutants besides the groups above; `pytest --exhaustive -m
# exhaustive tests/test_stack_sets_deployed.py` deploys every one (README: the three forms).
SAMPLE = random.Random(12).sample([m for m in deployable() if m not in representatives()], 3)


@pytest.mark.slow
@pytest.mark.parametrize("mutant", SAMPLE, ids=lambda m: f"{m.control}:{m.name}")
def test_the_three_forms_agree_on_moto_for_a_sample_of_single_mutants(
    mutant: Mutant, tmp_path: Path, aws_credentials: None
) -> None:
    assert_forms_agree_for(mutant, tmp_path)


@pytest.mark.exhaustive
@pytest.mark.parametrize("mutant", deployable(), ids=lambda m: f"{m.control}:{m.name}")
def test_the_three_forms_agree_on_moto_for_every_mutant(mutant: Mutant, tmp_path: Path, aws_credentials: None) -> None:
    assert_forms_agree_for(mutant, tmp_path)


@pytest.mark.slow
def test_the_shipped_set_deploys_exporters_first_as_one_deployment(aws_credentials: None) -> None:
    deployment = on_moto(CFN / "dashboard-set")
    assert sorted(deployment.stacks) == ["dashboard-network", "dashboard-storage", "instances"]
    assert deployment.links == 18
    assert evaluate(deployment, "DEP-01") == ("PASS", "")
    (vpc,) = deployment.all(Vpc)
    assert vpc.location.stack == "dashboard-network"
    assert deployment.api_calls["cloudformation.ListExports"] == 1


@pytest.mark.slow
def test_the_shipped_nested_reference_deploys_and_agrees(aws_credentials: None) -> None:
    """A child receives the parent's resolved values: the parent's SSM-typed ImageId arrives as
    an AMI ID, which the child declares as such (CloudFormation would otherwise look the AMI ID
    up in Parameter Store and refuse the stack)."""
    deployment = on_moto(CFN / "dashboard-nested" / "parent.yaml")
    assert evaluate(deployment, "DEP-01") == ("PASS", "")
    assert {c: v for c, v in verdicts(deployment).items() if v != "PASS"} == {"TLS-05": "SKIP"}


# ---------------------------------------------------------------- small sets, deployed

NETWORK = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties: {CidrBlock: 10.1.0.0/16}
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: !Ref Vpc, CidrBlock: 10.1.1.0/24, AvailabilityZone: !Select [0, !GetAZs ""]}
Outputs:
  Vpc:
    Value: !Ref Vpc
    Export: {Name: !Sub "${AWS::StackName}-Vpc"}
"""
APP = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  NetworkStack: {Type: String, Default: team-net}
Resources:
  AppGroup:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: app
      VpcId: !ImportValue {"Fn::Sub": "${NetworkStack}-Vpc"}
  AppSubnet:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !ImportValue {"Fn::Sub": "${NetworkStack}-Vpc"}
      CidrBlock: 10.1.2.0/24
      AvailabilityZone: !Select [1, !GetAZs ""]
"""
PARENT = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Network:
    Type: AWS::CloudFormation::Stack
    Properties:
      TemplateURL: children/network.yaml
  Extra:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !GetAtt Network.Outputs.VpcId
      CidrBlock: 10.1.9.0/24
      AvailabilityZone: !Select [0, !GetAZs ""]
"""
CHILD = NETWORK.replace('Export: {Name: !Sub "${AWS::StackName}-Vpc"}', "").replace(
    "  Vpc:\n    Value", "  VpcId:\n    Value"
)


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def small(*specs: Path, stack_name: str | None = None, target: str = "moto") -> Deployment:
    options = TargetOptions(str(specs[0]), None, REGION, stack_name, templates=tuple(map(str, specs)))
    opened = load(target, options)
    try:
        return opened.deployment()
    finally:
        opened.close()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["moto", "moto-server"])
def test_an_importer_listed_first_is_created_after_its_exporter(
    target: str, tmp_path: Path, aws_credentials: None
) -> None:
    write(tmp_path, {"a_app.yaml": APP, "b_net.yaml": NETWORK})
    deployment = small(tmp_path, target=target)
    assert sorted(deployment.stacks) == ["a-app", "team-net"]  # the exporter named by its importer
    assert deployment.links == 1
    assert evaluate(deployment, "DEP-01") == ("PASS", "")
    # the VPC's default group is no stack's resource
    assert [(g.location.resource, g.location.stack) for g in deployment.all(SecurityGroup) if g.location.stack] == [
        ("AppGroup", "a-app")
    ]
    assert sorted((s.location.resource, s.location.stack) for s in deployment.all(Subnet)) == [
        ("AppSubnet", "a-app"),
        ("SubnetA", "team-net"),
    ]


@pytest.mark.slow
def test_an_import_nothing_exports_is_refused_by_cloudformation(tmp_path: Path, aws_credentials: None) -> None:
    write(tmp_path, {"app.yaml": APP})
    with pytest.raises(TargetError, match=r"moto: CreateStack stackproof failed: .*No export named team-net-Vpc found"):
        small(tmp_path / "app.yaml")


@pytest.mark.slow
def test_a_parent_is_created_after_its_children_are_uploaded(tmp_path: Path, aws_credentials: None) -> None:
    write(tmp_path, {"parent.yaml": PARENT, "children/network.yaml": CHILD})
    deployment = small(tmp_path / "parent.yaml")
    assert len(deployment.stacks) == 2
    child = next(name for name in deployment.stacks if name != "stackproof")
    assert child.startswith("stackproof-Network-")
    assert sorted((s.location.resource, s.location.stack) for s in deployment.all(Subnet)) == [
        ("Extra", "stackproof"),
        ("SubnetA", child),
    ]
    assert deployment.links == 1
    assert evaluate(deployment, "DEP-01") == ("PASS", "")


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"a_app.yaml": APP, "b_net.yaml": NETWORK}, ["b_net", "a_app"]),
        ({"b_net.yaml": NETWORK, "a_app.yaml": APP}, ["b_net", "a_app"]),
        ({"a.yaml": NETWORK, "b.yaml": NETWORK.replace("-Vpc", "-Other").replace("10.1.", "10.2.")}, ["a", "b"]),
    ],
)
def test_deploy_order_puts_exporters_first(files: dict[str, str], expected: list[str], tmp_path: Path) -> None:
    write(tmp_path, files)
    resolved = resolve_set(sorted(tmp_path.glob("*.yaml")), {}, REGION)
    assert [s.name for s in deploy.deploy_order(resolved, REGION)] == expected


def test_stacks_that_import_from_each_other_cannot_be_ordered(tmp_path: Path) -> None:
    one = NETWORK + "  Back:\n    Value: !ImportValue two-Vpc2\n"
    two = NETWORK.replace("-Vpc", "-Vpc2") + "  Back:\n    Value: !ImportValue one-Vpc\n"
    write(tmp_path, {"one.yaml": one, "two.yaml": two})
    resolved = resolve_set(sorted(tmp_path.glob("*.yaml")), {}, REGION, stack_names=["one", "two"])
    with pytest.raises(deploy.DeployFailed, match="stacks one, two import each other's exports"):
        deploy.deploy_order(resolved, REGION)


class RecordingS3:
    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket: str, Key: str, Body: bytes) -> None:
        self.objects[(Bucket, Key)] = Body


def test_package_uploads_children_and_rewrites_their_urls(tmp_path: Path) -> None:
    grandchild = "Resources:\n  Q:\n    Type: AWS::SNS::Topic\n"
    deeper = "  Deeper:\n    Type: AWS::CloudFormation::Stack\n    Properties: {TemplateURL: deep/q.yaml}\nOutputs:\n"
    child = CHILD.replace("Outputs:\n", deeper)
    write(tmp_path, {"parent.yaml": PARENT, "children/network.yaml": child, "children/deep/q.yaml": grandchild})
    resolved = resolve_set([tmp_path / "parent.yaml"], {}, REGION)
    s3 = RecordingS3()
    planned = deploy.package(resolved.stacks[0], resolved.stacks, s3, "stage", "top")
    url = json.loads(planned.body)["Resources"]["Network"]["Properties"]["TemplateURL"]
    assert url == "https://stage.s3.amazonaws.com/stackproof/top/parent-Network.template"
    assert sorted(key for _, key in s3.objects) == [
        "stackproof/top-Network/parent-Network-Deeper.template",
        "stackproof/top/parent-Network.template",
    ]
    uploaded = json.loads(s3.objects[("stage", "stackproof/top/parent-Network.template")])
    assert uploaded["Resources"]["Deeper"]["Properties"]["TemplateURL"] == (
        "https://stage.s3.amazonaws.com/stackproof/top-Network/parent-Network-Deeper.template"
    )
    assert planned.expected == {"Network": "AWS::CloudFormation::Stack", "Extra": "AWS::EC2::Subnet"}
    assert planned.children["Network"].expected == {
        "Vpc": "AWS::EC2::VPC",
        "SubnetA": "AWS::EC2::Subnet",
        "Deeper": "AWS::CloudFormation::Stack",
    }


# ---------------------------------------------------------------- the aws target reads a set


@dataclass
class Server:
    endpoint: str
    client: Any


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, aws_credentials: None) -> Iterator[Server]:
    """moto's server on loopback, with stackproof's emulator extension; AWS_ENDPOINT_URL points
    there, so the aws target reads it exactly as it reads an account."""
    import boto3
    from moto.server import ThreadedMotoServer

    from stackproof.emulator.moto_patches import install
    from stackproof.support.ports import free_port

    install()
    port = free_port()
    moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    moto_server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        yield Server(endpoint, lambda service: boto3.client(service, region_name=REGION, endpoint_url=endpoint))
    finally:  # the server shares the process's moto backends: reset them for the next test
        urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10).close()
        moto_server.stop()


def create(server: Server, name: str, body: str) -> None:
    cloudformation = server.client("cloudformation")
    cloudformation.create_stack(StackName=name, TemplateBody=textwrap.dedent(body))
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1})


def read(stack_name: str) -> tuple[Deployment, Any]:
    target: Any = load("aws", TargetOptions(str(TEMPLATE), None, REGION, stack_name=stack_name, probe_tls=False))
    return target.deployment(), target


@pytest.mark.slow
def test_aws_reads_two_stacks_as_one_deployment_and_only_reads(server: Server) -> None:
    from stackproof.targets.permissions import action_for, allowed_actions, is_allowed

    create(server, "team-net", NETWORK)
    create(server, "team-app", APP)
    deployment, target = read("team-net,team-app")
    assert sorted(deployment.stacks) == ["team-app", "team-net"]
    assert sorted((s.location.resource, s.location.stack) for s in deployment.all(Subnet)) == [
        ("AppSubnet", "team-app"),
        ("SubnetA", "team-net"),
    ]
    (vpc,) = deployment.all(Vpc)
    assert vpc.location.stack == "team-net"
    assert [g.location.stack for g in deployment.all(SecurityGroup) if g.location.resource == "AppGroup"] == [
        "team-app"
    ]
    assert deployment.links == 1
    assert evaluate(deployment, "DEP-01") == ("PASS", "")
    allowed = allowed_actions(ROOT / "reference" / "iam" / "stackproof-readonly.json")
    assert target.recorder.calls["cloudformation.ListExports"] == 1
    assert [c for c in target.recorder.calls if not is_allowed(action_for(c), allowed)] == []


@pytest.mark.slow
def test_aws_reads_an_importer_alone_as_an_error_naming_the_exporter(server: Server) -> None:
    create(server, "team-net", NETWORK)
    create(server, "team-app", APP)
    deployment, _ = read("team-app")
    status, message = evaluate(deployment, "DEP-01")
    assert status == "ERROR"
    assert (
        "AppGroup imports team-net-Vpc, which no stack of the set exports (stack team-net does, outside this "
        "deployment: add it to --stack-name) — stack team-app (team-app.template:9)" in message
    )
    assert "AppSubnet imports team-net-Vpc" in message


@pytest.mark.slow
def test_aws_follows_nested_stacks(server: Server, tmp_path: Path) -> None:
    write(tmp_path, {"parent.yaml": PARENT, "children/network.yaml": CHILD})
    s3 = server.client("s3")
    s3.create_bucket(Bucket="stage", CreateBucketConfiguration={"LocationConstraint": REGION})
    resolved = resolve_set([tmp_path / "parent.yaml"], {}, REGION)
    planned = deploy.package(resolved.stacks[0], resolved.stacks, s3, "stage", "app")
    deploy.create_stack(server.client("cloudformation"), "app", tmp_path / "parent.yaml", {}, body=planned.body)
    deployment, target = read("app")
    child = next(name for name in deployment.stacks if name != "app")
    assert sorted((s.location.resource, s.location.stack) for s in deployment.all(Subnet)) == [
        ("Extra", "app"),
        ("SubnetA", child),
    ]
    assert deployment.links == 1
    assert evaluate(deployment, "DEP-01") == ("PASS", "")
    assert "cloudformation.ListExports" not in target.recorder.calls  # nothing imports: no listing


ROLE = """\
AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: {Service: ec2.amazonaws.com}, Action: "sts:AssumeRole"}]
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore]
"""


def test_deleting_a_stack_detaches_the_managed_policies_of_its_roles(moto_aws: None) -> None:
    """The emulator attaches a role's ManagedPolicyArns; deleting the stack must detach them
    (as CloudFormation does) instead of failing with DeleteConflict."""
    import boto3

    cloudformation = boto3.client("cloudformation", region_name=REGION)
    cloudformation.create_stack(StackName="roles", TemplateBody=ROLE, Capabilities=["CAPABILITY_IAM"])
    iam = boto3.client("iam", region_name=REGION)
    assert len(iam.list_roles()["Roles"]) == 1
    assert deploy.delete_stacks(cloudformation, ["roles"]) == []
    assert iam.list_roles()["Roles"] == []
