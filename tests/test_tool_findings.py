"""cfn-lint and checkov inside `stackproof run`: their JSON read into findings (table-driven on
the tools' own output shapes), a run on a broken template failing with their rules in every
report, and a missing or broken tool being an ERROR, never a pass."""

from __future__ import annotations

import json
import stat
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from stackproof.gate.findings import ToolOutputError, cfn_lint, checkov, parse_tools
from stackproof.gate.tools import ToolMissing, find_tool
from tests.conftest import TEMPLATE, stackproof_run

PARAMS = TEMPLATE.with_name("dashboard.params.json")


def cfn_lint_item(rule: str, level: str, line: int, path: list[Any]) -> dict[str, Any]:
    return {
        "Filename": "t.yaml",
        "Level": level,
        "Location": {"Start": {"LineNumber": line, "ColumnNumber": 9}, "End": {"LineNumber": line}, "Path": path},
        "Message": f"{rule} message",
        "Rule": {"Id": rule, "ShortDescription": f"{rule} short", "Description": "d", "Source": "https://x.test/r"},
    }


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ([], []),
        (
            [cfn_lint_item("E3012", "Error", 902, ["Resources", "LogBucket", "Properties", "X"])],
            [("E3012", "FAIL", "high", "LogBucket", 902)],
        ),
        (
            [cfn_lint_item("W2001", "Warning", 40, ["Parameters", "Unused"])],
            [("W2001", "FAIL", "medium", None, 40)],
        ),
        (
            [cfn_lint_item("I3011", "Informational", 7, ["Resources", "Db"])],
            [("I3011", "FAIL", "low", "Db", 7)],
        ),
    ],
)
def test_cfn_lint_json_becomes_findings(payload: list[Any], expected: list[tuple[Any, ...]]) -> None:
    report = cfn_lint(payload, "t.yaml")
    assert [(f.rule, f.status, f.severity, f.resource, f.line) for f in report.findings] == expected
    assert all(report.rules[f.rule]["help_uri"] == "https://x.test/r" for f in report.findings)


def checkov_check(
    check_id: str, result: str, resource: str, first_line: int, comment: str | None = None
) -> dict[str, Any]:
    check_result: dict[str, Any] = {"result": result}
    if comment:
        check_result["suppress_comment"] = comment
    return {
        "check_id": check_id,
        "check_name": f"{check_id} name",
        "check_result": check_result,
        "resource": resource,
        "file_line_range": [first_line, first_line + 5],
        "guideline": None,
    }


