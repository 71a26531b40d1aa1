"""``stackproof sweep environments.yaml``: ``stackproof run --target aws`` for every environment
of the file, concurrently, and one report of them all.

Each environment is one task (:class:`Task`: the environment's names, ARNs and region, never a
key) run by :func:`run_environment` wherever the executor puts it: this process, a thread of an
embedded Dask cluster, or a Dask worker process on this or another machine. There it is the
run's own engine: the session of ``stackproof run``, the ``aws`` target's model, the checks
under pytest (:func:`stackproof.cli.run.run_checks`) and the report data
(:func:`run_report.build`). An environment that cannot be read comes back as ERROR results that
name why, never as a gap or a PASS, and counts towards the exit code by the same gating rules."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import io
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from stackproof import catalogue, targets
from stackproof.cli.run import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, RunError, RunOptions, new_session, run_checks
from stackproof.reports import run_report, sweep_console, sweep_report
from stackproof.reports.write import write_report
from stackproof.results import ERROR, Result
from stackproof.results.coverage import MOSTLY_SHOWN, shortfall
from stackproof.results.gating import broken_suppressions, gating
from stackproof.results.session import Session
from stackproof.sweep import credentials, executors
from stackproof.sweep.environments import Environment, EnvironmentsError, load

# pytest keeps state per process (sys.stdout, its capture, plugin autoloading): one check run at
# a time per process. Reading the accounts, the slow part, is not held by it.
_pytest_lock = threading.Lock()
NOT_READ = sweep_console.NOT_READ


@dataclass(frozen=True)
class Task:
    """What a worker is sent for one environment: names, ARNs, region and gate settings only."""

    environment: Environment
    fail_on: str | None = None
    min_coverage: float | None = None
    suppressions: str | None = None


@dataclass
class Outcome:
    """What a worker sends back: the environment's report data, its exit code, and how reading went."""

    environment: Environment
    report: dict[str, Any]
    exit_code: int
    account: str | None
    error: str | None
    seconds: float
    log: str = ""
    worker: str | None = None  # host/pid of the process that ran it (None: its worker was lost)

    def summary(self) -> dict[str, Any]:
        """The environment as ``run.environments`` lists it."""
        env = self.environment
        return {
            "name": env.name,
            "account": self.account,
            "region": env.region,
            "stacks": list(env.stacks),
            "system": env.system,
            "profile": env.profile,
            "role_arn": env.role_arn,
            "status": "error" if self.error else "read",
            "message": self.error or "",
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 2),
            "worker": self.worker,
        }


@dataclass
class SweepOptions:
    file: str
    mode: executors.Mode = dataclasses.field(default_factory=lambda: executors.Mode(executors.PROCESSES))
    reports: str | None = None
    write_reports: bool = True
    fail_on: str | None = None
    min_coverage: float | None = None
    suppressions: str | None = None
    verbose: bool = False


def run_environment(task: Task) -> Outcome:
    """One environment, start to end, on whichever worker runs it. Never raises: whatever goes
    wrong becomes that environment's ERROR results."""
    started = datetime.datetime.now(datetime.UTC)
    clock = time.perf_counter()
    env = task.environment
    log = io.StringIO()
    options = RunOptions(
        targets="aws",
        region=env.region,
        stack_name=env.stack_name,
        system=env.system,
        fail_on=task.fail_on,
        min_coverage=task.min_coverage,
        suppressions=task.suppressions,
        tools="none",
        write_reports=False,
    )
    session: Session | None = None
    account: str | None = env.account
    try:
        options = dataclasses.replace(options, profile=credentials.profile_for(env))
        session = new_session(options)
        account = read(session, env, log)
        with _pytest_lock, contextlib.redirect_stdout(io.StringIO()):
            code = run_checks(session, options, log)
        times = run_report.RunTimes(started, datetime.datetime.now(datetime.UTC))
        report = run_report.build(session, code, times, run_report.run_id(started))
        seconds = time.perf_counter() - clock
        return Outcome(env, report, code, account, None, seconds, log.getvalue(), this_worker())
    except (RunError, targets.TargetError) as exc:
        why = str(exc)
    except Exception as exc:  # anything else the run met: that environment's ERROR, never the sweep's end
        why = f"{type(exc).__name__}: {exc}"
    finally:
        if session is not None:
            session.close()
    return not_read(task, why, account, started, time.perf_counter() - clock, log.getvalue(), this_worker())


def read(session: Session, env: Environment, log: TextIO) -> str | None:
    """The environment's ``aws`` model into ``session``, as ``stackproof run`` prepares it
    (this target's probe setting added): the account it was read in, checked against the file's."""
    target_options = dataclasses.replace(session.target_options(), probe_tls=env.tls_probe)
    target: Any = targets.load("aws", target_options)
    session.opened.append(target)
    started = time.perf_counter()
    model = target.deployment()
    session.models["aws"] = session.claim(model)
    calls = sum(model.api_calls.values())
    seconds = time.perf_counter() - started
    print(f"stackproof: {env.name}: {model.count()} objects, {calls} API calls in {seconds:.2f} s", file=log)
    account = run_report.deployed_where(model).get("account") or target.account
    if env.account is not None and account != env.account:
        raise RunError(f"the stacks were read in account {account}, not {env.account} as the environments file says")
    return str(account) if account else None


