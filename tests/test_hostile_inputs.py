"""Hostile inputs, each with its exact outcome: refused at ``file:line`` (what CloudFormation
refuses too), or loaded into a model whose odd values are Unknown (so the checks that read them
are ERROR) or read as CloudFormation reads them. Never a Python exception.

Every model case here crashed the builders or the checks, or was misread, before the fix named
beside it; reverting that fix fails the case.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.model.outcomes import known
from stackproof.results.evaluate import evaluate
from stackproof.template.loader import TemplateError, load_template
from stackproof.template.resolver import resolve
from stackproof.template.values import Unknown, first_unknown

HEAD = """\
Parameters:
  NoDefault: {Type: String}
Conditions:
  IsUnknown: !Equals [!Ref NoDefault, x]
Resources:
"""
UNKNOWN = object()
"""Expected: an Unknown, or a list or mapping holding one (a check reading it is ERROR)."""


def load(tmp_path: Path, text: str, name: str = "t.yaml") -> Deployment:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return build(resolve(load_template(path), {}, "us-east-1"))


def one(kind: type[Any]) -> Callable[[Deployment], Any]:
    def pick(deployment: Deployment) -> Any:
        (found,) = deployment.all(kind)
        return found

    return pick


def field(kind: type[Any], read: Callable[[Any], Any]) -> Callable[[Deployment], Any]:
    return lambda deployment: read(one(kind)(deployment))


def rule(read: Callable[[m.Rule], Any]) -> Callable[[Deployment], Any]:
    return field(m.SecurityGroup, lambda group: read(group.ingress()[0]))


def ingress(**entry: str) -> str:
    body = ", ".join(f"{k}: {v}" for k, v in {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, **entry}.items())
    return f"  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      SecurityGroupIngress: [{{{body}}}]\n"


def group(props: str) -> str:
    return f"  Asg:\n    Type: AWS::AutoScaling::AutoScalingGroup\n    Properties: {{{props}}}\n"


UNKNOWN_LIST = "!If [IsUnknown, {items}, !Ref AWS::NoValue]"
MODEL: list[tuple[str, str, Callable[[Deployment], Any], Any]] = [
    # Known defect 1: a list-typed property that is an Fn::If on an unknown condition.
    (
        "ManagedPolicyArns unknown (was TypeError: 'Unknown' object is not iterable)",
        "  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      ManagedPolicyArns: "
        + UNKNOWN_LIST.format(items="[arn:aws:iam::aws:policy/ReadOnlyAccess]")
        + "\n",
        field(m.Role, lambda r: r.managed_policies),
        UNKNOWN,
    ),
    (
        "Policies unknown: the policy document stays Unknown (was silently no policy)",
        "  Role:\n    Type: AWS::IAM::Role\n    Properties:\n      Policies: "
        + UNKNOWN_LIST.format(items="[{PolicyName: p, PolicyDocument: {Statement: []}}]")
        + "\n",
        field(m.Role, lambda r: r.policies[0].document),
        UNKNOWN,
    ),
    (
        "Certificates a mapping, not a list",
        "  L:\n    Type: AWS::ElasticLoadBalancingV2::Listener\n    Properties:\n"
        "      Certificates: {CertificateArn: arn:aws:acm:eu-west-1:1:certificate/x}\n",
        field(m.Listener, lambda x: x.certificates),
        UNKNOWN,
    ),
    (
        "ECS LoadBalancers unknown",
        "  S:\n    Type: AWS::ECS::Service\n    Properties:\n      LoadBalancers: "
        + UNKNOWN_LIST.format(items="[{ContainerName: c, ContainerPort: 80}]")
        + "\n",
        field(m.EcsService, lambda s: s.load_balancers[0].port),
        UNKNOWN,
    ),
    (
        "ContainerDefinitions unknown",
        "  T:\n    Type: AWS::ECS::TaskDefinition\n    Properties:\n      ContainerDefinitions: "
        + UNKNOWN_LIST.format(items="[{Name: c, Image: i}]")
        + "\n",
        field(m.TaskDefinition, lambda t: t.containers[0].image),
        UNKNOWN,
    ),
    (
        "StepAdjustments unknown",
        "  P:\n    Type: AWS::AutoScaling::ScalingPolicy\n    Properties:\n      StepAdjustments: "
        + UNKNOWN_LIST.format(items="[{ScalingAdjustment: 1}]")
        + "\n",
        field(m.ScalingPolicy, lambda p: p.steps[0].adjustment),
        UNKNOWN,
    ),
    (
        "Dimensions unknown",
        "  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      Dimensions: "
        + UNKNOWN_LIST.format(items="[{Name: n, Value: v}]")
        + "\n",
        field(m.Alarm, lambda a: a.dimensions),
        UNKNOWN,
    ),
    (
        "FileSystemConfigs unknown",
        "  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      FileSystemConfigs: "
        + UNKNOWN_LIST.format(items="[{Arn: a, LocalMountPath: /mnt/x}]")
        + "\n",
        field(m.Function, lambda f: f.file_systems),
        UNKNOWN,
    ),
    (
        "EnableCloudwatchLogsExports unknown",
        "  Db:\n    Type: AWS::RDS::DBInstance\n    Properties:\n      EnableCloudwatchLogsExports: "
        + UNKNOWN_LIST.format(items="[error]")
        + "\n",
        field(m.DbInstance, lambda d: d.log_exports),
        UNKNOWN,
    ),
    # Wrong shapes: a mapping or a list where the other belongs.
    (
        "SecurityGroupIngress a mapping, not a list",
        "  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n"
        "      SecurityGroupIngress: {IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0}\n",
        rule(lambda r: r.protocol),
        UNKNOWN,
    ),
    (
        "LaunchTemplateData a list (was AttributeError)",
        "  Lt:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData: [1]\n",
        field(m.LaunchTemplate, lambda t: t.http_tokens),
        UNKNOWN,
    ),
    (
        "LaunchTemplateData unknown (was read as an empty one)",
        "  Lt:\n    Type: AWS::EC2::LaunchTemplate\n    Properties:\n      LaunchTemplateData: "
        "!If [IsUnknown, {MetadataOptions: {HttpTokens: required}}, {}]\n",
        field(m.LaunchTemplate, lambda t: t.http_tokens),
        UNKNOWN,
    ),
    (
        "NetworkConfiguration a list (was AttributeError)",
        "  S:\n    Type: AWS::ECS::Service\n    Properties:\n      NetworkConfiguration: [x]\n",
        field(m.EcsService, lambda s: s.subnets),
        UNKNOWN,
    ),
    (
        "PublicAccessBlockConfiguration as text (was ValueError from dict())",
        "  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      PublicAccessBlockConfiguration: 'true'\n",
        field(m.Bucket, lambda b: b.public_access_block),
        UNKNOWN,
    ),
    (
        "NotificationConfiguration a list (was silently no notification)",
        "  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      NotificationConfiguration: [x]\n",
        field(m.Bucket, lambda b: b.notifications),
        UNKNOWN,
    ),
    (
        "BackupPlan text (was AttributeError)",
        "  P:\n    Type: AWS::Backup::BackupPlan\n    Properties:\n      BackupPlan: plan\n",
        field(m.BackupPlan, lambda p: p.rules),
        UNKNOWN,
    ),
    (
        "DB parameter group Parameters unknown",
        "  G:\n    Type: AWS::RDS::DBParameterGroup\n    Properties:\n      Family: mariadb10.11\n"
        "      Parameters: !If [IsUnknown, {require_secure_transport: 1}, {}]\n",
        field(m.DbParameterGroup, lambda g: g.parameters),
        UNKNOWN,
    ),
    # Booleans and numbers as text.
    (
        "MultiAZ 'True'",
        group("") + "  Db:\n    Type: AWS::RDS::DBInstance\n    Properties: {MultiAZ: 'True'}\n",
        field(m.DbInstance, lambda d: d.multi_az),
        True,
    ),
    (
        "MultiAZ 'yes'",
        "  Db:\n    Type: AWS::RDS::DBInstance\n    Properties: {MultiAZ: 'yes'}\n",
        field(m.DbInstance, lambda d: d.multi_az),
        UNKNOWN,
    ),
    (
        "ScanOnPush 'false' (was truthy text: a PASS)",
        "  R:\n    Type: AWS::ECR::Repository\n    Properties: {ImageScanningConfiguration: {ScanOnPush: 'false'}}\n",
        field(m.EcrRepository, lambda r: r.scan_on_push),
        False,
    ),
    ("MaxSize '5'", group("MaxSize: '5'"), field(m.AutoScalingGroup, lambda g: g.max_size), 5),
    ("MinSize '1.0'", group("MinSize: '1.0'"), field(m.AutoScalingGroup, lambda g: g.min_size), 1),
    ("MaxSize 'five'", group("MaxSize: five"), field(m.AutoScalingGroup, lambda g: g.max_size), UNKNOWN),
    ("MaxSize true", group("MaxSize: true"), field(m.AutoScalingGroup, lambda g: g.max_size), UNKNOWN),
    ("MaxSize '1e400' (was inf)", group("MaxSize: '1e400'"), field(m.AutoScalingGroup, lambda g: g.max_size), UNKNOWN),
    ("MaxSize 'nan' (was nan)", group("MaxSize: nan"), field(m.AutoScalingGroup, lambda g: g.max_size), UNKNOWN),
    (
        "Cooldown null is absent (was None)",
        group("Cooldown: null"),
        field(m.AutoScalingGroup, lambda g: g.cooldown),
        300,
    ),
    # Ports.
    ("FromPort '22'", ingress(FromPort="'22'"), rule(lambda r: r.from_port), 22),
    ("FromPort -1", ingress(IpProtocol="'-1'", FromPort="-1"), rule(lambda r: r.from_port), -1),
    ("FromPort '0-65535'", ingress(FromPort="0-65535"), rule(lambda r: r.from_port), UNKNOWN),
    ("IpProtocol absent (was None)", ingress(IpProtocol="null"), rule(lambda r: r.protocol), UNKNOWN),
    ("IpProtocol 6", ingress(IpProtocol="6"), rule(lambda r: r.protocol), "6"),
    # CIDRs: every spelling of "anywhere" is recognised; what EC2 refuses is Unknown.
    ("CidrIp 0.0.0.0/33", ingress(CidrIp="0.0.0.0/33"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp with a space", ingress(CidrIp="'10.0.0.0/8 '"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp not a CIDR", ingress(CidrIp="not-a-cidr"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp without a prefix", ingress(CidrIp="10.0.0.1"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp ::/0 (IPv6 in the IPv4 field)", ingress(CidrIp="'::/0'"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp a number", ingress(CidrIp="10"), rule(lambda r: r.cidr), UNKNOWN),
    ("CidrIp 0.0.0.1/0 is anywhere", ingress(CidrIp="0.0.0.1/0"), rule(lambda r: r.from_anywhere), True),
    ("CidrIpv6 0::/0 is anywhere (was missed)", ingress(CidrIpv6="'0::/0'"), rule(lambda r: r.from_anywhere), True),
    ("CidrIpv6 spelled out", ingress(CidrIpv6="'0:0:0:0:0:0:0:0/0'"), rule(lambda r: r.cidr_ipv6), "::/0"),
    (
        "route to 0.0.0.0/33",
        "  T:\n    Type: AWS::EC2::RouteTable\n    Properties: {VpcId: vpc-1}\n"
        "  R:\n    Type: AWS::EC2::Route\n    Properties: {RouteTableId: !Ref T, DestinationCidrBlock: 0.0.0.0/33,"
        " GatewayId: igw-1}\n",
        field(m.RouteTable, lambda t: t.routes[0].destination),
        UNKNOWN,
    ),
    (
        "AvailabilityZone a list (was TypeError: unhashable type in NET-01)",
        "  S:\n    Type: AWS::EC2::Subnet\n    Properties: {VpcId: vpc-1, AvailabilityZone: !GetAZs ''}\n",
        field(m.Subnet, lambda s: s.az),
        UNKNOWN,
    ),
    (
        "a list inside a list of subnets (was TypeError: unhashable type in NET-07)",
        "  Lb:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties: {Subnets: [[subnet-a, subnet-b]]}\n",
        field(m.LoadBalancer, lambda b: b.subnets),
        UNKNOWN,
    ),
    (
        "Listener Protocol a list",
        "  L:\n    Type: AWS::ElasticLoadBalancingV2::Listener\n    Properties: {Protocol: [HTTPS]}\n",
        field(m.Listener, lambda x: x.protocol),
        UNKNOWN,
    ),
    # Empty resources.
    (
        "Properties {}",
        "  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties: {}\n",
        field(m.SecurityGroup, lambda g: [r.cidr for r in g.rules]),
        ["0.0.0.0/0"],
    ),
    (
        "Properties null",
        "  Sg:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n",
        field(m.SecurityGroup, lambda g: [r.cidr for r in g.rules]),
        ["0.0.0.0/0"],
    ),
    (
        "only a Type",
        "  Sg:\n    Type: AWS::EC2::SecurityGroup\n",
        field(m.SecurityGroup, lambda g: [r.cidr for r in g.rules]),
        ["0.0.0.0/0"],
    ),
    # Known defect 2: Metadata.stackproof that is not a mapping.
    (
        "Metadata.stackproof a string (was ValueError from dict())",
        "  B:\n    Type: AWS::S3::Bucket\nMetadata:\n  stackproof: dashboard\n",
        lambda d: (d.declared, d.reference),
        ({}, "dashboard"),
    ),
    (
        "Metadata.stackproof a list",
        "  B:\n    Type: AWS::S3::Bucket\nMetadata:\n  stackproof: [1, 2]\n",
        lambda d: (d.declared, d.reference),
        ({}, "dashboard"),
    ),
    # Names and outputs.
    (
        "unicode names and values",
        "  Bücket☃:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: 'ünï ☃ \u202e'}\n",
        field(m.Bucket, lambda b: (b.key, b.name)),
        ("Bücket☃", "ünï ☃ \u202e"),
    ),
    (
        "an output naming a missing resource is Unknown, not a crash",
        "  B:\n    Type: AWS::S3::Bucket\nOutputs:\n  O:\n    Value: !GetAtt Missing.Arn\n",
        lambda d: d.count(),
        1,
    ),
]


def _matches(value: Any, expected: Any) -> bool:
    if expected is UNKNOWN:
        return first_unknown(value) is not None or (
            isinstance(value, list) and any(first_unknown(vars(v)) for v in value if hasattr(v, "__dict__"))
        )
    return bool(value == expected)


@pytest.mark.parametrize(("text", "read", "expected"), [c[1:] for c in MODEL], ids=[c[0] for c in MODEL])
def test_odd_values_become_unknown_or_are_read_as_cloudformation_reads_them(
    tmp_path: Path, text: str, read: Callable[[Deployment], Any], expected: Any
) -> None:
    deployment = load(tmp_path, HEAD + text if text.startswith("  ") else text)
    value = read(deployment)
    assert _matches(value, expected), value


def test_a_declaration_that_is_not_a_mapping_is_a_warning_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("Metadata:\n  stackproof: dashboard\nResources:\n  B:\n    Type: AWS::S3::Bucket\n")
    template = load_template(path)
    assert [str(w) for w in template.warnings] == [
        f"{path}:2: Metadata.stackproof is not a mapping, so it declares nothing; ignored"
    ]


REFUSED = [
    (
        "Metadata:\n  stackproof:\n    reference: analytic\nResources:\n  B:\n    Type: AWS::S3::Bucket\n",
        "3: Metadata.stackproof.reference 'analytic' is not one of dashboard, analytics",
    ),
    (
        'Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties: {BucketName: "a\x7fb"}\n',
        "4: character #x007f is not allowed in YAML (control characters are not allowed)",
    ),
    (
        "Metadata:\n  stackproof:\n    quota_increases: 5\nResources:\n  B:\n    Type: AWS::S3::Bucket\n",
        "3: Metadata.stackproof.quota_increases must be a list of {code, value, reason} with a quota code"
        " and a whole-number value",
    ),
    (
        "Metadata:\n  stackproof:\n    quota_increases: [{code: L-1, value: lots}]\nResources:\n  B:\n    Type: AWS::S3::Bucket\n",
        "3: Metadata.stackproof.quota_increases must be a list of {code, value, reason} with a quota code"
        " and a whole-number value",
    ),
    ("Resources:\n  B\x00:\n    Type: AWS::S3::Bucket\n", "2: template is binary, not text"),
    ("Resources:\n  B:\n", "2: resource B must be a mapping"),
    (
        "Resources:\n  A:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n      Dimensions: x\n",
        "5: Dimensions of A must be a list, not 'x'",
    ),
]


@pytest.mark.parametrize(("text", "message"), REFUSED, ids=[m for _, m in REFUSED])
def test_what_cloudformation_or_our_own_schema_refuses_is_one_line_at_file_and_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "t.yaml"
    path.write_bytes(text.encode("utf-8"))
    with pytest.raises(TemplateError) as error:
        resolve(load_template(path), {}, "us-east-1")
    assert str(error.value) == f"{path}:{message}"


def test_a_json_template_with_a_character_yaml_refuses_loads_as_json_does(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "a\x7f\x85b"}}}}')
    (bucket,) = build(resolve(load_template(path), {}, "us-east-1")).all(m.Bucket)
    assert bucket.name == "a\x7f\x85b"


LB = "  Lb:\n    Type: AWS::ElasticLoadBalancingV2::LoadBalancer\n    Properties: {Subnets: [subnet-1]}\n"
SSH = {"FromPort": "22", "ToPort": "22"}
VERDICTS = [
    ("IAM-03", "ManagedPolicyArns unknown", MODEL[0][1], "ERROR"),
    ("IAM-03", "Policies unknown", MODEL[1][1], "ERROR"),
    ("NET-05", "SSH from 0::/0 is open to the internet (was PASS)", ingress(CidrIpv6="'0::/0'", **SSH) + LB, "FAIL"),
    ("NET-05", "SSH from 0.0.0.0/33 is undecidable", ingress(CidrIp="0.0.0.0/33", **SSH) + LB, "ERROR"),
    (
        "TLS-04",
        "a bucket policy statement that is a list denies nothing (was AttributeError)",
        "  B:\n    Type: AWS::S3::Bucket\n  P:\n    Type: AWS::S3::BucketPolicy\n"
        "    Properties: {Bucket: !Ref B, PolicyDocument: {Statement: [[Deny]]}}\n",
        "FAIL",
    ),
]


@pytest.mark.parametrize(
    ("control", "text", "expected"), [v[::2] + v[3:] for v in VERDICTS], ids=[v[1] for v in VERDICTS]
)
def test_unknown_values_are_error_in_the_checks_that_read_them(
    tmp_path: Path, control: str, text: str, expected: str
) -> None:
    status, message = evaluate(load(tmp_path, HEAD + text), control, crashes=True)
    assert status == expected, message


GROUP = (
    "  Lc:\n    Type: AWS::AutoScaling::LaunchConfiguration\n    Properties: {ImageId: ami-1, InstanceType: t3.medium}\n"
    "  Asg:\n    Type: AWS::AutoScaling::AutoScalingGroup\n"
    "    Properties: {MinSize: 1, MaxSize: 1000, LaunchConfigurationName: !Ref Lc}\n"
)
DECLARED = [
    ("a number (was TypeError: 'int' object is not iterable)", {"quota_increases": 5}),
    ("a value that is no number (was ValueError)", {"quota_increases": [{"code": "L-1216C47A", "value": "lots"}]}),
    ("entries that are not mappings", {"quota_increases": ["L-1216C47A"]}),
]


@pytest.mark.parametrize("declared", [d for _, d in DECLARED], ids=[i for i, _ in DECLARED])
def test_a_malformed_declaration_from_a_deployed_stack_declares_nothing(
    tmp_path: Path, declared: dict[str, Any]
) -> None:
    """The aws target reads Metadata from the deployed template, past the loader's refusal:
    QTA-01 then judges the demand against the default quota (FAIL), never crashes."""
    deployment = load(tmp_path, HEAD + GROUP)
    deployment.declared = declared
    assert evaluate(deployment, "QTA-01", crashes=True)[0] == "FAIL"


def test_five_thousand_resources_in_seconds(tmp_path: Path) -> None:
    """5,001 resources (3,751 model objects: associations attach to route tables) loaded,
    resolved, built and judged by the network, quota and IAM checks."""
    lines = [HEAD.rstrip("\n"), "  Vpc:\n    Type: AWS::EC2::VPC\n    Properties: {CidrBlock: 10.0.0.0/16}"]
    for i in range(1250):
        lines.append(f"  Sg{i}:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n      VpcId: !Ref Vpc")
        lines.append(
            f"      SecurityGroupIngress: [{{IpProtocol: tcp, FromPort: 443, ToPort: 443, CidrIp: 10.0.{i % 256}.0/24}}]"
        )
        lines.append(
            f"  Sub{i}:\n    Type: AWS::EC2::Subnet\n    Properties: {{VpcId: !Ref Vpc, CidrBlock: 10.0.0.0/28}}"
        )
        lines.append(f"  Rt{i}:\n    Type: AWS::EC2::RouteTable\n    Properties: {{VpcId: !Ref Vpc}}")
        lines.append(
            f"  Assoc{i}:\n    Type: AWS::EC2::SubnetRouteTableAssociation\n"
            f"    Properties: {{SubnetId: !Ref Sub{i}, RouteTableId: !Ref Rt{i}}}"
        )
    started = time.monotonic()
    deployment = load(tmp_path, "\n".join(lines) + "\n")
    for control in ("NET-01", "NET-02", "QTA-01", "IAM-01"):
        evaluate(deployment, control, crashes=True)
    elapsed = time.monotonic() - started
    assert deployment.count() == 3751
    assert elapsed < 20, f"{elapsed:.1f} s"


def test_deep_but_legal_nesting_loads(tmp_path: Path) -> None:
    nested = "x"
    for _ in range(100):
        nested = f"{{A: {nested}}}"
    deployment = load(tmp_path, HEAD + f"  B:\n    Type: AWS::S3::Bucket\n    Properties: {{Tags: [{nested}]}}\n")
    assert known([b.key for b in deployment.all(m.Bucket)], "buckets") == ["B"]
    assert not isinstance(deployment.all(m.Bucket)[0].name, Unknown)
