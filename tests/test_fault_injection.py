"""Fault injection through a loopback proxy before moto's server (issue 13, point 1).

The proxy (:mod:`tests.fault_proxy`) must name each operation as AWS would route it and
shape its faults as each protocol does, else a fault would test the proxy, not stackproof;
its rules are tested here on their own. Then a fixed-seed campaign
(:mod:`tests.fault_schedules`) runs every fault kind, once and always, against the deployed
reference and a mutant: no control may pass or skip because of a fault, nothing may crash, the
gate must still fail where the fault-free run fails it, and no run may outlast its deadline.
The long variant is ``python -m tests.fault_schedules --schedules 360 --seed 13``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fault_proxy import KINDS, Operation, count_items, cut, error_answer, identify

SCOPE = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261202/eu-west-1/{}/aws4_request, SignedHeaders=host"


def signed(service: str, **headers: str) -> dict[str, str]:
    return {"Authorization": SCOPE.format(service), **headers}


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "expected"),
    [
        (
            "POST",
            "/",
            signed("ec2", **{"Content-Type": "application/x-www-form-urlencoded"}),
            b"Action=DescribeVpcs&Version=2016-11-15",
            "ec2.DescribeVpcs",
        ),
        (
            "POST",
            "/",
            signed("elasticloadbalancing", **{"Content-Type": "application/x-www-form-urlencoded"}),
            b"Action=DescribeListeners&Version=2015-12-01",
            "elbv2.DescribeListeners",
        ),
        (
            "POST",
            "/",
            signed("logs", **{"X-Amz-Target": "Logs_20140328.DescribeLogGroups"}),
            b"{}",
            "logs.DescribeLogGroups",
        ),
        (
            "POST",
            "/",
            signed("monitoring", **{"X-Amz-Target": "GraniteServiceVersion20100801.DescribeAlarms"}),
            b"{}",
            "cloudwatch.DescribeAlarms",
        ),
        ("GET", "/2015-03-31/functions/sync", signed("lambda"), b"", "lambda.GetFunction"),
        (
            "GET",
            "/2015-02-01/file-systems?FileSystemId=fs-1",
            signed("elasticfilesystem"),
            b"",
            "efs.DescribeFileSystems",
        ),
        ("GET", "/content-bucket?publicAccessBlock", signed("s3"), b"", "s3.GetPublicAccessBlock"),
        ("GET", "/", signed("s3"), b"", "s3.ListBuckets"),
        ("GET", "/content-bucket", signed("s3"), b"", "s3.ListObjects"),
    ],
)
def test_the_proxy_names_the_operation_as_aws_routes_it(
    method: str, path: str, headers: dict[str, str], body: bytes, expected: str
) -> None:
    found = identify(method, path, headers, body)
    assert found is not None
    assert found.key == expected


def test_a_request_it_cannot_name_is_not_guessed() -> None:
    assert identify("POST", "/", {"Authorization": "none"}, b"Action=DescribeVpcs") is None


EC2_VPCS = (
    b'<DescribeVpcsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId>'
    b"<vpcSet><item><vpcId>vpc-1</vpcId></item><item><vpcId>vpc-2</vpcId></item></vpcSet>"
    b"<nextToken>t</nextToken></DescribeVpcsResponse>"
)
QUERY_STACKS = (
    b'<ListStackResourcesResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
    b"<ListStackResourcesResult><StackResourceSummaries><member><LogicalResourceId>A</LogicalResourceId></member>"
    b"<member><LogicalResourceId>B</LogicalResourceId></member></StackResourceSummaries>"
    b"<NextToken>t</NextToken></ListStackResourcesResult></ListStackResourcesResponse>"
)
JSON_GROUPS = json.dumps({"logGroups": [{"logGroupName": "a"}, {"logGroupName": "b"}], "nextToken": "t"}).encode()


def parsed(operation: Operation, body: bytes, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """What botocore makes of an answer: the proxy's rewrite must parse as the real one does."""
    import botocore.parsers
    import botocore.session

    model = botocore.session.get_session().get_service_model(operation.service)
    parser = botocore.parsers.create_parser(model.resolved_protocol)
    response = {"status_code": status, "headers": headers or {}, "body": body}
    return parser.parse(response, model.operation_model(operation.name).output_shape)


@pytest.mark.parametrize(
    ("operation", "body", "key"),
    [
        (Operation("ec2", "DescribeVpcs", "ec2"), EC2_VPCS, "Vpcs"),
        (Operation("cloudformation", "ListStackResources", "query"), QUERY_STACKS, "StackResourceSummaries"),
        (Operation("logs", "DescribeLogGroups", "json"), JSON_GROUPS, "logGroups"),
    ],
    ids=["ec2", "query", "json"],
)
def test_emptied_and_first_page_rewrite_the_list_and_drop_the_token(
    operation: Operation, body: bytes, key: str
) -> None:
    whole = parsed(operation, body)
    assert len(whole[key]) == 2
    assert count_items(operation, body) == 2
    emptied, first = parsed(operation, cut(operation, body, 0)), parsed(operation, cut(operation, body, 1))
    assert emptied[key] == []
    assert "NextToken" not in emptied
    assert first[key] == whole[key][:1]
    assert "NextToken" not in first


