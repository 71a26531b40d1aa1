"""Suppressions: what makes one valid, what it covers, and how a run reports it: SUPPRESSED with
its justification in every format, and an expired or incomplete one failing the run."""

from __future__ import annotations

import datetime
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from stackproof.results.suppressions import SuppressionFileError, from_file, from_template, matching
from stackproof.template.cfn_yaml import load_text
from tests.conftest import TEMPLATE, stackproof_run
from tests.mutants import MUTANTS

TODAY = datetime.date(2026, 11, 24)
CONTROLS = ["NET-02", "NET-05", "QTA-01"]
PARAMS = TEMPLATE.with_name("dashboard.params.json")
GOOD = {
    "control": "NET-05",
    "reason": "vendor bastion until Q2",
    "owner": "platform@example.com",
    "expires": "2027-06-30",
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),
        ({"expires": datetime.date(2027, 6, 30)}, None),  # YAML's own date
        ({"expires": "2026-11-24"}, None),  # the last day still counts
        ({"expires": "2026-11-23"}, "expired on 2026-11-23"),
        ({"reason": ""}, "no reason"),
        ({"reason": None}, "no reason"),
        ({"owner": "  "}, "no owner"),
        ({"expires": "next spring"}, "expires 'next spring' is not a date (YYYY-MM-DD)"),
        ({"expires": None}, "expires None is not a date (YYYY-MM-DD)"),
        ({"control": "NET-99"}, "unknown control NET-99"),
        ({"until": "2027-01-01"}, "unknown field(s) until"),
        ({"reason": "", "owner": ""}, "no reason; no owner"),
    ],
)
def test_file_entries_are_validated(change: dict[str, Any], problem: str | None, tmp_path: Path) -> None:
    entry = {**GOOD, **change}
    path = tmp_path / "s.yaml"
    path.write_text("# accepted risks\nsuppressions:\n  - " + json.dumps(entry, default=str) + "\n")
    (found,) = from_file(path, CONTROLS, TODAY)
    assert found.problem == problem
    assert found.source == f"{path}:3"
    assert found.kind == "file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("suppressions: {control: NET-05}\n", ":1: expected a top-level `suppressions:` list"),
        ("other: []\n", ":1: expected a top-level `suppressions:` list"),
        ("suppressions:\n  - [unclosed\n", ":3:1:"),
    ],
)
def test_unreadable_files_name_file_and_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(text)
    with pytest.raises(SuppressionFileError, match=rf"^{path}{message}"):
        from_file(path, CONTROLS, TODAY)


def test_template_metadata_suppressions_name_their_resource_and_line() -> None:
    text = """Resources:
  Open:
    Type: AWS::EC2::SecurityGroup
    Metadata:
      stackproof:
        suppress:
          - control: NET-05
            reason: r
            owner: o
            expires: 2027-01-01
          - {control: NET-05, owner: o, expires: 2027-01-01}
    Properties: {GroupDescription: x}
"""
    first, second = from_template(load_text(text), "t.yaml", CONTROLS, TODAY)
    assert (first.resource, first.source, first.problem, first.kind) == ("Open", "t.yaml:7", None, "template")
    assert (second.resource, second.source, second.problem) == ("Open", "t.yaml:11", "no reason")


def evidence(*resources: str) -> list[dict[str, Any]]:
    return [{"message": "m", "resources": [], "locations": [{"resource": r} for r in resources]} for r in resources]


def suppression(tmp_path: Path, **entry: Any) -> Any:
    path = tmp_path / "s.yaml"
    path.write_text("suppressions:\n  - " + json.dumps({**GOOD, **entry}) + "\n")
    return from_file(path, CONTROLS, TODAY)


