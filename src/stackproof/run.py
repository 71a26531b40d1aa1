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

from stackproof import catalogue, paths, targets
from stackproof.plugin import Session, session_key
from stackproof.results import ERROR, FAIL, FAILING, PASS, RANK, SKIP, SUPPRESSED, Result
from stackproof.suppressions import SuppressionFileError
from stackproof.tool_findings import ToolFinding, parse_tools, run_tool

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


def failing_tool_findings(session: Session, fail_on: str | None) -> list[ToolFinding]:
    return [
        finding
        for report in session.tool_reports
        for finding in report.findings
        if finding.status in FAILING and at_or_above(finding.severity, fail_on)
    ]


def broken_suppressions(session: Session) -> list[str]:
    """Suppressions that cannot apply (expired, no reason, no owner, unknown control): each
    fails the run, whatever the checks found."""
    return [f"{s.source}: suppression of {s.control}: {s.problem}" for s in session.suppressions if s.problem]


def at_or_above(severity: str, fail_on: str | None) -> bool:
    order = catalogue.SEVERITIES
    return fail_on is None or order.index(severity) >= order.index(fail_on)


def gating(results: list[Result], fail_on: str | None) -> list[Result]:
    """The FAIL and ERROR results that fail the run: all of them, or those of controls at
    ``fail_on`` severity or above."""
    controls = catalogue.load()
    return [r for r in results if r.status in FAILING and at_or_above(controls[r.control].severity, fail_on)]


def worst(results: list[Result]) -> str:
    return max((r.status for r in results), key=RANK.__getitem__, default="-")


def table(session: Session) -> str:
    controls = catalogue.load()
    by_key: dict[tuple[str, str], list[Result]] = {}
    for result in session.results:
        by_key.setdefault((result.control, result.target), []).append(result)
    width = max(len(t) for t in session.targets) + 2
    lines = [f"{'control':<8} {'sev':<8} " + "".join(f"{t:<{width}}" for t in session.targets) + " statement"]
    for cid, control in controls.items():
        if not any((cid, t) in by_key for t in session.targets):
            continue
        cells = "".join(f"{worst(by_key.get((cid, t), [])):<{width}}" for t in session.targets)
        lines.append(f"{cid:<8} {control.severity:<8} {cells} {control.title[:70]}")
    return "\n".join(lines)


def details(session: Session, verbose: bool) -> str:
    lines = []
    for result in session.results:
        if result.status in FAILING:
            lines.append(f"{result.status} {result.control} [{result.target}] {result.check}")
            lines += [f"    {line}" for line in result.message.splitlines()]
        elif result.status == SUPPRESSED and result.suppression:
            accepted = result.suppression
            lines.append(
                f"{result.status} {result.control} [{result.target}] {result.check}: {accepted['reason']}"
                f" (owner {accepted['owner']}, expires {accepted['expires']}, {accepted['source']})"
            )
        elif verbose and (result.notes or result.status == SKIP):
            lines.append(f"{result.status} {result.control} [{result.target}] {result.check}")
            lines += [f"    {line}" for note in result.notes for line in note.splitlines()]
            if result.status == SKIP:
                lines.append(f"    {result.message}")
    for report in session.tool_reports:
        for finding in report.findings:
            if finding.status in FAILING or verbose:
                where = f" {finding.resource}" if finding.resource else ""
                at = f" ({finding.file}:{finding.line})" if finding.line else ""
                why = f" — {finding.justification}" if finding.justification else ""
                lines.append(f"{finding.status} {report.tool}:{finding.rule}{where}{at}: {finding.message}{why}")
    lines += [f"SUPPRESSION {problem}" for problem in broken_suppressions(session)]
    return "\n".join(lines)


def tool_lines(session: Session) -> str:
    lines = []
    for report in session.tool_reports:
        if report.status != "ran":
            lines.append(f"{report.tool}: ERROR ({report.status}) {report.message}")
            continue
        counts = {s: sum(f.status == s for f in report.findings) for s in (FAIL, SUPPRESSED)}
        passed = f"{report.passed} passed, " if report.tool == "checkov" else ""
        lines.append(
            f"{report.tool} {report.version or ''}: {passed}{counts[FAIL]} failed, {counts[SUPPRESSED]} suppressed"
        )
    return "\n".join(lines)


def summary(session: Session) -> str:
    counts = {s: sum(r.status == s for r in session.results) for s in (PASS, FAIL, ERROR, SKIP, SUPPRESSED)}
    return ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no results"


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
        print_session(session, options, out, reference if len(references) > 1 else None)
    if options.write_reports:
        directory = write_reports(sessions, code, started, Path(options.reports) if options.reports else None)
        print(f"stackproof: reports in {directory}", file=out)
    return code


def print_session(session: Session, options: RunOptions, out: TextIO, reference: str | None) -> None:
    print(file=out)
    if reference:
        print(f"== reference {reference} ({session.template})", file=out)
    print(table(session), file=out)
    if session.tool_reports:
        print(tool_lines(session), file=out)
    text = details(session, options.verbose)
    if text:
        print(file=out)
        print(text, file=out)
    drift = drift_report(session)
    if drift:
        print(file=out)
        print(drift, file=out)
    print(f"\nstackproof: {summary(session)}", file=out)


def write_reports(
    sessions: Session | list[Session], code: int, started: datetime.datetime, root: Path | None = None
) -> Path:
    """All five formats in ``root/<run-id>/`` (default: the project's reports/), and ``latest``.
    Several sessions (one per reference) make one report: ``report.json`` keeps each result's
    reference; the other formats show reference and target together (``analytics/moto``)."""
    import json

    from stackproof.reports import html_report, junit_xml, run_report, sarif, summary_md

    ended = datetime.datetime.now(datetime.UTC)
    identifier = run_report.run_id(started)
    chosen = sessions if isinstance(sessions, list) else [sessions]
    report = run_report.combine(
        [run_report.build(s, code, run_report.RunTimes(started, ended), identifier) for s in chosen]
    )
    shown = run_report.by_reference_and_target(report)
    root = root or paths.project_root() / "reports"
    directory = root / identifier
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    (directory / "summary.md").write_text(summary_md.render(shown), encoding="utf-8")
    (directory / "junit.xml").write_text(junit_xml.render(shown), encoding="utf-8")
    (directory / "report.html").write_text(html_report.render(shown), encoding="utf-8")
    (directory / "report.sarif").write_text(json.dumps(sarif.render(shown), indent=2) + "\n", encoding="utf-8")
    latest = root / "latest"
    if latest.is_symlink() or latest.exists():
        latest.unlink()
    latest.symlink_to(identifier, target_is_directory=True)
    return directory


def drift_report(session: Session) -> str:
    """Drift of each deployed target against the template, when both ran."""
    from stackproof.drift import compare
    from stackproof.model.deployment import Deployment

    template = session.models.get("template")
    if not isinstance(template, Deployment):
        return ""
    lines = []
    for name, model in session.models.items():
        if name != "template" and isinstance(model, Deployment):
            lines += [f"DRIFT [{name}] {d}" for d in compare(template, model)]
    return "\n".join(lines)
