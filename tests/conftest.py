"""Fixtures for the project's own tests."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from stackproof.importing import import_file

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
SYNC_FUNCTION = ROOT / "reference" / "lambda" / "s3_to_efs" / "handler.py"
REGION = "eu-west-1"  # what the root conftest's aws_credentials fixture configures

deploy_summaries = pytest.StashKey[list[str]]()


def load_sync_handler() -> ModuleType:
    """Import the sync function from its source file, as Lambda would (it is not a package)."""
    return import_file("s3_to_efs_handler", SYNC_FUNCTION)


@pytest.fixture
def sync_handler() -> ModuleType:
    return load_sync_handler()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[deploy_summaries] = []


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summaries = config.stash.get(deploy_summaries, [])
    if summaries:
        terminalreporter.section("what the emulator deployed")
        for summary in summaries:
            terminalreporter.write_line(summary)
