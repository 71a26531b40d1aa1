"""The reference as vendors ship it, generated from the one file: a three-stack set linked by
exports, and a parent with nested stacks. Generated, never edited, so the three forms cannot
drift; each is CloudFormation cfn-lint accepts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stackproof.build.stack_set import SplitError, nested, partition, stack_set
from stackproof.template.cfn_yaml import load_text
from tests.conftest import ROOT

CFN = ROOT / "reference" / "cloudformation"
SET = sorted((CFN / "dashboard-set").glob("*.yaml"))
NESTED = sorted((CFN / "dashboard-nested").glob("*.yaml"))

SMALL = {
    "Parameters": {"Cidr": {"Type": "String", "Default": "10.0.0.0/16"}, "Size": {"Type": "Number", "Default": 2}},
    "Conditions": {"Big": {"Fn::Equals": [{"Ref": "Size"}, 5]}},
    "Resources": {
        "Vpc": {"Type": "AWS::EC2::VPC", "Properties": {"CidrBlock": {"Ref": "Cidr"}}},
        "Subnet": {
            "Type": "AWS::EC2::Subnet",
            "Properties": {"VpcId": {"Ref": "Vpc"}, "CidrBlock": "10.0.1.0/24"},
        },
        "Group": {
            "Type": "AWS::EC2::SecurityGroup",
            "Condition": "Big",
            "Properties": {"GroupDescription": "g", "VpcId": {"Ref": "Vpc"}},
        },
        "Instance": {
            "Type": "AWS::EC2::Instance",
            "DependsOn": "Subnet",
            "Properties": {
                "SubnetId": {"Ref": "Subnet"},
                "SecurityGroupIds": [{"Fn::GetAtt": ["Group", "GroupId"]}],
                "UserData": {"Fn::Base64": {"Fn::Sub": "vpc=${Vpc} size=${Size} cidr=${Vpc.CidrBlock}"}},
            },
        },
    },
}
PARTS = {"network": ["Vpc", "Subnet", "Group"], "app": ["Instance"]}


def test_the_generated_forms_are_what_the_single_template_gives() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "stackproof.cli", "build", "stack-set", "--check"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert [p.stem for p in SET] == ["instances", "network", "storage"]
    assert [p.stem for p in NESTED] == ["instances", "network", "parent", "storage"]


def test_a_changed_generated_file_is_caught(tmp_path: Path) -> None:
    for path in [CFN / "dashboard.yaml", CFN / "dashboard.parts.yaml", *SET, *NESTED]:
        target = tmp_path / path.relative_to(CFN)
        target.parent.mkdir(exist_ok=True)
        target.write_text(path.read_text())
    edited = tmp_path / "dashboard-set" / "network.yaml"
    edited.write_text(edited.read_text().replace("MultiAZ: true", "MultiAZ: false"))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "stackproof.cli",
            "build",
            "stack-set",
            "--check",
            "--template",
            str(tmp_path / "dashboard.yaml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert f"{edited}: differs" in proc.stderr


def test_every_resource_is_in_exactly_one_stack_of_each_form() -> None:
    single = load_text((CFN / "dashboard.yaml").read_text())["Resources"]
    for form in (SET, [p for p in NESTED if p.stem != "parent"]):
        seen: dict[str, str] = {}
        for path in form:
            for logical_id, resource in load_text(path.read_text())["Resources"].items():
                assert logical_id not in seen, (logical_id, path)
                seen[logical_id] = resource["Type"]
        assert seen == {k: v["Type"] for k, v in single.items()}


@pytest.mark.slow
def test_cfn_lint_accepts_every_generated_template() -> None:
    """The set lints clean; the nested parent's local TemplateURLs are what `aws cloudformation
    package` uploads (W3002 says exactly that), so that warning alone is expected there."""
    lint = [str(Path(sys.executable).parent / "cfn-lint")]
    proc = subprocess.run([*lint, *map(str, SET)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    children = [str(p) for p in NESTED if p.stem != "parent"]
    proc = subprocess.run([*lint, *children], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    proc = subprocess.run(
        [*lint, str(CFN / "dashboard-nested" / "parent.yaml"), "--ignore-checks", "W3002"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_a_set_links_its_stacks_by_exports() -> None:
    documents = stack_set(SMALL, PARTS, "small")
    network, app = documents["network"], documents["app"]
    assert network["Outputs"] == {
        "GroupGroupId": {
            "Value": {"Fn::If": ["Big", {"Fn::GetAtt": ["Group", "GroupId"]}, "none"]},
            "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-GroupGroupId"}},
        },
        "Subnet": {"Value": {"Ref": "Subnet"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Subnet"}}},
        "Vpc": {"Value": {"Ref": "Vpc"}, "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-Vpc"}}},
        "VpcCidrBlock": {
            "Value": {"Fn::GetAtt": ["Vpc", "CidrBlock"]},
            "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-VpcCidrBlock"}},
        },
    }
    instance = app["Resources"]["Instance"]
    assert "DependsOn" not in instance
    assert instance["Properties"]["SubnetId"] == {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-Subnet"}}
    assert instance["Properties"]["UserData"] == {
        "Fn::Base64": {
            "Fn::Sub": [
                "vpc=${Vpc} size=${Size} cidr=${VpcCidrBlock}",
                {
                    "Vpc": {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-Vpc"}},
                    "VpcCidrBlock": {"Fn::ImportValue": {"Fn::Sub": "${NetworkStackName}-VpcCidrBlock"}},
                },
            ]
        }
    }
    assert set(app["Parameters"]) == {"Size", "NetworkStackName"}
    assert app["Parameters"]["NetworkStackName"]["Default"] == "small-network"
    assert set(network["Parameters"]) == {"Cidr", "Size"}  # Size through the condition Big
    assert "Conditions" not in app


def test_nested_children_read_their_siblings_through_the_parent() -> None:
    documents = nested(SMALL, PARTS, {"network": "network.yaml", "app": "app.yaml"})
    parent = documents["parent"]
    assert parent["Resources"]["AppStack"] == {
        "Type": "AWS::CloudFormation::Stack",
        "Properties": {
            "TemplateURL": "app.yaml",
            "Parameters": {
                "Size": {"Ref": "Size"},
                "ImportedGroupGroupId": {"Fn::GetAtt": ["NetworkStack", "Outputs.GroupGroupId"]},
                "ImportedSubnet": {"Fn::GetAtt": ["NetworkStack", "Outputs.Subnet"]},
                "ImportedVpc": {"Fn::GetAtt": ["NetworkStack", "Outputs.Vpc"]},
                "ImportedVpcCidrBlock": {"Fn::GetAtt": ["NetworkStack", "Outputs.VpcCidrBlock"]},
            },
        },
    }
    assert set(parent["Parameters"]) == {"Cidr", "Size"}
    app = documents["app"]
    assert app["Resources"]["Instance"]["Properties"]["SubnetId"] == {"Ref": "ImportedSubnet"}
    assert "Export" not in documents["network"]["Outputs"]["Vpc"]


@pytest.mark.parametrize(
    ("parts", "message"),
    [
        ({"a": ["Vpc", "Subnet", "Group"]}, "in no part: Instance"),
        ({"a": ["Vpc", "Subnet", "Group", "Instance"], "b": ["Vpc"]}, "Vpc is in both a and b"),
        ({"a": ["Vpc", "Subnet", "Group", "Instance", "Nope"]}, "a: no resource Nope in the template"),
    ],
)
def test_a_partition_that_does_not_fit_is_refused(parts: dict[str, list[str]], message: str) -> None:
    with pytest.raises(SplitError, match=message):
        partition(SMALL, parts)


def test_the_partition_is_data_beside_the_template() -> None:
    spec: dict[str, Any] = yaml.safe_load((CFN / "dashboard.parts.yaml").read_text())
    assert list(spec["parts"]) == ["network", "storage", "instances"]
