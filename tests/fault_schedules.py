"""Seeded fault schedules against deployed stacks, read by the ``aws`` target through
:mod:`tests.fault_proxy` (issue 13).

The reference and mutants are deployed on one moto server (loopback), each in an account of
its own (moto maps AssumeRole credentials to the role's account), so they need no reset
between them. A clean run of each stack through the proxy records the operations it makes;
a schedule is then, from the seed, one of those operations, a fault kind and once or
always. Every (stack, schedule) is judged against the stack's fault-free verdicts:

- a control PASS under the fault and not PASS without it (fail open);
- a FAIL or ERROR that became SKIP (a live account's gap read as "not emulated");
- a traceback: the read or a check crashing instead of ERROR rows or a clean target error;
- a run the gate would let through (``--fail-on critical``) where the fault-free run fails it;
- a run longer than its deadline plus one attempt's timeouts and a clean read's duration.

Run the long variant with ``python -m tests.fault_schedules --schedules 360 --seed 13``: it
prints one row per schedule and exits 1 on any failure.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.fault_proxy import KINDS, LIST_KINDS, Fault, FaultProxy

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "reference" / "cloudformation" / "dashboard.yaml"
REGION = "eu-west-1"
REFERENCE = "reference"
# Mutants whose control the aws target shows on moto, across the families.
MUTANT_STACKS = (
    "admin-inline-policy",  # IAM-03
    "imdsv1-allowed",  # IAM-02
    "http-listener-forwards",  # TLS-02
    "tls10-policy",  # TLS-03
    "content-bucket-allows-http",  # TLS-04
    "db-open-to-vpc-range",  # NET-03
    "ssh-by-separate-ingress",  # NET-05
    "db-backups-3-days",  # DAT-02
    "content-versioning-suspended",  # DAT-05
    "max-size-10",  # SCL-02
    "app-logs-forever",  # OBS-01
    "sync-timeout-1000",  # QTA-03
)
# The tests lower the client's read timeout so that a delayed answer costs seconds, not the
# product's 20 s per attempt; the deadline is the run's own, given to the target.
READ_TIMEOUT = 3.0
DEADLINE = 120.0  # a clean read takes 5-25 s on a loaded machine
# A persistent delay runs under this deadline: the run must end within it plus one attempt.
SHORT_DEADLINE = 10.0
# Its operation is one of the run's first calls, reached well before SHORT_DEADLINE even where
# making each service's client takes seconds (the tenth call came after 4 s on an idle machine).
EARLY = 5
FAILING = ("FAIL", "ERROR")


@dataclass(frozen=True)
class Schedule:
    number: int
    stack: str
    fault: Fault
    deadline: float = DEADLINE


@dataclass
class Run:
    """One read of a stack and the verdict of every control the aws target shows."""

    verdicts: dict[str, str]
    messages: dict[str, str]
    seconds: float
    target_error: str | None = None
    crash: str | None = None
    calls: list[Any] = field(default_factory=list)  # the calls answered as moto answered them
    hits: int = 0  # calls of the faulted operation

    def gate_fails(self, critical: frozenset[str]) -> bool:
        """Whether ``stackproof run --fail-on critical`` would exit non-zero."""
        return (
            self.target_error is not None
            or self.crash is not None
            or any(self.verdicts.get(c) in FAILING for c in critical)
        )


@dataclass
class Outcome:
    schedule: Schedule
    run: Run
    problems: list[str]


def controls() -> list[str]:
    from stackproof import catalogue

    return sorted(c for c, entry in catalogue.load().items() if "aws" in entry.targets)


def critical() -> frozenset[str]:
    from stackproof import catalogue

    return frozenset(c for c, entry in catalogue.load().items() if entry.severity == "critical")


class Lab:
    """moto's server, the proxy before it, and the stacks deployed each in its account; a
    credentials file with one profile per (stack, lane) so concurrent runs are told apart by
    their access keys."""

    def __init__(self, stacks: list[str], lanes: int, work: Path) -> None:
        self.stacks = stacks
        self.lanes = lanes
        self.work = work
        self.profiles: dict[tuple[str, int], tuple[str, str]] = {}  # -> (profile, access key)
        self._lane_keys: dict[tuple[str, int], dict[str, str]] = {}
        self.accounts = {stack: f"{100000000001 + i}" for i, stack in enumerate(stacks)}
        self.moto: Any = None
        self.proxy: FaultProxy | None = None
        self.free: dict[str, list[int]] = {s: list(range(lanes)) for s in stacks}
        self.lane_lock = threading.Condition()

    def start(self) -> None:
        from moto.server import ThreadedMotoServer

        from stackproof.emulator.moto_patches import install
        from stackproof.support.ports import free_port

        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # its request log and moto's crashes
        install()
        port = free_port()
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.moto.start()
        self.upstream = f"http://127.0.0.1:{port}"
        self.proxy = FaultProxy(self.upstream, READ_TIMEOUT).start()

    def stop(self) -> None:
        if self.proxy is not None:
            self.proxy.stop()
        if self.moto is not None:
            self.moto.stop()

    def credentials(self, account: str) -> dict[str, str]:
        import boto3

        sts = boto3.client("sts", region_name=REGION, endpoint_url=self.upstream)
        answer = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/x", RoleSessionName="fault")["Credentials"]
        return {
            "aws_access_key_id": answer["AccessKeyId"],
            "aws_secret_access_key": answer["SecretAccessKey"],
            "aws_session_token": answer["SessionToken"],
        }

    def deploy(self, stack: str) -> None:
        """``stack`` (the reference or a mutant's name) created in its own account, and one
        profile of that account per lane."""
        import boto3

        from stackproof.build.lambda_zip import build_zip
        from stackproof.targets import deploy
        from tests.mutants import MUTANTS

        assert self.upstream.startswith("http://127.0.0.1:")  # loopback only, ever
        account = self.accounts[stack]
        keys = self.credentials(account)
        session = boto3.Session(region_name=REGION, **keys)
        s3 = session.client("s3", endpoint_url=self.upstream)
        code = build_zip(ROOT / "reference" / "lambda" / "s3_to_efs", self.work / f"{stack}.zip")
        deploy.upload_code(s3, f"code-{account}", "s3_to_efs.zip", code, REGION)
        parameters = {
            "CertificateArn": deploy.import_certificate(
                session.client("acm", endpoint_url=self.upstream), "d.example.com"
            ),
            "SyncFunctionCodeBucket": f"code-{account}",
            "DomainName": "d.example.com",
        }
        mutant = next((m for m in MUTANTS if m.name == stack), None)
        template = mutant.apply(TEMPLATE, self.work) if mutant else TEMPLATE
        cfn = session.client("cloudformation", endpoint_url=self.upstream)
        deploy.create_stack(cfn, stack, template, parameters, s3=s3, staging_bucket=f"code-{account}")
        for lane in range(self.lanes):
            lane_keys = self.credentials(account)
            self.profiles[(stack, lane)] = (f"{stack}-{lane}", lane_keys["aws_access_key_id"])
            self._lane_keys[(stack, lane)] = lane_keys

    def write_profiles(self) -> Path:
        path = self.work / "credentials"
        lines = []
        for (stack, lane), keys in sorted(self._lane_keys.items()):
            lines.append(f"[{stack}-{lane}]")
            lines += [f"{k} = {v}" for k, v in keys.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    @contextmanager
    def lane(self, stack: str) -> Iterator[tuple[str, str]]:
        """A profile of ``stack``'s account no other run is using: (profile, access key)."""
        with self.lane_lock:
            while not self.free[stack]:
                self.lane_lock.wait()
            number = self.free[stack].pop()
        try:
            yield self.profiles[(stack, number)]
        finally:
            with self.lane_lock:
                self.free[stack].append(number)
                self.lane_lock.notify_all()

    def read(self, stack: str, fault: Fault | None, deadline: float = DEADLINE) -> Run:
        """The aws target's read of ``stack`` through the proxy with ``fault``, judged."""
        from stackproof.results.evaluate import evaluate
        from stackproof.targets import TargetError, TargetOptions
        from stackproof.targets.aws import AwsTarget

        assert self.proxy is not None
        with self.lane(stack) as (profile, access_key):
            lane = self.proxy.set(access_key, fault)
            options = TargetOptions(str(TEMPLATE), None, REGION, stack_name=stack, profile=profile, probe_tls=False)
            started = time.monotonic()
            try:
                model = AwsTarget(options, deadline=deadline).deployment()
            except TargetError as exc:
                seconds = time.monotonic() - started
                return Run(
                    {}, {}, seconds, target_error=str(exc).splitlines()[0], calls=list(lane.calls), hits=lane.hits
                )
            except Exception as exc:  # what a user would see as a traceback
                seconds = time.monotonic() - started
                return Run(
                    {}, {}, seconds, crash=f"read: {type(exc).__name__}: {exc}", calls=list(lane.calls), hits=lane.hits
                )
            seconds = time.monotonic() - started
            self.proxy.set(access_key, None)
            calls, hits = list(lane.calls), lane.hits
        verdicts, messages, crash = {}, {}, None
        for control in controls():
            try:
                verdicts[control], messages[control] = evaluate(model, control, crashes=True)
            except Exception as exc:
                crash = f"{control}: {type(exc).__name__}: {exc}"
                verdicts[control], messages[control] = "ERROR", crash
        return Run(verdicts, messages, seconds, crash=crash, calls=calls, hits=hits)


def judge(baseline: Run, run: Run, deadline: float) -> list[str]:
    """What is wrong with ``run`` (under a fault, with ``deadline``) against the fault-free ``baseline``."""
    from stackproof.targets.aws_calls import CONNECT_TIMEOUT

    problems = []
    if run.crash:
        problems.append(f"traceback: {run.crash}")
    for control, before in baseline.verdicts.items():
        after = "ERROR" if run.target_error else run.verdicts.get(control, "ERROR")
        if after == "PASS" and before != "PASS":
            problems.append(f"{control}: {before} became PASS under the fault")
        if after == "SKIP" and before in FAILING:
            problems.append(f"{control}: {before} became SKIP: {run.messages.get(control, '')}")
    if baseline.gate_fails(critical()) and not run.gate_fails(critical()):
        problems.append("--fail-on critical would exit 0 where the fault-free run fails")
    # After the deadline the read still builds the model from what it has: as long as a clean
    # read at most (it was 20 s on a loaded machine), on top of one attempt's timeouts.
    limit = deadline + CONNECT_TIMEOUT + READ_TIMEOUT + max(5.0, baseline.seconds)
    if run.seconds > limit:
        problems.append(f"took {run.seconds:.1f} s, past the deadline of {deadline:.0f} s (+ margin)")
    return problems


def schedules(seed: int, count: int, recorded: dict[str, list[Any]]) -> list[Schedule]:
    """``count`` schedules from ``seed``: the stacks in turn, the kinds x once/always in a
    shuffled cycle, and an operation from the stack's clean run that the kind can change
    (a list kind needs a list with an item; first page needs two). A persistent delay runs
    under SHORT_DEADLINE, to prove the deadline bounds a run whose calls never answer."""
    rng = random.Random(seed)
    combos = [(kind, persistent) for kind in KINDS for persistent in (False, True)]
    stacks = sorted(recorded)
    chosen = []
    for number in range(count):
        if number % len(combos) == 0:
            rng.shuffle(combos)
        kind, persistent = combos[number % len(combos)]
        stack = stacks[number % len(stacks)]
        calls = recorded[stack]
        deadline = SHORT_DEADLINE if (kind, persistent) == ("delay", True) else DEADLINE
        if deadline == SHORT_DEADLINE:
            calls = calls[:EARLY]  # reached before the short deadline passes
        least = {"emptied": 1, "first-page": 2}.get(kind, 0)
        operations = sorted({c.operation for c in calls if kind not in LIST_KINDS or (c.items or 0) >= least})
        if not operations:
            operations = sorted({c.operation for c in calls if c.items is not None})
        chosen.append(Schedule(number, stack, Fault(rng.choice(operations), kind, persistent), deadline))
    return chosen


@contextmanager
def environment(lab: Lab) -> Iterator[None]:
    """The process's AWS settings for the runs: the proxy as endpoint, the lanes' profiles."""
    assert lab.proxy is not None
    saved = dict(os.environ)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ENDPOINT_URL=lab.proxy.endpoint,
        AWS_SHARED_CREDENTIALS_FILE=str(lab.write_profiles()),
        AWS_CONFIG_FILE="/dev/null",
        AWS_DEFAULT_REGION=REGION,
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def lowered_read_timeout() -> Iterator[None]:
    from stackproof.targets import aws_calls

    saved = aws_calls.READ_TIMEOUT
    aws_calls.READ_TIMEOUT = READ_TIMEOUT
    try:
        yield
    finally:
        aws_calls.READ_TIMEOUT = saved


@dataclass
class Campaign:
    baselines: dict[str, Run]
    outcomes: list[Outcome]
    seconds: float


def campaign(stacks: list[str], seed: int, count: int, workers: int, work: Path) -> Campaign:
    """Deploy ``stacks``, record their clean runs, then run ``count`` schedules from ``seed``."""
    started = time.monotonic()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    lab = Lab(stacks, lanes=workers, work=work)
    lab.start()
    try:
        for stack in stacks:
            lab.deploy(stack)
        with environment(lab), lowered_read_timeout():
            baselines = {stack: lab.read(stack, None) for stack in stacks}
            for stack, run in baselines.items():
                if run.crash or run.target_error:
                    raise RuntimeError(f"the fault-free read of {stack} failed: {run.crash or run.target_error}")
            plan = schedules(seed, count, {s: r.calls for s, r in baselines.items()})

            def one(schedule: Schedule) -> Outcome:
                run = lab.read(schedule.stack, schedule.fault, schedule.deadline)
                return Outcome(schedule, run, judge(baselines[schedule.stack], run, schedule.deadline))

            with ThreadPoolExecutor(max_workers=workers) as pool:
                outcomes = list(pool.map(one, plan))
    finally:
        lab.stop()
    return Campaign(baselines, outcomes, time.monotonic() - started)


def table(result: Campaign) -> str:
    lines = [f"{'#':>4}  {'stack':<28} {'fault':<62} {'hits':>4} {'secs':>5}  result"]
    for outcome in result.outcomes:
        s = outcome.schedule
        changed = sorted(c for c, v in outcome.run.verdicts.items() if v != result.baselines[s.stack].verdicts.get(c))
        summary = (
            "; ".join(outcome.problems)
            if outcome.problems
            else f"ok: target error: {outcome.run.target_error}"
            if outcome.run.target_error
            else f"ok: {len(changed)} changed ({', '.join(changed[:6])}{'...' if len(changed) > 6 else ''})"
        )
        lines.append(
            f"{s.number:>4}  {s.stack:<28} {s.fault!s:<62} {outcome.run.hits:>4} {outcome.run.seconds:>5.1f}  {summary}"
        )
    failures = sum(1 for o in result.outcomes if o.problems)
    lines.append(
        f"{len(result.outcomes)} schedules on {len(result.baselines)} stacks in {result.seconds:.0f} s: {failures} failed"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fault_schedules", description=__doc__.split("\n\n")[0])
    parser.add_argument("--schedules", type=int, default=44)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--workers", type=int, default=4, help="runs at once (threads; the waits overlap)")
    parser.add_argument("--stacks", default=",".join((REFERENCE, *MUTANT_STACKS)), help="reference and mutant names")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        result = campaign(args.stacks.split(","), args.seed, args.schedules, args.workers, Path(work))
    print(table(result))
    return 1 if any(o.problems for o in result.outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
