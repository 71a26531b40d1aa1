"""One Lambda execution environment as a local Python process (started by :mod:`.executor`).

``python -m stackproof.emulator.localstack_ext.lambda_worker CODE_DIR HANDLER`` imports the
handler from the function's unzipped code once, then answers one invocation per line on stdin
(``{"request_id", "arn", "payload"}``) with one line on stdout (``{"ok", "payload", "logs"}``).
What the handler prints or logs during an invocation is that invocation's log, as the Lambda
runtime sends it to CloudWatch Logs; stdout is kept for the answers alone.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import sys
import traceback
from types import SimpleNamespace
from typing import Any


def load_handler(code_dir: str, handler: str) -> Any:
    module_name, _, function_name = handler.rpartition(".")
    sys.path.insert(0, code_dir)
    module = importlib.import_module(module_name.replace("/", "."))
    return getattr(module, function_name)


def invoke(function: Any, request: dict[str, Any]) -> dict[str, Any]:
    """Run one invocation; its answer with the log the handler wrote."""
    buffer = io.StringIO()
    log_handler = logging.StreamHandler(buffer)
    log_handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(asctime)s\t%(message)s"))
    root = logging.getLogger()
    root.addHandler(log_handler)
    context = SimpleNamespace(aws_request_id=request["request_id"], invoked_function_arn=request["arn"])
    try:
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            try:
                result = function(json.loads(request["payload"] or "null"), context)
                answer = {"ok": True, "payload": json.dumps(result)}
            except Exception as exc:
                trace = traceback.format_exception(exc)
                buffer.write("".join(trace))
                error = {"errorMessage": str(exc), "errorType": type(exc).__name__, "stackTrace": trace}
                answer = {"ok": False, "payload": json.dumps(error)}
    finally:
        root.removeHandler(log_handler)
    return {**answer, "logs": buffer.getvalue()}


def main(argv: list[str]) -> int:
    code_dir, handler = argv
    answers = sys.stdout
    sys.stdout = sys.stderr  # anything printed outside an invocation never corrupts an answer
    logging.getLogger().setLevel(logging.INFO)
    try:
        function = load_handler(code_dir, handler)
    except Exception as exc:
        answers.write(json.dumps({"init_error": f"{type(exc).__name__}: {exc}"}) + "\n")
        answers.flush()
        return 1
    answers.write(json.dumps({"ready": True}) + "\n")
    answers.flush()
    for line in sys.stdin:
        answers.write(json.dumps(invoke(function, json.loads(line))) + "\n")
        answers.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
