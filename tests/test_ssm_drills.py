"""Run Command on the emulator, and the restore drills' live code path on it: the reference is
deployed on moto's server (a thread of this process, reached over HTTP as AWS is) and every
command goes through ``SendCommand``/``GetCommandInvocation`` into the instances' sandboxes
(:mod:`stackproof.emulator.ssm_sandbox`). RES-01 and RES-02 run with ``emulated=False`` (rows
and files only through SSM) and pass; a restore that lost a row or changed a file FAILs with
the evidence; through the plugin (``--target aws --allow-destructive --account-id``) they run
end to end; the password never reaches a command."""

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

from stackproof.drills import instance_data
from stackproof.drills.efs_restore import efs_restore_drill
from stackproof.drills.engine import OK, Drill
from stackproof.drills.guards import STACK_TAG
from stackproof.drills.inventory import differences, inventory
from stackproof.drills.rds_restore import TABLE, rds_restore_drill
from stackproof.emulator import backup_jobs, efs_data, mariadb_data, ssm_sandbox
from stackproof.support import paths
from stackproof.targets import TargetOptions, ssm_run
from stackproof.targets.moto import MotoServerTarget
from stackproof.targets.ssm_run import STDOUT_LIMIT, STDOUT_MARK, remember_secret, run_script
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import REGION, ROOT

pytestmark = pytest.mark.moto
ACCOUNT = "123456789012"
NO_MARIADB = mariadb_data.unavailable()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MotoServerTarget, StackHandle]]:
    """The reference on moto's server, and a handle on it that takes the live code path."""
    with pytest.MonkeyPatch.context() as patch:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null",
            "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
            "STACKPROOF_DRILL_JOURNALS": str(tmp_path_factory.mktemp("journals")),
        }.items():
            patch.setenv(key, value)
        target = MotoServerTarget(TargetOptions(str(paths.dashboard_template()), str(paths.dashboard_params()), REGION))
        try:
            stack = target.open_stack()
            yield target, dataclasses.replace(stack, emulated=False)
        finally:
            target.close()


@pytest.fixture
def live(served: tuple[MotoServerTarget, StackHandle]) -> StackHandle:
    return served[1]


def one_instance(stack: StackHandle) -> str:
    return str(instance_data.instances(instance_data.Fleet.of(stack))[0])


def test_a_script_runs_in_the_instances_sandbox_as_the_bootstrap_left_it(live: StackHandle) -> None:
    instance = one_instance(live)
    script = (
        "stat -c '%a' /var/panintelligence/dashboard.env\n"
        "cut -d= -f1 /var/panintelligence/dashboard.env | paste -sd,\n"
        "env | cut -d= -f1 | grep -c '^AWS_' || true\n"
        "echo canary > /mnt/efs/ssm-sandbox-probe.txt\n"
        "pwd >&2\n"
        "exit 4\n"
    )
    (result,) = run_script(live.client, [instance], script, poll=0.1)
    assert (result.status, result.exit_code) == ("Failed", 4)
    lines = result.stdout.splitlines()
    assert lines[0] == "600"  # root-only, as the bootstrap's umask 077 and chmod 600 leave it
    assert lines[1] == "PI_DB_HOST,PI_DB_PORT,PI_DB_SCHEMA_NAME,PI_DB_USERNAME,PI_DB_PASSWORD,PI_DB_SSL"
    assert lines[2] == "0"  # none of the host's AWS credentials reach the script
    assert "stackproof-ssm-" not in result.stdout + result.stderr  # the sandbox's root is not shown
    fs_id = live.outputs()["FileSystemId"]
    assert (efs_data.file_system(fs_id) / "ssm-sandbox-probe.txt").read_text() == "canary\n"
    (efs_data.file_system(fs_id) / "ssm-sandbox-probe.txt").unlink()


def test_output_is_cut_as_ssm_cuts_it(live: StackHandle) -> None:
    (result,) = run_script(live.client, [one_instance(live)], "head -c 30000 /dev/zero | tr '\\0' x", poll=0.1)
    assert result.ok
    assert result.truncated
    assert len(result.stdout) == STDOUT_LIMIT
    assert result.stdout.endswith(STDOUT_MARK)


def test_a_script_past_its_timeout_is_cancelled_and_stopped(live: StackHandle) -> None:
    (result,) = run_script(live.client, [one_instance(live)], "sleep 30; echo late", timeout=1.0, poll=0.1)
    assert (result.status, result.exit_code) == ("TimedOut", None)
    ssm = live.client("ssm")
    (command,) = [c for c in ssm.list_commands()["Commands"] if "sleep 30; echo late" in c["Parameters"]["commands"]]
    answer = ssm.get_command_invocation(CommandId=command["CommandId"], InstanceId=one_instance(live))
    # Stopped either way: by the agent's executionTimeout or by the CancelCommand sent at the timeout.
    assert answer["Status"] in ("TimedOut", "Cancelling", "Cancelled")
    assert "late" not in answer["StandardOutputContent"]
    assert ssm_sandbox._running == {}


