"""The intrinsic resolver, one function at a time (table-driven)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackproof.template.cfn_yaml import load_text
from stackproof.template.loader import Template
from stackproof.template.resolver import resolve
from stackproof.template.values import AttrRef, FromParameter, ResourceRef, Symbolic, Unknown

BASE: dict[str, Any] = {
    "Parameters": {
        "Env": {"Type": "String", "Default": "prod"},
        "Cidrs": {"Type": "CommaDelimitedList", "Default": "10.0.0.0/24,10.0.1.0/24"},
        "NoDefault": {"Type": "String"},
        "Ami": {"Type": "AWS::SSM::Parameter::Value<AWS::EC2::Image::Id>", "Default": "/aws/service/x"},
        "Secret": {"Type": "String", "NoEcho": True, "Default": "s3cr3t"},
    },
    "Mappings": {"Sizes": {"prod": {"Count": 3}, "dev": {"Count": 1}}},
    "Conditions": {
        "IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]},
        "IsDev": {"Fn::Not": [{"Condition": "IsProd"}]},
        "Undecided": {"Fn::Equals": [{"Ref": "NoDefault"}, "x"]},
    },
}


def value_of(expression: Any, **extra: Any) -> Any:
    data = json.loads(json.dumps(BASE))
    data["Resources"] = {
        "Subject": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": expression}},
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "DevOnly": {"Type": "AWS::S3::Bucket", "Condition": "IsDev"},
        **extra,
    }
    template = Template(Path("t.json"), load_text(json.dumps(data), "t.json"))
    return resolve(template, {}, "eu-west-1").resources["Subject"].properties.get("Value", "<absent>")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Ref": "Env"}, "prod"),
        ({"Ref": "AWS::Region"}, "eu-west-1"),
        ({"Ref": "AWS::Partition"}, "aws"),
        ({"Ref": "Bucket"}, ResourceRef("Bucket")),
        ({"Fn::GetAtt": ["Bucket", "Arn"]}, AttrRef("Bucket", "Arn")),
        ({"Fn::Sub": "${Env}-app"}, "prod-app"),
        ({"Fn::Sub": ["${A}-${Env}", {"A": "x"}]}, "x-prod"),
        ({"Fn::Sub": "${!Literal}"}, "${Literal}"),
        ({"Fn::Join": ["-", ["a", {"Ref": "Env"}]]}, "a-prod"),
        ({"Fn::Select": [1, {"Ref": "Cidrs"}]}, "10.0.1.0/24"),
        ({"Fn::Split": [",", "a,b"]}, ["a", "b"]),
        ({"Fn::If": ["IsProd", "big", "small"]}, "big"),
        ({"Fn::If": ["IsDev", {"Ref": "DevOnly"}, "none"]}, "none"),
        ({"Fn::FindInMap": ["Sizes", {"Ref": "Env"}, "Count"]}, 3),
        ({"Fn::GetAZs": ""}, ["eu-west-1a", "eu-west-1b", "eu-west-1c"]),
        ({"Fn::Select": [0, {"Fn::GetAZs": {"Ref": "AWS::Region"}}]}, "eu-west-1a"),
        ({"Fn::Cidr": ["10.0.0.0/16", 3, 8]}, ["10.0.0.0/24", "10.0.1.0/24", "10.0.2.0/24"]),
        ({"Fn::Base64": "text"}, "text"),
        ({"Fn::Length": [1, 2, 3]}, 3),
        (["a", {"Ref": "AWS::NoValue"}, "b"], ["a", "b"]),
        ({"Fn::If": ["IsDev", "x", {"Ref": "AWS::NoValue"}]}, "<absent>"),
    ],
)
def test_known_values(expression: Any, expected: Any) -> None:
    assert value_of(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ({"Ref": "NoDefault"}, "parameter NoDefault has no default and no value was given"),
        ({"Ref": "Ami"}, "is read from SSM parameter"),
        ({"Fn::ImportValue": "shared-vpc"}, "Fn::ImportValue shared-vpc is another stack's output"),
        ({"Fn::If": ["Undecided", "a", "b"]}, "Fn::If on condition Undecided"),
        ({"Fn::Select": [5, ["a"]]}, "out of range"),
        ({"Fn::Sub": "${NoDefault}-x"}, "parameter NoDefault"),
        ({"Fn::Join": ["", ["a", {"Ref": "NoDefault"}]]}, "parameter NoDefault"),
        ({"Fn::FindInMap": ["Sizes", "staging", "Count"]}, "no 'staging'"),
        ({"Fn::GetAZs": "mars-north-1"}, "no offline Availability Zone list for mars-north-1"),
        ({"Ref": "DevOnly"}, "DevOnly, which does not exist"),
        ({"Ref": "Nothing"}, "undefined name Nothing"),
    ],
)
def test_unknown_values_carry_their_reason(expression: Any, reason: str) -> None:
    value = value_of(expression)
    assert isinstance(value, Unknown)
    assert reason in value.reason


def test_symbolic_strings_remember_what_they_name() -> None:
    value = value_of({"Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}/${AWS::AccountId}/*"})
    assert isinstance(value, Symbolic)
    assert value.refs == frozenset({"Bucket"})
    assert value == "arn:aws:s3:::${Bucket}/${AWS::AccountId}/*"


def test_dynamic_references_are_secret_references() -> None:
    value = value_of("{{resolve:secretsmanager:db:SecretString:password}}")
    assert isinstance(value, Symbolic)
    assert value.secret


def test_parameter_values_remember_their_parameter() -> None:
    value = value_of({"Ref": "Secret"})
    assert isinstance(value, FromParameter)
    assert (value.parameter, value.no_echo) == ("Secret", True)


def test_resources_whose_condition_is_false_are_absent() -> None:
    data = json.loads(json.dumps(BASE))
    data["Resources"] = {"DevOnly": {"Type": "AWS::S3::Bucket", "Condition": "IsDev"}, "B": {"Type": "AWS::S3::Bucket"}}
    resolved = resolve(Template(Path("t.json"), load_text(json.dumps(data))), {}, "eu-west-1")
    assert sorted(resolved.resources) == ["B"]


def test_undecidable_conditions_keep_the_resource_with_unknown_existence() -> None:
    data = json.loads(json.dumps(BASE))
    data["Resources"] = {"Maybe": {"Type": "AWS::S3::Bucket", "Condition": "Undecided"}}
    resolved = resolve(Template(Path("t.json"), load_text(json.dumps(data))), {}, "eu-west-1")
    assert isinstance(resolved.resources["Maybe"].exists, Unknown)


def test_given_parameters_override_defaults() -> None:
    data = json.loads(json.dumps(BASE))
    data["Resources"] = {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": {"Ref": "NoDefault"}}}}
    resolved = resolve(Template(Path("t.json"), load_text(json.dumps(data))), {"NoDefault": "given"}, "eu-west-1")
    assert resolved.resources["P"].properties["Value"] == "given"