@pytest.mark.parametrize(
    ("payload", "expected", "passed"),
    [
        ({"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0}, [], 0),
        (
            {
                "check_type": "cloudformation",
                "results": {
                    "passed_checks": [checkov_check("CKV_AWS_19", "PASSED", "AWS::S3::Bucket.Logs", 3)],
                    "failed_checks": [checkov_check("CKV_AWS_53", "FAILED", "AWS::S3::Bucket.LogBucket", 887)],
                    "skipped_checks": [
                        checkov_check("CKV_AWS_260", "SKIPPED", "AWS::EC2::SecurityGroup.LbSg", 683, "redirect only")
                    ],
                    "parsing_errors": [],
                },
                "summary": {"passed": 1, "failed": 1, "skipped": 1, "parsing_errors": 0, "checkov_version": "3.3.30"},
            },
            [
                ("CKV_AWS_53", "FAIL", "LogBucket", 887, None),
                ("CKV_AWS_260", "SUPPRESSED", "LbSg", 683, "redirect only"),
            ],
            1,
        ),
    ],
)
def test_checkov_json_becomes_findings(payload: dict[str, Any], expected: list[tuple[Any, ...]], passed: int) -> None:
    report = checkov(payload, "t.yaml")
    assert [(f.rule, f.status, f.resource, f.line, f.justification) for f in report.findings] == expected
    assert report.passed == passed


def test_checkov_parsing_errors_are_not_a_clean_run() -> None:
    with pytest.raises(ToolOutputError, match="parsing errors"):
        checkov({"summary": {"parsing_errors": 1}, "results": {}}, "t.yaml")


@pytest.mark.parametrize(
    ("text", "chosen"),
    [("none", ()), ("", ()), ("cfn-lint", ("cfn-lint",)), ("checkov,cfn-lint", ("checkov", "cfn-lint"))],
)
def test_tool_choice(text: str, chosen: tuple[str, ...]) -> None:
    assert parse_tools(text) == chosen


def test_unknown_tool_is_a_usage_error() -> None:
    proc = stackproof_run("--tools", "tfsec")
    assert proc.returncode == 2
    assert "unknown tool(s) tfsec" in proc.stderr


def broken_bucket(tmp_path: Path, value: str) -> Path:
    path = tmp_path / "broken.yaml"
    text = TEMPLATE.read_text().replace("BlockPublicAcls: true", f"BlockPublicAcls: {value}", 1)
    path.write_text(text)
    return path


def test_cfn_lint_findings_fail_the_run_and_reach_every_report(tmp_path: Path) -> None:
    template = broken_bucket(tmp_path, "maybe")
    line = template.read_text().splitlines().index("        BlockPublicAcls: maybe") + 1
    proc = stackproof_run(
        "--template", str(template), "--params", str(PARAMS), "--tools", "cfn-lint", "--reports", str(tmp_path / "r")
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"FAIL cfn-lint:E3012 LogBucket ({template}:{line}): 'maybe' is not of type 'boolean'" in proc.stdout
    latest = tmp_path / "r" / "latest"
    report = json.loads((latest / "report.json").read_text())
    (tool,) = report["tools"]
    assert (tool["tool"], tool["status"]) == ("cfn-lint", "ran")
    assert [(f["rule"], f["line"]) for f in tool["findings"]] == [("E3012", line)]
    assert f"- **cfn-lint:E3012** `template` FAIL: LogBucket ({template}:{line})" in (latest / "summary.md").read_text()
    junit = ET.parse(latest / "junit.xml").getroot()
    (suite,) = [s for s in junit.iter("testsuite") if s.get("name") == "stackproof.template.cfn-lint"]
    assert suite.get("failures") == "1"
    sarif = json.loads((latest / "report.sarif").read_text())
    (lint_run,) = [r for r in sarif["runs"] if r["tool"]["driver"]["name"] == "cfn-lint"]
    (result,) = lint_run["results"]
    assert result["ruleId"] == "E3012"
    assert result["locations"][0]["physicalLocation"]["region"]["startLine"] == line
    assert 'data-control="cfn-lint:E3012"' in (latest / "report.html").read_text()


def checkov_or_skip() -> str:
    try:
        return find_tool("checkov", "STACKPROOF_CHECKOV")
    except ToolMissing as exc:
        pytest.skip(f"checkov is not installed here ({exc}); tox -e test installs it")


def test_checkov_findings_and_its_own_skips_reach_the_reports(tmp_path: Path) -> None:
    checkov_or_skip()
    template = broken_bucket(tmp_path, "false")
    proc = stackproof_run(
        "--template", str(template), "--params", str(PARAMS), "--tools", "checkov", "--reports", str(tmp_path / "r")
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL checkov:CKV_AWS_53 LogBucket" in proc.stdout
    report = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    (tool,) = report["tools"]
    failed = sorted(f["rule"] for f in tool["findings"] if f["status"] == "FAIL")
    suppressed = {f["rule"]: f["justification"] for f in tool["findings"] if f["status"] == "SUPPRESSED"}
    assert failed == ["CKV_AWS_53"]
    assert set(suppressed) == {"CKV_AWS_260", "CKV_AWS_18", "CKV_AWS_173"}
    assert all(len(comment.split()) >= 8 for comment in suppressed.values())
    assert tool["passed"] > 100
    sarif = json.loads((tmp_path / "r" / "latest" / "report.sarif").read_text())
    (checkov_run,) = [r for r in sarif["runs"] if r["tool"]["driver"]["name"] == "checkov"]
    assert sum("suppressions" in r for r in checkov_run["results"]) == 3


def fake_tool(tmp_path: Path, script: str) -> str:
    path = tmp_path / "fake-tool"
    path.write_text("#!/bin/sh\n" + script + "\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({"STACKPROOF_CHECKOV": "/nonexistent/checkov"}, "STACKPROOF_CHECKOV=/nonexistent/checkov does not exist"),
        ({"STACKPROOF_CHECKOV": "FAKE:echo 'Traceback: boom' >&2; exit 2"}, "checkov did not report (exit 2)"),
        ({"STACKPROOF_CHECKOV": "FAKE:echo not-json; exit 0"}, "checkov did not report"),
    ],
)
def test_a_missing_or_broken_tool_is_an_error(
    environment: dict[str, str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in environment.items():
        monkeypatch.setenv(key, fake_tool(tmp_path, value[5:]) if value.startswith("FAKE:") else value)
    proc = stackproof_run("--tools", "checkov", "--reports", str(tmp_path / "r"))
    assert proc.returncode == 1
    assert "checkov: ERROR" in proc.stdout
    assert message in proc.stdout
    report = json.loads((tmp_path / "r" / "latest" / "report.json").read_text())
    (tool,) = report["tools"]
    assert tool["status"] in ("missing", "failed")
    assert [f["status"] for f in tool["findings"]] == ["ERROR"]
    assert "| checkov | gate | **ERROR** |" in (tmp_path / "r" / "latest" / "summary.md").read_text()
