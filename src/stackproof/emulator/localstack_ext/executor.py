"""A LocalStack Lambda runtime executor that needs no Docker: each execution environment is a
local Python process (:mod:`.lambda_worker`) running the function's handler from its unzipped
code, with the environment LocalStack gives the function (its variables, credentials and the
endpoint of LocalStack itself), the function's timeout enforced here, and each invocation's
log handed back to LocalStack, which delivers it to CloudWatch Logs.

Registered as ``local`` under ``localstack.lambda.runtime_executor`` and chosen by
``LAMBDA_RUNTIME_EXECUTOR=local`` (the runner sets it). Only Python runtimes are run; any
other runtime fails its environment's start, which LocalStack reports as the function's error.
EFS mounts: a path under a function's ``LocalMountPath`` (its environment's values) is mapped to
``$STACKPROOF_EFS_ROOT/<file system>/<access point root>`` (see :mod:`.mounts`).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any

from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException, RuntimeExecutor

# What a handler's process inherits from LocalStack's own environment; the rest is the function's.
INHERITED = ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")


def _reader(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


class LocalRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._process: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._environment: dict[str, str] = {}
        self._logs: list[str] = []
        self._lock = threading.Lock()

    def start(self, env_vars: dict[str, str]) -> None:
        from stackproof.emulator.localstack_ext import mounts

        runtime = str(self.function_version.config.runtime or "")
        if not runtime.startswith("python"):
            raise LambdaRuntimeException(f"stackproof's local executor runs Python functions only, not {runtime!r}")
        environment = {k: os.environ[k] for k in INHERITED if k in os.environ}
        environment.update({k: str(v) for k, v in env_vars.items()})
        self._environment = mounts.mapped(self.function_version.id.qualified_arn(), environment)
        self._spawn()

    def _spawn(self) -> None:
        code = self.function_version.config.code
        if code is None:
            raise LambdaRuntimeException("container-image functions are not run by stackproof's local executor")
        self._lines = queue.Queue()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "stackproof.emulator.localstack_ext.lambda_worker",
                str(code.get_unzipped_code_location()),
                str(self.function_version.config.handler),
            ],
            env=self._environment,
            cwd=str(code.get_unzipped_code_location()),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        assert self._process.stdout is not None
        threading.Thread(target=_reader, args=(self._process.stdout, self._lines), daemon=True).start()
        first = self._next(timeout=60.0)
        if first is None or not first.get("ready"):
            reason = (first or {}).get("init_error", "the handler's process ended before it was ready")
            self._kill()
            raise LambdaRuntimeException(f"init failed: {reason}")

    def _next(self, timeout: float) -> dict[str, Any] | None:
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return None
        return None if line is None else dict(json.loads(line))

    def _kill(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def stop(self) -> None:
        self._kill()

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return ""

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        timeout = float(self.function_version.config.timeout or 3)
        request = {"request_id": request_id, "arn": payload["invoked-function-arn"], "payload": payload["payload"]}
        with self._lock:
            if self._process is None:
                self._spawn()
            assert self._process is not None
            assert self._process.stdin is not None
            started = time.monotonic()
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = self._next(timeout=timeout)
            elapsed = (time.monotonic() - started) * 1000
            if answer is None:
                self._kill()  # the next invocation gets a fresh process, as after a Lambda timeout
                message = f"Task timed out after {timeout:.2f} seconds"
                body = json.dumps({"errorMessage": message, "errorType": "Sandbox.Timedout"})
                answer = {"ok": False, "payload": body, "logs": message + "\n"}
        logs = (
            f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            f"{answer.get('logs', '')}"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {elapsed:.2f} ms\n"
        )
        self._logs.append(logs)
        return InvocationResult(request_id, answer["payload"].encode(), is_error=not answer["ok"], logs=logs)

    def get_logs(self) -> str:
        return "".join(self._logs)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.code:
            function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        """Nothing outlives the environments' processes."""

    @classmethod
    def validate_environment(cls) -> bool:
        return True


class LocalRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "local"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return LocalRuntimeExecutor
