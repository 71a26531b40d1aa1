"""The drills against a stack deployed into moto: each one interrupted (a real SIGINT) after
every step in turn leaves nothing behind; the live guards refuse without both flags and refuse
untagged resources."""

from __future__ import annotations

import dataclasses
import re
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stackproof.drills import journal
from stackproof.drills.az_loss import az_loss_drill
from stackproof.drills.efs_restore import efs_restore_drill
from stackproof.drills.engine import Drill, DrillInterrupted
from stackproof.drills.guards import STACK_TAG, GuardRefused, check_allowed, check_tagged
from stackproof.drills.instance_loss import instance_loss_drill
from stackproof.drills.inventory import differences, inventory
from stackproof.drills.rds_restore import rds_restore_drill
from stackproof.emulator import mariadb_data
from stackproof.support import paths
from stackproof.targets import TargetOptions
from stackproof.targets.moto import MotoTarget
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import ROOT

DRILLS: dict[str, Callable[[StackHandle], Drill]] = {
    "RES-01": lambda stack: rds_restore_drill(stack, rows=mariadb_data.unavailable() is None),
    "RES-02": efs_restore_drill,
    "RES-03": lambda stack: az_loss_drill(stack, rows=mariadb_data.unavailable() is None),
    "RES-04": instance_loss_drill,
}


