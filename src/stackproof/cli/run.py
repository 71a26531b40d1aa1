"""``stackproof run`` and ``stackproof drill``: build each target's model, run the checks (or
the drills) under pytest, print a controls x targets table and write the reports. Models are
built before pytest starts, so bad input ends the run with one message (exit 2) instead of a
screen of identical ERRORs.

pytest runs isolated from the project it is started in: none of that project's pytest
configuration (``-c`` the null file) and none of the other plugins installed in its virtualenv
(autoloading off, stackproof's plugin named), so a team's own suite and ours leave each other
alone."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pytest

from stackproof import catalogue, targets
from stackproof.gate.findings import loader_report, parse_tools, run_tool
from stackproof.plugin import control_of, session_key
from stackproof.reports.console import baseline_lines, print_session
from stackproof.reports.run_report import deployed_where
from stackproof.reports.write import write_reports
from stackproof.results import baseline as baselines
from stackproof.results.coverage import MOSTLY_SHOWN, drills_ran, shortfall, verdict
from stackproof.results.gating import broken_suppressions, drills_not_run, failing_tool_findings, gating
from stackproof.results.session import Session
from stackproof.results.suppressions import SuppressionFileError
from stackproof.support import paths
from stackproof.template.stack_set import StackSetError, expand

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


DEFAULT_REGION = "us-east-1"  # the template target's pseudo parameters when nothing names a region


class RunError(Exception):
    """Usage or input error: the message is for the user; exit 2."""


@dataclass
class RunOptions:
    targets: str = "template,moto"
    template: list[str] = field(default_factory=list)  # a deployment's templates: files, directories, globs
    params: str | None = None
    region: str | None = None  # None: us-east-1, or for target aws the profile's, else the environment's
    checks: list[str] = field(default_factory=list)  # a team's own check directories or packages
    builtin_checks: bool = True  # False: only the directories in ``checks``
    keyword: str | None = None
    verbose: bool = False
    stack_name: str | None = None
    profile: str | None = None
    reports: str | None = None  # directory for <run-id>/ (default: ./reports/ of the working directory)
    fail_on: str | None = None  # lowest severity whose FAIL or ERROR fails the run (default: any)
    write_reports: bool = True
    suppressions: str | None = None  # a suppressions file
    tools: str = "cfn-lint,checkov"  # run on the template target; "none" leaves them out
    reference: str | None = None  # a reference system (dashboard, analytics) instead of --template
    template_urls: list[str] = field(default_factory=list)  # PREFIX=DIR: where nested stacks' templates are
    system: str | None = None  # the system the deployment implements (default: its Metadata, else dashboard)
    min_coverage: float | None = None  # percent of a target's controls that must be proven
    drills: list[str] | None = None  # `stackproof drill`: the scenarios' controls to run ([] = all)
    allow_destructive: bool = False  # drills on aws
    account_id: str | None = None  # drills on aws
    require_drills: bool = False  # a drill that was skipped fails the run (else only catalogue-required ones)
    deadline: float | None = None  # target aws: seconds for the whole read (None: STACKPROOF_DEADLINE, else 900)
    baseline: str | None = None  # a baseline file: the findings it holds are BASELINED, not failing


def run_region(chosen: list[str], options: RunOptions) -> str:
    """``--region``; else, when the aws target reads an account, the region its credential chain
    names (the profile's, else AWS_REGION / AWS_DEFAULT_REGION), which every target of the run
    then shares; else us-east-1, the template target's pseudo-parameter default."""
    if options.region:
        return options.region
    if "aws" not in chosen:
        return DEFAULT_REGION
    from stackproof.targets.aws import resolve_region

    try:
        region = resolve_region(options.profile)
    except targets.TargetError as exc:
        raise RunError(str(exc)) from None
    if not region:
        raise RunError("target aws: no region (give --region, set region in the profile, or set AWS_REGION)")
    return region


def new_session(options: RunOptions) -> Session:
    try:
        chosen = targets.parse_targets(options.targets)
        templates, params = paths.template_and_params(options.template, options.params, options.reference)
        files = expand(templates)
    except (targets.TargetError, ValueError, StackSetError) as exc:
        raise RunError(str(exc)) from None
    urls = []
    for given in options.template_urls:
        prefix, _, directory = given.partition("=")
        if not prefix or not directory or not Path(directory).is_dir():
            raise RunError(f"--template-url {given}: expected PREFIX=DIR with an existing directory")
        urls.append((prefix, directory))
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise RunError(f"{missing[0]}: no such template file")
    if params is not None and not Path(params).is_file():
        raise RunError(f"{params}: no such parameters file")
    session = Session(
        chosen,
        templates[0],
        params,
        run_region(chosen, options),
        options.stack_name,
        options.profile,
        templates=templates,
        template_urls=urls,
        system=options.system,
        allow_destructive=options.allow_destructive,
        account_id=options.account_id,
        deadline=options.deadline,
    )
    try:
        session.load_suppressions(options.suppressions)
    except SuppressionFileError as exc:
        raise RunError(str(exc)) from None
    return session


def prepare(options: RunOptions, out: TextIO) -> Session:
    session = new_session(options)
    target_options = session.target_options()
    for name in session.targets:
        started = time.perf_counter()
        print(f"stackproof: building the {name} model of {', '.join(session.templates)} ...", file=out, flush=True)
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
        session.models[name] = session.claim(model)
        session.template_warnings += getattr(target, "warnings", [])
        calls = f", {sum(model.api_calls.values())} API calls" if model.api_calls else ""
        print(
            f"stackproof:   {model.count()} objects{calls} in {time.perf_counter() - started:.2f} s",
            file=out,
            flush=True,
        )
        where = deployed_where(model) if name == "aws" else {}
        if where:
            stacks = ", ".join(where["stacks"])
            print(f"stackproof:   account {where['account']}, region {model.region}, stacks {stacks}", file=out)
            for deployed in where["deployed_templates"]:
                digest = deployed["sha256"]
                print(f"stackproof:   stack {deployed['stack']}: deployed template sha256 {digest}", file=out)
    return session


class _Inject:
    """Hands the prepared session to the plugin before it configures its own and, for drills,
    keeps only the scenarios of the chosen controls."""

    def __init__(self, session: Session, only: list[str] | None = None) -> None:
        self.session = session
        self.only = only
        self.available: set[str] = set()
        self.broken: list[str] = []  # modules that could not be collected, with pytest's reason

    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config: Any) -> None:
        config.stash[session_key] = self.session

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:  # the error itself, not pytest's import machinery
            lines = report.longreprtext.rstrip().splitlines()
            shown = [line[2:] for line in lines if line.startswith("E ")] or lines[-5:]
            self.broken.append(f"{report.nodeid or 'collection'}: " + "\n  ".join(shown).strip())

    def pytest_collection_modifyitems(self, config: Any, items: list[Any]) -> None:
        if not self.only:
            return
        self.available = {c for c in map(control_of, items) if c}
        chosen = [item for item in items if control_of(item) in self.only]
        config.hook.pytest_deselected(items=[item for item in items if item not in chosen])
        items[:] = chosen


