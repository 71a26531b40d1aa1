"""report.asff.json and report.ocsf.json, validated by what their ecosystems use: every ASFF
finding against botocore's own Security Hub service model (the BatchImportFindings input shape,
its enums and patterns), every OCSF event parsed back into its py-ocsf-models class. Over real
runs: both references on template and moto, and a mutant with FAIL, ERROR, SKIP and SUPPRESSED
on template and moto. The status and severity mappings are tables, tested as tables."""

from __future__ import annotations

import copy
import datetime
import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import Shape
from botocore.validate import ParamValidator
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.events.findings.detection_finding import DetectionFinding

from stackproof.reports import asff, ocsf
from stackproof.results import STATUSES
from tests.conftest import TEMPLATE, stackproof_run
from tests.golden import CASES, GOLDEN, ssh_mutant
from tests.mutants import MUTANTS

PARAMS = TEMPLATE.with_name("dashboard.params.json")
CLASSES: dict[int, type[ComplianceFinding] | type[DetectionFinding]] = {2003: ComplianceFinding, 2004: DetectionFinding}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def combined_mutant(directory: Path) -> Path:
    """SSH opened with an accepted and an expired suppression (FAIL, SUPPRESSED), and a database
    subnet on the VPC's main route table (ERROR on the template: its routes are not known)."""
    data = json.loads(ssh_mutant(directory).read_text())
    next(m for m in MUTANTS if m.name == "db-subnet-main-route-table").change(data)
    path = directory / "combined.json"
    path.write_text(json.dumps(data, indent=1))
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real runs on template and moto, their report directories by name."""
    base = tmp_path_factory.mktemp("asff")
    template = combined_mutant(base)
    mutant = stackproof_run(
        "--template", str(template), "--params", str(PARAMS), "--target", "template,moto", "--reports", str(base / "m")
    )
    assert mutant.returncode == 1, mutant.stderr
    references = stackproof_run(
        "--reference", "dashboard,analytics", "--target", "template,moto", "--reports", str(base / "r")
    )
    assert references.returncode == 0, references.stderr
    return {"mutant": base / "m" / "latest", "references": base / "r" / "latest"}


def input_shape() -> Shape:
    model = botocore.session.get_session().get_service_model("securityhub")
    return model.operation_model("BatchImportFindings").input_shape


def conformance(value: Any, shape: Shape, path: str) -> list[str]:
    """What ParamValidator leaves out: the model's enums and patterns, everywhere in the value."""
    problems: list[str] = []
    if shape.type_name == "structure":
        for name, member in shape.members.items():
            if name in value:
                problems += conformance(value[name], member, f"{path}.{name}")
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            problems += conformance(item, shape.member, f"{path}[{index}]")  # type: ignore[attr-defined]
    elif shape.type_name == "map":
        for key, item in value.items():
            problems += conformance(key, shape.key, f"{path} key")  # type: ignore[attr-defined]
            problems += conformance(item, shape.value, f"{path}.{key}")  # type: ignore[attr-defined]
    elif shape.type_name == "string":
        if shape.enum and value not in shape.enum:  # type: ignore[attr-defined]
            problems.append(f"{path}: {value!r} is not one of {shape.enum}")  # type: ignore[attr-defined]
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value, re.DOTALL):
            problems.append(f"{path}: {value!r} does not match {pattern}")
    return problems


def assert_takes(findings: list[dict[str, Any]]) -> None:
    """BatchImportFindings would take every finding: botocore's validation and the model's enums
    and patterns, in batches of 100, and the limits Security Hub documents."""
    shape = input_shape()
    for start in range(0, len(findings), 100):
        params = {"Findings": findings[start : start + 100]}
        report = ParamValidator().validate(params, shape)
        assert not report.has_errors(), report.generate_report()
        assert conformance(params, shape, "") == []
    for finding in findings:
        assert len(finding["Title"]) <= asff.MAX_TITLE
        assert len(finding["Description"]) <= asff.MAX_DESCRIPTION
        assert len(finding["Id"]) <= 512
        assert 1 <= len(finding["Resources"]) <= asff.MAX_RESOURCES
        assert len(finding["ProductFields"]) <= asff.MAX_PRODUCT_FIELDS
        for key in ("CreatedAt", "UpdatedAt", "FirstObservedAt", "LastObservedAt"):
            assert TIMESTAMP.match(finding[key]), finding[key]
            assert datetime.datetime.fromisoformat(finding[key]).tzinfo is not None
        assert finding["ProductArn"] == (
            f"arn:aws:securityhub:{finding['Region']}:{finding['AwsAccountId']}:product/{finding['AwsAccountId']}/default"
        )
    assert len({f["Id"] for f in findings}) == len(findings), "one finding per result, each with its own Id"


