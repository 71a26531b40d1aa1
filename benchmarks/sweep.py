"""Benchmark: `stackproof sweep` over the same environments three ways, measured in one run:
serial (no Dask, one environment after another), threads (an embedded Dask LocalCluster of
threads in one process) and a Dask LocalCluster of worker processes. Prints environments per
minute for each and the ratio against serial.

moto's server runs in a process of its own (this script started again with --serve), so the
sweep's process and its workers compete with it only for the machine's cores, never for one
interpreter's lock. The environments are spread over 4 accounts (assumed roles) and 3 regions;
by default 12, three of them holding the dashboard reference and the rest a small stack.

    python benchmarks/sweep.py [--environments 12] [--reference 3] [--workers 2] [--runs 1]

Every request stays on loopback: the server listens on 127.0.0.1 and TLS probing is off.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
REGIONS = ("eu-west-1", "us-west-2", "ap-southeast-2")
MODES: tuple[tuple[str, list[str]], ...] = (("serial", ["--serial"]), ("threads", ["--threads"]), ("processes", []))
LOOPBACK_ONLY = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
    "AWS_EC2_METADATA_DISABLED": "true",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def plan(count: int, reference: int) -> list[tuple[str, str, str, str]]:
    """(name, account, region, kind) of each environment: accounts and regions in turn."""
    chosen = []
    for index in range(count):
        account, region = ACCOUNTS[index % len(ACCOUNTS)], REGIONS[(index // len(ACCOUNTS)) % len(REGIONS)]
        kind = "reference" if index < reference else "small"
        chosen.append((f"e{index + 1:02d}", account, region, kind))
    return chosen


def serve(count: int, reference: int) -> int:
    """The server and its deployments; prints the endpoint, then serves until stdin closes. A
    line ``latency SECONDS`` on stdin makes every later request wait that long first, as a
    round trip to AWS does (the server is threaded: waits overlap as they would on the network)."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from tests.sweep_deploy import deploy_reference, deploy_small, moto_server

    os.environ.update(LOOPBACK_ONLY)
    delay = [0.0]
    answer = DomainDispatcherApplication.__call__

    def delayed(self: DomainDispatcherApplication, environ: Any, start_response: Any) -> Any:
        time.sleep(delay[0])
        return answer(self, environ, start_response)

    DomainDispatcherApplication.__call__ = delayed  # type: ignore[method-assign]
    with moto_server() as endpoint:
        for name, account, region, kind in plan(count, reference):
            (deploy_reference if kind == "reference" else deploy_small)(endpoint, account, region, f"{kind}-{name}")
        print(endpoint, flush=True)
        for line in sys.stdin:
            delay[0] = float(line.split()[1])
            print("ok", flush=True)
    return 0


def environments_file(path: Path, count: int, reference: int) -> Path:
    text = "environments:\n"
    for name, account, region, kind in plan(count, reference):
        text += f"  - name: {name}\n    role_arn: arn:aws:iam::{account}:role/reader\n    region: {region}\n"
        text += f"    stacks: {kind}-{name}\n    tls_probe: false\n"
    path.write_text(text, encoding="utf-8")
    return path


def timed(path: Path, mode: list[str], workers: int, quiet: bool = False) -> tuple[float, int]:
    """Seconds of one sweep, and how many environments it read (an unread one is shown unless ``quiet``)."""
    from stackproof.cli.main import main

    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(["sweep", str(path), *mode, "--workers", str(workers), "--no-reports"])
    seconds = time.perf_counter() - started
    progress = [line for line in out.getvalue().splitlines() if line.startswith("stackproof: [")]
    for line in progress:
        if "not read" in line and not quiet:
            print(f"    {line}", file=sys.stderr)
    read = sum("not read" not in line for line in progress)
    return seconds, read if code in (0, 1) else -1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--environments", type=int, default=12)
    parser.add_argument("--reference", type=int, default=3, help="how many of them hold the dashboard reference")
    parser.add_argument("--workers", type=int, default=2, help="threads, and worker processes, of the Dask modes")
    parser.add_argument("--runs", type=int, default=1, help="runs of each mode; the median is shown")
    parser.add_argument(
        "--latency",
        default="0,0.05",
        help="seconds each request waits in the server, comma-separated: a table for each (default: 0,0.05)",
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.environments, args.reference)
    os.environ.update(LOOPBACK_ONLY)
    command = [sys.executable, __file__, "--serve", "--environments", str(args.environments)]
    server = subprocess.Popen(
        [*command, "--reference", str(args.reference)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip()
        if not endpoint.startswith("http://127.0.0.1:"):
            print(f"benchmark: the server did not start ({endpoint!r})", file=sys.stderr)
            return 2
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        print(
            f"{args.environments} environments ({args.reference} dashboard reference, the rest a small stack),"
            f" 4 accounts, 3 regions, moto's server at {endpoint}; {os.cpu_count()} cores"
        )
        with tempfile.TemporaryDirectory() as tmp:
            path = environments_file(Path(tmp) / "environments.yaml", args.environments, args.reference)
            unread = Path(tmp) / "unread.yaml"
            unread.write_text("- name: nowhere\n  profile: nowhere\n  region: eu-west-1\n  stacks: s\n")
            overhead = {label: timed(unread, mode, args.workers, quiet=True)[0] for label, mode in MODES}
            print(
                "start-up (a sweep of one environment that fails at once): "
                + ", ".join(f"{label} {seconds:.1f} s" for label, seconds in overhead.items())
            )
            for latency in (float(v) for v in args.latency.split(",")):
                assert server.stdin is not None
                server.stdin.write(f"latency {latency}\n")
                server.stdin.flush()
                server.stdout.readline()
                print()
                print(f"each request waits {latency * 1000:.0f} ms in the server")
                print(f"{'mode':<36} {'seconds':>8} {'read':>5} {'env/min':>8} {'x serial':>9}")
                serial_rate = 0.0
                for label, mode in MODES:
                    samples = [timed(path, mode, args.workers) for _ in range(args.runs)]
                    seconds = statistics.median(s for s, _ in samples)
                    read = min(r for _, r in samples)
                    rate = 60.0 * args.environments / seconds
                    serial_rate = serial_rate or rate
                    shown = {
                        "serial": "serial (no Dask)",
                        "threads": f"threads (LocalCluster, {args.workers} threads)",
                        "processes": f"processes (LocalCluster, {args.workers} workers)",
                    }[label]
                    print(f"{shown:<36} {seconds:>8.1f} {read:>5} {rate:>8.1f} {rate / serial_rate:>8.2f}x")
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
