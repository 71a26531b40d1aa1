"""Launch configurations and simple scaling policies, the shapes the dashboard vendor's own
templates use, judged as launch templates and step policies are: on the template target, and
with the same verdicts on moto (the describe-side model reads them too)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import pytest

from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.model.types import AutoScalingGroup, LaunchTemplate
from stackproof.results.evaluate import evaluate
from stackproof.targets import TargetOptions, load
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from tests.conftest import REGION

TEMPLATE = Path(__file__).parent / "templates" / "launch_configuration.yaml"
GOOD_MOUNT = "mount -t efs -o tls,iam ${FileSystem}:/ /mnt/efs"
NFS4_MOUNT = (
    "mount -t nfs4 -o nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600 "
    "${FileSystem}.efs.${AWS::Region}.amazonaws.com:/ /mnt/efs"
)


@dataclass(frozen=True)
class Case:
    name: str
    control: str
    expected: str
    replacements: tuple[tuple[str, str], ...] = ()
    evidence: str = ""  # a part of the message the verdict must carry

    def path(self, directory: Path) -> Path:
        text = TEMPLATE.read_text(encoding="utf-8")
        for old, new in self.replacements:
            assert old in text, f"{self.name}: {old!r} is not in the template"
            text = text.replace(old, new)
        path = directory / f"{self.name}.yaml"
        path.write_text(text, encoding="utf-8")
        return path


CASES = [
    Case("good", "IAM-01", "PASS"),
    Case("good", "IAM-02", "PASS"),
    Case("good", "IAM-03", "PASS"),
    Case("good", "TLS-04", "PASS"),
    Case("good", "SCL-01", "PASS"),
    Case("good", "SCL-02", "PASS"),
    Case("good", "SCL-05", "PASS"),
    Case("good", "SCL-03", "FAIL", evidence="SimpleScaling +1"),
    Case("good", "QTA-01", "FAIL", evidence="observed: 10"),  # 5 x t3.medium: vCPUs known, not None
    Case("imdsv1", "IAM-02", "FAIL", (("HttpTokens: required", "HttpTokens: optional"),), "launch configuration"),
    Case(
        "no-metadata-options",
        "IAM-02",
        "FAIL",
        (("MetadataOptions: {HttpTokens: required, HttpEndpoint: enabled}", "EbsOptimized: false"),),
    ),
    Case("volume-unencrypted", "IAM-02", "FAIL", (("Encrypted: true}", "Encrypted: false}"),), "/dev/xvda"),
    Case("key-pair", "IAM-01", "FAIL", (("InstanceType: t3.medium", "InstanceType: t3.medium\n      KeyName: admin"),)),
    Case(
        "no-instance-profile",
        "IAM-01",
        "FAIL",
        (("      IamInstanceProfile: !Ref InstanceProfile\n", ""),),
        "no instance role",
    ),
    Case("efs-plain-nfs4", "TLS-04", "FAIL", ((GOOD_MOUNT, NFS4_MOUNT),), "plain NFS"),
    Case("efs-helper-without-tls", "TLS-04", "FAIL", ((GOOD_MOUNT, "mount -t efs ${FileSystem}:/ /mnt/efs"),)),
    Case(
        "scale-out-greater-than",
        "SCL-01",
        "FAIL",
        (("Default: GreaterThanOrEqualToThreshold", "Default: GreaterThanThreshold"),),
        "scale-out alarm is CPU > 70 (GreaterThanThreshold); the policy requires >= 70",
    ),
    Case(
        "scale-in-at-10",
        "SCL-01",
        "FAIL",
        (("    Default: 20", "    Default: 10"),),
        "scale-in alarm is CPU < 10 (LessThanThreshold); the policy requires < 20",
    ),
    # The vendor's policy: > 70 and < 10, simple +1/-1 with 300 s cooldowns. Stable (SCL-05), but not the seed's.
    Case(
        "vendor-70-10",
        "SCL-05",
        "PASS",
        (
            ("Default: GreaterThanOrEqualToThreshold", "Default: GreaterThanThreshold"),
            ("    Default: 20", "    Default: 10"),
        ),
    ),
    Case(
        "scale-in-above-scale-out",
        "SCL-05",
        "FAIL",
        (("    Default: 20", "    Default: 80"),),
        "scale-in threshold is not below scale-out threshold",
    ),
    Case(
        "simple-policy-without-adjustment",
        "SCL-05",
        "FAIL",
        (
            ("      ScalingAdjustment: 1\n", "      ScalingAdjustment: 0\n"),
            ("      ScalingAdjustment: -1\n", "      ScalingAdjustment: 0\n"),
        ),
        "no policy adds capacity",
    ),
]


def model(path: Path) -> Deployment:
    return build(resolve(load_template(path), {}, REGION))


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.control}:{c.name}")
def test_launch_configuration_on_the_template(case: Case, tmp_path: Path) -> None:
    status, message = evaluate(model(case.path(tmp_path)), case.control)
    assert status == case.expected, message
    assert case.evidence in message


def test_the_launch_configuration_is_the_groups_launch_template(tmp_path: Path) -> None:
    deployment = model(CASES[0].path(tmp_path))
    (group,) = deployment.all(AutoScalingGroup)
    template = deployment.launch_template_of(group)
    assert isinstance(template, LaunchTemplate)
    assert (template.kind, template.instance_type, template.http_tokens) == (
        "launch configuration",
        "t3.medium",
        "required",
    )
    assert [(d.device, d.encrypted) for d in template.block_devices] == [("/dev/xvda", True)]
    assert "mount -t efs -o tls,iam" in template.user_data
    assert [r.key for r in deployment.instance_roles()] == ["InstanceRole"]


def test_literal_base64_user_data_is_decoded(tmp_path: Path) -> None:
    """UserData given as the encoded text itself, without Fn::Base64, is read as the script."""
    script = "#!/bin/bash\nmount -t nfs4 fs-12345678.efs.eu-west-1.amazonaws.com:/ /mnt/efs\n"
    text = TEMPLATE.read_text(encoding="utf-8")
    block = text[text.index("      UserData:") : text.index("\n  AutoScalingGroup:")]
    path = tmp_path / "literal.yaml"
    path.write_text(text.replace(block, f"      UserData: {base64.b64encode(script.encode()).decode()}\n"), "utf-8")
    deployment = model(path)
    (template,) = deployment.all(LaunchTemplate)
    assert template.user_data == script
    status, message = evaluate(deployment, "TLS-04")
    assert status == "FAIL", message
    assert "plain NFS" in message


AGREE = [c for c in CASES if c.control != "QTA-01"]  # QTA-01 is a template-only control


@pytest.mark.moto
@pytest.mark.slow
@pytest.mark.parametrize("case", AGREE, ids=lambda c: f"{c.control}:{c.name}")
def test_template_and_moto_agree(case: Case, tmp_path: Path, aws_credentials: None) -> None:
    path = case.path(tmp_path)
    on_template = evaluate(model(path), case.control)
    target = load("moto", TargetOptions(str(path), None, REGION))
    try:
        on_moto = evaluate(target.deployment(), case.control)
    finally:
        target.close()
    assert on_moto[0] == on_template[0] == case.expected, (on_template, on_moto)
