"""``stackproof sweep``: every environment of a file read from moto's server on loopback, in 4
accounts and 3 regions (through assumed roles), one report of them all in every format.

Three environments hold the dashboard reference, nine a small stack (real verdicts, quick to
deploy), and two cannot be read (a stack that does not exist, a profile that does not exist):
those are ERROR rows naming why, never missing and never PASS."""

from __future__ import annotations

import itertools
import json
import pickle
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.sweep_deploy import deploy_reference, deploy_small, moto_server
from tests.test_reports import validate

pytestmark = pytest.mark.moto

ACCOUNTS = ("111111111111", "222222222222", "333333333333", "444444444444")
REGIONS = ("eu-west-1", "us-west-2", "ap-southeast-2")
# A key no output may ever show: the workers' own chain holds it, the tasks never do.
SECRET = "sweep-Secr3t-canary-5d1e0b"
READER = "stackproof-reader"


@dataclass(frozen=True)
class Deployed:
    name: str
    account: str
    region: str
    kind: str  # "reference" or "small"


# The reference in one account per region (a1 eu-west-1, a2 us-west-2, a3 ap-southeast-2), the small stack elsewhere.
DEPLOYED = [
    Deployed(f"a{i + 1}-{region}", account, region, "reference" if i == j else "small")
    for i, account in enumerate(ACCOUNTS)
    for j, region in enumerate(REGIONS)
]
UNREAD = {
    "ghost": "stack absent: An error occurred (ValidationError) when calling the DescribeStacks operation:"
    " Stack with id absent does not exist",
    "lost": "target aws: The config profile (nowhere) could not be found",
}
# Cells of the controls x environments matrix, by what the environment holds.
CELLS = {
    "reference": {"NET-02": "PASS", "NET-05": "PASS", "DAT-01": "PASS", "IAM-03": "PASS", "DAT-04": "ERROR"},
    "small": {"NET-02": "SKIP", "NET-05": "SKIP", "IAM-03": "FAIL", "TLS-04": "FAIL", "DEP-02": "FAIL"},
}


def stack_of(d: Deployed) -> str:
    return f"{d.kind}-{d.region}"


def entry(d: Deployed) -> str:
    stacks = f"[{stack_of(d)}]" if d.kind == "reference" else stack_of(d)
    probe = "    tls_probe: false\n" if d.kind == "reference" else ""  # moto's load balancer names resolve nowhere
    return (
        f"  - name: {d.name}\n    role_arn: arn:aws:iam::{d.account}:role/{READER}\n    region: {d.region}\n"
        f"    stacks: {stacks}\n    system: dashboard\n{probe}"
    )


def environments_file(path: Path, chosen: list[Deployed], unread: bool = True) -> Path:
    text = "environments:\n" + "".join(entry(d) for d in chosen)
    if unread:
        text += f"  - name: ghost\n    role_arn: arn:aws:iam::{ACCOUNTS[3]}:role/{READER}\n"
        text += "    region: eu-west-1\n    stacks: absent\n"
        text += "  - name: lost\n    profile: nowhere\n    region: us-west-2\n    stacks: small-us-west-2\n"
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class Server:
    endpoint: str
    directory: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
        with moto_server() as endpoint:
            for d in DEPLOYED:
                deploy = deploy_reference if d.kind == "reference" else deploy_small
                deploy(endpoint, d.account, d.region, stack_of(d))
            yield Server(endpoint, tmp_path_factory.mktemp("sweep"))


def only_loopback(patch: pytest.MonkeyPatch, endpoint: str) -> None:
    """The workers' chain: keys in the environment, every endpoint the server, and any other
    HTTP traffic sent to a closed loopback port. Worker processes inherit it."""
    for key in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        patch.delenv(key, raising=False)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    patch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    patch.setenv("AWS_CONFIG_FILE", "/dev/null")
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    patch.setenv("AWS_ENDPOINT_URL", endpoint)
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    patch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    patch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    patch.setenv("NO_PROXY", "127.0.0.1,localhost")


@dataclass
class Swept:
    code: int
    out: str
    err: str
    report: dict[str, Any]
    directory: Path


RUNS = itertools.count()