def not_read(
    task: Task,
    why: str,
    account: str | None,
    started: datetime.datetime,
    seconds: float,
    log: str,
    worker: str | None,
) -> Outcome:
    """An environment that could not be read: an ERROR for each control the ``aws`` target
    shows for its system, naming why, so it fails the sweep as a run's ERROR does. Their check
    is :data:`NOT_READ`."""
    env = task.environment
    message = f"environment {env.name} could not be read: {why}"
    system = env.system or "dashboard"
    given = RunOptions(targets="aws", region=env.region, stack_name=env.stack_name, system=system)
    session = new_session(dataclasses.replace(given, suppressions=task.suppressions))
    session.results = [
        Result(control=c.id, check=NOT_READ, target="aws", status=ERROR, message=message)
        for c in catalogue.load().values()
        if c.active and c.suite == "checks" and "aws" in c.targets and system in c.references
    ]
    session.collected_controls = {r.control: [r.check] for r in session.results}
    failing = (
        gating(session.results, task.fail_on)
        or broken_suppressions(session)
        or shortfall(session.coverage(), task.min_coverage)
    )
    code = EXIT_FINDINGS if failing else EXIT_OK
    times = run_report.RunTimes(started, datetime.datetime.now(datetime.UTC))
    report = run_report.build(session, code, times, run_report.run_id(started))
    return Outcome(env, report, code, account, why, seconds, log, worker)


def this_worker() -> str:
    return f"{socket.gethostname()}/{os.getpid()}"


def main(options: SweepOptions, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = sys.stderr
    try:
        environments = load(Path(options.file))
        check_suppressions(options.suppressions)
    except (EnvironmentsError, RunError) as exc:
        print(f"stackproof: {exc}", file=err)
        return EXIT_USAGE
    started = datetime.datetime.now(datetime.UTC)
    tasks = [Task(e, options.fail_on, options.min_coverage, options.suppressions) for e in environments]
    count = f"{len(tasks)} environment{'s' if len(tasks) != 1 else ''}"
    print(f"stackproof: sweeping {count} ({options.mode.describe()}) ...", file=out, flush=True)
    finished: dict[str, Outcome] = {}
    try:
        for task, result in executors.run(run_environment, tasks, options.mode):
            outcome = result if isinstance(result, Outcome) else lost(task, result, started)
            finished[task.environment.name] = outcome
            summary = outcome.summary()
            line = sweep_console.progress(len(finished), len(tasks), summary, outcome.report["results"])
            print(line, file=out, flush=True)
            if options.verbose and outcome.log:
                print("\n".join(f"    {text}" for text in outcome.log.splitlines()), file=out, flush=True)
    except executors.ExecutorError as exc:
        print(f"stackproof: {exc}", file=err)
        return EXIT_USAGE
    finally:
        if options.mode.kind in (executors.SERIAL, executors.THREADS):
            credentials.restore()
    outcomes = [finished[e.name] for e in environments]
    code = max(o.exit_code for o in outcomes)
    ended = datetime.datetime.now(datetime.UTC)
    times = {"id": run_report.run_id(started), "started": started.isoformat(), "ended": ended.isoformat()}
    summaries = [o.summary() for o in outcomes]
    tagged = [sweep_report.tagged(o.report, s) for o, s in zip(outcomes, summaries, strict=True)]
    report = sweep_report.combine(tagged, summaries, code, times)
    shown = sweep_report.by_environment(report)
    print(file=out)
    print(sweep_console.render(shown, options.verbose), file=out)
    thin = [c for c in report["run"]["coverage"] if c["percent"] < MOSTLY_SHOWN]
    shown_little = f" (shown too little: {', '.join(c['environment'] for c in thin)})" if thin else ""
    unread = [o.environment.name for o in outcomes if o.error]
    print(
        f"stackproof: {report['run']['verdict']}: {len(outcomes) - len(unread)} of {len(outcomes)} environments read"
        + (f"; not read: {', '.join(unread)}" if unread else "")
        + shown_little,
        file=out,
    )
    if options.write_reports:
        directory = write_report(report, shown, Path(options.reports) if options.reports else None)
        print(f"stackproof: reports in {directory}", file=out)
    return code


def lost(task: Task, error: BaseException, started: datetime.datetime) -> Outcome:
    """The task's worker failed (died, or the cluster dropped it): the environment is ERROR."""
    why = f"its worker failed: {type(error).__name__}: {error}"
    return not_read(task, why, task.environment.account, started, 0.0, "", None)


def check_suppressions(file: str | None) -> None:
    """A suppressions file that cannot be read stops the sweep before it starts, as it stops a run."""
    if file is not None:
        new_session(RunOptions(targets="template", suppressions=file))
