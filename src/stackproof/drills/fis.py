"""AWS Fault Injection Service for the live drills: RES-03 and RES-04 break a live stack the way
AWS itself offers to, not with calls stackproof improvises. An experiment template is made for
the one drill run (tagged with its run ID), started once, watched with ``GetExperiment`` and
deleted afterwards.

Why FIS: losing an Availability Zone cannot be done with the services' own APIs (there is no
"impair AZ" call); FIS's ``aws:network:disrupt-connectivity`` denies all traffic of the stack's
subnets in one AZ through a network ACL it swaps in and puts back when the action ends or the
experiment is stopped. The database's failover and an instance's loss go through FIS too, so
that one experiment, one stop condition and one role govern the whole disaster, and the account's
FIS history records it.

Safety: every experiment has a CloudWatch alarm as stop condition (by default one the drill
creates on the load balancer's ``HealthyHostCount``: no healthy target left means the
deployment is down, and the experiment stops). ``StopExperiment`` is registered as an undo
before the experiment starts, so whatever ends the drill (a failed step, Ctrl-C, SIGTERM, a
``stackproof drill --cleanup`` after a crash) stops the fault.

FIS needs an IAM role it assumes to act (``--fis-role-arn``): stackproof never creates one,
because a role that may terminate instances and rewrite network ACLs is the account owner's
decision. Action IDs, parameters and target resource types are those of the FIS actions
reference.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from stackproof.drills import journal
from stackproof.drills.engine import Drill, StepFailed
from stackproof.drills.journal import NAME_PREFIX, TAG_KEY, Undo

ROLE_ENVIRONMENT = "STACKPROOF_FIS_ROLE_ARN"  # what `stackproof drill --fis-role-arn` sets for the scenarios

DISRUPT_CONNECTIVITY = "aws:network:disrupt-connectivity"
REBOOT_DB_INSTANCES = "aws:rds:reboot-db-instances"
TERMINATE_INSTANCES = "aws:ec2:terminate-instances"
SUBNET, DB_INSTANCE, EC2_INSTANCE = "aws:ec2:subnet", "aws:rds:db", "aws:ec2:instance"
ALARM_SOURCE = "aws:cloudwatch:alarm"

RUNNING, COMPLETED = "running", "completed"
ENDED = frozenset({"completed", "stopped", "failed", "cancelled"})
NOT_STARTED = frozenset({"pending", "initiating"})
DURATION = "PT5M"  # how long the zone stays cut off: longer than the group's health-check grace
# Seconds between two looks at a live stack (GetExperiment, target health): AWS's API rate limits
# are per account and shared with everything else running there. ``timeouts["poll"]`` overrides.
LIVE_POLL = 5.0


def role_arn(given: str | None) -> str | None:
    """The role FIS assumes: the option, else ``$STACKPROOF_FIS_ROLE_ARN``; None when neither."""
    return given or os.environ.get(ROLE_ENVIRONMENT) or None


@dataclass(frozen=True)
class Fault:
    """One FIS action on one target: ``key`` is the action's target key (``Subnets``)."""

    name: str
    action_id: str
    key: str
    resource_type: str
    arns: tuple[str, ...]
    parameters: dict[str, str] = field(default_factory=dict)
    description: str = ""


def zone_loss(subnet_arns: Sequence[str], database_arn: str | None, duration: str = DURATION) -> list[Fault]:
    """RES-03: every subnet of the stack in the zone cut off; the database's primary failed
    over with a forced-failover reboot (AWS's documented way to test a Multi-AZ failover)."""
    if not subnet_arns:
        raise ValueError("an Availability Zone loss needs the stack's subnets in that zone")
    faults = [
        Fault(
            "disrupt-zone",
            DISRUPT_CONNECTIVITY,
            "Subnets",
            SUBNET,
            tuple(sorted(subnet_arns)),
            {"duration": duration, "scope": "all"},
            "deny all traffic of the stack's subnets in the zone",
        )
    ]
    if database_arn:
        faults.append(
            Fault(
                "fail-over-database",
                REBOOT_DB_INSTANCES,
                "DBInstances",
                DB_INSTANCE,
                (database_arn,),
                {"forceFailover": "true"},
                "reboot the Multi-AZ database with a forced failover",
            )
        )
    return faults


def instance_loss(instance_arn: str) -> list[Fault]:
    """RES-04: one of the group's instances terminated."""
    return [
        Fault(
            "terminate-instance",
            TERMINATE_INSTANCES,
            "Instances",
            EC2_INSTANCE,
            (instance_arn,),
            description="terminate one instance of the group",
        )
    ]