def sweep(server: Server, name: str, chosen: list[Deployed], *args: str, unread: bool = True) -> Swept:
    from stackproof.cli.main import main

    directory = server.directory / f"{name}-{next(RUNS)}"
    directory.mkdir()
    path = environments_file(directory / "environments.yaml", chosen, unread)
    out, err = directory / "out.txt", directory / "err.txt"
    with pytest.MonkeyPatch.context() as patch:
        only_loopback(patch, server.endpoint)
        with out.open("w") as stdout, pytest.MonkeyPatch.context() as streams:
            streams.setattr(sys, "stdout", stdout)
            code = main(["sweep", str(path), "--reports", str(directory / "reports"), *args])
    (written,) = (directory / "reports").glob("2*/report.json")
    return Swept(code, out.read_text(), err.read_text() if err.exists() else "", validate(written), written.parent)


@pytest.fixture(scope="module")
def swept(server: Server) -> Swept:
    """The sweep of every environment on the embedded default: a LocalCluster of 2 worker processes."""
    return sweep(server, "processes", DEPLOYED)


def shown_on_aws(system: str = "dashboard") -> list[str]:
    """The controls the aws target shows for ``system``: an unread environment's ERROR rows."""
    from stackproof import catalogue

    controls = catalogue.load().values()
    return sorted(
        c.id for c in controls if c.active and c.suite == "checks" and "aws" in c.targets and system in c.references
    )


def cells(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    from stackproof.results import matrix

    return {(control, env): status for (control, env), status in matrix(by_env(report)).items()}


def by_env(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**r, "target": r["environment"]} for r in report["results"]]


def test_the_sweep_lists_every_environment_in_file_order_with_how_reading_it_went(swept: Swept) -> None:
    listed = [(e["name"], e["account"], e["region"], e["status"]) for e in swept.report["run"]["environments"]]
    expected = [(d.name, d.account, d.region, "read") for d in DEPLOYED]
    expected += [("ghost", ACCOUNTS[3], "eu-west-1", "error"), ("lost", None, "us-west-2", "error")]
    assert listed == expected
    assert {e["name"]: e["message"] for e in swept.report["run"]["environments"] if e["status"] == "error"} == UNREAD
    assert swept.code == 1
    assert swept.report["run"]["exit_code"] == 1
    assert swept.report["run"]["verdict"] == "failed"
    assert swept.report["run"]["region"] == "eu-west-1, us-west-2, ap-southeast-2"
    assert len({d.account for d in DEPLOYED}) == 4
    assert len({d.region for d in DEPLOYED}) == 3


def test_progress_is_one_line_per_environment_as_it_finishes(swept: Swept) -> None:
    lines = [line for line in swept.out.splitlines() if line.startswith("stackproof: [")]
    assert [line.split("]")[0] for line in lines] == [f"stackproof: [{i}/14" for i in range(1, 15)]
    names = sorted(line.split("] ")[1].split(" ")[0] for line in lines)
    assert names == sorted([d.name for d in DEPLOYED] + ["ghost", "lost"])
    assert (
        swept.out.splitlines()[0] == "stackproof: sweeping 14 environments (Dask LocalCluster, 2 worker processes) ..."
    )
    assert "stackproof: failed: 12 of 14 environments read; not read: ghost, lost" in swept.out


@pytest.mark.parametrize("deployed", DEPLOYED, ids=[d.name for d in DEPLOYED])
def test_every_result_names_its_environment_account_and_region(swept: Swept, deployed: Deployed) -> None:
    mine = [r for r in swept.report["results"] if r["environment"] == deployed.name]
    first = {(r["control"], r["check"]) for r in swept.report["results"] if r["environment"] == DEPLOYED[0].name}
    assert sorted((r["control"], r["check"]) for r in mine) == sorted(first)  # every check, once, on every environment
    assert {(r["account"], r["region"], r["target"]) for r in mine} == {(deployed.account, deployed.region, "aws")}
    found = cells(swept.report)
    assert {c: found[(c, deployed.name)] for c in CELLS[deployed.kind]} == CELLS[deployed.kind]
    (coverage,) = [c for c in swept.report["run"]["coverage"] if c["environment"] == deployed.name]
    assert (coverage["account"], coverage["region"], coverage["target"]) == (deployed.account, deployed.region, "aws")


