"""The CloudFormation language as CloudFormation takes it: duplicate keys, short forms,
Fn::ForEach, AWS::Include, SAM and the language-extension functions (table-driven)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from stackproof.template.cfn_yaml import TemplateWarning, load_text
from stackproof.template.loader import TemplateError, load_template
from stackproof.template.resolver import ResolvedTemplate, resolve
from stackproof.template.values import AttrRef, Unknown


def write(directory: Path, text: str, name: str = "t.yaml") -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def resolved(directory: Path, text: str, parameters: dict[str, str] | None = None) -> ResolvedTemplate:
    return resolve(load_template(write(directory, text)), parameters or {}, "eu-west-1")


def test_duplicate_keys_load_last_wins_with_a_warning_at_their_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        Resources:
          Bucket:
            Type: AWS::S3::Bucket
            Properties:
              BucketName: first
              BucketName: second
          Bucket:
            Type: AWS::SQS::Queue
        """,
    )
    template = load_template(path)
    assert template.warnings == [
        TemplateWarning(
            str(path), 6, "duplicate key 'BucketName' (first at line 5); CloudFormation keeps this last one"
        ),
        TemplateWarning(str(path), 7, "duplicate key 'Bucket' (first at line 2); CloudFormation keeps this last one"),
    ]
    assert template.resources == {"Bucket": {"Type": "AWS::SQS::Queue"}}
    assert template.resource_line("Bucket") == 7


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("!Contains [[a], !Ref P]", {"Fn::Contains": [["a"], {"Ref": "P"}]}),
        ("!EachMemberEquals [!Ref L, a]", {"Fn::EachMemberEquals": [{"Ref": "L"}, "a"]}),
        ("!EachMemberIn [!Ref L, [a]]", {"Fn::EachMemberIn": [{"Ref": "L"}, ["a"]]}),
        ("!RefAll AWS::EC2::VPC::Id", {"Fn::RefAll": "AWS::EC2::VPC::Id"}),
        ("!ValueOf [P, Tags]", {"Fn::ValueOf": ["P", "Tags"]}),
        ("!ValueOfAll [AWS::EC2::VPC::Id, Tags]", {"Fn::ValueOfAll": ["AWS::EC2::VPC::Id", "Tags"]}),
        ("!Cidr [10.0.0.0/16, 2, 8]", {"Fn::Cidr": ["10.0.0.0/16", 2, 8]}),
        ("!Length [a, b]", {"Fn::Length": ["a", "b"]}),
        ("!ToJsonString {a: 1}", {"Fn::ToJsonString": {"a": 1}}),
        ("!FindInMap [M, a, b, {DefaultValue: d}]", {"Fn::FindInMap": ["M", "a", "b", {"DefaultValue": "d"}]}),
        ("!Transform {Name: AWS::Include}", {"Fn::Transform": {"Name": "AWS::Include"}}),
    ],
)
def test_short_forms_are_accepted(text: str, expected: Any) -> None:
    assert load_text(f"A: {text}\n") == {"A": expected}


FOR_EACH = """\
    Transform: AWS::LanguageExtensions
    Parameters:
      Names:
        Type: CommaDelimitedList
        Default: "a-1,b"
      Later:
        Type: CommaDelimitedList
    Conditions:
      Fn::ForEach::Conds:
        - N
        - !Ref Names
        - Is&{N}: !Equals [!Ref N, a-1]
    Resources:
      Fn::ForEach::Buckets:
        - N
        - !Ref Names
        - Bucket&{N}:
            Type: AWS::S3::Bucket
            Condition: !Sub "Is&{N}"
            Properties:
              BucketName: !Sub "bucket-${N}"
              Tags: [{Key: n, Value: !Ref N}]
          Fn::ForEach::Inner:
            - M
            - [x, y]
            - Queue&{N}${M}:
                Type: AWS::SQS::Queue
                Properties:
                  QueueName: !Sub "${N}-${M}-${AWS::Region}"
      Fn::ForEach::Topics:
        - U
        - !Ref Later
        - Topic&{U}:
            Type: AWS::SNS::Topic
            Properties:
              TopicName: !Sub "t-${U}"
              DisplayName: fixed
    Outputs:
      Fn::ForEach::Outs:
        - N
        - !Ref Names
        - Out&{N}:
            Value: !GetAtt [!Sub "Bucket&{N}", Arn]
    """