def check_directories(options: RunOptions) -> list[Path]:
    """The built-in checks (or scenarios) and the team's own: each ``--checks`` value a
    directory, or, as with pytest's ``--pyargs``, an importable package."""
    builtin = paths.scenarios_dir() if options.drills is not None else paths.checks_dir()
    found = [builtin] if options.builtin_checks else []
    for given in options.checks:
        path = Path(given)
        if path.is_dir():
            found.append(path.resolve())
            continue
        if path.exists():
            raise RunError(f"{given}: not a directory (--checks takes a directory of test_*.py modules or a package)")
        try:
            spec = importlib.util.find_spec(given) if given.replace(".", "").replace("_", "").isalnum() else None
        except (ImportError, ValueError):
            spec = None
        if spec is None or not spec.submodule_search_locations:
            raise RunError(f"{given}: no such checks directory or importable package")
        found.append(Path(next(iter(spec.submodule_search_locations))).resolve())
    if not found:
        raise RunError("--no-builtin-checks needs at least one --checks DIR")
    return list(dict.fromkeys(found))


@contextmanager
def plugin_autoload_off() -> Iterator[None]:
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


def run_checks(session: Session, options: RunOptions, out: TextIO) -> int:
    directories = check_directories(options)
    # --assert=plain: stackproof is imported already, and checks report evidence, not rewritten asserts.
    argv = [str(d) for d in directories]
    argv += ["-qq", "-rN", "--tb=no", "--assert=plain", "-p", "stackproof.plugin", "-p", "no:cacheprovider"]
    argv += ["-c", os.devnull, "--rootdir", str(Path.cwd()), "-o", "addopts=--strict-markers"]
    if options.keyword:
        argv += ["-k", options.keyword]
    tools = chosen_tools(options) if "template" in session.targets and options.drills is None else ()
    injected = _Inject(session, options.drills)
    what = "drills" if options.drills is not None else "checks"
    with ThreadPoolExecutor(max_workers=max(1, len(tools))) as pool:
        # The tools are subprocesses: they run while pytest does.
        files = [str(f) for f in expand(session.templates or [session.template])]
        pending = [pool.submit(run_tool, tool, file) for tool in tools for file in files]
        if tools:
            print(f"stackproof: {' and '.join(tools)} on {', '.join(files)} ...", file=out, flush=True)
        shown = ", ".join(map(str, directories))
        print(f"stackproof: running {what} in {shown} on {', '.join(session.targets)} ...", file=out, flush=True)
        with plugin_autoload_off():
            code = pytest.main(argv, plugins=[injected])
        session.tool_reports = [future.result() for future in pending]
    if session.template_warnings and options.drills is None:
        session.tool_reports.append(loader_report(session.template_warnings))
    if injected.broken:
        raise RunError(f"could not collect the {what}:\n" + "\n".join(injected.broken))
    if code in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
        raise RunError(f"pytest could not run the {what} (exit {int(code)})")
    if options.drills:
        unknown = [c for c in options.drills if c not in injected.available]
        if unknown:
            have = ", ".join(sorted(injected.available)) or "none"
            raise RunError(f"no drill for {', '.join(unknown)} (drills: {have})")
    if code == pytest.ExitCode.NO_TESTS_COLLECTED or not session.results:
        raise RunError(f"no {what} were collected")
    if not options.keyword and options.builtin_checks and options.drills is None:
        problems = catalogue.validate_coverage(catalogue.load(), session.collected_controls)
        if problems:
            raise RunError("the checks do not match the catalogue:\n  " + "\n  ".join(problems))
    if session.baseline is not None:
        baselines.apply(session.baseline, session.results, session.tool_reports)
    session.problems = shortfall(session.coverage(), options.min_coverage)
    session.problems += drills_not_run(session.results, session.drill_controls, options.require_drills)
    failing = (
        gating(session.results, options.fail_on)
        or failing_tool_findings(session, options.fail_on)
        or broken_suppressions(session)
        or session.problems
    )
    return EXIT_FINDINGS if failing else EXIT_OK


