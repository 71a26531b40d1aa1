"""Every report format, byte for byte, for two fixed runs (see tests/golden.py; regenerate with
``python -m tests.golden`` and review the diff). The golden files themselves validate against
their schemas, so a regeneration cannot bless a malformed report."""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path

import jsonschema
import pytest

from stackproof.reports.run_report import SCHEMA
from tests.golden import CASES, FILES, GOLDEN, produce


@pytest.fixture(scope="module", params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> tuple[str, dict[str, str]]:
    return request.param, produce(request.param)


@pytest.mark.parametrize("name", FILES)
def test_report_matches_its_golden_file(case: tuple[str, dict[str, str]], name: str) -> None:
    label, produced = case
    golden = (GOLDEN / label / name).read_text()
    if produced[name] != golden:
        diff = difflib.unified_diff(
            golden.splitlines(), produced[name].splitlines(), f"golden/{label}/{name}", "produced", lineterm="", n=1
        )
        pytest.fail("differs from its golden file (python -m tests.golden regenerates):\n" + "\n".join(list(diff)[:40]))


@pytest.mark.parametrize("label", sorted(CASES))
def test_golden_files_validate_against_their_schemas(label: str) -> None:
    import xmlschema

    directory = GOLDEN / label
    report = json.loads((directory / "report.json").read_text())
    jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()), format_checker=jsonschema.FormatChecker()).validate(
        report
    )
    xmlschema.XMLSchema(SCHEMA.with_name("junit.xsd")).validate(str(directory / "junit.xml"))
    sarif_schema = os.environ.get("STACKPROOF_SARIF_SCHEMA")
    if not sarif_schema or not Path(sarif_schema).exists():
        pytest.skip("the SARIF 2.1.0 schema is not installed (tox -e test installs it: STACKPROOF_SARIF_SCHEMA)")
    jsonschema.Draft4Validator(json.loads(Path(sarif_schema).read_text())).validate(
        json.loads((directory / "report.sarif").read_text())
    )


def test_the_suppressed_case_shows_every_kind_of_result() -> None:
    report = json.loads((GOLDEN / "ssh-suppressed" / "report.json").read_text())
    assert {r["status"] for r in report["results"]} == {"PASS", "FAIL", "SKIP", "SUPPRESSED"}
    assert sorted(s["state"] for s in report["suppressions"]) == ["active", "active", "expired"]
    assert report["run"]["exit_code"] == 1
    tools = {t["tool"]: {f["status"] for f in t["findings"]} for t in report["tools"]}
    assert tools == {"cfn-lint": set(), "checkov": {"FAIL", "SUPPRESSED"}}