def experiment_template(
    description: str, faults: Sequence[Fault], role: str, alarm_arn: str, run_id: str
) -> dict[str, Any]:
    """The CreateExperimentTemplate request (all but its client token): targets by ARN (exactly
    what the drill chose, nothing resolved later by tag), an empty target failing the
    experiment rather than skipping its action, one account."""
    targets = {
        f.name: {"resourceType": f.resource_type, "resourceArns": list(f.arns), "selectionMode": "ALL"} for f in faults
    }
    actions = {
        f.name: {
            "actionId": f.action_id,
            "description": f.description,
            "parameters": dict(f.parameters),
            "targets": {f.key: f.name},
        }
        for f in faults
    }
    return {
        "description": description,
        "roleArn": role,
        "stopConditions": [{"source": ALARM_SOURCE, "value": alarm_arn}],
        "targets": targets,
        "actions": actions,
        "tags": {TAG_KEY: run_id, "Name": f"{NAME_PREFIX}{run_id}"},
        "experimentOptions": {"accountTargeting": "single-account", "emptyTargetResolutionMode": "fail"},
    }


def stop_alarm(name: str, target_group_arn: str, load_balancer_arn: str) -> dict[str, Any]:
    """The PutMetricAlarm request of the drill's stop condition: the target group has no
    healthy target behind its load balancer for a minute (the deployment is down)."""

    return {
        "AlarmName": name,
        "AlarmDescription": "stackproof drill: stops the drill's FIS experiment when nothing healthy serves",
        "Namespace": "AWS/ApplicationELB",
        "MetricName": "HealthyHostCount",
        "Dimensions": [
            {"Name": "TargetGroup", "Value": "targetgroup/" + target_group_arn.split(":targetgroup/", 1)[1]},
            {"Name": "LoadBalancer", "Value": load_balancer_arn.split(":loadbalancer/", 1)[1]},
        ],
        "Statistic": "Minimum",
        "Period": 60,
        "EvaluationPeriods": 1,
        "Threshold": 1.0,
        "ComparisonOperator": "LessThanThreshold",
        "TreatMissingData": "missing",
    }


def arn(stack: Any, service: str, resource: str) -> str:
    """An ARN in the stack's account and region (its partition from the region's name)."""
    region = str(stack.region)
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if region.startswith("us-gov-") else "aws"
    return f"arn:{partition}:{service}:{region}:{stack.account_id}:{resource}"


def zone_subnets(stack: Any, zone: str) -> list[str]:
    """ARNs of the stack's own subnets in ``zone`` (its public, private and isolated tiers)."""
    paginator = stack.client("cloudformation").get_paginator("list_stack_resources")
    ids = [
        s["PhysicalResourceId"]
        for page in paginator.paginate(StackName=stack.stack_name)
        for s in page["StackResourceSummaries"]
        if s["ResourceType"] == "AWS::EC2::Subnet" and s.get("PhysicalResourceId")
    ]
    if not ids:
        return []
    found = stack.client("ec2").describe_subnets(SubnetIds=ids)["Subnets"]
    return sorted(
        s.get("SubnetArn") or arn(stack, "ec2", f"subnet/{s['SubnetId']}")
        for s in found
        if s["AvailabilityZone"] == zone
    )


