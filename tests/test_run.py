"""`stackproof run` and `stackproof controls`: exit codes, messages, and what they import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, TEMPLATE, stackproof_run
from tests.mutants import MUTANTS

STACKPROOF = [sys.executable, "-m", "stackproof.cli"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    if args[:1] == ("run",):
        return stackproof_run(*args[1:])
    return subprocess.run([*STACKPROOF, *args], capture_output=True, text=True, check=False, cwd=ROOT)


def test_reference_passes_every_control() -> None:
    proc = run("run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # QTA-02 and both TLS-05 checks are deployed-only; ANL-01..04 are the analytics reference's;
    # HST-01..07 need instances (checks/host)
    assert "34 pass, 15 skip" in proc.stdout
    assert "FAIL" not in proc.stdout
    assert "ERROR" not in proc.stdout


def test_a_mutant_fails_and_names_its_control(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.name == "db-subnet-through-nat")
    path = mutant.apply(TEMPLATE, tmp_path)
    proc = run("run", "--template", str(path), "--params", str(TEMPLATE.with_name("dashboard.params.json")))
    assert proc.returncode == 1
    assert "NET-02   critical FAIL" in proc.stdout
    assert f"{path.name}:" in proc.stdout, "evidence points at the file and line"


def test_missing_parameter_value_is_an_error_not_a_pass() -> None:
    proc = run("run", "--template", str(TEMPLATE), "-k", "acm")
    assert proc.returncode == 1
    assert "TLS-01   high     ERROR" in proc.stdout
    assert "parameter CertificateArn has no default and no value was given" in proc.stdout


BAD_TEMPLATES = {
    "syntax": ("Resources: [\n", ":2:1:"),
    "unknown-tag": (
        "Resources:\n  A:\n    Type: AWS::S3::Bucket\n    Properties:\n      X: !Nope y\n",
        ":5:10: unknown tag !Nope",
    ),
    "resources-not-mapping": ("Resources:\n  - a\n", ":1: Resources must be a non-empty mapping"),
    "no-type": ("Resources:\n  A:\n    Properties: {}\n", ":2: resource A has no Type"),
    "cycle": (
        "Resources:\n  A:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !GetAtt B.TopicName\n"
        "  B:\n    Type: AWS::SNS::Topic\n    Properties:\n      TopicName: !Ref A\n",
        "dependency cycle: A -> B -> A",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_TEMPLATES))
def test_bad_templates_exit_2_with_file_and_line(case: str, tmp_path: Path) -> None:
    text, message = BAD_TEMPLATES[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    proc = run("run", "--template", str(path))
    assert proc.returncode == 2
    assert f"{path}" in proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('[{"ParameterKey": "Nope", "ParameterValue": "1"}]', "parameters not in the template: Nope"),
        ('[{"ParameterValue": "1"}]', "entry 0 needs ParameterKey and ParameterValue"),
    ],
)
def test_bad_parameter_files_exit_2(content: str, message: str, tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    params.write_text(content)
    proc = run("run", "--params", str(params))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_plain_mapping_parameters_are_accepted(tmp_path: Path) -> None:
    params = tmp_path / "params.json"
    cli_format = json.loads(TEMPLATE.with_name("dashboard.params.json").read_text())
    params.write_text(json.dumps({p["ParameterKey"]: p["ParameterValue"] for p in cli_format}))
    assert run("run", "--template", str(TEMPLATE), "--params", str(params)).returncode == 0


def test_unknown_target_is_a_usage_error() -> None:
    proc = run("run", "--target", "template,nowhere")
    assert proc.returncode == 2
    assert "unknown target nowhere" in proc.stderr


def test_static_run_never_imports_aws_sdks() -> None:
    code = (
        "import sys\n"
        "from stackproof.cli import main\n"
        "rc = main(['run', '--target', 'template', '--tools', 'none', '--no-reports'])\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'moto', 'localstack'))\n"
        "print('LOADED', loaded)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "LOADED []" in proc.stdout


def test_controls_lists_the_catalogue() -> None:
    proc = run("controls")
    assert proc.returncode == 0
    assert "NET-02  critical  active" in proc.stdout
    assert "RES-01" in proc.stdout
    assert "ANL-01  high      active" in proc.stdout
    assert '000_004264af0376ea4b.txt: "Databases are deployed to an isolated subnet' in proc.stdout


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [(None, 1), ("low", 1), ("medium", 1), ("high", 0), ("critical", 0)],
)
def test_fail_on_gates_by_severity(fail_on: str | None, code: int, tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.name == "max-size-10")  # SCL-02, a medium control
    path = mutant.apply(TEMPLATE, tmp_path)
    args = ["run", "--template", str(path), "--params", str(TEMPLATE.with_name("dashboard.params.json"))]
    proc = run(*args, *(["--fail-on", fail_on] if fail_on else []))
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert "SCL-02   medium   FAIL" in proc.stdout  # reported either way


def test_fail_on_rejects_an_unknown_severity() -> None:
    proc = run("run", "--fail-on", "severe")
    assert proc.returncode == 2
    assert "invalid choice: 'severe'" in proc.stderr