@pytest.mark.parametrize("protocol", ["query", "ec2", "json", "rest-json", "rest-xml"])
@pytest.mark.parametrize(
    ("kind", "code", "status"),
    [
        ("throttle", "Throttling", 400),
        ("denied", "AccessDenied", 403),
        ("500", "InternalFailure", 500),
        ("503", "ServiceUnavailable", 503),
    ],
)
def test_errors_are_shaped_as_the_protocol_shapes_them(protocol: str, kind: str, code: str, status: int) -> None:
    import botocore.parsers

    got_status, headers, body = error_answer(Operation("x", "DescribeThings", protocol), kind)
    parser = botocore.parsers.create_parser(protocol)
    error = parser.parse({"status_code": got_status, "headers": headers, "body": body}, None)["Error"]
    expected = code + "Exception" if protocol in ("json", "rest-json") and kind in ("throttle", "denied") else code
    assert (got_status, error["Code"]) == (status, expected)


def test_every_kind_is_known_to_the_campaign() -> None:
    assert KINDS == (
        "throttle",
        "denied",
        "500",
        "503",
        "reset",
        "delay",
        "emptied",
        "first-page",
        "truncated",
        "empty-body",
        "garbage",
    )


def operation_model(service: str, name: str) -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model(service).operation_model(name)


@pytest.mark.parametrize(
    ("service", "name", "body", "problem"),
    [
        ("sts", "GetCallerIdentity", b"", "answered 200 with an empty body"),
        ("ec2", "DescribeVpcs", b"<DescribeVpcsResponse><vpcSet>", "a body that is not XML"),
        ("logs", "DescribeLogGroups", b"<html>busy</html>", "a body that is not a JSON object"),
        ("logs", "DescribeLogGroups", b"[]", "a body that is not a JSON object"),
        ("s3", "GetBucketVersioning", b"", "answered 200 with an empty body"),
        ("sts", "GetCallerIdentity", b"<GetCallerIdentityResponse/>", None),
        ("logs", "DescribeLogGroups", b"{}", None),
        ("s3", "GetBucketPolicy", b'{"Statement": []}', None),  # the policy document is the body
        ("s3", "HeadBucket", b"", None),  # its answer is headers alone
    ],
)
def test_a_malformed_answer_is_an_error_not_an_answer_without_fields(
    service: str, name: str, body: bytes, problem: str | None
) -> None:
    """Without this botocore reads an empty 200 or a non-JSON body as an answer without its
    fields (JSON: ``{"message": body}``), which a reader could take for "there are none"."""
    from stackproof.targets.aws_calls import MalformedAnswer, check_answer

    response = {"status_code": 200, "headers": {}, "body": body}
    if problem is None:
        check_answer(operation_model(service, name), response)
    else:
        with pytest.raises(MalformedAnswer, match=f"{service}.{name}: .*{problem}"):
            check_answer(operation_model(service, name), response)
    check_answer(operation_model(service, name), {**response, "status_code": 500})  # errors are the parser's


# ----------------------------------------------------------------------------- the campaign
SEED = 13
STACKS = ["reference", "admin-inline-policy"]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.fault_schedules import campaign as run_campaign

    with pytest.MonkeyPatch.context() as env:
        for key in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_ENDPOINT_URL",
            "STACKPROOF_DEADLINE",
        ):
            env.delenv(key, raising=False)
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        env.setenv("AWS_CONFIG_FILE", "/dev/null")
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        yield run_campaign(STACKS, SEED, 2 * len(KINDS), workers=6, work=Path(tmp_path_factory.mktemp("faults")))


@pytest.mark.moto
def test_no_fault_opens_a_control_crashes_or_outlasts_the_deadline(campaign: Any) -> None:
    from tests.fault_schedules import table

    assert [f"{o.schedule.stack}: {o.schedule.fault}: {p}" for o in campaign.outcomes for p in o.problems] == [], table(
        campaign
    )


@pytest.mark.moto
def test_the_campaign_ran_every_kind_once_and_always_on_both_stacks(campaign: Any) -> None:
    """Otherwise the first test proves less than it says."""
    from tests.fault_schedules import table

    ran = {(o.schedule.fault.kind, o.schedule.fault.persistent) for o in campaign.outcomes}
    assert ran == {(k, p) for k in KINDS for p in (False, True)}
    assert {o.schedule.stack for o in campaign.outcomes} == set(STACKS)
    assert [o.schedule.number for o in campaign.outcomes if o.run.hits == 0] == [], table(campaign)
    assert campaign.baselines["reference"].verdicts["IAM-03"] == "PASS"
    assert campaign.baselines["admin-inline-policy"].verdicts["IAM-03"] == "FAIL"
