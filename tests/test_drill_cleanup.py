"""Cleanup that survives anything, proved with real processes: a drill (RES-01's control plane)
runs in a process of its own against a moto server this test process runs, so what it changed
outlives it. Stopped with SIGTERM after each step it cleans up by itself; killed with SIGKILL
after each step, ``stackproof drill --cleanup RUN-ID`` finishes its journal. Either way the
stack's inventory is what it was before, and finishing a journal twice changes nothing."""

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

