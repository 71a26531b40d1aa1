"""RES-03 and RES-04 on the live code path (``emulated=False``) against moto's server, where the
emulator runs the FIS actions: each drill's experiment runs end to end; a stop condition in
ALARM stops the experiment and the drill reports it; and whatever the drill made (its
experiment template, its stop alarm, the zone's impairment) is gone afterwards. Also through
the ``aws`` target as a user runs it, behind the live guards."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackproof.drills import journal
from stackproof.drills.az_loss import az_loss_drill
from stackproof.drills.engine import Drill
from stackproof.drills.instance_loss import instance_loss_drill
from stackproof.drills.inventory import differences, inventory
from stackproof.emulator import az_faults, fis_actions, mariadb_data
from stackproof.support import paths
from stackproof.targets import TargetOptions
from stackproof.targets.aws_calls import CallRecorder, ClientCache
from stackproof.targets.moto import MotoServerTarget
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import ROOT

ROLE = "arn:aws:iam::123456789012:role/stackproof-fis"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[StackHandle, str]]:
    """The reference on a moto server in this process (its endpoint), FIS durations shrunk to a
    hundredth (the five-minute disruption lasts three seconds)."""
    target = MotoServerTarget(TargetOptions(str(paths.dashboard_template()), str(paths.dashboard_params()), REGION))
    scale = fis_actions.time_scale
    fis_actions.time_scale = 0.01
    try:
        yield target.open_stack(), target._endpoint
    finally:
        fis_actions.time_scale = scale
        target.close()


@pytest.fixture
def live(server: tuple[StackHandle, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StackHandle:
    """The stack as the aws target hands it to a drill: clients through the endpoint, no local
    data plane."""
    monkeypatch.setenv(journal.ENVIRONMENT, str(tmp_path / "journals"))
    stack, endpoint = server
    session = __import__("boto3").Session(
        region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client = ClientCache(session, CallRecorder(), endpoint_url=endpoint)
    return StackHandle(client, stack.stack_name, {}, paths.dashboard_template(), REGION, emulated=False)


def made_by_drills(stack: StackHandle) -> dict[str, Any]:
    """What the FIS drills make beyond the stack inventory's view: experiment templates, alarms
    named for a drill, and impaired zones."""
    templates = stack.client("fis").list_experiment_templates()["experimentTemplates"]
    alarms = stack.client("cloudwatch").describe_alarms(AlarmNamePrefix=journal.NAME_PREFIX)["MetricAlarms"]
    drill_alarms = [a["AlarmName"] for a in alarms if a["AlarmName"].endswith("-fis-stop")]
    return {"templates": [t["id"] for t in templates], "alarms": drill_alarms, "impaired": sorted(az_faults.impaired)}


QUICK = {"poll": 0.05}  # moto answers at once; a live account is looked at every fis.LIVE_POLL s
ROWS = mariadb_data.unavailable() is None  # the emulated database behind the instances' SSM sandboxes
DRILLS = {
    "RES-03": lambda stack: az_loss_drill(stack, ROWS, timeouts=QUICK, fis_role_arn=ROLE),
    "RES-04": lambda stack: instance_loss_drill(stack, timeouts=QUICK, fis_role_arn=ROLE),
}


@pytest.mark.parametrize("control", sorted(DRILLS))
def test_the_live_drill_runs_its_fis_experiment_end_to_end(live: StackHandle, control: str) -> None:
    before, extra = inventory(live), made_by_drills(live)
    drill: Drill = DRILLS[control](live)
    result = drill.run()
    assert result.status == "ok", result.error
    assert result.rto is not None
    assert all(c.status == "ok" for c in result.cleanup), result.cleanup
    assert any("AWS FIS experiment" in s.name for s in result.steps)
    assert any("read through SSM" in s.name for s in result.steps)
    assert result.rpo == 0.0  # every canary written before the fault read back on the instances
    experiment = live.client("fis").get_experiment(id=drill.data["fis_experiment"])["experiment"]
    assert experiment["state"]["status"] == "completed"
    expected = {"RES-03": {"disrupt-zone", "fail-over-database"}, "RES-04": {"terminate-instance"}}[control]
    assert {n for n, a in experiment["actions"].items() if a["state"]["status"] == "completed"} == expected
    assert differences(before, inventory(live)) == []
    assert made_by_drills(live) == extra == {"templates": [], "alarms": [], "impaired": []}


def test_a_stop_condition_in_alarm_stops_the_experiment_and_the_drill_reports_it(live: StackHandle) -> None:
    before, extra = inventory(live), made_by_drills(live)
    drill = DRILLS["RES-03"](live)
    disaster = next(s for s in drill.steps if s.marks == "disaster")
    cloudwatch = live.client("cloudwatch")

    def then_alarm(d: Drill) -> None:
        disaster.action(d)
        assert az_faults.impaired  # the zone is cut off ...
        name = f"{journal.NAME_PREFIX}{d.run_id}-fis-stop"
        cloudwatch.set_alarm_state(AlarmName=name, StateValue="ALARM", StateReason="test: nothing healthy")

    drill.steps = [dataclasses.replace(s, action=then_alarm) if s is disaster else s for s in drill.steps]
    result = drill.run()
    assert result.status == "failed"
    assert "stopped" in result.error, result.error
    assert "stop condition" in result.error, result.error
    assert f"{drill.run_id}-fis-stop" in result.error
    experiment = live.client("fis").get_experiment(id=drill.data["fis_experiment"])["experiment"]
    assert experiment["state"]["status"] == "stopped"
    assert experiment["actions"]["disrupt-zone"]["state"]["status"] == "stopped"
    assert all(c.status == "ok" for c in result.cleanup), result.cleanup
    assert differences(before, inventory(live)) == []
    assert made_by_drills(live) == extra == {"templates": [], "alarms": [], "impaired": []}  # ... and back


def tag_as_stack(stack: StackHandle) -> None:
    """What CloudFormation does on AWS and moto does not: the stack's tag on the resources the
    live guards check."""
    from moto.s3.models import s3_backends  # S3 refuses aws: tags from a requester, as it should

    from stackproof.drills.guards import STACK_TAG, TOUCHED

    tag, account = {"Key": STACK_TAG, "Value": stack.stack_name}, stack.account_id
    summaries = stack.client("cloudformation").list_stack_resources(StackName=stack.stack_name)
    for summary in summaries["StackResourceSummaries"]:
        kind, physical = summary["ResourceType"], summary["PhysicalResourceId"]
        if kind not in TOUCHED:
            continue
        if kind == "AWS::EFS::FileSystem":
            stack.client("efs").tag_resource(ResourceId=physical, Tags=[tag])
        elif kind == "AWS::AutoScaling::AutoScalingGroup":
            group = {"ResourceId": physical, "ResourceType": "auto-scaling-group", "PropagateAtLaunch": False}
            stack.client("autoscaling").create_or_update_tags(Tags=[{**tag, **group}])
        elif kind == "AWS::S3::Bucket":
            s3_backends[account]["aws"].put_bucket_tagging(physical, {STACK_TAG: stack.stack_name})
        elif kind == "AWS::Backup::BackupVault":
            vault = f"arn:aws:backup:{REGION}:{account}:backup-vault:{physical}"
            stack.client("backup").tag_resource(ResourceArn=vault, Tags={STACK_TAG: stack.stack_name})
        else:
            database = f"arn:aws:rds:{REGION}:{account}:db:{physical}"
            stack.client("rds").add_tags_to_resource(ResourceName=database, Tags=[tag])


def scenarios(endpoint: str, stack: StackHandle, reports: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pytest", "scenarios/test_restore.py", "-k", "zone_loss or instance_loss"]
    command += ["--target", "aws", "--stack-name", stack.stack_name, "--region", REGION, "--allow-destructive"]
    command += ["--account-id", "123456789012", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:randomly"]
    command += ["--stackproof-reports", str(reports), *extra]
    environment = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing"}
    environment |= {"AWS_SECRET_ACCESS_KEY": "testing", journal.ENVIRONMENT: str(reports / "journals")}
    environment.pop("STACKPROOF_FIS_ROLE_ARN", None)
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=environment, timeout=600)


def test_through_the_aws_target_behind_the_guards(
    server: tuple[StackHandle, str], live: StackHandle, tmp_path: Path
) -> None:
    """As a user runs them: ``--target aws --allow-destructive --account-id``. Without a role the
    drills are SKIP before any change; with one both experiments run, the control plane holds
    and the canaries read back through SSM (the emulator's instance sandboxes): PASS."""
    _, endpoint = server
    tag_as_stack(live)
    before, extra = inventory(live), made_by_drills(live)
    fis = live.client("fis")
    earlier = {e["id"] for e in fis.list_experiments()["experiments"]}

    refused = scenarios(endpoint, live, tmp_path / "no-role")
    assert refused.returncode == 0, refused.stdout + refused.stderr
    assert refused.stdout.count("give --fis-role-arn") == 2, refused.stdout
    assert {e["id"] for e in fis.list_experiments()["experiments"]} == earlier  # nothing was started

    ran = scenarios(endpoint, live, tmp_path / "role", "--fis-role-arn", ROLE)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # Without MariaDB, RES-03's rows cannot be verified: SKIP saying so, never PASS.
    passing = {"RES-03", "RES-04"} if ROWS else {"RES-04"}
    assert f"{len(passing)} passed" in ran.stdout, ran.stdout
    report = json.loads((tmp_path / "role" / "latest" / "report.json").read_text())
    drills = {r["control"]: r for r in report["results"]}
    assert set(drills) == {"RES-03", "RES-04"}
    for control, result in drills.items():
        if control not in passing:
            assert result["status"] == "SKIP", result
            assert "MariaDB is not installed here" in result["message"], result
            continue
        assert result["status"] == "PASS", result
        assert result["drill"]["status"] == "ok", result["drill"]
        assert result["drill"]["rpo_seconds"] == 0.0
        assert all(s["status"] == "ok" for s in result["drill"]["steps"])
    experiments = [e for e in fis.list_experiments()["experiments"] if e["id"] not in earlier]
    # Both experiments ran: without MariaDB RES-03 runs every step but the rows' check.
    assert sorted(e["state"]["status"] for e in experiments) == ["completed", "completed"]
    assert differences(before, inventory(live)) == []
    assert made_by_drills(live) == extra == {"templates": [], "alarms": [], "impaired": []}


CHILD = """
import dataclasses, os, signal, sys
import boto3
from stackproof.drills.az_loss import az_loss_drill
from stackproof.support import paths
from stackproof.targets.aws_calls import CallRecorder, ClientCache
from stackproof.targets.stack_handle import StackHandle

endpoint, name, run_id, role = sys.argv[1:5]
session = boto3.Session(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
client = ClientCache(session, CallRecorder(), endpoint_url=endpoint)
stack = StackHandle(client, name, {}, paths.dashboard_template(), "us-east-1", emulated=False)
drill = az_loss_drill(stack, False, fis_role_arn=role)
drill.run_id = run_id
disaster = next(s for s in drill.steps if s.marks == "disaster")

def then_killed(d):
    disaster.action(d)
    os.kill(os.getpid(), signal.SIGKILL)

drill.steps = [dataclasses.replace(s, action=then_killed) if s is disaster else s for s in drill.steps]
drill.run()
"""


def test_a_drill_killed_mid_experiment_is_finished_by_cleanup(
    server: tuple[StackHandle, str], live: StackHandle, tmp_path: Path
) -> None:
    """SIGKILL while the zone is cut off: nothing in the process runs, the journal on disk is
    all that is left; ``stackproof drill --cleanup`` (a fresh process, which imports the FIS
    undo kinds from the journal) stops the experiment, deletes its template and alarm, and puts
    the group's capacity back."""
    _, endpoint = server
    before, extra = inventory(live), made_by_drills(live)
    environment = {**os.environ, journal.ENVIRONMENT: str(tmp_path), "AWS_ACCESS_KEY_ID": "testing"}
    environment["AWS_SECRET_ACCESS_KEY"] = "testing"
    child = [sys.executable, "-c", CHILD, endpoint, live.stack_name, "killed-fis", ROLE]
    proc = subprocess.run(child, capture_output=True, text=True, check=False, cwd=ROOT, env=environment, timeout=300)
    assert proc.returncode == -9, proc.stdout + proc.stderr
    left = json.loads((tmp_path / "killed-fis.json").read_text())
    assert {u["kind"] for u in left["undos"]} >= {"fis.stop-experiments", "fis.delete-experiment-template"}
    assert az_faults.impaired  # the zone is still cut off: no one stopped the experiment

    cleanup = [sys.executable, "-m", "stackproof.cli", "drill", "--cleanup", "killed-fis", "--journal-dir"]
    finished = subprocess.run(
        [*cleanup, str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=environment,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    stopped = [
        e
        for e in live.client("fis").list_experiments()["experiments"]
        if e["tags"].get(journal.TAG_KEY) == "killed-fis"
    ]
    assert [e["state"]["status"] for e in stopped] == ["stopped"]
    assert differences(before, inventory(live)) == []
    assert made_by_drills(live) == extra == {"templates": [], "alarms": [], "impaired": []}
