"""IAM-03 on policy documents as real templates write them: as JSON text (also through
Fn::Sub), and with resources the template cannot know (another stack's export)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stackproof import catalogue
from stackproof.model.documents import parse_document
from stackproof.model.from_template import build
from stackproof.results.evaluate import evaluate
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from stackproof.template.values import Symbolic, Unknown
from tests.conftest import REGION

ROLE_TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def template(policy_document: object, extra: dict[str, object] | None = None) -> dict[str, object]:
    return {
        "Resources": {
            **(extra or {}),
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": ROLE_TRUST,
                    "Policies": [{"PolicyName": "app", "PolicyDocument": policy_document}],
                },
            },
        }
    }


def statement(action: object, resource: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource}


def as_text(*statements: object) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


BUCKET = {"Bucket": {"Type": "AWS::S3::Bucket"}}
IMPORTED = {"Fn::ImportValue": "network-SharedBucketArn"}
CASES = [
    ("object-explicit", {"Statement": [statement(["s3:GetObject"], "*")]}, None, "PASS"),
    ("object-everything", {"Statement": [statement("*", "*")]}, None, "FAIL"),
    ("json-string-everything", as_text(statement("*", "*")), None, "FAIL"),
    ("json-string-star-colon-star", as_text(statement(["s3:GetObject", "*:*"], ["*"])), None, "FAIL"),
    ("json-string-explicit", as_text(statement("s3:GetObject", "*")), None, "PASS"),
    ("json-string-not-action", as_text({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}), None, "FAIL"),
    ("json-string-deny-everything", as_text({"Effect": "Deny", "Action": "*", "Resource": "*"}), None, "PASS"),
    ("json-string-not-json", "{Statement: [", None, "ERROR"),
    ("sub-json-string-everything", {"Fn::Sub": as_text(statement("*", "*"))}, None, "FAIL"),
    ("sub-json-string-bucket", {"Fn::Sub": as_text(statement("s3:GetObject", "${Bucket.Arn}/*"))}, BUCKET, "PASS"),
    # One imported resource leaves the explicit statements decidable, and they cannot grant everything.
    (
        "imported-resource-explicit-actions",
        {"Statement": [statement(["s3:GetObject", "s3:PutObject"], IMPORTED), statement("logs:PutLogEvents", "*")]},
        None,
        "PASS",
    ),
    ("imported-resource-every-action", {"Statement": [statement("*", IMPORTED)]}, None, "ERROR"),
    ("imported-action-every-resource", {"Statement": [statement(IMPORTED, "*")]}, None, "ERROR"),
    # What can be judged is judged: a known "*" on "*" beside an unknown statement still FAILs.
    (
        "everything-beside-an-unknown",
        {"Statement": [statement("*", "*"), statement("*", IMPORTED)]},
        None,
        "FAIL",
    ),
]


@pytest.mark.parametrize(("name", "document", "extra", "expected"), CASES, ids=[c[0] for c in CASES])
def test_iam03_on_policy_documents(
    name: str, document: object, extra: dict[str, object] | None, expected: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(template(document, extra)), encoding="utf-8")
    status, message = evaluate(build(resolve(load_template(path), {}, REGION)), "IAM-03")
    assert status == expected, message
    if expected == "FAIL":
        assert "allows all actions on all resources" in message


def test_iam03_is_critical() -> None:
    assert catalogue.load()["IAM-03"].severity == "critical"


def test_json_text_keeps_the_resources_it_names() -> None:
    parsed = parse_document(Symbolic('{"Statement": [{"Resource": "${Bucket.Arn}/*"}]}', frozenset({"Bucket"})))
    resource = parsed["Statement"][0]["Resource"]
    assert isinstance(resource, Symbolic)
    assert resource.refs == frozenset({"Bucket"})
    assert isinstance(parse_document("[1, 2]"), Unknown)
    assert parse_document({"Statement": []}) == {"Statement": []}