@pytest.mark.parametrize(
    ("entry", "control", "target", "resources", "applies"),
    [
        ({}, "NET-05", "template", ["A", "B"], True),  # no resource: the whole control
        ({}, "NET-02", "template", ["A"], False),  # another control
        ({}, "NET-05", "template", [], True),  # evidence without resources, control-wide
        ({"resource": "A"}, "NET-05", "template", ["A"], True),
        ({"resource": "A"}, "NET-05", "template", ["A", "B"], False),  # B is not covered
        ({"resource": "A"}, "NET-05", "template", [], False),  # nothing named: cannot be sure
        ({"target": "aws"}, "NET-05", "template", ["A"], False),
        ({"target": "aws"}, "NET-05", "aws", ["A"], True),
        ({"expires": "2020-01-01"}, "NET-05", "template", ["A"], False),  # expired: never applies
        ({"reason": ""}, "NET-05", "template", ["A"], False),
    ],
)
def test_what_a_suppression_covers(
    entry: dict[str, Any], control: str, target: str, resources: list[str], applies: bool, tmp_path: Path
) -> None:
    found = suppression(tmp_path, **entry)
    items = evidence(*resources) if resources else [{"message": "none", "resources": [], "locations": []}]
    assert bool(matching(found, control, target, items)) is applies


SSH_MUTANT = "ssh-by-separate-ingress"


def suppressed_template(tmp_path: Path, expires: str = "2099-01-01", reason: str = "vendor support") -> Path:
    """The SSH mutant, with the failure accepted beside the security group it opens."""
    mutant = next(m for m in MUTANTS if m.name == SSH_MUTANT)
    data = json.loads(json.dumps(load_text(mutant.apply(TEMPLATE, tmp_path).read_text())))
    # NET-05 names both resources; IAM-01 (SSH reachable) only the group.
    for resource, controls in (("AppSecurityGroup", ["NET-05", "IAM-01"]), ("AppSshIngress", ["NET-05"])):
        data["Resources"][resource].setdefault("Metadata", {})["stackproof"] = {
            "suppress": [
                {"control": c, "reason": reason, "owner": "platform@example.com", "expires": expires} for c in controls
            ]
        }
    path = tmp_path / "suppressed.json"
    path.write_text(json.dumps(data, indent=1))
    return path