def test_an_instance_that_is_not_managed_is_undeliverable(live: StackHandle) -> None:
    (result,) = run_script(live.client, ["i-00000000000000000"], "true")
    assert (result.status, result.exit_code) == ("Undeliverable", None)


@pytest.mark.skipif(NO_MARIADB is not None, reason=f"rows not verified: {NO_MARIADB}")
def test_the_database_is_reached_over_tls_with_the_env_files_credentials(live: StackHandle) -> None:
    assert instance_data.probe_rows(instance_data.Fleet.of(live)) is None


def test_without_mariadb_the_probe_says_why_so_rows_are_skip(
    live: StackHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(mariadb_data.LOCATION, "none")
    reason = instance_data.probe_rows(instance_data.Fleet.of(live))
    assert reason is not None
    assert "MariaDB is not installed here" in reason


def relaunch(stack: StackHandle) -> None:
    """Replace the group's instances from the stack's launch template as it is now. A drill's
    cleanup puts the stack's parameters back but leaves the instances it rolled in, which still
    point at the restored database or file system the cleanup deleted (on AWS too, until they
    are replaced); each drill here starts, as an operator would, from instances that match."""
    autoscaling = stack.client("autoscaling")
    for instance_id in instance_data.instances(instance_data.Fleet.of(stack)):
        autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=False
        )
    assert instance_data.instances(instance_data.Fleet.of(stack))


def run_live(drill: Drill, stack: StackHandle) -> tuple[Any, list[str]]:
    before = inventory(stack)
    result = drill.run()
    return result, differences(before, inventory(stack))


@pytest.mark.skipif(NO_MARIADB is not None, reason=f"rows not verified: {NO_MARIADB}")
def test_rds_restore_runs_through_ssm_and_passes(live: StackHandle) -> None:
    """...and the database password never travels: the guard would refuse a script holding it
    (it is remembered here), and none of the commands SSM keeps shows it."""
    secret_id = live.resources()["DatabaseSecret"]
    password = json.loads(live.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])[
        "password"
    ]
    remember_secret(password)
    try:
        relaunch(live)
        drill = rds_restore_drill(live, rows=True)
        result, left = run_live(drill, live)
    finally:
        ssm_run._SECRETS.discard(password)
    assert result.status == OK, result.error
    assert left == []
    assert result.rpo is not None
    assert drill.data["tls"].startswith("TLS")
    assert "certificate verified" in drill.data["tls"]
    kept = json.dumps(live.client("ssm").list_commands()["Commands"], default=str)
    assert "mariadb" in kept
    assert password not in kept


