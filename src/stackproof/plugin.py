"""The pytest plugin: options, markers, and the ``deployment`` fixture over targets.

In the manner of pytest-testinfra's ``host`` fixture, ``deployment`` is parametrized over
the selected targets (``--target template,moto``) with readable IDs. A check marked with
a control whose catalogue entry excludes the target is skipped with that reason. Verdicts
are fail-closed: an Undecidable check, or a deployment that could not be built, is ERROR.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from stackproof import catalogue
from stackproof.checking import ControlFailed, Undecidable
from stackproof.results import ERROR, FAIL, PASS, SKIP, SUPPRESSED, Result
from stackproof.results.evaluate import status_for
from stackproof.results.session import Session
from stackproof.results.suppressions import SuppressionFileError, matching
from stackproof.support import paths

if TYPE_CHECKING:
    from stackproof.model.deployment import Deployment

MARKERS = {
    "control(id)": "the catalogue control (e.g. NET-02) a check proves",
    "static": "runs on the template alone",
    "deployed": "needs a deployed stack (emulator or account)",
    "live": "needs a live AWS account",
    "destructive": "changes the deployment; runs only where explicitly allowed",
    "scenario": "a restore or resilience drill",
}


session_key = pytest.StashKey[Session]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stackproof", "stackproof compliance checks")
    group.addoption("--target", default="template", help="comma-separated targets (default: template)")
    group.addoption("--template", default=None, help="CloudFormation template (default: the dashboard reference)")
    group.addoption(
        "--reference", default=None, choices=["dashboard", "analytics"], help="a reference system instead of --template"
    )
    group.addoption("--params", default=None, help="parameters file: CloudFormation CLI JSON or a plain mapping")
    group.addoption("--region", default="us-east-1", help="region for pseudo parameters and Fn::GetAZs")
    group.addoption("--stack-name", default=None, help="target aws: the existing stack to read")
    group.addoption("--profile", default=None, help="target aws: a profile of the standard credential chain")
    group.addoption("--suppressions", default=None, help="a suppressions file (YAML; see stackproof.suppressions)")
    group.addoption(
        "--allow-destructive",
        action="store_true",
        help="target aws: let drills change the named stack (with --account-id and --stack-name)",
    )
    group.addoption("--account-id", default=None, help="target aws: the account drills may change")
    group.addoption(
        "--stackproof-reports",
        default=None,
        metavar="DIR",
        help="write stackproof's reports (JSON, JUnit, SARIF, HTML, Markdown) for this run to DIR/<run-id>/",
    )


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    directory = config.getoption("--stackproof-reports", None)
    if directory and not hasattr(config, "workerinput"):
        config.stash[writer_key] = ReportWriter(directory)
        config.pluginmanager.register(config.stash[writer_key])
    if session_key in config.stash:
        return
    from stackproof import targets

    try:
        chosen = targets.parse_targets(config.getoption("--target"))
    except targets.TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    template = config.getoption("--template")
    params = config.getoption("--params")
    reference = config.getoption("--reference")
    if reference is not None:
        if template is not None:
            raise pytest.UsageError("give --reference or --template, not both")
        template = str(paths.reference_template(reference))
        if params is None and paths.reference_params(reference).exists():
            params = str(paths.reference_params(reference))
    if template is None:
        template = str(paths.dashboard_template())
        if params is None and paths.dashboard_params().exists():
            params = str(paths.dashboard_params())
    session = Session(
        chosen,
        template,
        params,
        config.getoption("--region"),
        config.getoption("--stack-name"),
        config.getoption("--profile"),
    )
    try:
        session.load_suppressions(config.getoption("--suppressions"))
    except SuppressionFileError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[session_key] = session


def pytest_unconfigure(config: pytest.Config) -> None:
    writer = config.stash.get(writer_key, None)
    if writer is not None:
        del config.stash[writer_key]
        config.pluginmanager.unregister(writer)
    state = config.stash.get(session_key, None)
    if state is not None:
        state.close()


class ReportWriter:
    """Writes the run's reports when the session ends (as pytest's junitxml plugin does:
    configured here, kept in ``config.stash``, registered and unregistered; silent on xdist
    workers, whose results the controller reports)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)
        self.started = datetime.datetime.now(datetime.UTC)
        self.written: Path | None = None

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from stackproof.reports.write import write_reports

        state = session.config.stash.get(session_key, None)
        if state is None or not state.results:
            return
        failing = any(r.status in ("FAIL", "ERROR") for r in state.results)
        self.written = write_reports(state, 1 if failing else 0, self.started, self.directory)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.written is not None:
            terminalreporter.write_sep("-", f"stackproof reports: {self.written}")


writer_key = pytest.StashKey[ReportWriter]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name in ("deployment", "drill_stack"):
        if name in metafunc.fixturenames:
            chosen = metafunc.config.stash[session_key].targets
            metafunc.parametrize(name, chosen, indirect=True, ids=chosen)


def control_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("control")
    return str(marker.args[0]) if marker and marker.args else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    controls = catalogue.load()
    state = config.stash[session_key]
    for item in items:
        if not {"deployment", "drill_stack"} & set(getattr(item, "fixturenames", ())):
            continue
        cid = control_of(item)
        if cid is None:
            raise pytest.UsageError(f"{item.nodeid}: a check on `deployment` needs @pytest.mark.control('ID')")
        if cid not in controls:
            raise pytest.UsageError(f"{item.nodeid}: unknown control {cid}")
        state.collected_controls.setdefault(cid, []).append(item.nodeid)


