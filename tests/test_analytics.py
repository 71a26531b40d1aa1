"""The analytics reference (seed 000): every control that applies to it passes on its template,
each ANL control (and NET-02, TLS-01 on its load balancers and Redshift) fails on a mutant, the
dashboard's promises are not applied to it and its promises not to the dashboard."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackproof import catalogue
from stackproof.model.deployment import Deployment
from stackproof.model.from_template import build
from stackproof.results.evaluate import evaluate
from stackproof.template.loader import load_parameters, load_template
from stackproof.template.resolver import resolve
from tests.conftest import TEMPLATE, stackproof_run
from tests.mutants import ANALYTICS, ANALYTICS_MUTANTS, Mutant

PARAMS = ANALYTICS.with_name("analytics.params.json")
APPLICABLE = sorted(
    cid
    for cid, c in catalogue.load().items()
    if c.active and c.suite == "checks" and "template" in c.targets and "analytics" in c.references
)


def model_of(path: Path) -> Deployment:
    return build(resolve(load_template(path), load_parameters(PARAMS), "eu-west-1"))


@pytest.fixture(scope="module")
def analytics() -> Deployment:
    return model_of(ANALYTICS)


def test_the_analytics_reference_declares_itself(analytics: Deployment) -> None:
    assert analytics.reference == "analytics"
    assert APPLICABLE == [
        "ANL-01",
        "ANL-02",
        "ANL-03",
        "ANL-04",
        "DAT-07",
        "DAT-08",
        "DEP-01",
        "DEP-02",
        "IAM-03",
        "IAM-04",
        "NET-01",
        "NET-02",
        "QTA-04",
        "TLS-01",
        "TLS-02",
        "TLS-03",
    ]


@pytest.mark.parametrize("control", [c for c in APPLICABLE if c != "DEP-01"])  # DEP-01: a set's links
def test_applicable_controls_pass_on_the_analytics_reference(analytics: Deployment, control: str) -> None:
    status, message = evaluate(analytics, control)
    assert status == "PASS", message


@pytest.mark.parametrize("control", ["NET-06", "SCL-01", "DAT-01", "QTA-01", "OBS-01"])
def test_dashboard_promises_are_not_applied_to_analytics(analytics: Deployment, control: str) -> None:
    assert evaluate(analytics, control) == (
        "SKIP",
        f"{control} is a promise of the dashboard reference, not of analytics",
    )


@pytest.mark.parametrize("mutant", ANALYTICS_MUTANTS, ids=lambda m: f"{m.control}:{m.name}")
def test_analytics_mutant_breaks_its_control(mutant: Mutant, tmp_path: Path) -> None:
    status, message = evaluate(model_of(mutant.apply(ANALYTICS, tmp_path)), mutant.control)
    assert status == mutant.expected, message
    assert message


def test_every_anl_control_has_a_mutant() -> None:
    assert {m.control for m in ANALYTICS_MUTANTS} >= {"ANL-01", "ANL-02", "ANL-03", "ANL-04"}


def test_run_selects_the_analytics_reference() -> None:
    proc = stackproof_run("--reference", "analytics")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stackproof: 15 pass, 34 skip" in proc.stdout
    assert "ANL-01   high     PASS" in proc.stdout


def test_reference_and_template_exclude_each_other() -> None:
    proc = stackproof_run("--reference", "analytics", "--template", str(TEMPLATE))
    assert proc.returncode == 2
    assert "give --reference or --template, not both" in proc.stderr


@pytest.mark.parametrize(
    ("mutant_name", "expected"),
    [(None, "PASS"), ("frontend-tasks-public-ip", "FAIL"), ("mutable-image-tags", "FAIL")],
)
def test_analytics_deployed_to_moto(
    mutant_name: str | None, expected: str, tmp_path: Path, aws_credentials: None
) -> None:
    """Every applicable control passes on the deployed reference; deployed mutants fail theirs."""
    from stackproof.targets import TargetOptions, load

    mutant = next((m for m in ANALYTICS_MUTANTS if m.name == mutant_name), None)
    template = mutant.apply(ANALYTICS, tmp_path) if mutant else ANALYTICS
    target = load("moto", TargetOptions(str(template), str(PARAMS), "us-east-1"))
    try:
        model = target.deployment()
    finally:
        target.close()
    assert model.reference == "analytics"
    assert model.skipped == {}
    if mutant is None:
        deployed = [c for c in APPLICABLE if "moto" in catalogue.load()[c].targets and c != "DEP-01"]  # one stack
        verdicts = {c: evaluate(model, c) for c in deployed}
        assert {c: v for c, v in verdicts.items() if v[0] != "PASS"} == {}
    else:
        assert evaluate(model, mutant.control)[0] == expected


def test_both_references_in_one_run_and_one_report(tmp_path: Path) -> None:
    import json
    import xml.etree.ElementTree as ET

    import jsonschema
    import xmlschema

    from stackproof.reports.run_report import SCHEMA

    proc = stackproof_run("--reference", "dashboard,analytics", "--reports", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "== reference analytics" in proc.stdout
    latest = tmp_path / "latest"
    report = json.loads((latest / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    assert [r["name"] for r in report["run"]["references"]] == ["dashboard", "analytics"]
    assert {(r["reference"], r["control"]) for r in report["results"] if r["status"] == "PASS"} >= {
        ("dashboard", "DAT-01"),
        ("analytics", "ANL-01"),
        ("analytics", "NET-02"),
    }
    assert "| control | severity | dashboard/template | analytics/template |" in (latest / "summary.md").read_text()
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(str(latest / "junit.xml"))
    suites = {s.get("name") for s in ET.parse(latest / "junit.xml").getroot().iter("testsuite")}
    assert {"stackproof.dashboard/template", "stackproof.analytics/template"} <= suites
    page = (latest / "report.html").read_text()
    assert "<th>dashboard/template</th>" in page
    assert "<th>analytics/template</th>" in page


def test_plain_pytest_selects_the_analytics_reference() -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    command = [sys.executable, "-m", "pytest", "checks", "--reference", "analytics", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert "15 passed, 34 skipped" in proc.stdout


def test_gate_tools_of_each_reference_sit_in_its_own_column(tmp_path: Path) -> None:
    proc = stackproof_run("--reference", "dashboard,analytics", "--tools", "cfn-lint", "--reports", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    summary = (tmp_path / "latest" / "summary.md").read_text()
    assert "| control | severity | dashboard/template | analytics/template |" in summary
    assert "| cfn-lint | gate | PASS | - |" in summary
    assert "| cfn-lint | gate | - | PASS |" in summary
    import json

    tools = json.loads((tmp_path / "latest" / "report.json").read_text())["tools"]
    assert [(t["tool"], t["reference"]) for t in tools] == [("cfn-lint", "dashboard"), ("cfn-lint", "analytics")]
    assert 'class="s PASS">PASS</td><td class="s">-</td>' in (tmp_path / "latest" / "report.html").read_text()
