"""Host checks on moto: the reference's own bootstrap, run in each instance's sandbox, passes
every HST control; each host mutant (a bootstrap or launch template that breaks one promise)
FAILs exactly its control with exactly its finding, and nothing else changes.

Each case is ``pytest checks/host --target moto`` as a user types it (a subprocess, plugins
autoloaded, pytest-testinfra's own ``host`` fixture among them), read back from report.json.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.emulator.host_sandbox import HostSandbox, InstanceFacts
from tests.conftest import ROOT, TEMPLATE
from tests.mutants import Template, props, user_data

PARAMS = TEMPLATE.with_name("dashboard.params.json")
HOST_CONTROLS = sorted(cid for cid, c in catalogue.load().items() if c.suite == "hosts")


def in_bootstrap(old: str, new: str) -> Callable[[Template], None]:
    def change(t: Template) -> None:
        text = user_data(t)[0]
        assert text.count(old) == 1, old
        user_data(t)[0] = text.replace(old, new)

    return change


def imds_v1(t: Template) -> None:
    props(t, "LaunchTemplate")["LaunchTemplateData"]["MetadataOptions"]["HttpTokens"] = "optional"


COMPOSE_UP = 'docker compose --file "$COMPOSE_FILE" up --detach'
# name -> (change, control, the finding's message after the instance ID, observed)
MUTANTS: dict[str, tuple[Callable[[Template], None] | None, str, str, str]] = {
    "efs-without-tls": (
        in_bootstrap("_netdev,noresvport,tls,iam", "_netdev,noresvport"),
        "HST-01",
        "/mnt/efs is mounted without TLS",
        "fs-*.efs.us-east-1.amazonaws.com:/ nfs4 port=default",
    ),
    "env-world-readable": (
        in_bootstrap('chmod 600 "$ENV_FILE"', 'chmod 644 "$ENV_FILE"'),
        "HST-03",
        "/var/panintelligence/dashboard.env holds the database credentials and is not root-only",
        "root:root 0644",
    ),
    "env-without-tls-flag": (
        in_bootstrap("PI_DB_SSL=true", "PI_DB_SSL=false"),
        "HST-03",
        "the dashboard does not ask for TLS to the database",
        "PI_DB_SSL=false",
    ),
    "local-mariadb": (
        in_bootstrap(COMPOSE_UP, f"docker run --detach --name mariadb --publish 3306:3306 mariadb:10.6\n{COMPOSE_UP}"),
        "HST-02",
        "a local database container runs while the dashboard uses *",
        "mariadb (mariadb:10.6) running",
    ),
    "sshd-enabled": (
        in_bootstrap(COMPOSE_UP, f"systemctl enable --now ssh\n{COMPOSE_UP}"),
        "HST-05",
        "something listens on TCP port 22",
        "0.0.0.0:22, [::]:22",
    ),
    "env-names-another-database": (
        in_bootstrap("PI_DB_HOST=$DB_HOST", "PI_DB_HOST=db.internal.example"),
        "HST-07",
        "the database cannot be reached over TLS",
        "ERROR 2005 (HY000): Unknown server host 'db.internal.example'",
    ),
    "imds-v1": (imds_v1, "HST-06", "the metadata service answers without a session token (IMDSv1)", "HTTP 200"),
}


def host_checks(template: Path, reports: Path) -> tuple[int, list[dict[str, Any]], str]:
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q", "checks/host"]
    command += ["--target", "moto", "--template", str(template), "--params", str(PARAMS)]
    command += ["--stackproof-reports", str(reports), "-W", "ignore::DeprecationWarning"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=600)
    found = list(reports.glob("*/report.json"))
    results = json.loads(found[0].read_text(encoding="utf-8"))["results"] if found else []
    return done.returncode, results, done.stdout + done.stderr


def mutated(name: str, directory: Path) -> Path:
    from stackproof.template.cfn_yaml import load_text

    change = MUTANTS[name][0] if name in MUTANTS else None
    data: Template = json.loads(json.dumps(load_text(TEMPLATE.read_text(encoding="utf-8"))))
    if change is not None:
        change(data)
    path = directory / f"{name}.json"
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[dict[str, Any]], str]]:
    """Every case once, two at a time (each deploys the stack and boots its instances)."""
    names = ["reference", *MUTANTS]
    directory = tmp_path_factory.mktemp("host-mutants")

    def run(name: str) -> tuple[int, list[dict[str, Any]], str]:
        return host_checks(mutated(name, directory), directory / f"reports-{name}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(names, pool.map(run, names), strict=True))


def matches(pattern: str, text: str) -> bool:
    """``text`` is ``pattern``, where ``*`` stands for what differs per run (IDs, endpoints)."""
    from fnmatch import fnmatchcase

    return fnmatchcase(text, pattern) if "*" in pattern else text == pattern


@pytest.mark.moto
@pytest.mark.slow
def test_the_reference_passes_every_host_check(runs: dict[str, tuple[int, list[dict[str, Any]], str]]) -> None:
    code, results, output = runs["reference"]
    assert code == 0, output
    assert sorted((r["control"], r["status"]) for r in results) == [(c, "PASS") for c in HOST_CONTROLS]
    assert all(r["notes"][-1].startswith("host i-") for r in results), "stackproof's host, not testinfra's local one"


@pytest.mark.moto
@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTANTS))
def test_each_host_mutant_fails_exactly_its_check(
    runs: dict[str, tuple[int, list[dict[str, Any]], str]], name: str
) -> None:
    _, control, message, observed = MUTANTS[name]
    code, results, output = runs[name]
    assert code == 1, output
    verdicts = {r["control"]: r["status"] for r in results}
    assert verdicts == {c: "FAIL" if c == control else "PASS" for c in HOST_CONTROLS}, output
    (failed,) = [r for r in results if r["status"] == "FAIL"]
    (evidence,) = failed["evidence"]
    assert matches(f"i-* {message}", evidence["message"].replace(":", "", 1)), evidence
    assert matches(observed, evidence["observed"]), evidence


@pytest.fixture(scope="module")
def form_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, list[dict[str, Any]], str]]:
    """The reference as a stack set (the instances in one of three stacks, the secret and the
    database in another) and as nested stacks, and the set with a host mutant in its
    instances' stack."""
    import shutil

    from stackproof.template.cfn_yaml import load_text

    directory = tmp_path_factory.mktemp("host-forms")
    cloudformation = TEMPLATE.parent
    shutil.copytree(cloudformation / "dashboard-set", directory / "set")
    broken = directory / "set-env-world-readable"
    shutil.copytree(cloudformation / "dashboard-set", broken)
    data: Template = json.loads(json.dumps(load_text((broken / "instances.yaml").read_text(encoding="utf-8"))))
    change = MUTANTS["env-world-readable"][0]
    assert change is not None
    change(data)
    (broken / "instances.yaml").write_text(json.dumps(data, indent=1), encoding="utf-8")
    cases = {
        "set": directory / "set",
        "nested": cloudformation / "dashboard-nested" / "parent.yaml",
        "set-env-world-readable": broken,
    }

    def run(name: str) -> tuple[int, list[dict[str, Any]], str]:
        return host_checks(cases[name], directory / f"reports-{name}")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(cases, pool.map(run, cases), strict=True))