def test_for_each_expands_resources_conditions_and_outputs(tmp_path: Path) -> None:
    result = resolved(tmp_path, FOR_EACH, {"Later": "p,q"})
    assert {lid: (r.type, r.line, r.exists) for lid, r in result.resources.items()} == {
        "Bucketa1": ("AWS::S3::Bucket", 17, True),
        "Queuea1x": ("AWS::SQS::Queue", 26, True),
        "Queuea1y": ("AWS::SQS::Queue", 26, True),
        "Queuebx": ("AWS::SQS::Queue", 26, True),
        "Queueby": ("AWS::SQS::Queue", 26, True),
        "Topicp": ("AWS::SNS::Topic", 33, True),
        "Topicq": ("AWS::SNS::Topic", 33, True),
    }
    assert result.resources["Bucketa1"].properties == {
        "BucketName": "bucket-a-1",
        "Tags": [{"Key": "n", "Value": "a-1"}],
    }
    assert result.resources["Queueby"].properties == {"QueueName": "b-y-eu-west-1"}
    assert result.conditions == {"Isa1": True, "Isb": False}
    assert result.outputs["Outa1"] == AttrRef("Bucketa1", "Arn")
    assert isinstance(result.outputs["Outb"], Unknown)


def test_for_each_over_an_unknown_collection_keeps_its_resources_with_unknown_existence(tmp_path: Path) -> None:
    topic = resolved(tmp_path, FOR_EACH).resources["Topic&{U}"]
    assert isinstance(topic.exists, Unknown)
    assert topic.exists.reason.startswith("Fn::ForEach::Topics: the collection is not known offline")
    assert topic.properties["DisplayName"] == "fixed"
    assert isinstance(topic.properties["TopicName"], Unknown)


@pytest.mark.parametrize(
    ("loop", "message"),
    [
        (
            "Fn::ForEach::L: [N, [a]]",
            "t.yaml:3: Fn::ForEach::L needs [Identifier, Collection, {OutputKey: OutputValue}]",
        ),
        (
            "Fn::ForEach::L: [N, [a, a], {'Q&{N}': {Type: AWS::SQS::Queue}}]",
            "t.yaml:3: Fn::ForEach::L generates Qa twice",
        ),
    ],
)
def test_malformed_loops_are_refused_at_their_line(tmp_path: Path, loop: str, message: str) -> None:
    text = f"Transform: AWS::LanguageExtensions\nResources:\n  {loop}\n"
    with pytest.raises(TemplateError) as error:
        resolved(tmp_path, text)
    assert str(error.value) == str(tmp_path / message)


def test_aws_include_reads_a_local_snippet_and_marks_a_remote_one_unknown(tmp_path: Path) -> None:
    write(tmp_path, "Type: AWS::S3::Bucket\nProperties:\n  BucketName: included\n", "parts/bucket.yaml")
    result = resolved(
        tmp_path,
        """\
        Resources:
          Bucket:
            Fn::Transform: {Name: AWS::Include, Parameters: {Location: parts/bucket.yaml}}
          Remote:
            Type: AWS::S3::Bucket
            Properties:
              Fn::Transform: {Name: AWS::Include, Parameters: {Location: s3://b/props.yaml}}
        """,
    )
    assert result.resources["Bucket"].properties == {"BucketName": "included"}
    remote = result.resources["Remote"].exists
    assert isinstance(remote, Unknown)
    assert (
        remote.reason == "the properties of Remote are not known: AWS::Include of s3://b/props.yaml is not read offline"
    )
    assert [str(w) for w in result.template.warnings] == [
        f"{tmp_path / 't.yaml'}:7: AWS::Include of s3://b/props.yaml is not read offline; the included part is unknown"
    ]