@pytest.fixture
def deployment(request: pytest.FixtureRequest) -> Deployment:
    target = str(request.param)
    cid = control_of(request.node)
    if cid is not None:
        control = catalogue.load()[cid]
        if target not in control.targets:
            pytest.skip(f"{cid} cannot be shown on target {target} (only on {', '.join(control.targets)})")
    model = request.config.stash[session_key].model(target)
    if cid is not None and model.reference not in catalogue.load()[cid].references:
        refs = ", ".join(catalogue.load()[cid].references)
        pytest.skip(f"{cid} is a promise of the {refs} reference, not of {model.reference}")
    return model


@pytest.fixture
def drill_stack(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A freshly deployed stack a drill may change (emulators), or the named live stack once
    the guards allow it. Whatever the emulator deployed is gone when the test ends."""
    from stackproof.drills.guards import GuardRefused

    target = str(request.param)
    cid = control_of(request.node)
    if cid is not None and target not in catalogue.load()[cid].targets:
        pytest.skip(f"{cid} cannot be shown on target {target} (only on {', '.join(catalogue.load()[cid].targets)})")
    state = request.config.stash[session_key]
    if target in ("moto", "moto-server"):
        from stackproof import targets

        opened: Any = targets.load(target, targets.TargetOptions(state.template, state.params, state.region))
        try:
            yield opened.open_stack()
        finally:
            opened.close()
        return
    if target != "aws":
        pytest.skip(f"drills do not run on target {target}: it has no stack they can change")
    try:
        yield live_stack(request.config, state)
    except GuardRefused as exc:
        if "--allow-destructive" in str(exc) or "--account-id" in str(exc):
            pytest.skip(f"not allowed: {exc}")
        raise Undecidable(str(exc)) from None


def live_stack(config: pytest.Config, state: Session) -> Any:
    import boto3

    from stackproof.drills.guards import TOUCHED, check_allowed, check_tagged, live_tags
    from stackproof.targets.stack_handle import StackHandle

    allowed = bool(config.getoption("--allow-destructive"))
    account = config.getoption("--account-id")
    check_allowed(allowed, account, None, state.stack_name)
    session = boto3.Session(profile_name=state.profile, region_name=state.region)
    actual = session.client("sts").get_caller_identity()["Account"]
    stack_name = check_allowed(allowed, account, actual, state.stack_name)

    def client(service: str) -> Any:
        return session.client(service)  # type: ignore[call-overload]

    handle = StackHandle(client, stack_name, {}, Path(state.template), state.region, actual, False)
    summaries = client("cloudformation").get_paginator("list_stack_resources").paginate(StackName=stack_name)
    touched = {
        s["LogicalResourceId"]: (s["ResourceType"], s["PhysicalResourceId"])
        for page in summaries
        for s in page["StackResourceSummaries"]
        if s["ResourceType"] in TOUCHED and s.get("PhysicalResourceId")
    }
    check_tagged(stack_name, touched, live_tags(client, state.region, actual))
    return handle


def status_of(report: pytest.TestReport, excinfo: Any) -> str:
    if report.skipped:
        return SKIP
    if report.passed:
        return PASS
    if report.when == "call" and excinfo is not None:
        return status_for(excinfo.value)
    return ERROR  # a crash in a check's setup decides nothing


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        status = status_of(report, call.excinfo)
        report.user_properties.append(("stackproof_status", status))
        state = item.config.stash.get(session_key, None)
        cid = control_of(item)
        names = set(getattr(item, "fixturenames", ()))
        if state is None or cid is None or not {"deployment", "drill_stack"} & names:
            return
        callspec = getattr(item, "callspec", None)
        param = "deployment" if "deployment" in names else "drill_stack"
        target = str(callspec.params.get(param)) if callspec else "?"
        message, evidence = "", []
        if call.excinfo is not None:
            error = call.excinfo.value
            if isinstance(error, ControlFailed):
                evidence = [
                    {
                        "message": e.message,
                        "resources": [str(r) for r in e.resources],
                        "locations": [{"file": r.file, "line": r.line, "resource": r.resource} for r in e.resources],
                        "observed": None if e.observed is None else str(e.observed),
                        "expected": None if e.expected is None else str(e.expected),
                    }
                    for e in error.evidence
                ]
                message = str(error)
            elif call.excinfo.errisinstance(pytest.skip.Exception):
                message = str(getattr(error, "msg", error))
            else:
                message = (
                    f"{type(error).__name__}: {error}"
                    if status == ERROR and not isinstance(error, Undecidable)
                    else str(error)
                )
        notes = [str(v) for k, v in report.user_properties if k == "note"]
        drills = [v for k, v in report.user_properties if k == "drill" and isinstance(v, dict)]
        covering = matching(state.suppressions, cid, target, evidence) if status == FAIL else []
        accepted = covering[0] if covering else None
        if accepted is not None:
            status = SUPPRESSED
            state.applied += covering
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {cid} suppressed: {accepted.reason}")
            report.user_properties.remove(("stackproof_status", FAIL))
            report.user_properties.append(("stackproof_status", status))
        state.results.append(
            Result(
                control=cid,
                check=item.name.split("[")[0],
                target=target,
                status=status,
                message=message,
                evidence=evidence,
                notes=notes,
                duration=round(report.duration, 4),
                suppression=accepted.as_dict("active") if accepted else None,
                drill=drills[-1] if drills else None,
            )
        )