@pytest.mark.parametrize(
    ("name", "account", "region"), [("ghost", ACCOUNTS[3], "eu-west-1"), ("lost", None, "us-west-2")]
)
def test_an_environment_that_cannot_be_read_is_error_rows_naming_why(
    swept: Swept, name: str, account: str | None, region: str
) -> None:
    mine = [r for r in swept.report["results"] if r["environment"] == name]
    assert sorted(r["control"] for r in mine) == shown_on_aws()
    assert {(r["status"], r["account"], r["region"], r["check"]) for r in mine} == {
        ("ERROR", account, region, "environment not read")
    }
    assert {r["message"] for r in mine} == {f"environment {name} could not be read: {UNREAD[name]}"}
    assert f"ERROR {len(mine)} controls [{name} ({account or 'account unknown'}, {region})] environment not read" in (
        swept.out
    )


def test_the_console_matrix_has_a_column_per_environment_and_a_legend(swept: Swept) -> None:
    lines = swept.out.splitlines()
    header = next(line for line in lines if line.startswith("control "))
    assert header.split()[2:-1] == [d.name for d in DEPLOYED] + ["ghost", "lost"]
    net02 = next(line for line in lines if line.startswith("NET-02 "))
    expected = [CELLS[d.kind]["NET-02"] for d in DEPLOYED] + ["ERROR", "ERROR"]
    assert net02.split()[2 : 2 + 14] == expected
    for d in DEPLOYED:
        assert f"  {d.name}: account {d.account}, region {d.region}, stacks {stack_of(d)}" in lines


def test_every_format_names_environment_account_and_region(swept: Swept) -> None:
    import xmlschema

    from stackproof.reports.run_report import SCHEMA

    junit = swept.directory / "junit.xml"
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(junit)
    suites = {
        s.get("name"): {p.get("name"): p.get("value") for p in s.find("properties") or []}
        for s in ET.parse(junit).getroot()
    }
    for d in DEPLOYED:
        properties = suites[f"stackproof.{d.name}"]
        assert (properties["environment"], properties["account"], properties["region"]) == (d.name, d.account, d.region)
    case = next(ET.parse(junit).getroot().iter("testcase"))
    case_properties = {p.get("name"): p.get("value") for p in case.find("properties") or []}
    assert (case_properties["environment"], case_properties["account"]) == (DEPLOYED[0].name, DEPLOYED[0].account)

    sarif = json.loads((swept.directory / "report.sarif").read_text())
    tags = {
        (r["properties"]["environment"], r["properties"]["account"], r["properties"]["region"])
        for r in sarif["runs"][0]["results"]
    }
    assert tags == {(d.name, d.account, d.region) for d in DEPLOYED} | {
        ("ghost", ACCOUNTS[3], "eu-west-1"),
        ("lost", None, "us-west-2"),
    }
    markdown = (swept.directory / "summary.md").read_text()
    html = (swept.directory / "report.html").read_text()
    for d in DEPLOYED:
        assert f" {d.name} ({d.account}, {d.region}) |" in markdown
        assert f"<th>{d.name} ({d.account}, {d.region})</th>" in html
    assert "<th>lost (account unknown, us-west-2)</th>" in html


def test_the_sarif_of_a_sweep_validates_against_the_official_schema(swept: Swept) -> None:
    import jsonschema

    from tests.test_reports import sarif_schema

    schema = sarif_schema()
    jsonschema.Draft7Validator(schema).validate(json.loads((swept.directory / "report.sarif").read_text()))


def test_no_secret_reaches_an_output(swept: Swept) -> None:
    assert SECRET not in swept.out + swept.err
    for path in swept.directory.iterdir():
        assert SECRET not in path.read_text(), path.name