def test_aws_include_of_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "Resources:\n  B:\n    Fn::Transform: {Name: AWS::Include, Parameters: {Location: no.yaml}}\n"
    )
    with pytest.raises(TemplateError) as error:
        load_template(path)
    assert str(error.value) == f"{path}:3: AWS::Include: no file no.yaml beside the template"


SAM = """\
    Transform: AWS::Serverless-2016-10-31
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.12
          Handler: app.handler
          CodeUri: src/
          Policies: [AmazonS3ReadOnlyAccess]
          Events:
            Api: {Type: Api, Properties: {Path: /x, Method: get}}
      Plain:
        Type: AWS::S3::Bucket
    """


def test_sam_is_expanded_by_the_real_translator_offline(tmp_path: Path) -> None:
    result = resolved(tmp_path, SAM)
    types = {lid: r.type for lid, r in result.resources.items()}
    assert types["Fn"] == "AWS::Lambda::Function"
    assert types["FnRole"] == "AWS::IAM::Role"
    assert types["Plain"] == "AWS::S3::Bucket"
    assert "AWS::ApiGateway::RestApi" in types.values()
    assert not any(t.startswith("AWS::Serverless::") for t in types.values())
    assert result.resources["FnRole"].properties["ManagedPolicyArns"] == [
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
    ]
    code = result.resources["Fn"].properties["Code"]
    assert code == Unknown("local artefact 'src/': uploaded by `sam package`")
    assert result.resources["Fn"].line == 3


def test_a_sam_template_the_translator_refuses_is_unknown_never_judged_untransformed(tmp_path: Path) -> None:
    result = resolved(tmp_path, SAM.replace("Type: Api,", "Type: Nope,"))
    function = result.resources["Fn"]
    assert function.type == "AWS::Serverless::Function"
    assert isinstance(function.exists, Unknown)
    assert function.exists.reason.startswith("the SAM transform failed: Resource with id [Fn] is invalid.")
    assert result.resources["Plain"].exists is True
    assert [w.line for w in result.template.warnings] == [3]


def test_an_unknown_macro_makes_every_resource_unknown(tmp_path: Path) -> None:
    result = resolved(tmp_path, "Transform: MyMacro\nResources:\n  B:\n    Type: AWS::S3::Bucket\n")
    assert result.resources["B"].exists == Unknown(
        "Transform MyMacro: macro 'MyMacro' runs in CloudFormation, not offline", 1
    )


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"Fn::Length": ["a", "b", "c"]}, 3),
        ({"Fn::Length": {"Ref": "List"}}, 2),
        ({"Fn::ToJsonString": {"a": [1, "x"]}}, '{"a":[1,"x"]}'),
        ({"Fn::FindInMap": ["M", "k", "v"]}, "found"),
        ({"Fn::FindInMap": ["M", "k", "missing", {"DefaultValue": "fallback"}]}, "fallback"),
        ({"Fn::FindInMap": ["Nope", "k", "v", {"DefaultValue": ["x"]}]}, ["x"]),
    ],
)
def test_language_extension_functions(tmp_path: Path, expression: Any, expected: Any) -> None:
    import json

    data = {
        "Transform": "AWS::LanguageExtensions",
        "Parameters": {"List": {"Type": "CommaDelimitedList", "Default": "p,q"}},
        "Mappings": {"M": {"k": {"v": "found"}}},
        "Resources": {"S": {"Type": "AWS::SSM::Parameter", "Properties": {"Value": expression}}},
    }
    result = resolve(load_template(write(tmp_path, json.dumps(data), "t.json")), {}, "eu-west-1")
    assert result.resources["S"].properties["Value"] == expected
