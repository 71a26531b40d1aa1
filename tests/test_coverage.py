"""Coverage per target, and the verdict that says how much a run showed: a run that found
nothing wrong but showed little is "incomplete", never "passed"; --min-coverage fails it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stackproof.results.coverage import INCOMPLETE, PASSED, Coverage, by_target, shortfall, verdict
from tests.conftest import stackproof_run

REFERENCES = {"NET-01": ["dashboard", "analytics"], "DAT-01": ["dashboard"], "ANL-01": ["analytics"]}


def result(control: str, target: str, status: str) -> dict[str, Any]:
    return {"control": control, "target": target, "status": status}


@pytest.mark.parametrize(
    ("results", "expected"),
    [
        ([], (0, 0, 0, 0, 0)),
        ([result("NET-01", "t", "PASS"), result("DAT-01", "t", "PASS")], (2, 2, 0, 0, 0)),
        ([result("NET-01", "t", "PASS"), result("NET-01", "t", "SKIP")], (1, 0, 0, 0, 1)),  # worst check decides
        ([result("NET-01", "t", "PASS"), result("DAT-01", "t", "ERROR")], (2, 1, 1, 0, 0)),
        ([result("NET-01", "t", "FAIL"), result("DAT-01", "t", "SUPPRESSED")], (2, 0, 1, 1, 0)),
        ([result("ANL-01", "t", "SKIP"), result("DAT-01", "t", "PASS")], (1, 1, 0, 0, 0)),  # not the reference's
        ([result("DAT-01", "other", "PASS")], (0, 0, 0, 0, 0)),
    ],
)
def test_coverage_counts_each_control_once_by_its_worst_check(
    results: list[dict[str, Any]], expected: tuple[int, ...]
) -> None:
    (found,) = by_target(results, REFERENCES, ["t"], "dashboard")
    assert (found.controls, found.proven, found.failed, found.suppressed, found.not_shown) == expected


@pytest.mark.parametrize(
    ("exit_code", "proven", "controls", "expected"),
    [(0, 30, 30, PASSED), (0, 15, 30, PASSED), (0, 14, 30, INCOMPLETE), (0, 0, 0, INCOMPLETE), (1, 30, 30, "failed")],
)
def test_verdict(exit_code: int, proven: int, controls: int, expected: str) -> None:
    coverage = Coverage("t", controls, proven, 0, 0, controls - proven)
    assert verdict(exit_code, [coverage]) == expected


def test_min_coverage_names_the_target_and_the_share() -> None:
    coverage = [Coverage("localstack", 36, 1, 0, 0, 35, "dashboard"), Coverage("moto", 36, 36, 0, 0, 0, "dashboard")]
    assert shortfall(coverage, None) == []
    assert shortfall(coverage, 80) == [
        "dashboard/localstack: 1 of 36 controls proven (2.8%), 0 failed, 0 suppressed, 35 not shown"
        " is below --min-coverage 80%"
    ]


def test_a_run_that_shows_little_is_incomplete_in_every_report(tmp_path: Path) -> None:
    """TLS-05 cannot be shown on the template: a run of only its checks proves nothing there."""
    proc = stackproof_run("-k", "certificate_is_issued or refuses_protocols", "--reports", str(tmp_path), reports=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "stackproof: incomplete (shown too little: dashboard/template: 0 of 1 controls proven" in proc.stdout
    latest = tmp_path / "latest"
    run = json.loads((latest / "report.json").read_text())["run"]
    assert run["verdict"] == INCOMPLETE
    assert run["coverage"] == [
        {
            "target": "template",
            "reference": "dashboard",
            "controls": 1,
            "proven": 0,
            "failed": 0,
            "suppressed": 0,
            "not_shown": 1,
            "baselined": 0,
            "percent": 0.0,
        }
    ]
    assert (latest / "summary.md").read_text().startswith("### stackproof incomplete: 2 skip")
    assert "<h1>stackproof incomplete</h1>" in (latest / "report.html").read_text()
    assert 'name="coverage_not_shown" value="1"' in (latest / "junit.xml").read_text()
    sarif = json.loads((latest / "report.sarif").read_text())
    assert sarif["runs"][0]["properties"]["verdict"] == INCOMPLETE


def test_min_coverage_fails_the_run_and_says_why() -> None:
    proc = stackproof_run("--min-coverage", "95")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # The host checks' HST-01..07 cannot be shown on the template: not shown there, as TLS-05 is.
    assert "COVERAGE dashboard/template: 33 of 43 controls proven (76.7%)" in proc.stdout
    assert "is below --min-coverage 95%" in proc.stdout
    assert stackproof_run("--min-coverage", "76.7").returncode == 0
    assert stackproof_run("--min-coverage", "76.8").returncode == 1