def test_a_task_sent_to_a_worker_carries_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Dask pickles for a worker (the function and the task) holds names and ARNs only."""
    from distributed.protocol.pickle import dumps

    from stackproof.cli.sweep import Task, run_environment
    from stackproof.sweep.environments import load

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET + "-token")
    environments = load(environments_file(tmp_path / "e.yaml", DEPLOYED))
    for environment in environments:
        sent = dumps(run_environment) + dumps(Task(environment, "high", 50.0)) + pickle.dumps(environment)
        assert SECRET.encode() not in sent
        assert b"testing" not in sent  # nor the access key
    sent = dumps(Task(environments[0]))
    assert f"arn:aws:iam::{ACCOUNTS[0]}:role/{READER}".encode() in sent
    assert b"stackproof.cli.sweep" in dumps(run_environment)  # by reference: the worker imports it


def test_the_profile_a_worker_makes_for_a_role_holds_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stackproof.sweep import credentials
    from stackproof.sweep.environments import Environment

    config = tmp_path / "config"
    config.write_text("[profile base]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    role = f"arn:aws:iam::{ACCOUNTS[1]}:role/{READER}"
    try:
        own = credentials.profile_for(Environment("e1", "us-west-2", ("s",), role_arn=role))
        based = credentials.profile_for(Environment("e2", "us-west-2", ("s",), profile="base", role_arn=role))
        text = Path(credentials._state["file"] or "").read_text()
    finally:
        credentials.restore()
    assert SECRET not in text
    assert text.startswith("[profile base]\nregion = eu-west-1\n")  # the user's profiles stay usable
    assert f"[profile {own}]\nrole_arn = {role}\nrole_session_name = stackproof-sweep\nregion = us-west-2\n" in text
    assert "credential_source = Environment\n" in text.split(f"[profile {own}]")[1]
    assert "source_profile = base\n" in text.split(f"[profile {based}]")[1]
    assert credentials.profile_for(Environment("e3", "us-west-2", ("s",), profile="base")) == "base"
    import os

    assert os.environ["AWS_CONFIG_FILE"] == str(config)  # restored


def test_a_sweep_reads_what_stackproof_run_reads(swept: Swept, server: Server, tmp_path: Path) -> None:
    """The same stack through ``stackproof run --target aws`` gives the same verdict for every check."""
    from stackproof.cli.main import main

    small = next(d for d in DEPLOYED if d.kind == "small")
    config = tmp_path / "config"
    config.write_text(
        f"[profile reader]\nrole_arn = arn:aws:iam::{small.account}:role/{READER}\ncredential_source = Environment\n"
    )
    with pytest.MonkeyPatch.context() as patch:
        only_loopback(patch, server.endpoint)
        patch.setenv("AWS_CONFIG_FILE", str(config))
        argv = ["run", "--target", "aws", "--stack-name", stack_of(small), "--region", small.region]
        main([*argv, "--profile", "reader", "--tools", "none", "--reports", str(tmp_path / "reports")])
    (path,) = (tmp_path / "reports").glob("2*/report.json")
    run = json.loads(path.read_text())
    verdicts = sorted((r["control"], r["check"], r["status"]) for r in run["results"])
    mine = sorted(
        (r["control"], r["check"], r["status"]) for r in swept.report["results"] if r["environment"] == small.name
    )
    assert mine == verdicts


SUBSET = [DEPLOYED[0], DEPLOYED[1]]  # a1-eu-west-1 (reference), a1-us-west-2 (small)


@pytest.mark.parametrize(
    ("mode", "first_line"),
    [
        (["--serial"], "stackproof: sweeping 3 environments (one after another, in this process) ..."),
        (["--threads"], "stackproof: sweeping 3 environments (Dask LocalCluster, 2 threads in this process) ..."),
    ],
)
def test_serial_and_threads_give_the_matrix_the_worker_processes_gave(
    server: Server, swept: Swept, mode: list[str], first_line: str
) -> None:
    chosen = [*SUBSET, DEPLOYED[11]]
    result = sweep(server, mode[0].strip("-"), chosen, *mode, unread=False)
    assert result.out.splitlines()[0] == first_line
    names = {d.name for d in chosen}
    expected = {k: v for k, v in cells(swept.report).items() if k[1] in names}
    assert cells(result.report) == expected
    assert result.code == 1


@pytest.mark.parametrize(
    ("args", "code"),
    [
        ([], 1),  # DAT-04 and TLS-05 are ERROR (moto has no Backup selections; probing is off)
        (["--fail-on", "critical"], 0),  # no critical control failed
        (["--fail-on", "high"], 1),
        (["--fail-on", "critical", "--min-coverage", "95"], 1),  # about three quarters of the controls proven
        (["--fail-on", "critical", "--min-coverage", "50"], 0),
    ],
)
def test_the_exit_code_follows_the_gating_rules_of_run(server: Server, args: list[str], code: int) -> None:
    reference = DEPLOYED[0]
    result = sweep(server, "gate", [reference], "--serial", *args, unread=False)
    assert (result.code, result.report["run"]["exit_code"]) == (code, code)


@pytest.mark.parametrize(
    ("args", "code"),
    [([], 1), (["--fail-on", "critical"], 1)],  # an unread environment's critical controls are ERROR
)
def test_an_unread_environment_fails_the_sweep(server: Server, args: list[str], code: int) -> None:
    result = sweep(server, "unread", [], "--serial", *args)
    assert result.code == code
    assert [e["status"] for e in result.report["run"]["environments"]] == ["error", "error"]


@pytest.mark.usefixtures("aws_credentials")
def test_a_static_run_and_a_serial_sweep_never_import_dask(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from stackproof.cli.main import main\n"
        "main(['run', '--target', 'template', '--tools', 'none', '--no-reports'])\n"
        "main(['sweep', sys.argv[1], '--serial', '--no-reports'])\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')], 'dask imported'\n"
    )
    path = tmp_path / "e.yaml"
    path.write_text("- name: nowhere\n  profile: nowhere\n  region: eu-west-1\n  stacks: s\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"stackproof: [1/1] nowhere (account unknown, eu-west-1): {len(shown_on_aws())} error in " in proc.stdout


LINE = "environments:\n  - name: prod\n"
FILE_ERRORS = [
    ("", ": environments: expected a non-empty list of environments"),
    ("environments: []\n", ":1: environments: expected a non-empty list of environments"),
    ("envs: []\n", ":1: envs: unknown key (expected: environments)"),
    ("environments: [\n", ":2: not YAML: expected the node content, but found '<stream end>'"),
    (
        LINE + "    region: eu-west-1\n    stacks: s\n",
        ":2: environment prod: give account, profile or role_arn (whose credentials read it)",
    ),
    (LINE + "    profile: p\n    stacks: s\n", ":2: region: missing"),
    (LINE + "    profile: p\n    region: eu-west-1\n", ":2: stacks: missing"),
    (
        LINE + "    profile: p\n    region: europe\n    stacks: s\n",
        ":4: region: 'europe' is not a region such as eu-west-1",
    ),
    (
        LINE + "    profile: p\n    region: eu-west-1\n    stacks: s\n    colour: red\n",
        ":6: colour: unknown field (fields: name, account, profile, role_arn, region, stacks, system, tls_probe)",
    ),
    (
        LINE + "    account: 111122223333\n    region: eu-west-1\n    stacks: s\n",
        ':3: account: quote the account ID ("111122223333"): YAML reads it as a number',
    ),
    (
        LINE + "    account: '1234'\n    region: eu-west-1\n    stacks: s\n",
        ":3: account: '1234' is not a 12-digit account ID",
    ),
    (
        LINE + "    role_arn: arn:aws:iam::1:role/r\n    region: eu-west-1\n    stacks: s\n",
        ":3: role_arn: 'arn:aws:iam::1:role/r' is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)",
    ),
    (
        LINE
        + "    account: '111122223333'\n    role_arn: arn:aws:iam::222233334444:role/r\n    region: eu-west-1\n    stacks: s\n",
        ":4: role_arn: the role is in 222233334444, the account given is 111122223333",
    ),
    (
        LINE + "    profile: p\n    region: eu-west-1\n    stacks: []\n",
        ":5: stacks: expected at least one stack name, none empty",
    ),
    (LINE + "    profile: p\n    region: eu-west-1\n    stacks: [a, a]\n", ":5: stacks: a stack is named twice"),
    (
        LINE + "    profile: p\n    region: eu-west-1\n    stacks: 'a b'\n",
        ":5: stacks: 'a b' is not a stack name or ARN",
    ),
    (
        LINE + "    profile: p\n    region: eu-west-1\n    stacks: s\n    system: billing\n",
        ":6: system: 'billing' is not one of dashboard, analytics",
    ),
    (
        LINE + "    profile: p\n    region: eu-west-1\n    stacks: s\n    tls_probe: maybe\n",
        ":6: tls_probe: 'maybe' is not true or false",
    ),
    (
        LINE
        + "    profile: p\n    region: eu-west-1\n    stacks: s\n  - name: prod\n    profile: q\n    region: eu-west-1\n    stacks: t\n",
        ":6: name: 'prod' is used twice (first on line 2)",
    ),
    (
        "environments:\n  - name: 'no spaces please'\n",
        ":2: name: 'no spaces please' is not a name (letters, digits, . _ -; up to 63)",
    ),
    ("environments:\n  - just-a-string\n", ":2: environment: expected a mapping of fields"),
]


@pytest.mark.parametrize(
    ("text", "expected"), FILE_ERRORS, ids=[e[1].split(":")[2].strip() or e[1] for e in FILE_ERRORS]
)
def test_a_bad_environments_file_is_one_line_naming_file_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    from stackproof.cli.main import main

    path = tmp_path / "environments.yaml"
    path.write_text(text)
    assert main(["sweep", str(path), "--serial", "--no-reports"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    (line,) = captured.err.splitlines()
    assert line == f"stackproof: {path}{expected}"


def test_a_missing_environments_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from stackproof.cli.main import main

    assert main(["sweep", str(tmp_path / "none.yaml"), "--serial"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"stackproof: {tmp_path / 'none.yaml'}: cannot be read: ")


def explode(task: int) -> int:
    if task == 2:
        raise RuntimeError("the worker went away")
    return task * 10


@pytest.mark.parametrize(
    "mode",
    [("serial", 1), ("threads", 2)],
    ids=["serial", "threads"],
)
def test_a_failed_task_comes_back_as_its_exception_never_lost(mode: tuple[str, int]) -> None:
    from stackproof.sweep.executors import Mode, run

    if mode[0] == "serial":
        # Serially the function runs in this process: run_environment never raises, so neither may it.
        assert sorted(run(lambda t: t * 10, [1, 3], Mode(mode[0], mode[1]))) == [(1, 10), (3, 30)]
        return
    found = dict(run(explode, [1, 2, 3], Mode(mode[0], mode[1])))
    assert (found[1], found[3]) == (10, 30)
    assert isinstance(found[2], RuntimeError)
    assert str(found[2]) == "the worker went away"


def test_an_environment_whose_worker_failed_is_error_rows_naming_why() -> None:
    import datetime

    from stackproof.cli.sweep import NOT_READ, Task, lost
    from stackproof.sweep.environments import Environment

    environment = Environment("far", "eu-west-1", ("s",), account=ACCOUNTS[0])
    outcome = lost(
        Task(environment, fail_on="critical"), RuntimeError("KilledWorker"), datetime.datetime.now(datetime.UTC)
    )
    assert (outcome.exit_code, outcome.account, outcome.worker) == (1, ACCOUNTS[0], None)
    assert outcome.error == "its worker failed: RuntimeError: KilledWorker"
    results = outcome.report["results"]
    assert sorted(r["control"] for r in results) == shown_on_aws()
    assert {(r["status"], r["check"], r["message"]) for r in results} == {
        ("ERROR", NOT_READ, "environment far could not be read: its worker failed: RuntimeError: KilledWorker")
    }
    assert outcome.summary()["status"] == "error"


def test_without_dask_a_sweep_on_it_is_one_line_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stackproof.cli.main import main

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    path = tmp_path / "e.yaml"
    path.write_text("- name: e\n  profile: p\n  region: eu-west-1\n  stacks: s\n")
    assert main(["sweep", str(path), "--no-reports"]) == 2
    captured = capsys.readouterr()
    assert (
        captured.err
        == "stackproof: Dask distributed is not installed: pip install 'stackproof[sweep]', or use --serial\n"
    )