def test_a_suppressed_failure_is_suppressed_in_every_format(tmp_path: Path) -> None:
    path = suppressed_template(tmp_path)
    proc = stackproof_run("--template", str(path), "--params", str(PARAMS), "--reports", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "NET-05   critical SUPPRESSED" in proc.stdout
    assert "vendor support (owner platform@example.com, expires 2099-01-01" in proc.stdout
    latest = tmp_path / "r" / "latest"
    report = json.loads((latest / "report.json").read_text())
    (result,) = [r for r in report["results"] if r["control"] == "NET-05"]
    assert result["status"] == "SUPPRESSED"
    assert result["suppression"]["reason"] == "vendor support"
    assert result["evidence"], "the failure it accepts stays visible"
    assert [s["state"] for s in report["suppressions"]] == ["active"] * 3
    assert (
        "- NET-05 `template`: vendor support — owner platform@example.com, expires 2099-01-01"
        in (latest / "summary.md").read_text()
    )
    junit = ET.parse(latest / "junit.xml").getroot()
    (case,) = [c for c in junit.iter("testcase") if c.get("name", "").startswith("NET-05 ")]
    skipped = case.find("skipped")
    assert skipped is not None
    assert skipped.get("message", "").startswith("suppressed: vendor support")
    sarif = json.loads((latest / "report.sarif").read_text())
    (entry,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "NET-05"]
    assert entry["kind"] == "fail"
    assert entry["suppressions"][0]["justification"] == "vendor support"
    assert entry["suppressions"][0]["kind"] == "inSource"
    page = (latest / "report.html").read_text()
    assert "Suppressed: vendor support" in page
    assert 'class="s SUPPRESSED">SUPPRESSED<' in page


@pytest.mark.parametrize(
    ("expires", "reason", "problem"),
    [("2020-01-01", "vendor support", "expired on 2020-01-01"), ("2099-01-01", "", "no reason")],
)
def test_an_expired_or_reasonless_suppression_fails_the_run(
    expires: str, reason: str, problem: str, tmp_path: Path
) -> None:
    path = suppressed_template(tmp_path, expires=expires, reason=reason)
    proc = stackproof_run("--template", str(path), "--params", str(PARAMS), "--reports", str(tmp_path / "r"))
    assert proc.returncode == 1
    assert "NET-05   critical FAIL" in proc.stdout, "an invalid suppression does not apply"
    assert f"SUPPRESSION {path}:" in proc.stdout
    assert problem in proc.stdout
    latest = tmp_path / "r" / "latest"
    report = json.loads((latest / "report.json").read_text())
    assert [s["problem"] for s in report["suppressions"]] == [problem] * 3
    assert problem in (latest / "summary.md").read_text()
    junit = ET.parse(latest / "junit.xml").getroot()
    cases = [c for c in junit.iter("testcase") if c.get("classname") == "stackproof.suppressions"]
    assert len(cases) == 3
    assert all(c.find("failure") is not None for c in cases)
    sarif = json.loads((latest / "report.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"] if r["level"] == "error"].count("suppression") == 3


def test_an_expired_suppression_fails_even_when_nothing_fails(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("suppressions:\n  - {control: QTA-01, reason: r, owner: o, expires: 2001-01-01}\n")
    proc = stackproof_run("--suppressions", str(path))
    assert proc.returncode == 1
    assert f"SUPPRESSION {path}:2: suppression of QTA-01: expired on 2001-01-01" in proc.stdout


def test_a_suppressions_file_covers_a_control_on_chosen_targets(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.name == SSH_MUTANT)
    template = mutant.apply(TEMPLATE, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text(
        "suppressions:\n"
        "  - {control: NET-05, target: template, reason: accepted, owner: o, expires: 2099-12-31}\n"
        "  - {control: IAM-01, resource: AppSecurityGroup, reason: accepted, owner: o, expires: 2099-12-31}\n"
        "  - {control: QTA-01, reason: never used, owner: o, expires: 2099-12-31}\n"
    )
    args = ["--template", str(template), "--params", str(PARAMS), "--suppressions", str(path)]
    proc = stackproof_run(*args, "--reports", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout
    report = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    assert [s["state"] for s in report["suppressions"]] == ["active", "active", "unused"]
    sarif = json.loads((tmp_path / "r" / "latest" / "report.sarif").read_text())
    (entry,) = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "NET-05"]
    assert entry["suppressions"][0]["kind"] == "external"


def test_an_unreadable_suppressions_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("suppressions: [\n")
    proc = stackproof_run("--suppressions", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"stackproof: {path}:2:1:")
    assert "Traceback" not in proc.stderr


def test_an_error_is_never_suppressed(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.name == "multi-az-from-unset-parameter")
    template = mutant.apply(TEMPLATE, tmp_path)
    path = tmp_path / "s.yaml"
    path.write_text("suppressions:\n  - {control: DAT-01, reason: r, owner: o, expires: 2099-12-31}\n")
    proc = stackproof_run("--template", str(template), "--params", str(PARAMS), "--suppressions", str(path))
    assert proc.returncode == 1
    assert "DAT-01   high     ERROR" in proc.stdout


def test_plain_pytest_reports_a_suppressed_check_as_skipped(tmp_path: Path) -> None:
    import subprocess
    import sys

    from tests.conftest import ROOT

    path = suppressed_template(tmp_path)
    command = [sys.executable, "-m", "pytest", "checks", "-q", "-rs", "-p", "no:cacheprovider"]
    command += ["--template", str(path), "--params", str(PARAMS), "-k", "NET or session_manager"]
    proc = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout
    assert "NET-05 suppressed: vendor support" in proc.stdout
    assert "IAM-01 suppressed: vendor support" in proc.stdout
