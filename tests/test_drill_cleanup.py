"""Cleanup that survives anything, proved with real processes: a drill (RES-01's control plane)
runs in a process of its own against a moto server this test process runs, so what it changed
outlives it. Stopped with SIGTERM after each step it cleans up by itself; killed with SIGKILL
after each step, ``stackproof drill --cleanup RUN-ID`` finishes its journal. Either way the
stack's inventory is what it was before, and finishing a journal twice changes nothing.
Also: ``--require-drills`` makes a drill whose guard refused fail the run, with the reason."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stackproof.drills import journal
from stackproof.drills.inventory import differences, inventory
from stackproof.support import paths
from stackproof.targets import TargetOptions
from stackproof.targets.moto import MotoServerTarget
from stackproof.targets.stack_handle import StackHandle
from tests.conftest import ROOT

STEPS = [
    "take a snapshot",
    "restore the snapshot to a new instance",
    "turn off the old database's deletion protection",
    "update DBHost and DBPort",
    "scale out the group (new instance on the new launch template)",
    "terminate the old instances",
]


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[StackHandle, str]]:
    """The stack on a moto server in this process, and its endpoint; each case must leave it as
    it found it, so the next one starting from the same inventory is part of the proof."""
    target = MotoServerTarget(
        TargetOptions(str(paths.dashboard_template()), str(paths.dashboard_params()), "us-east-1")
    )
    try:
        stack = target.open_stack()
        yield stack, target._endpoint
    finally:
        target.close()


def environment(directory: Path) -> dict[str, str]:
    return {**os.environ, journal.ENVIRONMENT: str(directory), "AWS_ACCESS_KEY_ID": "testing"}


def run_child(stack: StackHandle, endpoint: str, step: str, signal_name: str, directory: Path, run_id: str) -> Any:
    command = [sys.executable, "-m", "tests.drill_child", endpoint, stack.stack_name, stack.region, step]
    command += [signal_name, run_id]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=ROOT, env=environment(directory), timeout=300
    )


def stackproof_cleanup(run_id: str, directory: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "stackproof.cli", "drill", "--cleanup", run_id, "--journal-dir", str(directory)]
    return subprocess.run(
        command, capture_output=True, text=True, check=False, cwd=directory, env=environment(directory), timeout=300
    )


@pytest.mark.parametrize("step", STEPS)
def test_sigterm_after_each_step_cleans_up_in_the_process(
    server: tuple[StackHandle, str], step: str, tmp_path: Path
) -> None:
    stack, endpoint = server
    before = inventory(stack)
    proc = run_child(stack, endpoint, step, "SIGTERM", tmp_path, f"term-{STEPS.index(step)}")
    assert proc.returncode == 128 + signal.SIGTERM, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)
    assert result["status"] == "interrupted"
    assert result["error"] == f"terminated in {step!r}"
    assert all(c["status"] == "ok" for c in result["cleanup"]), result["cleanup"]
    assert list(tmp_path.glob("*.json")) == []  # everything undone: no journal left to finish
    assert differences(before, inventory(stack)) == []


@pytest.mark.parametrize("step", STEPS)
def test_sigkill_after_each_step_is_finished_by_cleanup(
    server: tuple[StackHandle, str], step: str, tmp_path: Path
) -> None:
    stack, endpoint = server
    before = inventory(stack)
    run_id = f"kill-{STEPS.index(step)}"
    proc = run_child(stack, endpoint, step, "SIGKILL", tmp_path, run_id)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    left = json.loads((tmp_path / f"{run_id}.json").read_text())
    assert left["context"]["endpoint_url"] == endpoint
    assert left["undos"]
    assert all(u["status"] == "pending" for u in left["undos"])
    kept = tmp_path / "kept.json.copy"
    shutil.copy(tmp_path / f"{run_id}.json", kept)

    finished = stackproof_cleanup(run_id, tmp_path)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"drill run {run_id} cleaned up" in finished.stdout
    assert not (tmp_path / f"{run_id}.json").exists()
    assert differences(before, inventory(stack)) == []

    if step == STEPS[-1]:  # idempotent: the same journal finished again finds everything gone
        shutil.copy(kept, tmp_path / f"{run_id}.json")
        again = stackproof_cleanup(run_id, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        assert differences(before, inventory(stack)) == []


def test_an_unknown_run_id_is_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = stackproof_cleanup("20260101T000000Z-deadbeef", tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        f"stackproof: no journal for drill run 20260101T000000Z-deadbeef in {tmp_path} (none unfinished there)"
    )
    assert proc.stdout == ""


def stackproof_drill(*args: str, cwd: Path, endpoint: str) -> subprocess.CompletedProcess[str]:
    env = {**environment(cwd), "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}
    command = [sys.executable, "-m", "stackproof.cli", "drill", "--target", "aws", "--stack-name", "stackproof", *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=cwd, env=env, timeout=300)


def test_a_required_drill_the_guard_refused_fails_the_run(server: tuple[StackHandle, str], tmp_path: Path) -> None:
    """A scheduled live drill without --allow-destructive: with --require-drills the run fails
    and says why; without it every drill is SKIP and the run is incomplete, never passed."""
    _, endpoint = server
    required = stackproof_drill("--require-drills", cwd=tmp_path, endpoint=endpoint)
    assert required.returncode == 1, required.stdout + required.stderr
    assert "0 of 5 drills ran" in required.stdout
    why = "not allowed: drills change the deployment: run them on a live account only with --allow-destructive"
    for control in ("RES-01", "RES-02", "RES-03", "RES-04", "SCL-05"):
        assert f"required drill {control} did not run on aws: {why}" in required.stdout, required.stdout
    assert "stackproof: failed" in required.stdout
    assert "Traceback" not in required.stdout + required.stderr

    plain = stackproof_drill(cwd=tmp_path, endpoint=endpoint)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert (
        "0 of 5 drills ran (did not run: RES-01, RES-02, RES-03, RES-04, SCL-05 on aws: not allowed: " in plain.stdout
    )
    assert "stackproof: incomplete" in plain.stdout
    assert "passed" not in plain.stdout.splitlines()[-2]
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert report["run"]["verdict"] == "incomplete"
    assert (report["run"]["drills"]["ran"], report["run"]["drills"]["total"]) == (0, 5)
    assert {r["status"] for r in report["results"]} == {"SKIP"}


def test_the_catalogue_can_require_a_drill(monkeypatch: pytest.MonkeyPatch) -> None:
    """``required: true`` on a drill's control gates scheduled runs without --require-drills;
    it is validated at load like every other field."""
    import dataclasses

    from stackproof import catalogue
    from stackproof.results import SKIP, Result
    from stackproof.results.gating import drills_not_run

    controls = dict(catalogue.load())
    controls["RES-01"] = dataclasses.replace(controls["RES-01"], required=True)
    monkeypatch.setattr(catalogue, "load", lambda: controls)
    skipped = [Result(c, "test", "aws", SKIP, "not allowed: no --allow-destructive") for c in ("RES-01", "RES-02")]
    drills = {"RES-01", "RES-02"}
    assert drills_not_run(skipped, drills, require_all=False) == [
        "required drill RES-01 did not run on aws: not allowed: no --allow-destructive"
    ]
    assert len(drills_not_run(skipped, drills, require_all=True)) == 2
    assert drills_not_run(skipped, set(), require_all=True) == []  # not run as drills (stackproof run)
    passed = [Result("RES-01", "test", "aws", "PASS", "")]
    assert drills_not_run(passed, drills, require_all=True) == []

    entry = {
        "id": "RES-09",
        "title": "t",
        "family": "resilience",
        "severity": "high",
        "source": {"seed": "s", "quote": "q"},
        "targets": ["aws"],
        "suite": "scenarios",
    }
    assert catalogue.parse({"controls": [{**entry, "required": True}]})["RES-09"].required
    with pytest.raises(catalogue.CatalogueError, match="required 'yes' is not true or false"):
        catalogue.parse({"controls": [{**entry, "required": "yes"}]})
    with pytest.raises(catalogue.CatalogueError, match="only a drill"):
        catalogue.parse({"controls": [{**entry, "suite": "checks", "required": True}]})


def test_plain_pytest_takes_require_drills_too() -> None:
    """A scheduled ``pytest scenarios`` job: the guards refuse before any AWS call, and with
    --require-drills the session fails, saying which drill did not run and why."""
    command = [sys.executable, "-m", "pytest", "scenarios", "--target", "aws", "--stack-name", "dash", "-q"]
    command += ["-p", "no:cacheprovider", "--require-drills"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "5 skipped" in proc.stdout
    assert "stackproof: required drill RES-02 did not run on aws: not allowed: " in proc.stdout


def test_a_journal_of_an_in_process_emulator_has_nothing_left_to_clean(tmp_path: Path) -> None:
    """moto in the drill's own process died with it: --cleanup must not go looking for that
    account anywhere else, and says so."""
    from stackproof.drills.journal import Journal, Undo

    context = {"account": "123456789012", "region": "us-east-1", "in_process_emulator": True}
    made = Journal.create(tmp_path, "inproc-1", "RES-01 RDS restore", context)
    made.add("snapshot", Undo("rds.delete-db-snapshot", {"snapshot": "stackproof-x"}, "us-east-1"))
    proc = stackproof_cleanup("inproc-1", tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ran on an emulator inside its own process" in proc.stdout
    assert not made.path.exists()
