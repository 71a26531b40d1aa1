"""Run commands against LocalStack: ``python -m stackproof.targets.localstack_runner -- CMD ... [--and CMD ...]``.

With ``LOCALSTACK_ENDPOINT`` set, that instance is used as it is. Otherwise LocalStack (from
this environment, host mode, no Docker) is started on a free loopback port, awaited until
``/_localstack/health`` answers, given to the command as ``LOCALSTACK_ENDPOINT``, and stopped
afterwards, also when the command fails or is interrupted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from stackproof.support.ports import free_port

HEALTH_TIMEOUT = 90.0


def wait_healthy(endpoint: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + HEALTH_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"LocalStack exited with {process.returncode}; see {log}")
        try:
            with urllib.request.urlopen(f"{endpoint}/_localstack/health", timeout=2) as response:
                health: dict[str, object] = json.load(response)
                return health
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"LocalStack did not answer /_localstack/health within {HEALTH_TIMEOUT:.0f} s; see {log}")


def compat_dir() -> Path:
    """Where the ``sitecustomize`` shim for LocalStack on Python 3.11 lives (put on its path)."""
    found = Path(__file__).resolve().parents[1] / "emulator" / "localstack_compat"
    if not (found / "sitecustomize.py").is_file():
        raise RuntimeError(f"{found}: the LocalStack compatibility shim is missing from the package")
    return found


def start(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    compat = compat_dir()
    env = {
        **os.environ,
        "GATEWAY_LISTEN": f"127.0.0.1:{port}",
        "LOCALSTACK_HOST": f"127.0.0.1:{port}",
        "DNS_ADDRESS": "0",  # no DNS server, no upstream lookups
        "DISABLE_EVENTS": "1",  # no analytics
        "SKIP_SSL_CERT_DOWNLOAD": "1",
        "SKIP_INFRA_DOWNLOADS": "1",
        "FILESYSTEM_ROOT": str(workdir),
        # plux caches entry points under $XDG_CACHE_HOME/plux; a stale shared cache would hide
        # stackproof's providers (or keep ones since uninstalled), so each run has its own.
        "XDG_CACHE_HOME": str(workdir / "cache"),
        # Lambda without Docker: stackproof's executor (the `localstack` extra) runs each function
        # environment as a local Python process; EFS access points map to directories here.
        "LAMBDA_RUNTIME_EXECUTOR": "local",
        "STACKPROOF_EFS_ROOT": str(workdir / "efs"),
        "PYTHONPATH": os.pathsep.join(p for p in (str(compat), os.environ.get("PYTHONPATH", "")) if p),
    }
    log = workdir / "localstack.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "localstack.runtime.main"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return process, f"http://127.0.0.1:{port}", log


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def commands_of(argv: list[str]) -> list[list[str]]:
    """``CMD ... --and CMD ...``: the commands to run, in order, against one LocalStack."""
    commands: list[list[str]] = [[]]
    for arg in argv:
        if arg == "--and":
            commands.append([])
        else:
            commands[-1].append(arg)
    return commands


def run_all(commands: list[list[str]], env: dict[str, str] | None = None) -> int:
    """Every command runs (a later one is not hidden by an earlier failure); the first failure's
    exit code is the result."""
    codes = [subprocess.call(command, env=env) for command in commands]
    return next((code for code in codes if code), 0)


def main(argv: list[str]) -> int:
    if argv[:1] == ["--"]:
        argv = argv[1:]
    commands = commands_of(argv)
    if not all(commands):
        print(
            "usage: python -m stackproof.targets.localstack_runner -- COMMAND ... [--and COMMAND ...]", file=sys.stderr
        )
        return 2
    if os.environ.get("LOCALSTACK_ENDPOINT"):
        return run_all(commands)
    with tempfile.TemporaryDirectory(prefix="stackproof-localstack-") as tmp:
        print("localstack: starting (host mode, loopback) ...", flush=True)
        started = time.monotonic()
        process, endpoint, log = start(Path(tmp))
        try:
            try:
                health = wait_healthy(endpoint, process, log)
            except RuntimeError as exc:
                print(f"localstack: {exc}", file=sys.stderr)
                print(log.read_text(errors="replace")[-4000:], file=sys.stderr)
                return 2
            print(
                f"localstack: {health.get('version')} ready at {endpoint} in {time.monotonic() - started:.1f} s",
                flush=True,
            )
            # The command can find what the sync function wrote through its EFS mount.
            command_env = {**os.environ, "LOCALSTACK_ENDPOINT": endpoint, "STACKPROOF_EFS_ROOT": str(Path(tmp) / "efs")}
            return run_all(commands, env=command_env)
        finally:
            stop(process)
            print("localstack: stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
