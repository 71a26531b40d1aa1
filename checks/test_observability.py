"""OBS: observability (seed 001, CloudWatch "stores logs and container metrics")."""

from __future__ import annotations

import pytest

from stackproof.checking import findings, known, optional, subjects
from stackproof.model.deployment import Deployment
from stackproof.model.types import Alarm, AutoScalingGroup, DbInstance, Function, LogGroup


def log_group_for_function(deployment: Deployment, function: Function) -> LogGroup | None:
    for group in optional(deployment.all(LogGroup), "a lookup: no log group means the function's logs are unmanaged"):
        name = group.name
        if function.key in deployment.refs(name):
            return group
        if isinstance(function.name, str) and str(name) == f"/aws/lambda/{function.name}":
            return group
    return None


@pytest.mark.control("OBS-01")
@pytest.mark.static
def test_logs_with_retention_alarms_and_database_log_exports(deployment: Deployment) -> None:
    with findings() as f:
        for group in optional(deployment.all(LogGroup), "the application's logs (the group) are the subject"):
            if known(group.retention_days, f"RetentionInDays of {group}") is None:
                f.fail("log group keeps logs forever", group, observed="no retention", expected="finite retention")
        for asg in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            template = deployment.launch_template_of(asg)
            user_data = known(template.user_data, f"user data of {template}") if template else None
            named = deployment.refs(user_data)
            shipped = {g.key for g in deployment.all(LogGroup) if g.key in named or str(g.name) in str(user_data)}
            if not shipped:
                f.fail("application logs are not sent to a log group of this deployment", asg)
            cpu = [
                a
                for a in deployment.all(Alarm)
                if a.metric == "CPUUtilization" and known(a.dimensions, f"{a}").get("AutoScalingGroupName") == asg.key
            ]
            if not cpu:
                f.fail("no CPU alarm watches the group", asg)
        for function in optional(deployment.all(Function), "the application's logs (the group) are the subject"):
            if log_group_for_function(deployment, function) is None:
                f.fail("function logs go to a log group the stack does not manage (no retention)", function)
        for db in optional(deployment.all(DbInstance), "the application's logs (the group) are the subject"):
            if not known(db.log_exports, f"log exports of {db}"):
                f.fail("database exports no logs to CloudWatch", db)
