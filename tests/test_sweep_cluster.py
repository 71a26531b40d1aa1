"""``stackproof sweep --scheduler``: an existing Dask cluster, a scheduler and two workers started
as their own processes on loopback (``dask scheduler``, ``dask worker tcp://...``), each
worker with its own credential chain in its environment. The sweep's process only sends tasks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sweep_deploy import deploy_small, moto_server
from tests.test_reports import validate
from tests.test_sweep import ACCOUNTS, READER, SECRET, only_loopback

pytestmark = pytest.mark.moto

ENVIRONMENTS = [("c1", ACCOUNTS[0], "eu-west-1"), ("c2", ACCOUNTS[1], "us-west-2"), ("c3", ACCOUNTS[2], "eu-west-1")]


NO_UI = ("--no-dashboard",)


@dataclass
class Cluster:
    address: str
    workers: list[subprocess.Popen[bytes]]
    endpoint: str


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float = 60.0) -> None:
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        if process.poll() is not None:
            raise RuntimeError(f"the scheduler exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {deadline} s")


def stop(processes: list[subprocess.Popen[bytes]]) -> None:
    """Terminate what this test started, by its own handles; kill what does not stop."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from distributed import Client

    from stackproof.support.ports import free_port

    logs = tmp_path_factory.mktemp("cluster")
    started: list[subprocess.Popen[bytes]] = []
    files: list[Any] = []
    with pytest.MonkeyPatch.context() as patch, moto_server() as endpoint:
        for name, account, region in ENVIRONMENTS:
            deploy_small(endpoint, account, region, f"small-{name}")
        only_loopback(patch, endpoint)
        environment = dict(os.environ)
        port = free_port()
        address = f"tcp://127.0.0.1:{port}"
        try:
            scheduler_log = (logs / "scheduler.log").open("wb")
            files.append(scheduler_log)
            scheduler = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "distributed.cli.dask_scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    *NO_UI,
                ],
                env=environment,
                stdout=scheduler_log,
                stderr=subprocess.STDOUT,
            )
            started.append(scheduler)
            wait_for_port(port, scheduler)
            for index in range(2):
                worker_log = (logs / f"worker{index}.log").open("wb")
                files.append(worker_log)
                command = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1"]
                command += ["--nthreads", "1", "--no-nanny", *NO_UI, "--name", f"worker{index}"]
                started.append(subprocess.Popen(command, env=environment, stdout=worker_log, stderr=subprocess.STDOUT))
            with Client(address, timeout=60) as client:
                client.wait_for_workers(2, timeout=60)
            yield Cluster(address, started[1:], endpoint)
        finally:
            stop(list(reversed(started)))
            for file in files:
                file.close()


def test_a_sweep_on_an_existing_cluster_runs_every_environment_on_its_workers(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackproof.cli.main import main

    text = "environments:\n"
    for name, account, region in ENVIRONMENTS:
        text += f"  - name: {name}\n    role_arn: arn:aws:iam::{account}:role/{READER}\n"
        text += f"    region: {region}\n    stacks: small-{name}\n"
    text += f"  - name: ghost\n    role_arn: arn:aws:iam::{ACCOUNTS[3]}:role/{READER}\n"
    text += "    region: eu-west-1\n    stacks: absent\n"
    path = tmp_path / "environments.yaml"
    path.write_text(text)
    with pytest.MonkeyPatch.context() as patch:
        # The sweep's own process has no way to any account: only the workers do.
        patch.delenv("AWS_ENDPOINT_URL", raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "none")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "none")
        code = main(["sweep", str(path), "--scheduler", cluster.address, "--reports", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0] == f"stackproof: sweeping 4 environments (Dask cluster at {cluster.address}) ..."
    (written,) = (tmp_path / "reports").glob("2*/report.json")
    report = validate(written)
    environments = report["run"]["environments"]
    assert [(e["name"], e["account"], e["region"], e["status"]) for e in environments] == [
        *((name, account, region, "read") for name, account, region in ENVIRONMENTS),
        ("ghost", ACCOUNTS[3], "eu-west-1", "error"),
    ]
    pids = {int(e["worker"].rsplit("/", 1)[1]) for e in environments}
    assert pids <= {w.pid for w in cluster.workers}
    assert os.getpid() not in pids
    for name, account, region in ENVIRONMENTS:
        mine = {r["control"]: r["status"] for r in report["results"] if r["environment"] == name}
        assert {c: mine[c] for c in ("IAM-03", "TLS-04", "DEP-02", "NET-02")} == {
            "IAM-03": "FAIL",
            "TLS-04": "FAIL",
            "DEP-02": "FAIL",
            "NET-02": "SKIP",
        }
        assert {(r["account"], r["region"]) for r in report["results"] if r["environment"] == name} == {
            (account, region)
        }
    assert {r["status"] for r in report["results"] if r["environment"] == "ghost"} == {"ERROR"}
    assert SECRET not in out + json.dumps(report)