def test_asff_of_real_runs_is_what_batch_import_findings_takes(runs: dict[str, Path]) -> None:
    for directory in runs.values():
        report = json.loads((directory / "report.json").read_text())
        findings = json.loads((directory / "report.asff.json").read_text())
        assert len(findings) == len(report["results"])
        assert_takes(findings)
    references = json.loads((runs["references"] / "report.asff.json").read_text())
    assert len(references) > 100, "more than one BatchImportFindings batch"
    assert {f["ProductFields"]["stackproof/Reference"] for f in references} == {"dashboard", "analytics"}
    assert {f["ProductFields"]["stackproof/Target"] for f in references} == {"template", "moto"}


def test_asff_maps_every_status_of_a_real_run(runs: dict[str, Path]) -> None:
    report = json.loads((runs["mutant"] / "report.json").read_text())
    findings = json.loads((runs["mutant"] / "report.asff.json").read_text())
    seen = {(r["status"], r["target"]) for r in report["results"]}
    assert {("FAIL", "template"), ("ERROR", "template"), ("SKIP", "moto"), ("SUPPRESSED", "moto")} <= seen
    by_status: dict[str, set[tuple[str, str]]] = {}
    for result, finding in zip(report["results"], findings, strict=True):
        assert finding["ProductFields"]["stackproof/Status"] == result["status"]
        assert finding["GeneratorId"] == f"stackproof/{result['control']}"
        by_status.setdefault(result["status"], set()).add(
            (finding["Compliance"]["Status"], finding["Workflow"]["Status"])
        )
    assert by_status == {
        "PASS": {("PASSED", "RESOLVED")},
        "FAIL": {("FAILED", "NEW")},
        "ERROR": {("WARNING", "NEW")},
        "SKIP": {("NOT_AVAILABLE", "NEW")},
        "SUPPRESSED": {("FAILED", "SUPPRESSED")},
    }
    (suppressed,) = [
        f
        for f in findings
        if f["Compliance"]["Status"] == "FAILED"
        and f["Workflow"]["Status"] == "SUPPRESSED"
        and f["ProductFields"]["stackproof/Target"] == "template"
    ]
    assert suppressed["ProductFields"]["stackproof/Suppression"].startswith(
        "vendor support window (owner platform@example.com"
    )
    assert suppressed["Severity"]["Label"] == "CRITICAL"
    ids = {r["Id"] for r in suppressed["Resources"]}
    assert {"combined/AppSecurityGroup", "combined/AppSshIngress"} <= ids
    # Nothing here was read from an account: the placeholders publish fills in.
    assert {(f["AwsAccountId"], f["Region"]) for f in findings} == {(asff.PLACEHOLDER_ACCOUNT, asff.PLACEHOLDER_REGION)}


def test_a_rerun_and_a_fix_update_the_same_findings(tmp_path: Path) -> None:
    """The Id is about the control, check, target and template, never the outcome or the run:
    the mutant run twice gives the same Ids, and once the template is fixed its NET-05 finding
    arrives as PASSED under the Id its failure had."""
    template = tmp_path / "stack.json"
    mutant = next(m for m in MUTANTS if m.name == "ssh-by-separate-ingress")
    template.write_text(mutant.apply(TEMPLATE, tmp_path).read_text())
    runs = []
    for name, source in (("first", None), ("again", None), ("fixed", TEMPLATE)):
        if source is not None:
            template.write_text(json.dumps(json.loads(json.dumps(_load(source)))))
        proc = stackproof_run("--template", str(template), "--params", str(PARAMS), "--reports", str(tmp_path / name))
        assert proc.returncode in (0, 1), proc.stderr
        runs.append(json.loads((tmp_path / name / "latest" / "report.asff.json").read_text()))
    first, again, fixed = (
        {f["ProductFields"]["stackproof/Control"] + f["ProductFields"]["stackproof/Check"]: f for f in run}
        for run in runs
    )
    assert {k: f["Id"] for k, f in first.items()} == {k: f["Id"] for k, f in again.items()}
    assert {k: f["Id"] for k, f in first.items()} == {k: f["Id"] for k, f in fixed.items()}
    net05 = next(k for k in first if k.startswith("NET-05"))
    assert first[net05]["Compliance"]["Status"] == "FAILED"
    assert fixed[net05]["Compliance"]["Status"] == "PASSED"
    assert first[net05]["UpdatedAt"] != fixed[net05]["UpdatedAt"]


