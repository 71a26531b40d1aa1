"""``stackproof run``: build each target's model, run the checks under pytest, print a
controls x targets table. Models are built before pytest starts, so bad input ends the run
with one message (exit 2) instead of a screen of identical ERRORs."""

from __future__ import annotations

import dataclasses
import datetime
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from stackproof import catalogue, targets
from stackproof.gate.findings import parse_tools, run_tool
from stackproof.plugin import session_key
from stackproof.reports.console import print_session
from stackproof.reports.write import write_reports
from stackproof.results.gating import broken_suppressions, failing_tool_findings, gating
from stackproof.results.session import Session
from stackproof.results.suppressions import SuppressionFileError
from stackproof.support import paths

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


class RunError(Exception):
    """Usage or input error: the message is for the user; exit 2."""


@dataclass
class RunOptions:
    targets: str = "template,moto"
    template: str | None = None
    params: str | None = None
    region: str = "us-east-1"
    checks: str | None = None
    keyword: str | None = None
    verbose: bool = False
    stack_name: str | None = None
    profile: str | None = None
    reports: str | None = None  # directory for reports/<run-id>/ (default: the project's reports/)
    fail_on: str | None = None  # lowest severity whose FAIL or ERROR fails the run (default: any)
    write_reports: bool = True
    suppressions: str | None = None  # a suppressions file
    tools: str = "cfn-lint,checkov"  # run on the template target; "none" leaves them out
    reference: str | None = None  # a reference system (dashboard, analytics) instead of --template


def prepare(options: RunOptions, out: TextIO) -> Session:
    try:
        chosen = targets.parse_targets(options.targets)
    except targets.TargetError as exc:
        raise RunError(str(exc)) from None
    template, params = options.template, options.params
    if options.reference is not None:
        if template is not None:
            raise RunError("give --reference or --template, not both")
        try:
            template = str(paths.reference_template(options.reference))
        except ValueError as exc:
            raise RunError(str(exc)) from None
        if params is None and paths.reference_params(options.reference).exists():
            params = str(paths.reference_params(options.reference))
    if template is None:
        template = str(paths.dashboard_template())
        if params is None and paths.dashboard_params().exists():
            params = str(paths.dashboard_params())
    session = Session(chosen, template, params, options.region, options.stack_name, options.profile)
    try:
        session.load_suppressions(options.suppressions)
    except SuppressionFileError as exc:
        raise RunError(str(exc)) from None
    target_options = targets.TargetOptions(template, params, options.region, options.stack_name, options.profile)
    for name in chosen:
        started = time.perf_counter()
        print(f"stackproof: building the {name} model of {template} ...", file=out, flush=True)
        target = targets.load(name, target_options)
        session.opened.append(target)
        try:
            model = target.deployment()
        except targets.TargetError as exc:
            session.close()
            raise RunError(str(exc)) from None
        except Exception as exc:  # an emulator or API failure: say which target, no traceback
            session.close()
            raise RunError(f"target {name}: {type(exc).__name__}: {exc}") from None
        session.models[name] = model
        calls = f", {sum(model.api_calls.values())} API calls" if model.api_calls else ""
        print(
            f"stackproof:   {model.count()} objects{calls} in {time.perf_counter() - started:.2f} s",
            file=out,
            flush=True,
        )
    return session


class _Inject:
    """Hands the prepared session to the plugin before it configures its own."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def pytest_configure(self, config: object) -> None:
        config.stash[session_key] = self.session  # type: ignore[attr-defined]


def run_checks(session: Session, options: RunOptions, out: TextIO) -> int:
    import pytest

    checks = Path(options.checks) if options.checks else paths.checks_dir()
    if not checks.exists():
        raise RunError(f"{checks}: no such checks directory")
    # --assert=plain: stackproof is imported already, and checks report evidence, not rewritten asserts.
    argv = [
        str(checks),
        "-qq",
        "-rN",
        "--tb=no",
        "--assert=plain",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=--strict-markers",
    ]
    argv += ["--rootdir", str(paths.project_root())]
    if options.keyword:
        argv += ["-k", options.keyword]
    tools = chosen_tools(options) if "template" in session.targets else ()
    with ThreadPoolExecutor(max_workers=max(1, len(tools))) as pool:
        # The tools are subprocesses: they run while pytest does.
        pending = [pool.submit(run_tool, tool, session.template) for tool in tools]
        if tools:
            print(f"stackproof: {' and '.join(tools)} on {session.template} ...", file=out, flush=True)
        print(f"stackproof: running checks in {checks} on {', '.join(session.targets)} ...", file=out, flush=True)
        code = pytest.main(argv, plugins=[_Inject(session)])
        session.tool_reports = [future.result() for future in pending]
    if code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RunError(f"pytest could not run the checks (exit {int(code)})")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED or not session.results:
        raise RunError("no checks were collected")
    if not options.keyword:
        problems = catalogue.validate_coverage(catalogue.load(), session.collected_controls)
        if problems:
            raise RunError("the checks do not match the catalogue:\n  " + "\n  ".join(problems))
    failing = (
        gating(session.results, options.fail_on)
        or failing_tool_findings(session, options.fail_on)
        or broken_suppressions(session)
    )
    return EXIT_FINDINGS if failing else EXIT_OK


def chosen_tools(options: RunOptions) -> tuple[str, ...]:
    try:
        return parse_tools(options.tools)
    except ValueError as exc:
        raise RunError(str(exc)) from None


def main(options: RunOptions, out: TextIO = sys.stdout) -> int:
    """One run; with ``--reference dashboard,analytics`` one run per reference, one report."""
    started = datetime.datetime.now(datetime.UTC)
    references: list[str | None] = [r.strip() for r in (options.reference or "").split(",") if r.strip()] or [None]
    sessions: list[Session] = []
    code = EXIT_OK
    for reference in references:
        session: Session | None = None
        try:
            session = prepare(dataclasses.replace(options, reference=reference), out)
            code = max(code, run_checks(session, options, out))
        except RunError as exc:
            print(f"stackproof: {exc}", file=sys.stderr)
            return EXIT_USAGE
        finally:
            if session is not None:
                session.close()
        sessions.append(session)
        print_session(session, options.verbose, out, reference if len(references) > 1 else None)
    if options.write_reports:
        directory = write_reports(sessions, code, started, Path(options.reports) if options.reports else None)
        print(f"stackproof: reports in {directory}", file=out)
    return code
