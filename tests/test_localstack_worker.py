"""The local Lambda runtime's worker process (stackproof.emulator.localstack_ext.lambda_worker),
without LocalStack: it imports the handler once, answers one invocation per line, returns a
handler's exception as the Lambda error payload, and keeps what the handler prints and logs as
that invocation's log, never in the answer stream."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HANDLER = """
import logging
LOG = logging.getLogger("h")
calls = []

def handle(event, context):
    calls.append(event)
    print("printed", context.aws_request_id)
    LOG.info("logged %s", len(calls))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"seen": len(calls), "arn": context.invoked_function_arn}
"""


def test_worker_answers_each_invocation_with_its_log(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(HANDLER, encoding="utf-8")
    requests = [
        {"request_id": "r1", "arn": "arn:fn", "payload": json.dumps({"n": 1})},
        {"request_id": "r2", "arn": "arn:fn", "payload": json.dumps({"fail": True})},
        {"request_id": "r3", "arn": "arn:fn", "payload": json.dumps({"n": 3})},
    ]
    process = subprocess.run(
        [sys.executable, "-m", "stackproof.emulator.localstack_ext.lambda_worker", str(tmp_path), "app.handle"],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ready, first, failed, third = (json.loads(line) for line in process.stdout.splitlines())
    assert ready == {"ready": True}
    assert first["ok"] is True
    assert json.loads(first["payload"]) == {"seen": 1, "arn": "arn:fn"}
    assert "printed r1" in first["logs"]
    assert "logged 1" in first["logs"]
    assert failed["ok"] is False
    error = json.loads(failed["payload"])
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "asked to fail")
    assert "asked to fail" in failed["logs"]
    assert json.loads(third["payload"])["seen"] == 3  # one process, the module imported once


def test_worker_reports_a_handler_it_cannot_import(tmp_path: Path) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "stackproof.emulator.localstack_ext.lambda_worker", str(tmp_path), "missing.handle"],
        input="",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == 1
    assert "ModuleNotFoundError" in json.loads(process.stdout)["init_error"]