def _load(path: Path) -> Any:
    from stackproof.template.cfn_yaml import load_text

    return load_text(path.read_text())


def test_a_run_that_read_an_account_names_it(runs: dict[str, Path]) -> None:
    """Target aws (the run report names account, region and stacks) and a sweep's environments
    (each result tagged): their findings are about that account and region, the stack is a
    resource; the template's findings keep the placeholders."""
    report = json.loads((runs["mutant"] / "report.json").read_text())
    live = copy.deepcopy(report)
    live["run"].update(
        {"account": "111122223333", "region": "eu-west-1", "stacks": ["dashboard-network", "dashboard-app"]}
    )
    for result in live["results"]:
        if result["target"] == "moto":
            result["target"] = "aws"
    findings = asff.render(live)
    assert_takes(findings)
    on_aws = [f for f in findings if f["ProductFields"]["stackproof/Target"] == "aws"]
    assert on_aws
    assert {f["ProductArn"] for f in on_aws} == {
        "arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default"
    }
    assert {f["AwsAccountId"] for f in on_aws} == {"111122223333"}
    assert all(
        f["Resources"][0]
        == {"Type": "AwsCloudFormationStack", "Id": "dashboard-network", "Partition": "aws", "Region": "eu-west-1"}
        for f in on_aws
    )
    assert {f["AwsAccountId"] for f in findings if f not in on_aws} == {asff.PLACEHOLDER_ACCOUNT}
    swept = copy.deepcopy(report)
    swept["run"]["environments"] = [
        {"name": "prod", "account": "444455556666", "region": "us-west-2", "stacks": ["dash"]}
    ]
    for result in swept["results"]:
        result.update({"target": "prod", "environment": "prod", "account": "444455556666", "region": "us-west-2"})
    assert {(f["AwsAccountId"], f["Region"]) for f in asff.render(swept)} == {("444455556666", "us-west-2")}
    events = ocsf.render(live)
    aws_resources = [r for e in events if e["unmapped"]["stackproof"]["target"] == "aws" for r in e["resources"]]
    assert {(r.get("region"), r.get("data", {}).get("account")) for r in aws_resources} == {
        ("eu-west-1", "111122223333")
    }