class Experiment:
    """One drill's experiment: its stop alarm, template and run, each undone at cleanup."""

    def __init__(self, stack: Any, role: str) -> None:
        self.stack, self.role, self.run_id = stack, role, ""
        self.fis, self.cloudwatch = stack.client("fis"), stack.client("cloudwatch")
        self.template_id = ""
        self.experiment_id = ""
        self.alarm = ""

    def start(self, drill: Drill, description: str, faults: Sequence[Fault], target_group_arn: str) -> None:
        """Create the stop alarm, the template and the experiment, each after its undo; all
        tagged and named with the drill's run ID."""
        region, self.run_id = self.stack.region, drill.run_id
        elbv2 = self.stack.client("elbv2")
        (group,) = elbv2.describe_target_groups(TargetGroupArns=[target_group_arn])["TargetGroups"]
        if not group.get("LoadBalancerArns"):
            raise StepFailed(f"target group {target_group_arn} is behind no load balancer: no stop condition to watch")
        self.alarm = f"{NAME_PREFIX}{self.run_id}-fis-stop"
        drill.on_cleanup(
            f"stop-condition alarm {self.alarm}", Undo("cloudwatch.delete-alarm", {"alarm": self.alarm}, region)
        )
        request = stop_alarm(self.alarm, target_group_arn, group["LoadBalancerArns"][0])
        self.cloudwatch.put_metric_alarm(**request, Tags=journal.tags(self.run_id))
        (alarm,) = self.cloudwatch.describe_alarms(AlarmNames=[self.alarm])["MetricAlarms"]

        undo = drill.on_cleanup(
            "the FIS experiment template", Undo("fis.delete-experiment-template", {"run": self.run_id}, region)
        )
        body = experiment_template(description, faults, self.role, alarm["AlarmArn"], self.run_id)
        made = self.fis.create_experiment_template(clientToken=f"{NAME_PREFIX}{self.run_id}-template", **body)
        self.template_id = made["experimentTemplate"]["id"]
        drill.amend(undo, template=self.template_id)

        undo = drill.on_cleanup(
            "the FIS experiment stopped", Undo("fis.stop-experiments", {"template": self.template_id}, region)
        )
        started = self.fis.start_experiment(
            clientToken=f"{NAME_PREFIX}{self.run_id}-experiment",
            experimentTemplateId=self.template_id,
            tags={TAG_KEY: self.run_id},
        )
        self.experiment_id = started["experiment"]["id"]
        drill.amend(undo, experiment=self.experiment_id)
        drill.data["fis_experiment"] = self.experiment_id

    def state(self) -> dict[str, Any]:
        """The experiment as GetExperiment has it; StepFailed when it stopped or failed."""
        found: dict[str, Any] = self.fis.get_experiment(id=self.experiment_id)["experiment"]
        status = found["state"]["status"]
        if status in ENDED - {COMPLETED}:
            raise StepFailed(f"FIS experiment {self.experiment_id} {status}: {describe(found)}")
        return found

    def faults_in_place(self) -> bool:
        """Every action has started (running or already completed)."""
        actions = self.state().get("actions", {})
        return bool(actions) and all(a["state"]["status"] in (RUNNING, COMPLETED) for a in actions.values())

    def completed(self) -> bool:
        return bool(self.state()["state"]["status"] == COMPLETED)


def describe(experiment: dict[str, Any]) -> str:
    """Why an experiment ended as it did: its reason and each action's that did not complete."""
    state = experiment["state"]
    parts = [state.get("reason") or state["status"]]
    error = state.get("error") or {}
    if error.get("code"):
        parts.append(f"error {error['code']}")
    for name, action in sorted(experiment.get("actions", {}).items()):
        if action["state"]["status"] != COMPLETED:
            parts.append(f"{name}: {action['state']['status']} ({action['state'].get('reason', '')})")
    stop = [c["value"] for c in experiment.get("stopConditions", []) if c.get("source") == ALARM_SOURCE]
    if "stop condition" in str(state.get("reason", "")).lower() and stop:
        parts.append(f"stop condition {', '.join(stop)}")
    return "; ".join(parts)


# --------------------------------------------------------------------------- undo kinds

Client = Callable[[str], Any]


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


@journal.kind("cloudwatch.delete-alarm")
def _delete_alarm(client: Client, p: dict[str, Any]) -> None:
    cloudwatch = client("cloudwatch")
    if cloudwatch.describe_alarms(AlarmNames=[p["alarm"]])["MetricAlarms"]:
        cloudwatch.delete_alarms(AlarmNames=[p["alarm"]])


@journal.kind("fis.stop-experiments")
def _stop_experiments(client: Client, p: dict[str, Any], wait: float = 300.0) -> None:
    """Stop every experiment of the template that has not ended, and wait until each has (the
    network ACLs FIS swapped in are back only then)."""
    fis = client("fis")
    listed = fis.list_experiments(experimentTemplateId=p["template"])["experiments"]
    ids = {e["id"] for e in listed} | ({p["experiment"]} if p.get("experiment") else set())
    deadline = time.monotonic() + wait
    for experiment_id in sorted(ids):
        try:
            status = fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"]
            if status not in ENDED:
                fis.stop_experiment(id=experiment_id)
            while status not in ENDED:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"FIS experiment {experiment_id} is still {status}")
                time.sleep(1)
                status = fis.get_experiment(id=experiment_id)["experiment"]["state"]["status"]
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise


@journal.kind("fis.delete-experiment-template")
def _delete_template(client: Client, p: dict[str, Any]) -> None:
    """The template by ID, or (when the process died before it learnt the ID) every template
    tagged with the run."""
    fis = client("fis")
    ids = [p["template"]] if p.get("template") else []
    if not ids:
        for page in fis.get_paginator("list_experiment_templates").paginate():
            ids += [t["id"] for t in page["experimentTemplates"] if t.get("tags", {}).get(TAG_KEY) == p["run"]]
    for template_id in ids:
        try:
            fis.delete_experiment_template(id=template_id)
        except Exception as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
