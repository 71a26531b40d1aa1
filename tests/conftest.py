"""Fixtures for the project's own tests."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from stackproof.support.importing import import_file

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
SYNC_FUNCTION = ROOT / "reference" / "lambda" / "s3_to_efs" / "handler.py"
REGION = "eu-west-1"  # what the root conftest's aws_credentials fixture configures

deploy_summaries = pytest.StashKey[list[str]]()


def stackproof_run(*args: str, reports: bool = False) -> subprocess.CompletedProcess[str]:
    """``stackproof run`` in a subprocess, by default on the template target alone and without
    the gate tools (tests of those name them), so each test pays only for what it tests."""
    extra = []
    if "--target" not in args:
        extra += ["--target", "template"]
    if "--tools" not in args:
        extra += ["--tools", "none"]
    if not reports and "--reports" not in args:
        extra.append("--no-reports")
    command = [sys.executable, "-m", "stackproof.cli", "run", *args, *extra]
    return subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)


def load_sync_handler() -> ModuleType:
    """Import the sync function from its source file, as Lambda would (it is not a package)."""
    return import_file("s3_to_efs_handler", SYNC_FUNCTION)


@pytest.fixture
def sync_handler() -> ModuleType:
    return load_sync_handler()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[deploy_summaries] = []
    # The drill tests press Ctrl-C (SIGINT). A shell starts background jobs with SIGINT ignored
    # and Python then keeps it ignored, so a suite started with `&` could not simulate it.
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summaries = config.stash.get(deploy_summaries, [])
    if summaries:
        terminalreporter.section("what the emulator deployed")
        for summary in summaries:
            terminalreporter.write_line(summary)
