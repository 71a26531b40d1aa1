"""localstack_runner without LocalStack: how commands are split and run, and that with
``LOCALSTACK_ENDPOINT`` (an instance the user started, e.g. LocalStack Pro) nothing is started
and the commands run against it as they are."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stackproof.targets import localstack_runner


def test_commands_are_split_on_and() -> None:
    assert localstack_runner.commands_of(["a", "-v", "--and", "b", "c"]) == [["a", "-v"], ["b", "c"]]
    assert localstack_runner.commands_of(["a"]) == [["a"]]


def test_every_command_runs_and_the_first_failure_is_the_exit_code(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    commands = [
        [sys.executable, "-c", "raise SystemExit(3)"],
        [sys.executable, "-c", f"open({str(marker)!r}, 'w').write('yes')"],
        [sys.executable, "-c", "raise SystemExit(5)"],
    ]
    assert localstack_runner.run_all(commands) == 3
    assert marker.read_text() == "yes"


def test_a_given_endpoint_starts_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LOCALSTACK_ENDPOINT", "http://127.0.0.1:9")

    def refuse(workdir: Path) -> None:
        raise AssertionError("LocalStack was started although an endpoint was given")

    monkeypatch.setattr(localstack_runner, "start", refuse)
    seen = tmp_path / "endpoint"
    code = localstack_runner.main(
        ["--", sys.executable, "-c", f"import os; open({str(seen)!r}, 'w').write(os.environ['LOCALSTACK_ENDPOINT'])"]
    )
    assert code == 0
    assert seen.read_text() == "http://127.0.0.1:9"


def test_an_empty_command_is_refused() -> None:
    assert localstack_runner.main(["--", "a", "--and"]) == 2