@pytest.mark.moto
@pytest.mark.slow
@pytest.mark.parametrize("form", ["set", "nested"])
def test_the_set_and_nested_forms_pass_every_host_check(
    form_runs: dict[str, tuple[int, list[dict[str, Any]], str]], form: str
) -> None:
    """A set's network and storage stacks have no instances; the hosts are the instances
    stack's, booted with the secret and database the storage stack holds."""
    code, results, output = form_runs[form]
    assert code == 0, output
    assert sorted((r["control"], r["status"]) for r in results) == [(c, "PASS") for c in HOST_CONTROLS]


@pytest.mark.moto
@pytest.mark.slow
def test_a_host_mutant_in_a_sets_instances_stack_fails_its_check(
    form_runs: dict[str, tuple[int, list[dict[str, Any]], str]],
) -> None:
    code, results, output = form_runs["set-env-world-readable"]
    assert code == 1, output
    verdicts = {r["control"]: r["status"] for r in results}
    assert verdicts == {c: "FAIL" if c == "HST-03" else "PASS" for c in HOST_CONTROLS}, output


def test_host_checks_skip_on_the_template_with_the_reason() -> None:
    from tests.conftest import stackproof_run

    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-q", "-rs", "checks/host", "--target", "template"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stdout
    assert done.stdout.count("no hosts: the template has no instances to run commands on") == len(HOST_CONTROLS)
    assert stackproof_run().returncode == 0


