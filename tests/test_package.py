"""The wheel as a team installs it: built from this checkout, installed into a fresh virtualenv
outside it, and run from an empty directory, with none of the checkout in reach."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

OWN_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Description: a team's own network, not a reference
Resources:
  Vpc:
    Type: AWS::EC2::VPC
    Properties:
      CidrBlock: 10.20.0.0/16
  SubnetA:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.20.1.0/24
      AvailabilityZone: !Select [0, !GetAZs ""]
  SubnetB:
    Type: AWS::EC2::Subnet
    Properties:
      VpcId: !Ref Vpc
      CidrBlock: 10.20.2.0/24
      AvailabilityZone: !Select [1, !GetAZs ""]
"""

OWN_CHECK = """\
import pytest

from stackproof.checking import findings, known
from stackproof.model.types import Subnet


@pytest.mark.control("NET-01")
def test_team_subnets_span_two_zones(deployment):
    with findings() as found:
        zones = {known(s.az, f"zone of {s}") for s in deployment.all(Subnet)}
        if len(zones) < 2:
            found.fail("the team's subnets sit in fewer than two zones", observed=sorted(zones))
"""


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=900)


def clean_env(venv: Path) -> dict[str, str]:
    """The user's shell: the venv first on PATH, no PYTHONPATH, no STACKPROOF_ROOT, no checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "STACKPROOF", "VIRTUAL_ENV", "PYTEST"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    return env


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    proc = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)], cwd=out)
    assert proc.returncode == 0, proc.stderr
    (built,) = out.glob("stackproof-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("venv") / "v"
    assert run([sys.executable, "-m", "venv", str(where)], cwd=where.parent).returncode == 0
    pip = [str(where / "bin" / "python"), "-m", "pip", "install", "-q", f"{wheel}[moto,gate]"]
    proc = run(pip, cwd=where.parent, env=clean_env(where))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where


def test_the_wheel_carries_what_a_run_needs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "stackproof/checks/test_network.py",
        "stackproof/scenarios/test_restore.py",
        "stackproof/reference/cloudformation/dashboard.yaml",
        "stackproof/reference/cloudformation/dashboard.params.json",
        "stackproof/reference/cloudformation/analytics.yaml",
        "stackproof/reference/cloudformation/analytics.params.json",
        "stackproof/reference/policy.yaml",
        "stackproof/reference/resilience.yaml",
        "stackproof/reference/iam/stackproof-readonly.json",
        "stackproof/reference/lambda/s3_to_efs/handler.py",
        "stackproof/reference/bootstrap/dashboard-userdata.sh",
        "stackproof/catalogue/controls.yaml",
        "stackproof/catalogue/frameworks/aws-fsbp.yaml",
        "stackproof/catalogue/frameworks/cis-aws-foundations.yaml",
        "stackproof/reports/report.schema.json",
    ):
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.startswith(("tests/", "checks/", "reference/"))]


def test_the_localstack_shim_is_found_where_the_runner_looks() -> None:
    from stackproof.targets.localstack_runner import compat_dir

    assert (compat_dir() / "sitecustomize.py").is_file()


def test_every_package_of_the_source_is_in_the_wheel(wheel: Path) -> None:
    """The package list in pyproject.toml is explicit (three packages are mapped from the top of
    the repository): a new package must not be left out of it."""
    names = set(zipfile.ZipFile(wheel).namelist())
    source = ROOT / "src"
    packages = {p.parent.relative_to(source).as_posix() for p in source.rglob("__init__.py")}
    missing = [p for p in packages if f"{p}/__init__.py" not in names]
    assert not missing


def test_run_from_an_empty_directory_on_both_references(venv: Path, tmp_path: Path) -> None:
    proc = run(
        ["stackproof", "run", "--reference", "dashboard,analytics", "--tools", "cfn-lint"], tmp_path, clean_env(venv)
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "analytics/moto" in (tmp_path / "reports" / "latest" / "summary.md").read_text(encoding="utf-8")
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text(encoding="utf-8"))
    assert {r["target"] for r in report["results"]} == {"template", "moto"}
    assert {r["reference"] for r in report["results"]} == {"dashboard", "analytics"}
    assert not [r for r in report["results"] if r["status"] in ("FAIL", "ERROR")]


def test_a_team_template_with_its_own_checks(venv: Path, tmp_path: Path) -> None:
    (tmp_path / "network.yaml").write_text(OWN_TEMPLATE, encoding="utf-8")
    (tmp_path / "team_checks").mkdir()
    (tmp_path / "team_checks" / "test_team.py").write_text(OWN_CHECK, encoding="utf-8")
    env = clean_env(venv)
    base = ["stackproof", "run", "--template", "network.yaml", "--target", "template", "--tools", "none"]

    added = run([*base, "--checks", "team_checks"], tmp_path, env)
    assert added.returncode == 1, added.stdout + added.stderr  # the built-in checks find no database, no ASG...
    results = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text(encoding="utf-8"))["results"]
    own = [r for r in results if r["check"] == "test_team_subnets_span_two_zones"]
    assert [r["status"] for r in own] == ["PASS"]
    assert {r["control"] for r in results} > {"NET-01", "NET-02", "DAT-01"}

    alone = run([*base, "--checks", "team_checks", "--no-builtin-checks", "--reports", "out"], tmp_path, env)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    results = json.loads((tmp_path / "out" / "latest" / "report.json").read_text(encoding="utf-8"))["results"]
    assert [(r["control"], r["status"]) for r in results] == [("NET-01", "PASS")]

    (tmp_path / "network.yaml").write_text(OWN_TEMPLATE.replace("[1, !GetAZs", "[0, !GetAZs"), encoding="utf-8")
    broken = run([*base, "--checks", "team_checks", "--no-builtin-checks", "--no-reports"], tmp_path, env)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "fewer than two zones" in broken.stdout


def test_a_foreign_test_suite_runs_as_if_stackproof_were_absent(venv: Path, tmp_path: Path) -> None:
    """The plugin is installed (entry point) but nobody asked for it: a team's own suite, with
    options and fixtures whose names stackproof's checks also use, is untouched."""
    (tmp_path / "pyproject.toml").write_text(
        textwrap.dedent("""\
            [tool.pytest.ini_options]
            addopts = ["--strict-markers", "--strict-config"]
            filterwarnings = ["error"]
            markers = ["live: the team's own marker"]
            """),
        encoding="utf-8",
    )
    (tmp_path / "conftest.py").write_text(
        textwrap.dedent("""\
            import pytest

            def pytest_addoption(parser):
                parser.addoption("--target", default="staging")
                parser.addoption("--region", default="eu-west-1")
                parser.addoption("--template", default="app.yaml")

            @pytest.fixture
            def deployment(request):
                return {"target": request.config.getoption("--target")}
            """),
        encoding="utf-8",
    )
    (tmp_path / "test_app.py").write_text(
        textwrap.dedent("""\
            import pytest

            def test_plain():
                assert 1 + 1 == 2

            def test_own_deployment_fixture(deployment):
                assert deployment == {"target": "prod"}

            @pytest.mark.live
            def test_marked(request):
                assert request.config.getoption("--region") == "eu-west-1"
            """),
        encoding="utf-8",
    )
    env = clean_env(venv)
    listed = run(
        ["python", "-c", "import importlib.metadata as m; print([e.value for e in m.entry_points(group='pytest11')])"],
        tmp_path,
        env,
    )
    assert "stackproof" in listed.stdout  # the plugin is installed and loaded by pytest
    proc = run(
        ["python", "-m", "pytest", "--target", "prod", "--junitxml", "j.xml", "-p", "no:cacheprovider"], tmp_path, env
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 passed" in proc.stdout
    assert "stackproof" not in (tmp_path / "j.xml").read_text(encoding="utf-8")
    assert not list(tmp_path.glob("reports"))
