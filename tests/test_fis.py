"""The FIS experiment templates of RES-03 and RES-04, exactly as sent to CreateExperimentTemplate
(and accepted by botocore's own model of the request), and the emulator's FIS actions failing
closed on what it cannot do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stackproof.drills import fis
from tests.conftest import REGION

ROLE = "arn:aws:iam::123456789012:role/stackproof-fis"
ALARM = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:stackproof-run1-fis-stop"
SUBNETS = [
    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-public-a",
    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-isolated-a",
    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-private-a",
]
DATABASE = "arn:aws:rds:eu-west-1:123456789012:db:dashboard-db"
INSTANCE = "arn:aws:ec2:eu-west-1:123456789012:instance/i-0123456789abcdef0"


def test_zone_loss_template() -> None:
    body = fis.experiment_template("RES-03 run1", fis.zone_loss(SUBNETS, DATABASE), ROLE, ALARM, "run1")
    assert body == {
        "description": "RES-03 run1",
        "roleArn": ROLE,
        "stopConditions": [{"source": "aws:cloudwatch:alarm", "value": ALARM}],
        "targets": {
            "disrupt-zone": {
                "resourceType": "aws:ec2:subnet",
                "resourceArns": [
                    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-isolated-a",
                    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-private-a",
                    "arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-public-a",
                ],
                "selectionMode": "ALL",
            },
            "fail-over-database": {
                "resourceType": "aws:rds:db",
                "resourceArns": [DATABASE],
                "selectionMode": "ALL",
            },
        },
        "actions": {
            "disrupt-zone": {
                "actionId": "aws:network:disrupt-connectivity",
                "description": "deny all traffic of the stack's subnets in the zone",
                "parameters": {"duration": "PT5M", "scope": "all"},
                "targets": {"Subnets": "disrupt-zone"},
            },
            "fail-over-database": {
                "actionId": "aws:rds:reboot-db-instances",
                "description": "reboot the Multi-AZ database with a forced failover",
                "parameters": {"forceFailover": "true"},
                "targets": {"DBInstances": "fail-over-database"},
            },
        },
        "tags": {"stackproof:drill-run": "run1", "Name": "stackproof-run1"},
        "experimentOptions": {"accountTargeting": "single-account", "emptyTargetResolutionMode": "fail"},
    }


def test_zone_loss_without_a_multi_az_database_disrupts_only_the_network() -> None:
    faults = fis.zone_loss(SUBNETS[:1], None, duration="PT10M")
    assert [(f.action_id, f.parameters) for f in faults] == [
        ("aws:network:disrupt-connectivity", {"duration": "PT10M", "scope": "all"})
    ]
    with pytest.raises(ValueError, match="subnets"):
        fis.zone_loss([], DATABASE)


def test_instance_loss_template() -> None:
    body = fis.experiment_template("RES-04 run2", fis.instance_loss(INSTANCE), ROLE, ALARM, "run2")
    assert body["targets"] == {
        "terminate-instance": {"resourceType": "aws:ec2:instance", "resourceArns": [INSTANCE], "selectionMode": "ALL"}
    }
    assert body["actions"] == {
        "terminate-instance": {
            "actionId": "aws:ec2:terminate-instances",
            "description": "terminate one instance of the group",
            "parameters": {},
            "targets": {"Instances": "terminate-instance"},
        }
    }


def test_templates_are_valid_requests_in_botocores_model() -> None:
    """botocore's own validation of CreateExperimentTemplate (required members, types)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("fis")
    shape = model.operation_model("CreateExperimentTemplate").input_shape
    for faults in (fis.zone_loss(SUBNETS, DATABASE), fis.instance_loss(INSTANCE)):
        request = {"clientToken": "stackproof-run1-template", **fis.experiment_template("d", faults, ROLE, ALARM, "r")}
        report = ParamValidator().validate(request, shape)
        assert not report.has_errors(), report.generate_report()


def test_stop_alarm_watches_healthy_hosts_of_the_target_group() -> None:
    group = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/dash-tg/0123456789abcdef"
    balancer = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/dash-lb/fedcba9876543210"
    request = fis.stop_alarm("stackproof-run1-fis-stop", group, balancer)
    assert request["Dimensions"] == [
        {"Name": "TargetGroup", "Value": "targetgroup/dash-tg/0123456789abcdef"},
        {"Name": "LoadBalancer", "Value": "app/dash-lb/fedcba9876543210"},
    ]
    assert (request["MetricName"], request["Statistic"], request["ComparisonOperator"], request["Threshold"]) == (
        "HealthyHostCount",
        "Minimum",
        "LessThanThreshold",
        1.0,
    )