def chosen_tools(options: RunOptions) -> tuple[str, ...]:
    try:
        return parse_tools(options.tools)
    except ValueError as exc:
        raise RunError(str(exc)) from None


def execute(options: RunOptions, out: TextIO) -> tuple[int, list[Session]]:
    """Every reference's session of one run, checked (with the baseline applied) and printed;
    ``EXIT_USAGE`` and no sessions when the input is bad (the message is on stderr)."""
    references: list[str | None] = [r.strip() for r in (options.reference or "").split(",") if r.strip()] or [None]
    try:
        baseline = baselines.load(options.baseline) if options.baseline else None
    except baselines.BaselineError as exc:
        print(f"stackproof: {exc}", file=sys.stderr)
        return EXIT_USAGE, []
    sessions: list[Session] = []
    code = EXIT_OK
    for reference in references:
        session: Session | None = None
        chosen = dataclasses.replace(options, reference=reference)
        try:
            session = new_session(chosen) if options.drills is not None else prepare(chosen, out)
            session.baseline = baseline
            code = max(code, run_checks(session, options, out))
        except RunError as exc:
            print(f"stackproof: {exc}", file=sys.stderr)
            return EXIT_USAGE, []
        finally:
            if session is not None:
                session.close()
        sessions.append(session)
        print_session(session, options.verbose, out, reference if len(references) > 1 else None, session.problems)
    if baseline is not None:
        results = [dataclasses.asdict(r) for s in sessions for r in s.results]
        ran = {t.tool for s in sessions for t in s.tool_reports if t.status == "ran"}
        summary = baselines.summary(baseline, results, ran)
        for session in sessions:
            session.baseline_summary = summary
        print(file=out)
        print("\n".join(baseline_lines(summary)), file=out)
    return code, sessions


def main(options: RunOptions, out: TextIO | None = None) -> int:
    """One run; with ``--reference dashboard,analytics`` one run per reference, one report.
    Drills build no model first: each deploys (or, on aws, guards) the stack it changes."""
    out = out or sys.stdout  # looked up per call: a test's captured stream may be gone by the next
    started = datetime.datetime.now(datetime.UTC)
    code, sessions = execute(options, out)
    if not sessions:
        return code
    coverage = [c for s in sessions for c in s.coverage()]
    drilled = {c for s in sessions for c in s.drill_controls}
    drills = drills_ran([dataclasses.asdict(r) for s in sessions for r in s.results], drilled)
    outcome = verdict(code, coverage, drills if drills.total else None)
    thin = [str(c) for c in coverage if c.percent < MOSTLY_SHOWN]
    print(f"stackproof: {outcome}" + (f" (shown too little: {'; '.join(thin)})" if thin else ""), file=out)
    if options.write_reports:
        directory = write_reports(sessions, code, started, Path(options.reports) if options.reports else None)
        print(f"stackproof: reports in {directory}", file=out)
    return code
