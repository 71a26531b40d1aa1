"""The pytest plugin: options, markers, and the ``deployment`` fixture over targets.

In the manner of pytest-testinfra's ``host`` fixture, ``deployment`` is parametrized over
the selected targets (``--target template,moto``) with readable IDs. A check marked with
a control whose catalogue entry excludes the target is skipped with that reason. Verdicts
are fail-closed: an Undecidable check, or a deployment that could not be built, is ERROR.

Installed, the plugin is loaded into every pytest run of the virtualenv, so it stays inert
until asked: its options all begin with ``--stackproof-`` (the short ``--target`` and friends
exist only where stackproof's own checks and scenarios are collected, through their
conftest), nothing is read or resolved at configure time, and a test is stackproof's only if
the ``deployment`` or ``drill_stack`` it requests is this plugin's fixture.
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
from stackproof.results.evaluate import absent_part, status_for
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
FIXTURES = ("deployment", "drill_stack", "host")

# (name, help, argparse keywords); each is --stackproof-NAME everywhere and --NAME where the
# built-in checks or scenarios are collected (add_short_options).
OPTIONS: list[tuple[str, str, dict[str, Any]]] = [
    ("target", "comma-separated targets (default: template)", {}),
    (
        "template",
        "CloudFormation template, directory or glob; repeat for a stack set (default: the dashboard reference)",
        {"action": "append"},
    ),
    ("reference", "a reference system instead of --template", {"choices": list(paths.REFERENCE_NAMES)}),
    ("params", "parameters file: CloudFormation CLI JSON or a plain mapping", {}),
    ("region", "region for pseudo parameters and Fn::GetAZs (default: us-east-1)", {}),
    ("stack-name", "target aws: the existing stack to read", {}),
    ("profile", "target aws: a profile of the standard credential chain", {}),
    (
        "deadline",
        "target aws: seconds the whole read may take (default: STACKPROOF_DEADLINE, else 900)",
        {"metavar": "SECONDS"},
    ),
    ("suppressions", "a suppressions file (YAML; see stackproof.results.suppressions)", {}),
    (
        "allow-destructive",
        "target aws: let drills change the named stack (with --account-id and --stack-name)",
        {"action": "store_true"},
    ),
    ("account-id", "target aws: the account drills may change", {}),
    (
        "require-drills",
        "a drill that was skipped fails the run (exit 1), with the reason; else only drills the catalogue requires",
        {"action": "store_true"},
    ),
    (
        "fis-role-arn",
        "target aws: the IAM role AWS FIS assumes for RES-03/RES-04's experiments (default: $STACKPROOF_FIS_ROLE_ARN)",
        {"metavar": "ARN"},
    ),
    (
        "system",
        "the system the deployment implements (default: its Metadata)",
        {"choices": list(paths.REFERENCE_NAMES)},
    ),
]
DEFAULTS = {"target": "template", "region": "us-east-1"}


def _dest(name: str) -> str:
    return "stackproof_" + name.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("stackproof", "stackproof compliance checks")
    for name, text, extra in OPTIONS:
        default = False if extra.get("action") == "store_true" else None
        group.addoption(f"--stackproof-{name}", dest=_dest(name), default=default, help=text, **extra)
    group.addoption(
        "--stackproof-reports",
        default=None,
        metavar="DIR",
        help="write stackproof's reports (JSON, JUnit, SARIF, HTML, Markdown) for this run to DIR/<run-id>/",
    )


def add_short_options(parser: pytest.Parser) -> None:
    """``--target`` for ``--stackproof-target`` and so on: for the conftest of the built-in
    checks and scenarios, so ``pytest checks --target moto`` reads as it always has."""
    group = parser.getgroup("stackproof", "stackproof compliance checks")
    present = {n for argument in group.options for n in argument.names()}
    for name, text, extra in OPTIONS:
        if f"--{name}" in present:  # checks and scenarios collected together
            continue
        default = False if extra.get("action") == "store_true" else None
        group.addoption(f"--{name}", dest=_dest(name), default=default, help=f"{text} (--stackproof-{name})", **extra)


def option(config: pytest.Config, name: str) -> Any:
    value = config.getoption(_dest(name), None)
    return DEFAULTS.get(name) if value is None else value


def asked(config: pytest.Config) -> bool:
    """Whether any stackproof option was given on this command line."""
    given = [config.getoption(_dest(name), None) for name, _, _ in OPTIONS]
    return any(v not in (None, False) for v in given) or config.getoption("stackproof_reports", None) is not None


def register_markers(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")


def deadline_of(config: pytest.Config) -> float | None:
    """``--stackproof-deadline`` in seconds (None: not given). Raises ``TargetError``."""
    given = option(config, "deadline")
    if given is None:
        return None
    from stackproof.targets import parse_deadline

    return parse_deadline(given, "--stackproof-deadline")


def pytest_configure(config: pytest.Config) -> None:
    if not (asked(config) or session_key in config.stash):
        return
    from stackproof.targets import TargetError

    try:  # a bad value is one line before anything runs, not an error per collected module
        deadline_of(config)
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    register_markers(config)
    directory = config.getoption("stackproof_reports", None)
    if directory and not hasattr(config, "workerinput"):
        config.stash[writer_key] = ReportWriter(directory)
        config.pluginmanager.register(config.stash[writer_key])


def session_of(config: pytest.Config) -> Session:
    """The run's session: handed in by ``stackproof run``, or made from the options the first
    time a stackproof check is collected."""
    if session_key not in config.stash:
        from stackproof import targets

        try:
            chosen = targets.parse_targets(option(config, "target"))
            templates, params = paths.template_and_params(
                option(config, "template"), option(config, "params"), option(config, "reference")
            )
            deadline = deadline_of(config)
        except (targets.TargetError, ValueError) as exc:
            raise pytest.UsageError(str(exc)) from None
        session = Session(
            chosen,
            templates[0],
            params,
            option(config, "region"),
            option(config, "stack-name"),
            option(config, "profile"),
            templates=templates,
            system=option(config, "system"),
            allow_destructive=bool(option(config, "allow-destructive")),
            account_id=option(config, "account-id"),
            deadline=deadline,
        )
        try:
            session.load_suppressions(option(config, "suppressions"))
        except SuppressionFileError as exc:
            raise pytest.UsageError(str(exc)) from None
        config.stash[session_key] = session
    return config.stash[session_key]


def pytest_unconfigure(config: pytest.Config) -> None:
    writer = config.stash.get(writer_key, None)
    if writer is not None:
        del config.stash[writer_key]
        config.pluginmanager.unregister(writer)
    state = config.stash.get(session_key, None)
    if state is not None:
        state.close()


session_key = pytest.StashKey[Session]()


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
not_run_key = pytest.StashKey[list[str]]()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A required drill that did not run fails the run, as under ``stackproof drill``."""
    state = session.config.stash.get(session_key, None)
    if state is None or not state.drill_controls:
        return
    from stackproof.results.gating import drills_not_run

    required = bool(option(session.config, "require-drills"))
    problems = drills_not_run(state.results, state.drill_controls, required)
    session.config.stash[not_run_key] = problems
    if problems and exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for problem in config.stash.get(not_run_key, []):
        terminalreporter.write_line(f"stackproof: {problem}")


