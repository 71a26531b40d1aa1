"""Baselines (issue 16): a team accepts today's findings, then fails only on new ones.

The flow runs the CLI on a deliberately weak stack set (the dashboard's set form with four
promises broken and a cfn-lint finding) on ``template`` and ``moto``: ``baseline create``, a
rerun with the baseline passes, one new weakness fails naming only it, and fixing a baselined
finding makes the report say the baseline can shrink. The units pin the fingerprint (what
survives a line move, what makes a finding new) and the bad baseline files (exit 2, no
traceback)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from stackproof.cli.main import main
from stackproof.results import BASELINED, ERROR, FAIL, SUPPRESSED, Result
from stackproof.results.baseline import (
    BaselineError,
    Entry,
    apply,
    evidence_fingerprint,
    findings_of,
    load,
    normalized,
    write,
)
from stackproof.template.cfn_yaml import load_text
from tests.conftest import ROOT
from tests.mutants import MUTANTS

CFN = ROOT / "reference" / "cloudformation"
PARAMS = CFN / "dashboard.params.json"
BY_NAME = {m.name: m for m in MUTANTS}


def located(message: str, *resources: tuple[str, int], stack: str = "s", **values: Any) -> dict[str, Any]:
    return {
        "message": message,
        "resources": [f"{r} (t.yaml:{line})" for r, line in resources],
        "locations": [{"file": "t.yaml", "line": line, "resource": r, "stack": stack} for r, line in resources],
        "observed": values.get("observed"),
        "expected": values.get("expected"),
    }


# ------------------------------------------------------------------------ the fingerprint

SAME = [
    ("a line move", located("open to a CIDR", ("Db", 10)), located("open to a CIDR", ("Db", 99))),
    ("the observed value", located("bounds differ", ("Asg", 1), observed="10"), located("bounds differ", ("Asg", 1))),
    (
        "physical IDs in the message",
        located("sg-0123456789abcdef0 admits 22", ("Sg", 1)),
        located("sg-0fedcba9876543210 admits 22", ("Sg", 1)),
    ),
    (
        "ARNs and accounts",
        located("role arn:aws:iam::123456789012:role/x-AB12 may do *", ("R", 1)),
        located("role arn:aws:iam::210987654321:role/x-CD34 may do *", ("R", 1)),
    ),
    ("resource order", located("m", ("A", 1), ("B", 2)), located("m", ("B", 2), ("A", 1))),
    ("whitespace", located("a  b\n c", ("A", 1)), located("a b c", ("A", 1))),
]
DIFFERENT = [
    ("another resource", located("m", ("A", 1)), located("m", ("B", 1))),
    ("another stack", located("m", ("A", 1), stack="network"), located("m", ("A", 1), stack="storage")),
    ("another reason", located("port 22 open", ("Sg", 1)), located("port 3389 open", ("Sg", 1))),
    ("no resource", located("m"), located("m", ("A", 1))),
]


@pytest.mark.parametrize(("why", "first", "second"), SAME, ids=[c[0] for c in SAME])
def test_a_finding_keeps_its_fingerprint_across(why: str, first: dict[str, Any], second: dict[str, Any]) -> None:
    assert evidence_fingerprint("NET-03", first) == evidence_fingerprint("NET-03", second)


@pytest.mark.parametrize(("why", "first", "second"), DIFFERENT, ids=[c[0] for c in DIFFERENT])
def test_a_finding_is_new_with(why: str, first: dict[str, Any], second: dict[str, Any]) -> None:
    assert evidence_fingerprint("NET-03", first) != evidence_fingerprint("NET-03", second)


def test_the_control_is_part_of_the_fingerprint() -> None:
    evidence = located("m", ("A", 1))
    assert evidence_fingerprint("NET-03", evidence) != evidence_fingerprint("NET-05", evidence)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("subnet-0a1b2c3d4e5f60718 routes to igw-12345678", "<id> routes to <id>"),
        ("in 123456789012", "in <account>"),
        ("at dashboard.yaml:120 and line 7", "at dashboard.yaml:<line> and line <n>"),
        ("ELBSecurityPolicy-2016-08 on port 443", "ELBSecurityPolicy-2016-08 on port 443"),
    ],
)
def test_what_varies_between_deployments_is_left_out(text: str, expected: str) -> None:
    assert normalized(text) == expected


# ------------------------------------------------------------------------ applying a baseline


def results(*evidence: dict[str, Any], status: str = FAIL, control: str = "NET-03") -> Result:
    return Result(control, "test_x", "template", status, "\n".join(e["message"] for e in evidence), list(evidence))


def baseline_of(tmp_path: Path, *found: Result) -> Any:
    path = tmp_path / "baseline.json"
    write(path, findings_of(found, []))
    return load(path)


def test_a_failure_all_of_whose_evidence_is_baselined_is_baselined(tmp_path: Path) -> None:
    first, second = located("open to a CIDR", ("Db", 10)), located("open to a CIDR", ("Ingress", 12))
    baseline = baseline_of(tmp_path, results(first, second))
    now = results(located("open to a CIDR", ("Ingress", 40)), located("open to a CIDR", ("Db", 30)))
    apply(baseline, [now], [])
    assert now.status == BASELINED
    assert now.baseline == {"file": baseline.path, "findings": 2}
    assert all(e["baselined"] for e in now.evidence)


def test_a_failure_with_a_new_piece_stays_fail_and_names_only_the_new_one(tmp_path: Path) -> None:
    baseline = baseline_of(tmp_path, results(located("open to a CIDR", ("Db", 10))))
    now = results(located("open to a CIDR", ("Db", 10)), located("open to a CIDR", ("Other", 50)))
    apply(baseline, [now], [])
    assert now.status == FAIL
    assert now.message == "open to a CIDR — Other (t.yaml:50)\n(and 1 baselined finding)"
    assert [e["baselined"] for e in now.evidence] == [True, False]


@pytest.mark.parametrize("status", [ERROR, SUPPRESSED])
def test_an_error_or_a_suppressed_failure_is_never_baselined(tmp_path: Path, status: str) -> None:
    evidence = located("open to a CIDR", ("Db", 10))
    baseline = baseline_of(tmp_path, results(evidence))
    now = results(evidence, status=status)
    apply(baseline, [now], [])
    assert now.status == status
    assert findings_of([results(evidence, status=ERROR)], []) == []


def test_a_failure_without_evidence_is_known_by_its_message(tmp_path: Path) -> None:
    bare = Result("QTA-01", "test_q", "moto", FAIL, "demand 20 exceeds the quota in 123456789012")
    baseline = baseline_of(tmp_path, bare)
    again = Result("QTA-01", "test_q", "aws", FAIL, "demand 20 exceeds the quota in 210987654321")
    other = Result("QTA-01", "test_q", "aws", FAIL, "demand 40 exceeds the quota in 210987654321")
    apply(baseline, [again, other], [])
    assert (again.status, other.status) == (BASELINED, FAIL)


def test_the_same_finding_on_two_targets_is_one_entry() -> None:
    evidence = located("m", ("A", 1))
    on_template, on_moto = results(evidence), results(evidence)
    on_moto.target = "moto"
    (entry,) = findings_of([on_template, on_moto], [])
    assert isinstance(entry, Entry)
    assert entry.targets == ("template", "moto")
    assert entry.resources == ("A",)
    assert "t.yaml" not in entry.message  # no line to go stale


# ------------------------------------------------------------------------ bad baseline files

BAD_FILES = [
    ("missing", None, "baseline.json: no such file (make a baseline with `stackproof baseline create`)"),
    ("not JSON", "{\n  findings: [\n", "baseline.json:2: not JSON"),
    ("another version", json.dumps({"version": 9, "findings": []}), "version 1 with a findings list"),
    ("a list", json.dumps([1, 2]), "not a stackproof baseline"),
    ("an entry without fingerprint", json.dumps({"version": 1, "findings": [{"control": "X"}]}), "finding 1 has no"),
    (
        "targets not a list",
        json.dumps({"version": 1, "findings": [{"fingerprint": "f", "control": "X", "targets": "moto"}]}),
        "finding 1: targets and resources must be lists",
    ),
]


@pytest.mark.parametrize(("why", "text", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_bad_baseline_file_is_named_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], why: str, text: str | None, message: str
) -> None:
    path = tmp_path / "baseline.json"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(BaselineError, match=re.escape(message)):
        load(path)
    code = main(["run", "--target", "template", "--tools", "none", "--no-reports", "--baseline", str(path)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


# ------------------------------------------------------------------------ the team's flow


def weaken(directory: Path, *mutants: str) -> None:
    """Apply each mutant to the template of the set that holds its resources."""
    for name in mutants:
        applied = 0
        for path in sorted(directory.glob("*.yaml")):
            data = json.loads(json.dumps(load_text(path.read_text(encoding="utf-8"))))
            try:
                BY_NAME[name].change(data)
            except KeyError:
                continue
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
            applied += 1
        assert applied == 1, f"{name} applies to {applied} templates of the set"


def restore(directory: Path, logical_id: str) -> None:
    """Put one resource back as the reference has it (the team fixes a baselined finding)."""
    for path in sorted(directory.glob("*.yaml")):
        data = json.loads(json.dumps(load_text(path.read_text(encoding="utf-8"))))
        if logical_id in data["Resources"]:
            original = load_text((CFN / "dashboard-set" / path.name).read_text(encoding="utf-8"))
            data["Resources"][logical_id] = json.loads(json.dumps(original["Resources"][logical_id]))
            path.write_text(json.dumps(data, indent=1), encoding="utf-8")
            return
    raise AssertionError(f"{logical_id} is in no template of the set")


def move_every_line(directory: Path) -> None:
    """Reverse every template's resources: each finding's line changes."""
    for path in sorted(directory.glob("*.yaml")):
        data = json.loads(json.dumps(load_text(path.read_text(encoding="utf-8"))))
        data["Resources"] = dict(reversed(list(data["Resources"].items())))
        path.write_text(json.dumps(data, indent=3), encoding="utf-8")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main([*argv])
    return code, capsys.readouterr().out


def failing_lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("FAIL ", "ERROR "))]


@pytest.mark.moto
def test_a_team_adopts_stackproof_with_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aws_credentials: None
) -> None:
    stacks = tmp_path / "stacks"
    shutil.copytree(CFN / "dashboard-set", stacks)
    weaken(stacks, "max-size-10", "tls10-policy", "app-logs-forever", "db-backups-3-days")
    common = ["--template", str(stacks), "--params", str(PARAMS), "--target", "template,moto", "--tools", "cfn-lint"]
    baseline = tmp_path / "team" / "stackproof-baseline.json"

    code, out = run(capsys, "baseline", "create", *common, "--output", str(baseline))
    assert code == 0, out  # the file is written, whatever the run found
    day_one = failing_lines(out)
    assert {line.split()[1] for line in day_one} >= {"SCL-02", "TLS-03", "OBS-01", "DAT-02"}
    recorded = json.loads(baseline.read_text(encoding="utf-8"))["findings"]
    assert f"{len(recorded)} findings recorded in {baseline}" in out
    assert {e["control"] for e in recorded} >= {"SCL-02", "TLS-03", "OBS-01", "DAT-02", "cfn-lint:W2001"}
    assert all(set(e["targets"]) <= {"template", "moto"} for e in recorded)

    move_every_line(stacks)
    reports = tmp_path / "reports"
    code, out = run(capsys, "run", *common, "--baseline", str(baseline), "--reports", str(reports))
    assert code == 0, failing_lines(out)
    assert failing_lines(out) == []
    assert f"baseline {baseline}: {len(recorded)} of {len(recorded)} findings found again" in out
    report = json.loads((reports / "latest" / "report.json").read_text(encoding="utf-8"))
    statuses = {(r["control"], r["target"]): r["status"] for r in report["results"]}
    assert statuses[("SCL-02", "template")] == statuses[("SCL-02", "moto")] == BASELINED
    assert report["run"]["baseline"]["fixed"] == []

    weaken(stacks, "imdsv1-allowed")
    code, out = run(capsys, "run", *common, "--baseline", str(baseline), "--no-reports")
    assert code == 1
    new = failing_lines(out)
    # The one new weakness, as the template shows it and as the instances show it from inside.
    assert {line.split()[1] for line in new} == {"IAM-02", "HST-06"}, new

    restore(stacks, "LaunchTemplate")
    restore(stacks, "AppLogGroup")
    code, out = run(capsys, "run", *common, "--baseline", str(baseline), "--reports", str(reports))
    assert code == 0, failing_lines(out)
    assert "2 baselined findings are fixed; the baseline can shrink" in out
    assert "OBS-01 AppLogGroup: log group keeps logs forever" in out
    report = json.loads((reports / "latest" / "report.json").read_text(encoding="utf-8"))
    fixed = report["run"]["baseline"]["fixed"]
    # The log group keeps its retention again, so its parameter is used again: cfn-lint's
    # unused-parameter finding, baselined on day one, is fixed with it.
    assert {e["control"] for e in fixed} == {"OBS-01", "cfn-lint:W2001"}
    assert ("AppLogGroup",) in {tuple(e["resources"]) for e in fixed}
    summary = (reports / "latest" / "summary.md").read_text(encoding="utf-8")
    assert "Fixed, so the baseline can shrink (2)" in summary
    sarif = json.loads((reports / "latest" / "report.sarif").read_text(encoding="utf-8"))
    states = {r["ruleId"]: r.get("baselineState") for r in sarif["runs"][0]["results"] if r["kind"] == "fail"}
    assert states["SCL-02"] == "unchanged"
    junit = (reports / "latest" / "junit.xml").read_text(encoding="utf-8")
    assert "fixed, remove from the baseline: OBS-01 AppLogGroup" in junit
    assert 'type="BASELINED"' in junit
    html = (reports / "latest" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Baseline</h2>" in html
