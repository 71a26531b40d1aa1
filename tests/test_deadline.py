"""``--deadline SECONDS`` (``stackproof run`` and ``drill``) and ``--stackproof-deadline`` (the
plugin): the flag beats ``STACKPROOF_DEADLINE``, a bad value is one line and exit 2, and a run
whose deadline passes ends then, with what is unread ERROR naming the deadline."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from stackproof.cli.main import main as cli_main
from stackproof.results.session import Session
from stackproof.targets import TargetError, parse_deadline
from stackproof.targets.aws import run_deadline
from tests.conftest import REGION
from tests.test_policies import deployed


@pytest.mark.parametrize("command", ["run", "drill"])
@pytest.mark.parametrize("value", ["0", "-5", "soon", "nan", "inf", ""])
def test_a_bad_deadline_is_one_line_and_exit_2(
    command: str, value: str, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    code = cli_main([command, "--target", "aws", "--stack-name", "s", "--no-reports", "--deadline", value])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.err == f"stackproof: --deadline: {value!r} is not a number of seconds greater than 0\n"
    assert captured.out == ""


def test_the_flag_beats_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKPROOF_DEADLINE", "soon")
    assert run_deadline(12.5) == 12.5
    with pytest.raises(TargetError, match=r"^STACKPROOF_DEADLINE: 'soon' is not a number of seconds greater than 0$"):
        run_deadline()
    monkeypatch.setenv("STACKPROOF_DEADLINE", "30")
    assert run_deadline(12.5) == 12.5
    assert run_deadline() == 30.0
    assert parse_deadline("0.25", "--deadline") == 0.25


def test_the_deadline_flows_from_the_session_into_the_target_options() -> None:
    session = Session(["aws"], "t.yaml", None, REGION, "s", deadline=42.0)
    assert session.target_options().deadline == 42.0
    assert Session(["aws"], "t.yaml", None, REGION, "s").target_options().deadline is None


PLUGIN_TEST = """
import pytest

from stackproof.plugin import session_of


@pytest.mark.control("NET-01")
def test_a_check(deployment):
    pass


def test_deadline(request):
    assert session_of(request.config).target_options().deadline == 7.5
"""


@pytest.mark.parametrize(("value", "code", "said"), [("7.5", 0, "2 passed"), ("never", 4, "")])
def test_the_plugin_takes_stackproof_deadline(tmp_path: Path, value: str, code: int, said: str) -> None:
    (tmp_path / "test_it.py").write_text(PLUGIN_TEST, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    command += ["-c", "/dev/null", "--rootdir", str(tmp_path), str(tmp_path / "test_it.py")]
    command += ["--stackproof-target", "template", "--stackproof-deadline", value]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert said in proc.stdout
    if code:
        assert proc.stderr.strip() == "ERROR: --stackproof-deadline: 'never' is not a number of seconds greater than 0"


SLOWER = 0.2  # seconds moto's server takes over every answer: unbounded, the read takes over 15 s
DEADLINE = 2.0
# After the deadline the read still makes the clients it goes on to ask (botocore loads each
# service's model, about a second in all) and builds the model from what it has; the call in
# flight when the deadline passes is not cut short (SLOWER here).
MARGIN = 3.0


@pytest.mark.moto
def test_a_run_whose_deadline_passes_ends_then_with_errors_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, aws_credentials: None
) -> None:
    from moto.core.responses import BaseResponse

    from stackproof.cli.run import RunOptions, main
    from stackproof.targets import tls_probe

    def no_handshakes(hosts: list[str], remaining: Any = None) -> list[Any]:
        return []  # moto's load balancer names resolve nowhere: never look them up

    monkeypatch.setattr(tls_probe, "probe_all", no_handshakes)
    server = deployed("dashboard")
    try:
        stack = server.open_stack()
        monkeypatch.setenv("AWS_ENDPOINT_URL", server._endpoint)
        monkeypatch.setenv("STACKPROOF_DEADLINE", "soon")  # the flag beats it: not even read
        answer = BaseResponse.call_action

        def slowly(self: Any) -> Any:
            time.sleep(SLOWER)
            return answer(self)

        monkeypatch.setattr(BaseResponse, "call_action", slowly)
        out = io.StringIO()
        options = RunOptions(
            targets="aws",
            stack_name=stack.stack_name,
            region=REGION,
            tools="none",
            reports=str(tmp_path),
            deadline=DEADLINE,
        )
        code = main(options, out=out)
    finally:
        server.close()
    text = out.getvalue()
    assert code == 1, text
    assert "Traceback" not in text
    built = re.search(r"stackproof:   \d+ objects, \d+ API calls in ([0-9.]+) s", text)
    assert built is not None, text
    assert float(built.group(1)) < DEADLINE + MARGIN
    results = json.loads((tmp_path / "latest" / "report.json").read_text(encoding="utf-8"))["results"]
    named = [r for r in results if "the run's deadline of 2 s has passed" in r["message"]]
    assert {r["status"] for r in named} == {"ERROR"}
    assert len(named) >= 10
    # The quota reads come last: QTA-02 never sees an account it did not read.
    (quotas,) = [r for r in results if r["control"] == "QTA-02"]
    assert quotas in named
    assert not any("Traceback" in r["message"] for r in results)