def ours(name2fixturedefs: Any) -> str | None:
    """Which of this plugin's fixtures a test requests (``deployment`` or ``drill_stack``);
    None when it requests neither, or a fixture of the same name of its own project."""
    for name in FIXTURES:
        definitions = (name2fixturedefs or {}).get(name)
        if definitions and getattr(definitions[-1].func, "__module__", None) == __name__:
            return name
    return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    name = ours(getattr(metafunc, "_arg2fixturedefs", None))
    if name == "host":
        marker = metafunc.definition.get_closest_marker("control")
        refs = host_refs(metafunc.config, str(marker.args[0]) if marker and marker.args else None)
        several = len(session_of(metafunc.config).targets) > 1
        ids = [f"{r.target}:{r.label}" if several and r.instance_id else r.label for r in refs]
        metafunc.parametrize(name, refs, indirect=True, ids=ids)
    elif name is not None:
        chosen = session_of(metafunc.config).targets
        metafunc.parametrize(name, chosen, indirect=True, ids=chosen)


fleets_key = pytest.StashKey[dict[str, Any]]()


def host_refs(config: pytest.Config, cid: str | None) -> list[Any]:
    """The hosts a host check runs on, per target, in the manner of testinfra's ``host``:
    resolved at collection, one test per instance. A target that cannot show the control, or
    has no instances (the template), is one parameter that skips; a fleet that could not be
    opened is one that is ERROR. The fleets are opened once and closed with the session."""
    from stackproof.targets import host_fleet

    state = session_of(config)
    control = catalogue.load().get(cid or "")
    fleets = config.stash.setdefault(fleets_key, {})
    refs: list[Any] = []
    for target in state.targets:
        if target == "template":
            refs.append(
                host_fleet.HostRef(target, problem="skip: no hosts: the template has no instances to run commands on")
            )
            continue
        if control is not None and target not in control.targets:
            only = ", ".join(control.targets)
            refs.append(
                host_fleet.HostRef(target, problem=f"skip: {cid} cannot be shown on target {target} (only on {only})")
            )
            continue
        if control is not None and system_of(state) not in control.references:
            refs.append(
                host_fleet.HostRef(
                    target, problem=f"skip: {cid} is a promise of the {', '.join(control.references)} reference"
                )
            )
            continue
        if target not in fleets:
            try:
                fleets[target] = host_fleet.open_fleet(target, state.target_options())
                state.opened.append(fleets[target])
            except host_fleet.NoInstances as exc:
                fleets[target] = host_fleet.HostRef(target, problem=f"skip: no hosts: {exc}")
            except Exception as exc:  # the verdict of every host check on it is ERROR
                fleets[target] = host_fleet.HostRef(target, problem=f"no hosts: {type(exc).__name__}: {exc}")
        found = fleets[target]
        refs += found.hosts if isinstance(found, host_fleet.Fleet) else [found]
        if isinstance(found, host_fleet.Fleet) and not found.hosts:
            refs.append(host_fleet.HostRef(target, problem="no hosts: the stack has no instance in service"))
    return refs


