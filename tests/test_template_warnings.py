"""What CloudFormation accepts but a reviewer should see (a duplicate key: CloudFormation keeps
the last) is a WARNING finding at file:line in every report, and never fails the run."""

from __future__ import annotations

import json
from pathlib import Path

import xmlschema

from stackproof.reports.run_report import SCHEMA
from tests.conftest import TEMPLATE, stackproof_run

PARAMS = TEMPLATE.with_name("dashboard.params.json")


def test_a_duplicate_key_is_a_warning_in_every_format_and_the_run_still_passes(tmp_path: Path) -> None:
    import jsonschema

    text = TEMPLATE.read_text()
    duplicated = text + "Description: the same system, described twice\n"
    template = tmp_path / "dup.yaml"
    template.write_text(duplicated)
    line = duplicated.count("\n")
    proc = stackproof_run("--template", str(template), "--params", str(PARAMS), "--reports", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"WARNING cloudformation:duplicate-key ({template}:{line}): duplicate key 'Description'" in proc.stdout
    latest = tmp_path / "r" / "latest"
    report = json.loads((latest / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text())).validate(report)
    (loader,) = [t for t in report["tools"] if t["tool"] == "cloudformation"]
    assert [(f["rule"], f["status"], f["file"], f["line"]) for f in loader["findings"]] == [
        ("duplicate-key", "WARNING", str(template), line)
    ]
    assert report["run"]["verdict"] == "passed"
    assert "cloudformation:duplicate-key" in (latest / "summary.md").read_text()
    junit = (latest / "junit.xml").read_text()
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(str(latest / "junit.xml"))
    assert "<system-out>WARNING: duplicate key 'Description'" in junit
    sarif = json.loads((latest / "report.sarif").read_text())
    (run,) = [r for r in sarif["runs"] if r["tool"]["driver"]["name"] == "cloudformation"]
    assert run["results"][0]["level"] == "warning"
    assert run["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    assert 'class="WARNING"' in (latest / "report.html").read_text()


def test_a_template_without_warnings_adds_no_row() -> None:
    proc = stackproof_run()
    assert proc.returncode == 0
    assert "cloudformation:" not in proc.stdout
    assert "WARNING" not in proc.stdout
