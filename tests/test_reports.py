"""Reports: report.json validates against its schema, summary.md tells the verdict, and no
secret value reaches any output."""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from stackproof.reports.run_report import SCHEMA
from stackproof.template.cfn_yaml import load_text
from tests.conftest import TEMPLATE, stackproof_run
from tests.golden import FILES
from tests.mutants import MUTANTS

PARAMS = TEMPLATE.with_name("dashboard.params.json")
CANARY = "canary-Secr3t-7f3a9c"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return stackproof_run(*args, reports=True)


def validate(path: Path) -> dict[str, object]:
    report: dict[str, object] = json.loads(path.read_text())
    validator = jsonschema.Draft202012Validator(
        json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker()
    )
    validator.validate(report)
    return report


def test_reference_report_validates_and_passes(tmp_path: Path) -> None:
    proc = run("--reports", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    latest = tmp_path / "latest"
    assert latest.is_symlink()
    report = validate(latest / "report.json")
    run_meta = report["run"]
    assert isinstance(run_meta, dict)
    assert run_meta["exit_code"] == 0
    assert run_meta["template"]["path"].endswith("dashboard.yaml")
    statuses = {r["status"] for r in report["results"]}  # type: ignore[union-attr]
    assert statuses == {"PASS", "SKIP"}
    summary = (latest / "summary.md").read_text()
    assert summary.startswith("### stackproof passed: 34 pass, 15 skip")
    assert "| NET-02 | critical | PASS |" in summary


def test_mutant_report_names_the_failing_control_with_its_line(tmp_path: Path) -> None:
    mutant = next(m for m in MUTANTS if m.name == "db-subnet-through-nat")
    path = mutant.apply(TEMPLATE, tmp_path)
    proc = run("--template", str(path), "--params", str(PARAMS), "--reports", str(tmp_path / "reports"))
    assert proc.returncode == 1
    report = validate(tmp_path / "reports" / "latest" / "report.json")
    assert report["run"]["exit_code"] == 1  # type: ignore[index]
    (failed,) = [r for r in report["results"] if r["control"] == "NET-02"]  # type: ignore[union-attr]
    assert failed["status"] == "FAIL"
    lines = {loc["line"] for e in failed["evidence"] for loc in e["locations"] if loc["file"]}
    assert lines, "template results carry file and line"
    summary = (tmp_path / "reports" / "latest" / "summary.md").read_text()
    assert "- **NET-02** `template` FAIL: database subnet IsolatedSubnetA routes 0.0.0.0/0 to nat" in summary
    latest = tmp_path / "reports" / "latest"
    assert "NET-02   critical FAIL" in proc.stdout
    junit = ET.parse(latest / "junit.xml").getroot()
    assert [c.get("name", "").split()[0] for c in junit.iter("testcase") if c.find("failure") is not None] == [
        "NET-01",
        "NET-02",
    ]
    sarif = json.loads((latest / "report.sarif").read_text())
    assert [r["ruleId"] for r in sarif["runs"][0]["results"] if r["kind"] == "fail"] == ["NET-01", "NET-02"]
    assert '<td class="s FAIL">FAIL</td>' in (latest / "report.html").read_text()
    assert sorted(f.name for f in latest.iterdir()) == sorted(FILES)


def test_secret_values_never_reach_an_output(tmp_path: Path) -> None:
    data = json.loads(json.dumps(load_text(TEMPLATE.read_text())))
    data["Parameters"]["DBMasterPassword"] = {"Type": "String", "NoEcho": True}
    data["Parameters"]["LicenceKey"] = {"Type": "String", "NoEcho": True}
    template = tmp_path / "with-secrets.json"
    template.write_text(json.dumps(data))
    params = [
        *json.loads(PARAMS.read_text()),
        {"ParameterKey": "DBMasterPassword", "ParameterValue": CANARY},
        {"ParameterKey": "LicenceKey", "ParameterValue": CANARY + "-licence"},
    ]
    params_file = tmp_path / "params.json"
    params_file.write_text(json.dumps(params))
    proc = run("--template", str(template), "--params", str(params_file), "--reports", str(tmp_path / "reports"), "-v")
    outputs = {"stdout": proc.stdout, "stderr": proc.stderr}
    for path in (tmp_path / "reports").rglob("*"):
        if path.is_file():
            outputs[str(path)] = path.read_text(errors="replace")
    assert len(outputs) >= 4
    assert [name for name, text in outputs.items() if CANARY in text] == []
    report = json.loads((tmp_path / "reports" / "latest" / "report.json").read_text())
    assert report["run"]["parameters"]["DBMasterPassword"] == "<redacted>"
    assert report["run"]["parameters"]["LicenceKey"] == "<redacted>"


def test_junit_validates_and_marks_failures_with_their_control(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    import xmlschema

    mutant = next(m for m in MUTANTS if m.name == "tls10-policy")
    path = mutant.apply(TEMPLATE, tmp_path)
    assert run("--template", str(path), "--params", str(PARAMS), "--reports", str(tmp_path / "r")).returncode == 1
    junit = tmp_path / "r" / "latest" / "junit.xml"
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(junit)
    root = ET.parse(junit).getroot()
    assert root.get("failures") == "1"
    (failure,) = root.iter("failure")
    case = next(c for c in root.iter("testcase") if c.find("failure") is not None)
    assert case.get("name", "").startswith("TLS-03 ")
    properties = {p.get("name"): p.get("value") for p in case.iter("property")}
    assert properties["control"] == "TLS-03"
    assert "ELBSecurityPolicy-2016-08" in (failure.text or "")


def test_junit_schema_rejects_a_malformed_report(tmp_path: Path) -> None:
    import xmlschema

    bad = tmp_path / "bad.xml"
    bad.write_text('<testsuites tests="1" failures="0" errors="0"><testsuite name="x"/></testsuites>')
    assert not xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).is_valid(bad)


def sarif_schema() -> dict[str, object]:
    """The official SARIF 2.1.0 schema; tox installs it from npm (see tox.ini)."""
    configured = os.environ.get("STACKPROOF_SARIF_SCHEMA")
    if not configured or not Path(configured).exists():
        pytest.skip("the SARIF 2.1.0 schema is not installed (tox -e test installs it: STACKPROOF_SARIF_SCHEMA)")
    schema: dict[str, object] = json.loads(Path(configured).read_text())
    return schema


def test_sarif_validates_against_the_official_schema_and_points_at_lines(tmp_path: Path) -> None:
    schema = sarif_schema()
    mutant = next(m for m in MUTANTS if m.name == "redirect-302")
    path = mutant.apply(TEMPLATE, tmp_path)
    assert run("--template", str(path), "--params", str(PARAMS), "--reports", str(tmp_path / "r")).returncode == 1
    sarif = json.loads((tmp_path / "r" / "latest" / "report.sarif").read_text())
    jsonschema.Draft4Validator(schema).validate(sarif)
    (run_,) = sarif["runs"]
    assert {r["id"] for r in run_["tool"]["driver"]["rules"]} >= {"TLS-02", "NET-02", "RES-01"}
    (failed,) = [r for r in run_["results"] if r["kind"] == "fail"]
    assert (failed["ruleId"], failed["level"]) == ("TLS-02", "error")
    region = failed["locations"][0]["physicalLocation"]
    assert region["artifactLocation"]["uri"].endswith(f"{path.name}")
    assert region["region"]["startLine"] > 1


def test_sarif_schema_rejects_a_malformed_log() -> None:
    schema = sarif_schema()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(schema).validate({"version": "2.1.0", "runs": [{"results": []}]})


def test_html_is_self_contained_escaped_and_lists_every_control(tmp_path: Path) -> None:
    import re

    data = json.loads(json.dumps(load_text(TEMPLATE.read_text())))
    data["Parameters"]["DashboardImage"]["Default"] = "<script>alert('x')</script>"
    template = tmp_path / "t.json"
    template.write_text(json.dumps(data))
    run("--template", str(template), "--params", str(PARAMS), "--reports", str(tmp_path / "r"))
    page = (tmp_path / "r" / "latest" / "report.html").read_text()
    assert "<script>alert(" not in page
    assert "&lt;script&gt;alert(" in page
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page), "no external assets"
    assert "default-src 'none'" in page
    for control in ("NET-02", "TLS-03", "DAT-06", "QTA-01"):
        assert f'data-control="{control}"' in page


def test_html_report_renders_in_chromium(tmp_path: Path) -> None:
    """40+ rows (controls, planned controls, gate-tool rules) on two targets, rendered."""
    import re
    import shutil

    from tests.golden import ssh_mutant
    from tests.test_tool_findings import checkov_or_skip

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("Chromium is not installed (Debian's chromium package)")
    checkov_or_skip()
    template = ssh_mutant(tmp_path)
    proc = run(
        "--template",
        str(template),
        "--params",
        str(PARAMS),
        "--target",
        "template,moto",
        "--tools",
        "cfn-lint,checkov",
        "--reports",
        str(tmp_path / "r"),
    )
    assert proc.returncode == 1, proc.stderr
    page = tmp_path / "r" / "latest" / "report.html"
    rows = re.findall(r'<tr data-control="([^"]+)"', page.read_text())
    assert len(rows) >= 40, rows
    assert {"NET-05", "RES-01", "checkov", "checkov:CKV_AWS_24"} <= set(rows)
    shot = tmp_path / "report.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1400,3000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000, "a rendered page, not a blank one"