def system_of(state: Session) -> str:
    """The system the run's template claims (``--system``, else its Metadata), read without
    building a model: host checks decide at collection whether to open a fleet at all."""
    if state.system:
        return state.system
    from stackproof.template.cfn_yaml import load_text

    try:
        data = load_text(Path(state.template).read_text(encoding="utf-8"), state.template, warnings=[])
        declared = data["Metadata"]["stackproof"]["reference"]
    except Exception:
        return "dashboard"
    return declared if isinstance(declared, str) and declared else "dashboard"


def control_of(item: pytest.Item) -> str | None:
    marker = item.get_closest_marker("control")
    return str(marker.args[0]) if marker and marker.args else None


def fixture_of(item: pytest.Item) -> str | None:
    info = getattr(item, "_fixtureinfo", None)
    return ours(info.name2fixturedefs) if info is not None else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    checks = [item for item in items if fixture_of(item) is not None]
    if not checks:
        return
    controls = catalogue.load()
    state = session_of(config)
    for item in checks:
        cid = control_of(item)
        if cid is None:
            raise pytest.UsageError(f"{item.nodeid}: a check on `deployment` needs @pytest.mark.control('ID')")
        if cid not in controls:
            known = ", ".join(controls)
            raise pytest.UsageError(f"{item.nodeid}: unknown control {cid} (the catalogue has {known})")
        state.collected_controls.setdefault(cid, []).append(item.nodeid)
        if fixture_of(item) == "drill_stack":
            state.drill_controls.add(cid)


@pytest.fixture
def deployment(request: pytest.FixtureRequest) -> Deployment:
    target = str(request.param)
    cid = control_of(request.node)
    if cid is not None:
        control = catalogue.load()[cid]
        if target not in control.targets:
            pytest.skip(f"{cid} cannot be shown on target {target} (only on {', '.join(control.targets)})")
    model = session_of(request.config).model(target)
    if cid is not None and model.reference not in catalogue.load()[cid].references:
        refs = ", ".join(catalogue.load()[cid].references)
        pytest.skip(f"{cid} is a promise of the {refs} reference, not of {model.reference}")
    return model


