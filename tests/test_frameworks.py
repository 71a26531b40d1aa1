"""Framework mappings (issue 16): the data files load only when they are right, every report
shows each result's requirements, and ``stackproof controls --framework`` is the auditor's
coverage table."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from stackproof import catalogue
from stackproof.catalogue import CatalogueError, mappings
from stackproof.cli.controls import list_controls
from stackproof.cli.main import main
from stackproof.reports import html_report, sarif

GOOD: dict[str, Any] = {
    "framework": "demo",
    "name": "Demo Benchmark",
    "version": "1.0",
    "source": "https://example.com/demo",
    "requirements": [
        {"id": "A.1", "title": "databases are private", "controls": ["NET-03", "NET-02"]},
        {"id": "A.2", "title": "no account-wide thing", "controls": [], "note": "account level: not a stack's"},
    ],
}


def variant(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(GOOD))
    for key, value in changes.items():
        if key.startswith("req_"):
            data["requirements"][0][key[4:]] = value
        elif value is None:
            del data[key]
        else:
            data[key] = value
    return data


BAD = [
    ("not a mapping", [1], "a framework file is a mapping"),
    ("no name", variant(name=None), "missing ['name']"),
    ("an unknown key", variant(extra="x"), "unknown keys ['extra']"),
    ("empty requirements", variant(requirements=[]), "requirements must be a non-empty list"),
    ("a requirement without id", variant(req_id=""), "requirement 1: id must be a non-empty string"),
    ("an unknown control", variant(req_controls=["NET-99"]), "requirement A.1: no such control NET-99"),
    ("a control twice", variant(req_controls=["NET-03", "NET-03"]), "requirement A.1: a control is listed twice"),
    ("controls not a list", variant(req_controls="NET-03"), "controls must be a list of control IDs"),
    ("no title", variant(req_title=" "), "requirement A.1: title must be a non-empty string"),
    ("an unknown requirement key", variant(req_severity="high"), "requirement A.1: unknown keys ['severity']"),
    (
        "a requirement twice",
        variant(requirements=[GOOD["requirements"][0], GOOD["requirements"][0]]),
        "requirement A.1: listed twice",
    ),
]


@pytest.mark.parametrize(("why", "data", "message"), BAD, ids=[c[0] for c in BAD])
def test_a_bad_framework_file_is_refused_naming_file_and_requirement(why: str, data: Any, message: str) -> None:
    with pytest.raises(CatalogueError) as raised:
        mappings.parse(data, "frameworks/demo.yaml", catalogue.load())
    assert str(raised.value).startswith("frameworks/demo.yaml: ")
    assert message in str(raised.value)


def test_a_good_file_maps_controls_to_requirements() -> None:
    framework = mappings.parse(GOOD, "frameworks/demo.yaml", catalogue.load())
    assert framework.of_control("NET-02") == ["A.1"]
    assert framework.of_control("IAM-03") == []
    assert framework.requirements[1].note == "account level: not a stack's"


@pytest.mark.parametrize("name", ["aws-fsbp", "cis-aws-foundations"])
def test_the_shipped_frameworks_load_and_each_covers_and_leaves_out_something(name: str) -> None:
    framework = mappings.frameworks()[name]
    covered = [r for r in framework.requirements if r.controls]
    assert covered, "a mapping that covers nothing"
    assert len(covered) < len(framework.requirements), "the gaps are listed too, with controls: []"
    assert framework.source.startswith("https://")


def test_the_coverage_table_counts_what_the_controls_cover() -> None:
    out = io.StringIO()
    assert list_controls("aws-fsbp", out) == 0
    framework = mappings.frameworks()["aws-fsbp"]
    covered = sum(1 for r in framework.requirements if r.controls)
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        f"{framework.name} {framework.version} (aws-fsbp): {covered} of {len(framework.requirements)}"
        " requirements covered by stackproof's controls"
    )
    first = framework.requirements[0]
    (row,) = [line for line in lines if line.startswith(f"{first.id} ")]
    assert ", ".join(first.controls) in row if first.controls else " -  " in row


def test_an_unknown_framework_is_exit_2_naming_the_ones_there_are(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["controls", "--framework", "nist-800-53"]) == 2
    err = capsys.readouterr().err
    assert "no framework 'nist-800-53' (frameworks: aws-fsbp, cis-aws-foundations)" in err


def test_the_catalogue_listing_names_each_controls_requirements() -> None:
    out = io.StringIO()
    assert list_controls(None, out) == 0
    ids = mappings.of_control("IAM-03")
    assert ids, "IAM-03 (no admin policy) maps to both frameworks"
    for name, requirements in ids.items():
        assert f"        {name}: {', '.join(requirements)}" in out.getvalue()


def test_every_report_shows_a_results_requirements(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    code = main(["run", "--target", "template", "--tools", "none", "--reports", str(reports)])
    assert code == 0
    report = json.loads((reports / "latest" / "report.json").read_text(encoding="utf-8"))
    (result,) = [r for r in report["results"] if r["control"] == "IAM-03"]
    assert result["frameworks"] == mappings.of_control("IAM-03")
    (entry,) = [c for c in report["catalogue"] if c["id"] == "IAM-03"]
    assert entry["frameworks"] == mappings.of_control("IAM-03")
    rendered = sarif.render(report)
    (rule,) = [r for r in rendered["runs"][0]["tool"]["driver"]["rules"] if r["id"] == "IAM-03"]
    expected_tags = [f"{name}/{rid}" for name, ids in mappings.of_control("IAM-03").items() for rid in ids]
    assert rule["properties"]["tags"] == expected_tags
    html = html_report.render(report)
    assert html.count('class="frameworks"') >= 2