@pytest.mark.skipif(NO_MARIADB is not None, reason=f"rows not verified: {NO_MARIADB}")
def test_a_restore_that_lost_a_row_fails_with_the_row(live: StackHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    original = mariadb_data.on_restore

    def lossy(snapshot_id: str, instance_id: str) -> None:
        original(snapshot_id, instance_id)
        database = live.parameters.get("DBName", "dashboard")
        mariadb_data._servers[instance_id].root(f"DELETE FROM `{database}`.{TABLE} WHERE name LIKE 'before-%-0'")

    monkeypatch.setattr(mariadb_data, "on_restore", lossy)
    relaunch(live)
    result, left = run_live(rds_restore_drill(live, rows=True), live)
    assert result.status == "failed"
    assert "lost ['before-" in result.error
    assert "-0']" in result.error
    assert left == []


def test_efs_restore_runs_through_ssm_and_passes(live: StackHandle) -> None:
    relaunch(live)
    drill = efs_restore_drill(live)
    result, left = run_live(drill, live)
    assert result.status == OK, result.error
    assert left == []
    assert drill.data["moved_out"].startswith("aws-backup-restore_")
    assert "not inspected" in drill.data["item_level"]  # said, not claimed


def test_a_restore_that_changed_a_file_fails_with_the_file(live: StackHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    original = backup_jobs.start_restore_job

    def corrupting(*args: Any, **kwargs: Any) -> Any:
        job = original(*args, **kwargs)
        restored = efs_data.file_system(job.detail["file_system_id"]) / job.detail["directory"]
        for path in sorted(restored.rglob("themes/*.bin")):
            path.write_bytes(b"not what was written")
        return job

    monkeypatch.setattr(backup_jobs, "start_restore_job", corrupting)
    relaunch(live)
    result, left = run_live(efs_restore_drill(live), live)
    assert result.status == "failed"
    assert "changed (sha256 differs): ['themes/stackproof-canary-" in result.error
    assert left == []


def test_a_journal_left_by_a_killed_drill_removes_its_canary_files_through_ssm(
    live: StackHandle, tmp_path: Path
) -> None:
    """What ``stackproof drill --cleanup`` does with a live drill's canary files: the undo is data
    (group and keys, no credential), names the module that registers its kind, and runs through
    SSM on the instances."""
    from stackproof.drills import journal
    from stackproof.drills.engine import finish

    relaunch(live)
    fleet = instance_data.Fleet.of(live)
    keys = ["images/stackproof-canary-killed.bin"]
    instance_data.write_files(fleet, keys)
    kept = journal.Journal.create(tmp_path, "killed-run", "RES-02 EFS restore", {"region": live.region})
    undo = journal.Undo("instance.delete-canary-files", {"group": fleet.group, "keys": keys}, live.region)
    kept.add("canary files", undo)
    saved = json.loads(kept.path.read_text(encoding="utf-8"))
    assert saved["undos"][0]["module"] == "stackproof.drills.instance_data"
    assert "password" not in kept.path.read_text(encoding="utf-8").lower()
    done = finish(journal.load(tmp_path, "killed-run"), live.client, lambda line: None)
    assert [c.status for c in done] == [OK]
    assert instance_data.file_checksums(fleet, keys) == {}


def tag_as_cloudformation_does(stack: StackHandle) -> None:
    """moto tags nothing with ``aws:cloudformation:stack-name``; the guards refuse untagged
    resources, so the test tags what the drills touch as CloudFormation would."""
    client, name = stack.client, stack.stack_name
    tag = {"Key": STACK_TAG, "Value": name}
    pages = client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=name)
    for summary in (s for page in pages for s in page["StackResourceSummaries"]):
        kind, physical = summary["ResourceType"], summary.get("PhysicalResourceId", "")
        if kind == "AWS::EFS::FileSystem":
            client("efs").tag_resource(ResourceId=physical, Tags=[tag])
        elif kind == "AWS::AutoScaling::AutoScalingGroup":
            group = {"ResourceId": physical, "ResourceType": "auto-scaling-group", "PropagateAtLaunch": False}
            client("autoscaling").create_or_update_tags(Tags=[{**tag, **group}])
        elif kind == "AWS::S3::Bucket":  # S3's API refuses aws: tags from callers; CloudFormation sets them
            from moto.s3.models import s3_backends

            s3_backends[ACCOUNT]["global"].put_bucket_tagging(physical, {STACK_TAG: name})
        elif kind == "AWS::Backup::BackupVault":
            arn = f"arn:aws:backup:{stack.region}:{ACCOUNT}:backup-vault:{physical}"
            client("backup").tag_resource(ResourceArn=arn, Tags={STACK_TAG: name})
        elif kind == "AWS::RDS::DBInstance":
            arn = f"arn:aws:rds:{stack.region}:{ACCOUNT}:db:{physical}"
            client("rds").add_tags_to_resource(ResourceName=arn, Tags=[tag])


@pytest.mark.parametrize("scenario", ["test_rds_restore_from_a_snapshot", "test_efs_restore_from_aws_backup"])
def test_the_live_scenarios_run_through_the_aws_target_and_report(
    served: tuple[MotoServerTarget, StackHandle], tmp_path: Path, scenario: str
) -> None:
    """``pytest scenarios --target aws`` as a user runs it against an account, moto's server
    standing in for AWS, with both guards' flags: the drill runs through SSM and passes (rows
    without MariaDB: SKIP with the reason), its TLS is reported as used, nothing is left."""
    target, stack = served
    tag_as_cloudformation_does(stack)  # again: a drill's cleanup may have replaced the database
    relaunch(stack)
    before = inventory(stack)
    junit = tmp_path / "junit.xml"
    command = [sys.executable, "-m", "pytest", f"scenarios/test_restore.py::{scenario}", "-q", "-rs"]
    command += ["-p", "no:cacheprovider", "--target", "aws", "--stack-name", stack.stack_name, "--region", REGION]
    command += ["--allow-destructive", "--account-id", ACCOUNT, f"--junitxml={junit}"]
    command += ["-o", "junit_family=legacy"]  # record_property, which the drills report through
    env = {**os.environ, "AWS_ENDPOINT_URL": target._endpoint, "STACKPROOF_DRILL_JOURNALS": str(tmp_path)}
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, env=env, timeout=900)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    if scenario.startswith("test_rds") and NO_MARIADB is not None:
        assert "1 skipped" in output
        assert "rows not verified: the database cannot be reached" in output
        return
    assert "1 passed" in output, output[-4000:]
    assert differences(before, inventory(stack)) == []
    if scenario.startswith("test_rds"):
        assert "canary rows over TLS: TLS" in junit.read_text(encoding="utf-8")
    assert list(tmp_path.glob("*.json")) == []  # every undo done: no journal left to finish


def test_sandboxes_go_with_the_emulator() -> None:
    """What the module's server left: no sandbox directory, no running script."""
    assert ssm_sandbox._running == {}