@pytest.fixture
def host(request: pytest.FixtureRequest) -> Any:
    """testinfra's Host for one instance of the target, reached through SSM Run Command
    (``ssm://INSTANCE_ID``): a command that did not run, or output SSM cut, is ERROR."""
    ref = request.param
    if ref.problem.startswith("skip: "):
        pytest.skip(ref.problem.removeprefix("skip: "))
    if ref.problem:
        raise Undecidable(f"target {ref.target}: {ref.problem}")
    fleet = request.config.stash[fleets_key][ref.target]
    boot = fleet.boots.get(ref.instance_id)
    if boot is not None and boot.exit_code != 0:
        lines = (boot.stderr or boot.stdout or "").strip().splitlines()
        request.node.user_properties.append(
            ("note", f"{ref.instance_id}: the user data exited {boot.exit_code}: {lines[-1] if lines else ''}")
        )
    request.node.user_properties.append(("note", f"host {ref.instance_id} ({ref.zone})"))
    return fleet.host(ref)


@pytest.fixture
def drill_stack(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A freshly deployed stack a drill may change (emulators), or the named live stack once
    the guards allow it. Whatever the emulator deployed is gone when the test ends."""
    from stackproof.drills.guards import GuardRefused

    target = str(request.param)
    cid = control_of(request.node)
    if cid is not None and target not in catalogue.load()[cid].targets:
        pytest.skip(f"{cid} cannot be shown on target {target} (only on {', '.join(catalogue.load()[cid].targets)})")
    state = session_of(request.config)
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
        yield live_stack(state)
    except GuardRefused as exc:
        if "--allow-destructive" in str(exc) or "--account-id" in str(exc):
            pytest.skip(f"not allowed: {exc}")
        raise Undecidable(str(exc)) from None


def live_stack(state: Session) -> Any:
    import boto3

    from stackproof.drills.guards import TOUCHED, check_allowed, check_tagged, live_tags
    from stackproof.targets.aws_calls import CallRecorder, ClientCache
    from stackproof.targets.stack_handle import StackHandle

    allowed, account = state.allow_destructive, state.account_id
    check_allowed(allowed, account, None, state.stack_name)
    session = boto3.Session(profile_name=state.profile, region_name=state.region)
    # The run's one botocore Config and one client per service and region. Not read-only: the
    # guards above decided this drill may change the stack; the hook is on these clients only,
    # so the credential providers' STS calls (role_arn profiles, web identity, SSO) work.
    client = ClientCache(session, CallRecorder())
    actual = client("sts").get_caller_identity()["Account"]
    stack_name = check_allowed(allowed, account, actual, state.stack_name)

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
    param = fixture_of(item)
    state = item.config.stash.get(session_key, None)
    if param is None or state is None:
        return
    if report.when == "call" or (report.when == "setup" and not report.passed):
        status = status_of(report, call.excinfo)
        report.user_properties.append(("stackproof_status", status))
        cid = control_of(item)
        if cid is None:
            return
        callspec = getattr(item, "callspec", None)
        target = str(callspec.params.get(param)) if callspec else "?"
        message, evidence = "", []
        if call.excinfo is not None:
            error = call.excinfo.value
            if isinstance(error, ControlFailed):
                evidence = [
                    {
                        "message": e.message,
                        "resources": [str(r) for r in e.resources],
                        "locations": [
                            {"file": r.file, "line": r.line, "resource": r.resource, "stack": r.stack}
                            for r in e.resources
                        ],
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
        model = state.models.get(target)
        known_model = model if model is not None and not isinstance(model, Exception) else None
        raised = call.excinfo.value if call.excinfo else None
        absent = absent_part(raised, cid, known_model) if known_model is not None else None
        if absent is not None and status == FAIL:
            status, message, evidence = SKIP, absent, []
            report.outcome = "skipped"
            report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {absent}")
            report.user_properties.remove(("stackproof_status", FAIL))
            report.user_properties.append(("stackproof_status", status))
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