@pytest.fixture(autouse=True)
def journals(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The drills' undo journals in a directory of the test's own, not the home directory."""
    directory = tmp_path_factory.mktemp("journals")
    monkeypatch.setenv(journal.ENVIRONMENT, str(directory))
    return directory


@pytest.fixture(scope="module")
def stack() -> Iterator[StackHandle]:
    """One deployment for all interruptions: each must leave it exactly as it found it, so the
    next one starting from the same inventory is part of the proof."""
    target = MotoTarget(TargetOptions(str(paths.dashboard_template()), str(paths.dashboard_params()), "us-east-1"))
    try:
        yield target.open_stack()
    finally:
        target.close()


def step_names(control: str) -> list[str]:
    target = MotoTarget(TargetOptions(str(paths.dashboard_template()), str(paths.dashboard_params()), "us-east-1"))
    try:
        return [s.name for s in DRILLS[control](target.open_stack()).steps]
    finally:
        target.close()


CASES = [(control, name) for control in DRILLS for name in step_names(control)]


@pytest.mark.parametrize(("control", "step"), CASES, ids=[f"{c}:{s}" for c, s in CASES])
def test_an_interrupted_drill_leaves_nothing_behind(stack: StackHandle, control: str, step: str) -> None:
    before = inventory(stack)
    drill = DRILLS[control](stack)

    def interrupt_after(action: Callable[[Drill], Any]) -> Callable[[Drill], Any]:
        def wrapped(d: Drill) -> Any:
            action(d)
            signal.raise_signal(signal.SIGINT)  # Ctrl-C, delivered while the step is under way

        return wrapped

    drill.steps = [
        dataclasses.replace(s, action=interrupt_after(s.action)) if s.name == step else s for s in drill.steps
    ]
    try:
        finished = drill.run()
    except DrillInterrupted as interrupted:
        result = interrupted.result
    else:
        pytest.fail(f"the drill ended without reaching {step!r}: {finished.status} {finished.error}")
    assert result.cleaned, result.cleanup
    assert differences(before, inventory(stack)) == []


@pytest.mark.parametrize("control", sorted(DRILLS))
def test_a_whole_drill_also_leaves_nothing_behind(stack: StackHandle, control: str) -> None:
    before = inventory(stack)
    result = DRILLS[control](stack).run()
    assert result.status == "ok", result.error
    assert result.rto is not None
    if control == "RES-01" and mariadb_data.unavailable():
        assert result.rpo is None  # no rows written without MariaDB: no RPO is claimed
    else:
        assert result.rpo is not None
    assert differences(before, inventory(stack)) == []


@pytest.mark.parametrize(
    ("allow", "account", "actual", "stack_name", "message"),
    [
        (False, "123456789012", "123456789012", "dash", "--allow-destructive"),
        (True, None, "123456789012", "dash", "--account-id"),
        (True, "111111111111", "123456789012", "dash", "does not match the credentials' account 123456789012"),
        (True, "123456789012", "123456789012", None, "--stack-name"),
    ],
)
def test_live_guards_refuse(
    allow: bool, account: str | None, actual: str, stack_name: str | None, message: str
) -> None:
    with pytest.raises(GuardRefused, match=message):
        check_allowed(allow, account, actual, stack_name)


def test_live_guards_accept_both_flags_for_the_right_account() -> None:
    check_allowed(True, "123456789012", "123456789012", "dash")


def test_live_guards_refuse_untagged_resources() -> None:
    tags = {"fs-1": {STACK_TAG: "dash"}, "bucket": {STACK_TAG: "other"}, "asg": {}}
    resources = {"FileSystem": ("AWS::EFS::FileSystem", "fs-1"), "ContentBucket": ("AWS::S3::Bucket", "bucket")}
    with pytest.raises(GuardRefused, match=r"ContentBucket \(bucket\): aws:cloudformation:stack-name='other'"):
        check_tagged("dash", resources, lambda kind, physical: tags[physical])
    with pytest.raises(GuardRefused, match="Group"):
        check_tagged("dash", {"Group": ("AWS::AutoScaling::AutoScalingGroup", "asg")}, lambda k, p: tags[p])
    check_tagged("dash", {"FileSystem": ("AWS::EFS::FileSystem", "fs-1")}, lambda k, p: tags[p])


@pytest.mark.parametrize("flags", [[], ["--allow-destructive"], ["--account-id", "123456789012"]])
def test_live_drills_do_not_run_without_both_flags(flags: list[str]) -> None:
    """Refused before any AWS call: no credentials are even looked up."""
    command = [sys.executable, "-m", "pytest", "scenarios", "--target", "aws", "--stack-name", "dash", "-q", "-rs"]
    command += ["-p", "no:cacheprovider", *flags]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert proc.stdout.count("not allowed: ") == 5
    assert "5 skipped" in proc.stdout


def test_drill_results_reach_every_report_format(tmp_path: Any) -> None:
    import json

    import jsonschema
    import xmlschema

    from stackproof.reports.run_report import SCHEMA

    command = [sys.executable, "-m", "pytest", "scenarios", "--target", "moto", "-q", "-p", "no:cacheprovider"]
    command += ["--stackproof-reports", str(tmp_path)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    latest = tmp_path / "latest"
    report = json.loads((latest / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    drills = {r["control"]: r["drill"] for r in report["results"] if r["drill"]}
    assert {r["control"] for r in report["results"]} == {"RES-01", "RES-02", "RES-03", "RES-04", "SCL-05"}
    assert set(drills) == {"RES-01", "RES-02", "RES-03", "RES-04"}
    assert all(d["status"] == "ok" and d["rto_seconds"] is not None for d in drills.values())
    assert [s["status"] for s in drills["RES-02"]["steps"]] == ["ok"] * 12
    assert "| RES-02 EFS restore | moto | PASS |" in (latest / "summary.md").read_text()
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(str(latest / "junit.xml"))
    assert "rto_seconds" in (latest / "junit.xml").read_text()
    sarif = json.loads((latest / "report.sarif").read_text())
    with_rto = {r["ruleId"] for r in sarif["runs"][0]["results"] if "rto_seconds" in r["properties"]}
    assert with_rto == {"RES-01", "RES-02", "RES-03", "RES-04"}
    assert "RTO" in (latest / "report.html").read_text()


def test_deployed_thresholds_50_45_flap_and_fail(tmp_path: Any) -> None:
    from tests.conftest import TEMPLATE
    from tests.mutants import MUTANTS

    mutant = next(m for m in MUTANTS if m.name == "thresholds-50-45-flap").apply(TEMPLATE, tmp_path)
    command = [sys.executable, "-m", "pytest", "scenarios/test_scaling.py", "--target", "moto", "-q", "--tb=no"]
    command += ["-p", "no:cacheprovider", "--template", str(mutant), "--params", str(paths.dashboard_params())]
    command += ["--stackproof-reports", str(tmp_path / "r")]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 1, proc.stdout
    import json

    (result,) = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())["results"]
    assert (result["control"], result["status"]) == ("SCL-05", "FAIL")
    messages = [e["message"] for e in result["evidence"]]
    assert any("capacity goes back and forth" in m for m in messages), messages
    assert not any("diverges from the simulation" in m for m in messages), "it flaps exactly as simulated"


def test_an_interrupted_scaling_drive_puts_the_group_back(stack: StackHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    """SCL-05's scenario changes the group's desired capacity minute by minute; a Ctrl-C halfway
    leaves it where it was (the metrics it published stay: CloudWatch cannot delete data)."""
    import importlib

    from stackproof.emulator.alarm_engine import AlarmEngine

    scenario = importlib.import_module("scenarios.test_scaling")
    before = inventory(stack)
    ticks = {"n": 0}
    original = AlarmEngine.tick

    def tick(self: AlarmEngine, now: Any) -> None:
        ticks["n"] += 1
        if ticks["n"] == 30:  # the group has scaled out by then
            signal.raise_signal(signal.SIGINT)
        original(self, now)

    monkeypatch.setattr(AlarmEngine, "tick", tick)
    with pytest.raises(KeyboardInterrupt):
        scenario.test_alarms_drive_the_deployed_group_as_simulated(stack, lambda name, value: None)
    assert ticks["n"] == 30
    assert differences(before, inventory(stack)) == []


def stackproof_drill(*args: str, cwd: Any, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    command = [sys.executable, "-m", "stackproof.cli", "drill", *args]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=cwd, env={**os.environ, **(env or {})}
    )


def test_the_drill_command_runs_the_chosen_drills_and_writes_reports_where_it_is_run(tmp_path: Any) -> None:
    import json

    proc = stackproof_drill("RES-04", cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^RES-04\s+medium\s+PASS", proc.stdout, re.MULTILINE), proc.stdout
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert [(r["control"], r["status"]) for r in report["results"]] == [("RES-04", "PASS")]
    assert report["results"][0]["drill"]["steps"]


def test_an_unknown_drill_is_a_usage_error(tmp_path: Any) -> None:
    proc = stackproof_drill("RES-09", "--no-reports", cwd=tmp_path)
    assert proc.returncode == 2
    assert "no drill for RES-09 (drills: RES-01, RES-02, RES-03, RES-04, SCL-05)" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_without_mariadb_the_rows_are_skip_with_the_install_hint_and_the_rest_is_judged(tmp_path: Any) -> None:
    """A bare machine: the rows cannot be verified, so RES-01 is SKIP with its reason (not a
    data-loss FAIL), and its control-plane steps still ran and were judged."""
    import json

    proc = stackproof_drill("RES-01", "-v", cwd=tmp_path, env={"STACKPROOF_MARIADB": "none"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"^RES-01\s+high\s+SKIP", proc.stdout, re.MULTILINE), proc.stdout
    assert "rows not verified: MariaDB is not installed here" in proc.stdout
    assert "apt-get install mariadb-server" in proc.stdout
    assert "more data was lost" not in proc.stdout
    (result,) = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())["results"]
    assert result["drill"]["status"] == "ok"
    assert [s["name"] for s in result["drill"]["steps"]][:2] == [
        "take a snapshot",
        "restore the snapshot to a new instance",
    ]


def test_the_mariadb_lookup_honours_its_environment_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("STACKPROOF_MARIADB", str(tmp_path))
    assert "not found in STACKPROOF_MARIADB=" in (mariadb_data.unavailable() or "")
    monkeypatch.setenv("STACKPROOF_MARIADB", "none")
    assert "mariadbd" in (mariadb_data.unavailable() or "")
    for tool in mariadb_data.TOOLS:
        (tmp_path / tool).write_text("#!/bin/sh\n")
    monkeypatch.setenv("STACKPROOF_MARIADB", str(tmp_path))
    assert mariadb_data.unavailable() is None