def sandbox(tmp_path: Path, user_data: str, **facts: Any) -> HostSandbox:
    made = HostSandbox(
        tmp_path, InstanceFacts("i-1", "eu-west-1a", "eu-west-1", user_data, {"HttpTokens": "required"}, **facts)
    )
    assert made.boot(30).exit_code == 0
    return made


def test_the_sandbox_reaches_no_network_and_stops_at_its_timeout(tmp_path: Path) -> None:
    host = sandbox(tmp_path, "true")
    refused = host.execute("curl -fsS https://example.com/; echo exit=$?", 10)
    assert refused.stdout == "exit=7\n"
    assert "no network beyond the emulator" in refused.stderr
    assert host.execute("sleep 5; echo late", 0.5).exit_code is None
    assert host.execute("echo $SANDBOX_ROOT; cat /etc/os-release | head -1", 5).stdout == '\nNAME="Ubuntu"\n'


def test_the_fleet_cuts_output_as_ssm_does(tmp_path: Path) -> None:
    from stackproof.targets.host_fleet import Fleet, HostRef
    from stackproof.targets.ssm_run import STDOUT_LIMIT, STDOUT_MARK

    fleet = Fleet("moto", None, [HostRef("moto", "i-1", "eu-west-1a")], sandboxes={"i-1": sandbox(tmp_path, "true")})
    (long,) = fleet.run_script(None, ["i-1"], "head -c 30000 /dev/zero | tr '\\0' x; exit 3")
    assert (long.status, long.exit_code, long.truncated, len(long.stdout)) == ("Failed", 3, True, STDOUT_LIMIT)
    assert long.stdout.endswith(STDOUT_MARK)
    (missing,) = fleet.run_script(None, ["i-2"], "true")
    assert (missing.status, missing.exit_code) == ("Undeliverable", None)
    (slow,) = fleet.run_script(None, ["i-1"], "sleep 5", timeout=0.5)
    assert (slow.status, slow.exit_code) == ("TimedOut", None)


def test_a_static_run_imports_neither_testinfra_nor_an_aws_sdk() -> None:
    code = (
        "import sys\n"
        "from stackproof.cli import main\n"
        "rc = main(['run', '--target', 'template', '--tools', 'none', '--no-reports'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('testinfra', 'boto3', 'botocore', 'moto'))\n"
        "print('LOADED', loaded)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout


def test_a_fleet_that_cannot_open_is_error_for_every_host_check(tmp_path: Path) -> None:
    """aws without --stack-name: no instance can be named, so nothing is asked and nothing passes."""
    command = [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider", "-q", "checks/host"]
    command += ["--target", "aws", "--stackproof-reports", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT, timeout=300)
    assert done.returncode == 1, done.stdout
    results = json.loads((tmp_path / "latest" / "report.json").read_text(encoding="utf-8"))["results"]
    assert sorted((r["control"], r["status"]) for r in results) == [(c, "ERROR") for c in HOST_CONTROLS]
    reason = "target aws: no hosts: ValueError: host checks on aws need --stack-name"
    assert {r["message"] for r in results} == {reason}


@pytest.mark.moto
def test_the_database_checks_on_the_live_path_of_motos_server(aws_credentials: None) -> None:
    """HST-03 and HST-07 through SendCommand on moto's server, run by its SSM emulator
    (stackproof.emulator.ssm_sandbox): the env file it lays out, the client container as the
    host's MariaDB client, and the stack's emulated MariaDB answering over TLS."""
    from stackproof.checks.host import test_host as checks

    from stackproof.emulator import mariadb_data
    from stackproof.support import paths
    from stackproof.targets import TargetOptions, testinfra_ssm
    from stackproof.targets.moto import MotoServerTarget

    if mariadb_data.unavailable():
        pytest.skip(f"no emulated MariaDB: {mariadb_data.unavailable()}")
    templates, params = paths.template_and_params(None, None, None)
    server = MotoServerTarget(TargetOptions(templates[0], params, "eu-west-1"))
    try:
        stack = server.open_stack()
        (instance,) = testinfra_ssm.SsmBackend.get_hosts(stack.stack_name, client=stack.client)
        host = testinfra_ssm.get_host(f"ssm://{instance}?timeout=90", client=stack.client)
        checks.test_env_file_is_root_only_and_asks_for_tls(host)
        checks.test_database_is_reachable_over_tls(host)
        assert host.run(checks.DATABASE_OVER_TLS).stdout == "Ssl_version\tTLSv1.3\n"
    finally:
        server.close()