def test_the_role_comes_from_the_option_else_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fis.ROLE_ENVIRONMENT, raising=False)
    assert fis.role_arn(None) is None
    monkeypatch.setenv(fis.ROLE_ENVIRONMENT, ROLE)
    assert fis.role_arn(None) == ROLE
    assert fis.role_arn("arn:aws:iam::123456789012:role/other") == "arn:aws:iam::123456789012:role/other"


def test_a_live_drill_without_a_role_refuses_before_any_call() -> None:
    from stackproof.drills.az_loss import az_loss_drill
    from stackproof.drills.instance_loss import instance_loss_drill
    from stackproof.targets.stack_handle import StackHandle

    def no_calls(service: str, region: str | None = None) -> Any:
        raise AssertionError(f"called {service}")

    stack = StackHandle(no_calls, "dash", {}, Path(fis.__file__), REGION, emulated=False)
    with pytest.raises(ValueError, match="--fis-role-arn"):
        az_loss_drill(stack, False)
    with pytest.raises(ValueError, match="--fis-role-arn"):
        instance_loss_drill(stack)


# --------------------------------------------------------------------------- the emulator


def start(fis_client: Any, targets: dict[str, Any], actions: dict[str, Any]) -> dict[str, Any]:
    template = fis_client.create_experiment_template(
        description="t",
        roleArn=ROLE,
        stopConditions=[{"source": "none"}],
        targets=targets,
        actions=actions,
    )["experimentTemplate"]
    started = fis_client.start_experiment(experimentTemplateId=template["id"])["experiment"]
    return dict(fis_client.get_experiment(id=started["id"])["experiment"])


@pytest.mark.parametrize(
    ("target", "action", "reason"),
    [
        (
            {"resourceType": "aws:ec2:instance", "resourceTags": {"app": "dash"}, "selectionMode": "ALL"},
            {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "t"}},
            "resourceArns only",
        ),
        (
            {"resourceType": "aws:ec2:subnet", "resourceArns": [INSTANCE], "selectionMode": "ALL"},
            {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "t"}},
            "not aws:ec2:instance",
        ),
        (
            {"resourceType": "aws:ec2:instance", "resourceArns": [INSTANCE], "selectionMode": "ALL"},
            {"actionId": "aws:ec2:stop-instances", "targets": {"Instances": "t"}},
            "not emulated",
        ),
    ],
)
def test_the_emulator_fails_an_experiment_it_cannot_run(
    moto_aws: None, target: dict[str, Any], action: dict[str, Any], reason: str
) -> None:
    import boto3

    found = start(boto3.client("fis", region_name=REGION), {"t": target}, {"a": action})
    assert found["state"]["status"] == "failed"
    assert reason in found["state"]["reason"]
    assert found["actions"]["a"]["state"]["status"] == "failed"


def test_the_emulator_terminates_and_stops(moto_aws: None) -> None:
    import boto3

    ec2 = boto3.client("ec2", region_name=REGION)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    (instance,) = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"]
    arn = f"arn:aws:ec2:{REGION}:123456789012:instance/{instance['InstanceId']}"
    client = boto3.client("fis", region_name=REGION)
    found = start(
        client,
        {"t": {"resourceType": "aws:ec2:instance", "resourceArns": [arn], "selectionMode": "ALL"}},
        {"a": {"actionId": "aws:ec2:terminate-instances", "targets": {"Instances": "t"}}},
    )
    assert (found["state"]["status"], found["actions"]["a"]["state"]["status"]) == ("completed", "completed")
    (reservation,) = ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
    stopped = client.stop_experiment(id=found["id"])["experiment"]
    assert stopped["state"]["status"] == "completed"  # an ended experiment stays as it ended


def test_iso_durations() -> None:
    from stackproof.emulator.fis_actions import seconds

    assert [seconds(d) for d in ("PT5M", "PT1H", "PT90S", "PT1H2M3S")] == [300.0, 3600.0, 90.0, 3723.0]
    with pytest.raises(ValueError, match="ISO 8601"):
        seconds("5 minutes")