def test_ocsf_events_parse_back_into_their_classes(runs: dict[str, Path]) -> None:
    for directory in runs.values():
        report = json.loads((directory / "report.json").read_text())
        events = json.loads((directory / "report.ocsf.json").read_text())
        asff_ids = {f["Id"].rsplit("/", 1)[1] for f in json.loads((directory / "report.asff.json").read_text())}
        compliance = [e for e in events if e["class_uid"] == 2003]
        assert len(compliance) == len(report["results"])
        for event in events:
            parsed = CLASSES[event["class_uid"]].model_validate(event)
            assert parsed.model_dump(mode="json", exclude_none=True) == event, "nothing dropped by the model"
            assert event["category_uid"] == 2
            assert event["type_uid"] == event["class_uid"] * 100 + event["activity_id"]
        assert {e["finding_info"]["uid"][:40] for e in compliance} == asff_ids, "both formats name a finding alike"
    events = json.loads((runs["mutant"] / "report.ocsf.json").read_text())
    seen = {(e["status_code"], e["compliance"]["status_id"], e["status_id"]) for e in events if e["class_uid"] == 2003}
    assert seen == {("PASS", 1, 1), ("FAIL", 3, 1), ("ERROR", 2, 1), ("SKIP", 0, 1), ("SUPPRESSED", 3, 3)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_files_are_valid_too(case: str) -> None:
    """The golden files, so that a regeneration cannot bless a malformed one (the suppressed
    case carries checkov's findings as Detection Findings)."""
    assert_takes(json.loads((GOLDEN / case / "report.asff.json").read_text()))
    events = json.loads((GOLDEN / case / "report.ocsf.json").read_text())
    for event in events:
        assert CLASSES[event["class_uid"]].model_validate(event).model_dump(mode="json", exclude_none=True) == event
    if case == "ssh-suppressed":
        detections = {(e["status_code"], e["status_id"]) for e in events if e["class_uid"] == 2004}
        assert detections == {("FAIL", 1), ("SUPPRESSED", 3)}


CONTROL = {
    "id": "NET-02",
    "title": "Databases sit only in isolated subnets.",
    "family": "network",
    "severity": "critical",
    "seed": "000_004264af0376ea4b.txt",
    "quote": "Databases are deployed to an isolated subnet",
}
RUN = {
    "id": "20260101T000000Z-000000",
    "stackproof_version": "0.0.0",
    "started": "2026-01-01T00:00:00+00:00",
    "ended": "2026-01-01T00:00:01.5+00:00",
    "region": "us-east-1",
    "template": {"path": "stack.yaml", "sha256": "0" * 64},
    "references": [{"name": "dashboard", "template": {"path": "stack.yaml", "sha256": "0" * 64}}],
}


def result(status: str, **extra: Any) -> dict[str, Any]:
    return {
        "control": "NET-02",
        "check": "test_databases_sit_only_in_isolated_subnets",
        "target": "template",
        "status": status,
        "message": "",
        "evidence": [],
        "reference": "dashboard",
        **extra,
    }


# status, control severity -> ASFF Compliance.Status, Workflow.Status, Severity.Label; OCSF compliance and finding status
TABLE = [
    ("PASS", "critical", "PASSED", "RESOLVED", "INFORMATIONAL", 1, 1, 1),
    ("FAIL", "critical", "FAILED", "NEW", "CRITICAL", 3, 1, 5),
    ("FAIL", "high", "FAILED", "NEW", "HIGH", 3, 1, 4),
    ("FAIL", "medium", "FAILED", "NEW", "MEDIUM", 3, 1, 3),
    ("FAIL", "low", "FAILED", "NEW", "LOW", 3, 1, 2),
    ("ERROR", "high", "WARNING", "NEW", "HIGH", 2, 1, 4),
    ("SKIP", "critical", "NOT_AVAILABLE", "NEW", "INFORMATIONAL", 0, 1, 1),
    ("SUPPRESSED", "medium", "FAILED", "SUPPRESSED", "MEDIUM", 3, 3, 3),
    ("BASELINED", "high", "FAILED", "SUPPRESSED", "HIGH", 3, 3, 4),
]


@pytest.mark.parametrize(
    ("status", "severity", "compliance", "workflow", "label", "ocsf_compliance", "ocsf_status", "ocsf_severity"), TABLE
)
def test_status_and_severity_mapping(
    status: str,
    severity: str,
    compliance: str,
    workflow: str,
    label: str,
    ocsf_compliance: int,
    ocsf_status: int,
    ocsf_severity: int,
) -> None:
    control = {**CONTROL, "severity": severity}
    extra: dict[str, Any] = {}
    if status == "BASELINED":
        extra["baseline"] = {"file": "stackproof-baseline.json", "findings": 2}
    finding = asff.finding(result(status, **extra), control, RUN)
    assert (finding["Compliance"]["Status"], finding["Workflow"]["Status"], finding["Severity"]["Label"]) == (
        compliance,
        workflow,
        label,
    )
    assert finding["Severity"]["Original"] == severity
    assert finding["UpdatedAt"] == "2026-01-01T00:00:01.500Z"
    assert_takes([finding])
    event = ocsf.compliance_finding(result(status, **extra), control, RUN)
    assert (event.compliance.status_id, event.status_id, event.severity_id) == (
        ocsf_compliance,
        ocsf_status,
        ocsf_severity,
    )
    assert event.status_code == status
    if status == "BASELINED":
        assert "from a baseline file" in finding["ProductFields"]["stackproof/StatusMeaning"]
        assert event.status_detail == "an accepted existing finding from a baseline file: stackproof-baseline.json"


def test_the_tables_cover_every_status_and_pass_only_pass() -> None:
    assert {*STATUSES, "BASELINED"} <= set(asff.STATUS) & set(ocsf.STATUS)
    assert [s for s, m in asff.STATUS.items() if m.compliance == "PASSED"] == ["PASS"]
    assert [s for s, m in ocsf.STATUS.items() if m.compliance == 1] == ["PASS"]


@pytest.mark.parametrize("render", [asff.render, ocsf.render])
def test_an_unknown_status_or_severity_is_refused(render: Any) -> None:
    report = {"run": RUN, "catalogue": [CONTROL], "results": [result("MAYBE")]}
    with pytest.raises(asff.UnknownStatus, match="MAYBE"):
        render(report)
    report = {"run": RUN, "catalogue": [{**CONTROL, "severity": "severe"}], "results": [result("FAIL")]}
    with pytest.raises(asff.UnknownStatus, match="severe"):
        render(report)
