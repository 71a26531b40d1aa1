"""DAT-07, DAT-08, IAM-04 and QTA-04 (issue 16, point 4): promises checkov and Prowler keep and
we did not. Each is shown on tables of good and bad inputs with the exact findings, on the
references in every form, on moto and through the aws target's reading path (fail closed)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.catalogue import CatalogueError, Exemption
from stackproof.model import types as m
from stackproof.model.deployment import Deployment
from stackproof.model.exposures import secret_surfaces
from stackproof.model.from_template import build
from stackproof.model.types import Role, SecretSurface, StackTemplate
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetOptions, load
from stackproof.template.loader import load_parameters, load_template
from stackproof.template.resolver import resolve
from stackproof.template.values import Unknown
from tests.conftest import REGION, TEMPLATE
from tests.mutants import ANALYTICS, MUTANTS, Mutant, outputs_over_200, parameters_over_200
from tests.test_fail_closed import Fault, deploy_alone, read, server  # noqa: F401 (server: a fixture)

NEW = ("DAT-07", "DAT-08", "IAM-04", "QTA-04")
PARAMS = TEMPLATE.with_name("dashboard.params.json")


def model(tmp_path: Path, data: dict[str, Any], params: dict[str, str] | None = None) -> Deployment:
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return build(resolve(load_template(path), params or {}, REGION))


def where(name: str, resource_type: str) -> m.Location:
    return m.Location(name, resource_type)


# ---------------------------------------------------------------------------- DAT-07: where secrets surface
NOECHO = {"Pw": {"Type": "String", "NoEcho": True}}
NAMED = {"DBPassword": {"Type": "String"}}
ARN = {"DBSecretArn": {"Type": "String"}}
LAUNCH = "AWS::EC2::LaunchTemplate"


def launch(user_data: Any) -> dict[str, Any]:
    return {"Lt": {"Type": LAUNCH, "Properties": {"LaunchTemplateData": {"UserData": {"Fn::Base64": user_data}}}}}


def topic(tags: Any) -> dict[str, Any]:
    return {"T": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": tags}}}


SURFACES: list[tuple[str, dict[str, Any], dict[str, bool], dict[str, Any]]] = [
    # (case, template, conditions, {surface key: what it carries})
    ("noecho-output", {"Parameters": NOECHO, "Outputs": {"O": {"Value": {"Ref": "Pw"}}}}, {},
     {"output:O": ["parameter Pw (NoEcho)"]}),
    ("named-output", {"Parameters": NAMED, "Outputs": {"O": {"Value": {"Ref": "DBPassword"}}}}, {},
     {"output:O": ["parameter DBPassword (named like a secret)"]}),
    ("arn-output-is-no-secret", {"Parameters": ARN, "Outputs": {"O": {"Value": {"Ref": "DBSecretArn"}}}}, {},
     {"output:O": []}),
    ("user-data-reads-at-boot", {"Parameters": ARN, "Resources": launch(
        {"Fn::Sub": "#!/bin/bash\nS=$(aws secretsmanager get-secret-value --secret-id ${DBSecretArn})\nP=$S\n"})}, {},
     {"user data:Lt": []}),
    ("user-data-parameter", {"Parameters": NAMED, "Resources": launch({"Fn::Sub": "export PW='${DBPassword}'\n"})},
     {}, {"user data:Lt": ["parameter DBPassword (named like a secret)"]}),
    ("user-data-sub-variable", {"Parameters": NOECHO, "Resources": launch(
        {"Fn::Sub": ["PW=${X}\n", {"X": {"Ref": "Pw"}}]})}, {}, {"user data:Lt": ["parameter Pw (NoEcho)"]}),
    ("user-data-escaped-placeholder", {"Parameters": NAMED, "Resources": launch(
        {"Fn::Sub": "echo ${!DBPassword}\n"})}, {}, {"user data:Lt": []}),
    ("user-data-dynamic-reference", {"Resources": launch(
        {"Fn::Sub": "PW='{{resolve:secretsmanager:${S}:SecretString:password}}'\n"})}, {},
     {"user data:Lt": ["a Secrets Manager dynamic reference"]}),
    ("user-data-literal", {"Resources": launch("#!/bin/bash\nDB_PASSWORD=hunter2222\n")}, {},
     {"user data:Lt": ["a literal value assigned to DB_PASSWORD"]}),
    ("user-data-shell-variable", {"Resources": launch("#!/bin/bash\nPI_DB_PASSWORD=$DB_PASSWORD\n")}, {},
     {"user data:Lt": []}),
    ("launch-configuration", {"Parameters": NOECHO, "Resources": {"Lc": {
        "Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": {"UserData": {"Fn::Base64": {"Ref": "Pw"}}}}}},
     {}, {"user data:Lc": ["parameter Pw (NoEcho)"]}),
    ("join-builds-dynamic-reference", {"Outputs": {"O": {"Value": {"Fn::Join": ["", [
        "{{resolve:secretsmanager:", {"Ref": "S"}, ":SecretString:password}}"]]}}}}, {},
     {"output:O": ["a Secrets Manager dynamic reference"]}),
    ("ssm-secure", {"Outputs": {"O": {"Value": "{{resolve:ssm-secure:/db/pw:1}}"}}}, {},
     {"output:O": ["an SSM SecureString dynamic reference"]}),
    ("access-key-secret", {"Resources": {"K": {"Type": "AWS::IAM::AccessKey", "Properties": {"UserName": "u"}}},
     "Outputs": {"O": {"Value": {"Fn::GetAtt": ["K", "SecretAccessKey"]}}}}, {},
     {"output:O": ["attribute SecretAccessKey of K"]}),
    ("if-unknown-condition", {"Parameters": NOECHO, "Outputs": {"O": {"Value": {"Fn::If": ["C", {"Ref": "Pw"}, "x"]}}}},
     {}, {"output:O": Unknown("it carries parameter Pw (NoEcho) if a condition that is not known holds")}),
    ("if-false-condition", {"Parameters": NOECHO, "Outputs": {"O": {"Value": {"Fn::If": ["C", {"Ref": "Pw"}, "x"]}}}},
     {"C": False}, {"output:O": []}),
    ("output-of-a-false-condition", {"Parameters": NOECHO, "Outputs": {"O": {"Condition": "C", "Value": {"Ref": "Pw"}}}},
     {"C": False}, {}),
    ("tag-value", {"Parameters": NOECHO, "Resources": topic([{"Key": "k", "Value": {"Ref": "Pw"}}])}, {},
     {"tags:T": ["parameter Pw (NoEcho)"]}),
    ("tag-named-like-a-secret", {"Resources": topic([{"Key": "api-token", "Value": "abc123abc"}])}, {},
     {"tags:T": ["a tag named api-token"]}),
    ("plain-tag", {"Resources": topic([{"Key": "Name", "Value": "dashboard"}])}, {}, {"tags:T": []}),
    ("secret-default", {"Parameters": {"DBPassword": {"Type": "String", "Default": "change-me"}}}, {},
     {"parameter default:DBPassword": ["a secret value written in the template (parameter DBPassword (named like a "
                                        "secret))"]}),
    ("pass-suffix", {"Parameters": {"DBPass": {"Type": "String"}}, "Outputs": {"O": {"Value": {"Ref": "DBPass"}}}}, {},
     {"output:O": ["parameter DBPass (named like a secret)"]}),
    ("letters-are-no-word", {"Parameters": {"CacheBypass": {"Type": "String"}}, "Outputs": {"O": {"Value": {"Ref": "CacheBypass"}}}},
     {}, {"output:O": []}),
    ("encoded-user-data", {"Resources": {"Lc": {"Type": "AWS::AutoScaling::LaunchConfiguration", "Properties": {
        "UserData": "IyEvYmluL2Jhc2gKZXhwb3J0IEFETUlOX1RPS0VOPWFiY2RlZjEyMzQ1Ngo="}}}}, {}, {"user data:Lc": ["a literal value assigned to ADMIN_TOKEN"]}),
    ("cfn-init", {"Parameters": NOECHO, "Resources": {"I": {"Type": "AWS::EC2::Instance", "Metadata": {
        "AWS::CloudFormation::Init": {"config": {"files": {"/etc/app.env": {"content": {"Fn::Sub": "PW=${Pw}"}}}}}},
        "Properties": {"ImageId": "ami-1"}}}}, {}, {"cfn-init metadata:I": ["parameter Pw (NoEcho)"]}),
    ("noecho-empty-default", {"Parameters": {"Pw": {"Type": "String", "NoEcho": True, "Default": ""}}}, {}, {}),
]  # fmt: skip


@pytest.mark.parametrize(("data", "conditions", "expected"), [c[1:] for c in SURFACES], ids=[c[0] for c in SURFACES])
def test_secret_surfaces_carry_exactly(data: dict[str, Any], conditions: dict[str, bool], expected: Any) -> None:
    found = {s.key: s.carries for s in secret_surfaces(data, conditions, where)}
    assert found == expected


def test_dat07_finds_name_the_source_never_the_value(tmp_path: Path) -> None:
    data = {
        "Parameters": {"Pw": {"Type": "String", "NoEcho": True}},
        "Resources": launch({"Fn::Sub": "#!/bin/bash\nexport PW=${Pw}\n"}),
        "Outputs": {"O": {"Value": {"Ref": "Pw"}}},
    }
    status, message = evaluate(model(tmp_path, data, {"Pw": "s3cr3t-value"}), "DAT-07")
    assert status == "FAIL"
    assert message.splitlines() == [
        f"parameter Pw (NoEcho) reaches output O — O ({tmp_path / 't.json'}:1)",
        f"parameter Pw (NoEcho) reaches user data Lt — Lt ({tmp_path / 't.json'}:1)",
    ]
    assert "s3cr3t-value" not in message


def test_dat07_unknown_branch_is_error_and_nothing_to_look_at_is_no_pass(tmp_path: Path) -> None:
    data = {
        "Parameters": {"Pw": {"Type": "String", "NoEcho": True}, "Flag": {"Type": "String"}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "Flag"}, "yes"]}},
        "Resources": topic([]),
        "Outputs": {"O": {"Value": {"Fn::If": ["C", {"Ref": "Pw"}, "none"]}}},
    }
    assert evaluate(model(tmp_path, data), "DAT-07")[0] == "ERROR"
    assert evaluate(model(tmp_path, data, {"Flag": "no"}), "DAT-07")[0] == "PASS"
    empty = {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}
    assert evaluate(model(tmp_path, empty), "DAT-07") == (
        "FAIL",
        "no output, user data or tag: seed 002 'How to obtain the secrets?' (what the stack shows, judged for secrets)",
    )


# ---------------------------------------------------------------------------- DAT-08: every bucket
BLOCK = {f: True for f in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
SSE = {"ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}
DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "s3:*",
    "Resource": [{"Fn::GetAtt": ["B", "Arn"]}, {"Fn::Sub": "${B.Arn}/*"}],
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}


def bucket(properties: dict[str, Any], statements: list[dict[str, Any]] | None) -> dict[str, Any]:
    resources: dict[str, Any] = {"B": {"Type": "AWS::S3::Bucket", "Properties": properties}}
    if statements is not None:
        resources["P"] = {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {"Bucket": {"Ref": "B"}, "PolicyDocument": {"Statement": statements}},
        }
    return {"Resources": resources}


BUCKETS = [
    ("good", bucket({"PublicAccessBlockConfiguration": BLOCK, "BucketEncryption": SSE}, [DENY]), "PASS", ""),
    ("one-flag-off", bucket({"PublicAccessBlockConfiguration": {**BLOCK, "RestrictPublicBuckets": False},
     "BucketEncryption": SSE}, [DENY]), "FAIL",
     "bucket does not block all public access [observed: ['RestrictPublicBuckets']; expected: all four on]"),
    ("no-encryption", bucket({"PublicAccessBlockConfiguration": BLOCK}, [DENY]), "FAIL",
     "bucket declares no default encryption"),
    ("no-policy", bucket({"PublicAccessBlockConfiguration": BLOCK, "BucketEncryption": SSE}, None), "FAIL",
     "no bucket policy denies requests without TLS (aws:SecureTransport false)"),
    ("deny-for-one-principal", bucket({"PublicAccessBlockConfiguration": BLOCK, "BucketEncryption": SSE},
     [{**DENY, "Principal": {"AWS": "arn:aws:iam::1:root"}}]), "FAIL",
     "no bucket policy denies requests without TLS (aws:SecureTransport false)"),
    ("block-from-unknown-parameter", {**bucket({"PublicAccessBlockConfiguration": {"Ref": "Block"},
     "BucketEncryption": SSE}, [DENY]), "Parameters": {"Block": {"Type": "String"}}}, "ERROR",
     "public access block of B"),
    ("policy-names-the-bucket", {"Resources": {
        "B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": "vendor-logs", "PublicAccessBlockConfiguration": BLOCK,
              "BucketEncryption": SSE}},
        "P": {"Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": "vendor-logs", "PolicyDocument": {
              "Statement": [{**DENY, "Resource": "arn:aws:s3:::vendor-logs/*"}]}}}}}, "PASS", ""),
    ("no-bucket", {"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}, "FAIL", "no S3 bucket"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "status", "evidence"), [c[1:] for c in BUCKETS], ids=[c[0] for c in BUCKETS])
def test_dat08_every_bucket(tmp_path: Path, data: dict[str, Any], status: str, evidence: str) -> None:
    verdict, message = evaluate(model(tmp_path, data), "DAT-08")
    assert verdict == status, message
    assert evidence in message


# ---------------------------------------------------------------------------- IAM-04: a whole service on everything
def role(statement: dict[str, Any], managed: list[str] | None = None) -> dict[str, Any]:
    return {
        "Parameters": {"Somewhere": {"Type": "String"}},
        "Resources": {
            "R": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {"Statement": []},
                    "ManagedPolicyArns": managed or [],
                    "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}],
                },
            }
        },
    }


def allow(action: Any, resource: Any = "*") -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def identity(kind: str, statement: dict[str, Any], managed: list[str] | None = None) -> dict[str, Any]:
    properties = {
        "ManagedPolicyArns": managed or [],
        "Policies": [{"PolicyName": "p", "PolicyDocument": {"Statement": [statement]}}],
    }
    return {"Resources": {"I": {"Type": f"AWS::IAM::{kind}", "Properties": properties}}}


WIDE = "policy p allows every action of a service on all resources"
POLICIES = [
    ("service-wildcard", role(allow("s3:*")), "FAIL", f"{WIDE} [observed: {{'Action': ['s3:*'], 'Resource': '*'}}"),
    ("upper-case", role(allow(["S3:*"])), "FAIL", "'Action': ['S3:*']"),
    ("every-bucket-arn", role(allow("s3:*", "arn:aws:s3:::*")), "FAIL", "'Resource': 'arn:aws:s3:::*'"),
    ("every-action", role(allow("*")), "FAIL", "'Action': ['*']"),
    ("not-action", role({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), "FAIL", "NotAction iam:*"),
    ("not-resource", role({"Effect": "Allow", "Action": "sqs:*", "NotResource": "arn:aws:sqs:*:*:q"}), "FAIL", WIDE),
    ("one-bucket", role(allow("s3:*", "arn:aws:s3:::content/*")), "PASS", ""),
    ("prefix-wildcard", role(allow("s3:Get*")), "PASS", ""),
    ("named-actions", role(allow(["s3:GetObject", "s3:PutObject"])), "PASS", ""),
    ("deny", role({"Effect": "Deny", "Action": "s3:*", "Resource": "*"}), "PASS", ""),
    ("unknown-resource", role(allow("s3:*", {"Ref": "Somewhere"})), "ERROR", "Somewhere"),
    ("unknown-action", role(allow({"Ref": "Somewhere"})), "ERROR", "Somewhere"),
    ("full-access-managed", role(allow("s3:GetObject"), ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]), "FAIL",
     "role carries an AWS managed full-access policy [observed: arn:aws:iam::aws:policy/AmazonS3FullAccess]"),
    ("user-inline", identity("User", allow("s3:*")), "FAIL", f"{WIDE} [observed: {{'Action': ['s3:*'], 'Resource': '*'}}"),
    ("group-full-access", identity("Group", allow("s3:GetObject"), ["arn:aws:iam::aws:policy/AmazonEC2FullAccess"]),
     "FAIL", "group carries an AWS managed full-access policy [observed: arn:aws:iam::aws:policy/AmazonEC2FullAccess]"),
    ("user-named-actions", identity("User", allow(["s3:GetObject"])), "PASS", ""),
    ("read-only-managed", role(allow("s3:GetObject"), ["arn:aws:iam::aws:policy/ReadOnlyAccess"]), "PASS", ""),
]  # fmt: skip


@pytest.mark.parametrize(("data", "status", "evidence"), [c[1:] for c in POLICIES], ids=[c[0] for c in POLICIES])
def test_iam04_statements(tmp_path: Path, data: dict[str, Any], status: str, evidence: str) -> None:
    verdict, message = evaluate(model(tmp_path, data), "IAM-04")
    assert verdict == status, message
    assert evidence in message


def test_iam04_allows_what_the_catalogue_justifies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    controls = dict(catalogue.load())
    reason = "the X-Ray daemon writes traces of every segment"
    controls["IAM-04"] = dataclasses.replace(
        controls["IAM-04"],
        exceptions=(Exemption("xray:*", "", reason), Exemption("", "AmazonS3FullAccess", reason)),
    )
    monkeypatch.setattr(catalogue, "load", lambda: controls)
    justified = role(allow("xray:*"), ["arn:aws:iam::aws:policy/AmazonS3FullAccess"])
    assert evaluate(model(tmp_path, justified), "IAM-04") == ("PASS", "")
    status, message = evaluate(model(tmp_path, role(allow(["xray:*", "sqs:*"]))), "IAM-04")
    assert status == "FAIL"
    assert "'Action': ['sqs:*']" in message


EXCEPTIONS = [
    ([{"action": "s3:*", "reason": "the content bucket's lifecycle tool"}], None),
    ([{"managed_policy": "AmazonS3FullAccess", "reason": "a vendor requirement, reviewed"}], None),
    ("s3:*", "IAM-04: exceptions must be a list"),
    ([{"action": "s3:Get*", "reason": "reads every object there"}], "is not a service's wildcard"),
    ([{"action": "*", "reason": "reads every object there"}], "is not a service's wildcard"),
    ([{"action": "s3:*"}], "needs a reason"),
    ([{"action": "s3:*", "reason": "because"}], "needs a reason"),
    ([{"action": "s3:*", "managed_policy": "X", "reason": "one of each here"}], "exactly one of"),
    ([{"reason": "neither is named here"}], "exactly one of"),
    ([{"action": "s3:*", "reason": "a typo in a key", "owner": "me"}], "a mapping of action, managed_policy, reason"),
    ([{"managed_policy": "arn:aws:iam::aws:policy/X", "reason": "an ARN, not a name"}], "is not a policy name"),
]


@pytest.mark.parametrize(("exceptions", "error"), EXCEPTIONS)
def test_catalogue_exceptions_are_validated_at_load(exceptions: Any, error: str | None) -> None:
    entry = {
        "id": "IAM-04",
        "title": "t",
        "family": "iam",
        "severity": "high",
        "source": {"seed": "s", "quote": "q"},
        "targets": ["template"],
        "exceptions": exceptions,
    }
    if error is None:
        assert len(catalogue.parse({"controls": [entry]})["IAM-04"].exceptions) == 1
    else:
        with pytest.raises(CatalogueError, match=error.replace("*", r"\*").replace("(", r"\(")):
            catalogue.parse({"controls": [entry]})


# ---------------------------------------------------------------------------- QTA-04: per-template limits
def sized(resources: int = 1, parameters: int = 0, outputs: int = 0, mappings: int = 0, pad: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {"Resources": {f"Q{n}": {"Type": "AWS::SQS::Queue"} for n in range(resources)}}
    if parameters:
        data["Parameters"] = {f"P{n}": {"Type": "String", "Default": "x"} for n in range(parameters)}
    if outputs:
        data["Outputs"] = {f"O{n}": {"Value": "x"} for n in range(outputs)}
    if mappings:
        data["Mappings"] = {f"M{n}": {"k": {"v": "x"}} for n in range(mappings)}
    if pad:
        data["Metadata"] = {"pad": "x" * pad}
    return data


LIMITS = [
    ("at-every-limit", sized(500, 200, 200, 200), "PASS", ""),
    ("501-resources", sized(501), "FAIL", "the template has too many resources [observed: 501; expected: <= 500]"),
    ("201-parameters", sized(parameters=201), "FAIL", "too many parameters [observed: 201; expected: <= 200]"),
    ("201-outputs", sized(outputs=201), "FAIL", "too many outputs [observed: 201; expected: <= 200]"),
    ("201-mappings", sized(mappings=201), "FAIL", "too many mappings [observed: 201; expected: <= 200]"),
    ("body-over-1mb", sized(pad=1_000_000), "FAIL", "the template body is too large"),
    ("body-over-51200-through-s3", sized(pad=60_000), "PASS", ""),
]


@pytest.mark.parametrize(("data", "status", "evidence"), [c[1:] for c in LIMITS], ids=[c[0] for c in LIMITS])
def test_qta04_limits(tmp_path: Path, data: dict[str, Any], status: str, evidence: str) -> None:
    verdict, message = evaluate(model(tmp_path, data), "QTA-04")
    assert verdict == status, message
    assert evidence in message


def test_qta04_body_not_at_hand_is_error(tmp_path: Path) -> None:
    deployment = model(tmp_path, sized())
    only = deployment.all(StackTemplate)[0]
    only.body_bytes = Unknown("the template body is not at hand")
    assert evaluate(deployment, "QTA-04")[0] == "ERROR"


# ---------------------------------------------------------------------------- the references, every form
def reference_models() -> dict[str, Deployment]:
    from stackproof.targets.template import TemplateTarget

    models = {"dashboard": build(resolve(load_template(TEMPLATE), load_parameters(PARAMS), REGION))}
    params = ANALYTICS.with_name("analytics.params.json")
    models["analytics"] = build(resolve(load_template(ANALYTICS), load_parameters(params), REGION))
    for form in ("dashboard-set", "dashboard-nested"):
        stacks = str(TEMPLATE.with_name(form))
        options = TargetOptions(stacks, str(PARAMS), REGION, templates=(stacks,))
        models[form] = TemplateTarget(options).deployment()
    return models


def test_the_references_keep_the_new_promises_in_every_form() -> None:
    models = reference_models()
    verdicts = {(name, c): evaluate(d, c) for name, d in models.items() for c in NEW}
    assert {k: v for k, v in verdicts.items() if v[0] != "PASS"} == {}
    assert len(models["dashboard-set"].all(StackTemplate)) == 3
    assert len(models["dashboard-nested"].all(StackTemplate)) == 4
    assert len(models["dashboard"].all(SecretSurface)) == 38


# ---------------------------------------------------------------------------- deployed: moto and the aws reading path
# Limits a split into stacks can bring a template under (CloudFormation judges each stack): these
# two stay out of MUTANTS, whose every case must fail alike in the single, set and nested forms.
PER_TEMPLATE = [
    Mutant("parameters-over-200", "QTA-04", "FAIL", parameters_over_200),
    Mutant("outputs-over-200", "QTA-04", "FAIL", outputs_over_200),
]
OURS = [mutant for mutant in MUTANTS if mutant.control in NEW] + PER_TEMPLATE


@pytest.mark.parametrize("mutant", PER_TEMPLATE, ids=lambda mutant: mutant.name)
def test_per_template_mutant_fails_on_the_template(mutant: Mutant, tmp_path: Path) -> None:
    path = mutant.apply(TEMPLATE, tmp_path)
    status, message = evaluate(build(resolve(load_template(path), load_parameters(PARAMS), REGION)), "QTA-04")
    assert status == "FAIL", message


@pytest.mark.moto
@pytest.mark.parametrize("mutant", OURS, ids=lambda mutant: f"{mutant.control}:{mutant.name}")
def test_mutant_fails_on_moto_as_on_the_template(mutant: Any, tmp_path: Path, aws_credentials: None) -> None:
    path = mutant.apply(TEMPLATE, tmp_path)
    target = load("moto", TargetOptions(str(path), str(PARAMS), REGION))
    try:
        status, message = evaluate(target.deployment(), mutant.control)
    finally:
        target.close()
    assert status == "FAIL", message


READ_FAULTS = [
    ("managed-policy-all-of-efs", "IAM-04", Fault("GetPolicyVersion", "fail")),
    ("managed-policy-all-of-efs", "IAM-04", Fault("GetPolicyVersion", "empty", "PolicyVersion.Document")),
    ("vendor-user-all-of-s3", "IAM-04", Fault("ListUserPolicies", "empty", "PolicyNames")),
    ("vendor-user-all-of-s3", "IAM-04", Fault("GetUserPolicy", "fail")),
    ("log-bucket-public-access-open", "DAT-08", Fault("GetBucketPolicy", "fail")),
    ("log-bucket-public-access-open", "DAT-08", Fault("GetPublicAccessBlock", "fail")),
]


@pytest.mark.moto
def test_aws_reading_path_shows_each_and_fails_closed(server: str, tmp_path: Path) -> None:  # noqa: F811
    """Through the aws target (moto's server standing in for an account): each mutant FAILs, the
    template CloudFormation holds is what DAT-07 and QTA-04 judge, and a read that fails or comes
    back without its document is ERROR, never PASS."""
    for name in ("password-output-and-user-data", "template-body-over-1mb", "vendor-user-all-of-s3"):
        mutant = next(x for x in OURS if x.name == name)
        deploy_alone(server, name, mutant.apply(TEMPLATE, tmp_path), tmp_path)
        assert evaluate(read(server, name, None), mutant.control)[0] == "FAIL", name
    deployed = ""
    for stack, control, fault in READ_FAULTS:
        if stack != deployed:
            deploy_alone(server, stack, next(x for x in MUTANTS if x.name == stack).apply(TEMPLATE, tmp_path), tmp_path)
            deployed = stack
        deployment = read(server, stack, fault)
        status, message = evaluate(deployment, control)
        assert status == "ERROR", (fault, status, message)
        assert Role in deployment.gaps or m.Bucket in deployment.gaps


ODD = [
    {"Parameters": None, "Outputs": ["not", "a", "mapping"]},
    {"Parameters": ["P"], "Resources": {"R": "not a resource"}, "Outputs": {"O": "no value"}},
    {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": "k=v"}}}},
    {"Resources": {"T": {"Type": "AWS::SNS::Topic", "Properties": {"Tags": [{"Key": {"Ref": "X"}, "Value": 1}]}}}},
    {"Outputs": {"O": {"Value": {"Fn::If": "C"}}}, "Parameters": {1: {"NoEcho": "true"}}},
    {"Outputs": {"O": {"Value": {"Fn::Sub": ["${a}", {"a": {"Ref": 1}}, "extra"]}}}},
    {"Outputs": {"O": {"Value": {"Fn::Join": ["", {"Ref": "P"}]}}}, "Parameters": {"P": {"NoEcho": True}}},
    {"Outputs": {"O": {"Value": {"Fn::GetAtt": [{"Ref": "R"}, "Password"]}}}},
    {"Resources": launch({"Fn::Sub": 7})},
]


@pytest.mark.parametrize("data", ODD)
def test_odd_templates_give_surfaces_never_a_crash(data: dict[str, Any]) -> None:
    for surface in secret_surfaces(data, {}, where):
        assert isinstance(surface.carries, (list, Unknown))


@pytest.mark.moto
def test_a_template_body_that_does_not_declare_the_stack_is_an_error(aws_credentials: None) -> None:
    """GetTemplate answered with a body that leaves out what ListStackResources lists (an emptied
    or cut answer): DAT-07 and QTA-04 would judge a smaller template; they are ERROR instead."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def cut(self: Any, operation: str, params: Any) -> Any:
        answer = original(self, operation, params)
        if operation == "GetTemplate":
            return {**answer, "TemplateBody": json.dumps({"Resources": {"Vpc": {"Type": "AWS::EC2::VPC"}}})}
        return answer

    target = load("moto", TargetOptions(str(TEMPLATE), str(PARAMS), REGION))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(BaseClient, "_make_api_call", cut)
            deployment = target.deployment()
    finally:
        target.close()
    for control in ("DAT-07", "QTA-04"):
        status, message = evaluate(deployment, control)
        assert status == "ERROR", (control, message)
        assert "ListStackResources lists: it is not the template deployed" in message
