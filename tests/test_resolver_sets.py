"""The resolver for sets of stacks: imports, nested stacks' outputs and exports (table-driven)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import Template
from stackproof.template.resolver import ResolvedTemplate, resolve
from stackproof.template.values import AttrRef, Symbolic, Unknown

TEMPLATE: dict[str, Any] = {
    "Parameters": {"Env": {"Type": "String", "Default": "prod"}, "Missing": {"Type": "String"}},
    "Conditions": {"Never": {"Fn::Equals": ["a", "b"]}, "Maybe": {"Fn::Equals": [{"Ref": "Missing"}, "x"]}},
    "Resources": {
        "Child": {"Type": "AWS::CloudFormation::Stack", "Properties": {"TemplateURL": "child.yaml"}},
        "Bucket": {"Type": "AWS::S3::Bucket"},
    },
    "Outputs": {
        "Plain": {"Value": "v", "Export": {"Name": {"Fn::Sub": "${Env}-plain"}}},
        "Arn": {"Value": {"Fn::GetAtt": ["Bucket", "Arn"]}, "Export": {"Name": "bucket-arn"}},
        "ByStack": {"Value": "s", "Export": {"Name": {"Fn::Sub": "${AWS::StackName}-s"}}},
        "NoName": {"Value": "n", "Export": {"Name": {"Ref": "Missing"}}},
        "Absent": {"Value": "a", "Condition": "Never", "Export": {"Name": "absent"}},
        "Perhaps": {"Value": "p", "Condition": "Maybe", "Export": {"Name": "perhaps"}},
        "NotExported": {"Value": "x"},
    },
}


def value_of(expression: Any, **options: Any) -> Any:
    data = json.loads(json.dumps(TEMPLATE))
    data["Resources"]["Subject"] = {"Type": "AWS::SSM::Parameter", "Properties": {"Value": expression}}
    template = Template(Path("t.json"), load_text(json.dumps(data), "t.json"))
    return resolve(template, {}, "eu-west-1", **options).resources["Subject"].properties["Value"]


@pytest.mark.parametrize(
    ("expression", "options", "expected"),
    [
        ({"Fn::ImportValue": "net-vpc"}, {}, Unknown("Fn::ImportValue net-vpc is another stack's output", 1)),
        ({"Fn::ImportValue": "net-vpc"}, {"imports": {"net-vpc": "vpc-1"}}, "vpc-1"),
        ({"Fn::ImportValue": {"Fn::Sub": "${Env}-vpc"}}, {"imports": {"prod-vpc": ["a", "b"]}}, ["a", "b"]),
        (
            {"Fn::ImportValue": {"Fn::Join": ["-", [{"Ref": "Env"}, "db"]]}},
            {"imports": {"prod-vpc": "x"}},
            Unknown("no stack of the set exports prod-db", 1),
        ),
        ({"Fn::GetAtt": ["Child", "Outputs.Vpc"]}, {}, AttrRef("Child", "Outputs.Vpc")),
        ({"Fn::GetAtt": ["Child", "Outputs.Vpc"]}, {"nested_outputs": {"Child": {"Vpc": "vpc-9"}}}, "vpc-9"),
        ({"Fn::GetAtt": "Child.Outputs.Vpc"}, {"nested_outputs": {"Child": {"Vpc": "vpc-9"}}}, "vpc-9"),
        ({"Fn::Sub": "id-${Child.Outputs.Vpc}"}, {"nested_outputs": {"Child": {"Vpc": "vpc-9"}}}, "id-vpc-9"),
        (
            {"Fn::GetAtt": ["Child", "Outputs.Db"]},
            {"nested_outputs": {"Child": {"Vpc": "vpc-9"}}},
            Unknown("nested stack Child has no output Db", 1),
        ),
        (
            {"Fn::GetAtt": ["Child", "Outputs.Db"]},
            {"nested_outputs": {}},
            Unknown("the outputs of nested stack Child are not known (output Db)", 1),
        ),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, {"nested_outputs": {}}, AttrRef("Bucket", "Arn")),
    ],
)
def test_imports_and_nested_outputs(expression: Any, options: dict[str, Any], expected: Any) -> None:
    assert value_of(expression, **options) == expected


def resolved() -> ResolvedTemplate:
    return resolve(Template(Path("t.json"), load_text(json.dumps(TEMPLATE), "t.json")), {}, "eu-west-1")


def test_exports_map_resolved_names_to_resolved_values() -> None:
    exports = resolved().exports
    assert exports == {"prod-plain": "v", "bucket-arn": AttrRef("Bucket", "Arn"), "${AWS::StackName}-s": "s"}
    assert isinstance(next(k for k in exports if k.endswith("-s")), Symbolic)


def test_exports_that_cannot_be_known_are_kept_out_and_recorded() -> None:
    unknown = resolved().unknown_exports
    assert sorted(unknown) == ["NoName", "Perhaps"]
    assert unknown["NoName"].reason == (
        "the export name of output NoName: parameter Missing has no default and no value was given"
    )
    assert unknown["Perhaps"].reason.startswith("whether output Perhaps exists:")
