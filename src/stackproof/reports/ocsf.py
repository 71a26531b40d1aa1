"""``report.ocsf.json``: the run as OCSF 1.5 events, built with py-ocsf-models (the pydantic
models Prowler emits with), so an event that does not fit its class cannot be written.

Which class: a control verdict is a **Compliance Finding** (class 2003): stackproof evaluates a
deployment against a catalogue of controls, which is what that class describes, and its
``compliance`` object carries the control, the check and a Pass/Warning/Fail status. A gate
tool's finding (a cfn-lint or checkov rule that matched a resource) is a **Detection
Finding** (class 2004): a rule engine's hit, with no control of ours behind it.

Compliance status (fail closed: only PASS is Pass) and the finding's own status:

=========== ===================== ==================== ======================================
status      compliance.status_id  status_id            severity_id
=========== ===================== ==================== ======================================
PASS        Pass (1)              New (1)              Informational
FAIL        Fail (3)              New (1)              the control's
ERROR       Warning (2)           New (1)              the control's (undecided: missing information)
SKIP        Unknown (0)           New (1)              Informational
SUPPRESSED  Fail (3)              Suppressed (3)       the control's (accepted, still a failure)
BASELINED   Fail (3)              Suppressed (3)       the control's (accepted from a baseline)
=========== ===================== ==================== ======================================

Tool findings: FAIL is New, SUPPRESSED and BASELINED Suppressed, WARNING and ERROR New with the
tool's severity (an ERROR is the tool not running). An unknown status raises. ``finding_info.uid``
is the fingerprint ``report.asff.json`` uses for its finding Id, so the two formats name a finding
the same way on every run. The account and region, where the run read an account, are on each
resource (py-ocsf-models' Compliance Finding has no ``cloud`` object)."""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from py_ocsf_models import OCSF_VERSION
from py_ocsf_models.events.findings.activity_id import ActivityID
from py_ocsf_models.events.findings.compliance_finding import ComplianceFinding
from py_ocsf_models.events.findings.compliance_finding_type_id import ComplianceFindingTypeID
from py_ocsf_models.events.findings.detection_finding import DetectionFinding
from py_ocsf_models.events.findings.detection_finding_type_id import DetectionFindingTypeID
from py_ocsf_models.events.findings.severity_id import SeverityID
from py_ocsf_models.events.findings.status_id import StatusID
from py_ocsf_models.objects.check import Check
from py_ocsf_models.objects.compliance import Compliance
from py_ocsf_models.objects.compliance_status import StatusID as ComplianceStatusID
from py_ocsf_models.objects.finding_info import FindingInformation
from py_ocsf_models.objects.metadata import Metadata
from py_ocsf_models.objects.product import Product
from py_ocsf_models.objects.resource_details import ResourceDetails

from stackproof import __version__
from stackproof.reports.asff import UnknownStatus, clip, fingerprint, place_of, template_identity

SEVERITY = {
    "critical": SeverityID.Critical,
    "high": SeverityID.High,
    "medium": SeverityID.Medium,
    "low": SeverityID.Low,
}


@dataclass(frozen=True)
class StatusMapping:
    compliance: ComplianceStatusID
    status: StatusID
    control_severity: bool  # False: Informational whatever the control's severity
    note: str


STATUS: dict[str, StatusMapping] = {
    "PASS": StatusMapping(ComplianceStatusID.Pass, StatusID.New, False, "the check passed"),
    "FAIL": StatusMapping(ComplianceStatusID.Fail, StatusID.New, True, "the check failed"),
    "ERROR": StatusMapping(ComplianceStatusID.Warning, StatusID.New, True, "the check could not decide"),
    "SKIP": StatusMapping(ComplianceStatusID.Unknown, StatusID.New, False, "the target cannot show this control"),
    "SUPPRESSED": StatusMapping(
        ComplianceStatusID.Fail, StatusID.Suppressed, True, "a failure accepted with a justification"
    ),
    "BASELINED": StatusMapping(
        ComplianceStatusID.Fail, StatusID.Suppressed, True, "an accepted existing finding from a baseline file"
    ),
}
TOOL_STATUS: dict[str, StatusID] = {
    "FAIL": StatusID.New,
    "ERROR": StatusID.New,
    "WARNING": StatusID.New,
    "SUPPRESSED": StatusID.Suppressed,
    "BASELINED": StatusID.Suppressed,
}


def status_mapping(status: str) -> StatusMapping:
    try:
        return STATUS[status]
    except KeyError:
        raise UnknownStatus(f"no OCSF mapping for result status {status!r} (known: {', '.join(STATUS)})") from None


def severity_id(status: str, control_severity: str) -> SeverityID:
    if control_severity not in SEVERITY:
        raise UnknownStatus(f"no OCSF severity for control severity {control_severity!r}")
    return SEVERITY[control_severity] if status_mapping(status).control_severity else SeverityID.Informational


def _moment(value: str) -> datetime.datetime:
    moment = datetime.datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _millis(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


def _metadata(run: dict[str, Any], uid: str) -> Metadata:
    product = Product(
        name="stackproof",
        vendor_name="stackproof",
        version=str(run.get("stackproof_version", __version__)),
    )
    return Metadata(product=product, version=OCSF_VERSION, uid=f"{uid}/{run['id']}", correlation_uid=str(run["id"]))


def _resources(result: dict[str, Any], run: dict[str, Any]) -> list[ResourceDetails]:
    where = place_of(result, run)
    region = where.region if where.read_from_account else None
    partition = "aws" if where.read_from_account else None
    account: dict[str, object] = {"account": where.account} if where.read_from_account else {}
    if where.read_from_account and where.stacks:
        found = [
            ResourceDetails(
                uid=stack,
                name=stack,
                type="AWS::CloudFormation::Stack",
                data=account,
                region=region,
                cloud_partition=partition,
            )
            for stack in where.stacks
        ]
    else:
        found = [ResourceDetails(uid=where.template, name=where.template, type="CloudFormation template")]
    seen: set[str] = set()
    for evidence in result.get("evidence", []):
        for location in evidence.get("locations", []):
            stack, name = location.get("stack") or "", location.get("resource") or ""
            if not name or f"{stack}/{name}" in seen:
                continue
            seen.add(f"{stack}/{name}")
            data: dict[str, object] = {"logical_id": name, "stack": stack, **account}
            if location.get("file") and location.get("line"):
                data["template_location"] = f"{template_identity(location['file'])}:{location['line']}"
            found.append(
                ResourceDetails(uid=f"{stack}/{name}", name=name, data=data, region=region, cloud_partition=partition)
            )
    return found


def compliance_finding(result: dict[str, Any], control: dict[str, Any], run: dict[str, Any]) -> ComplianceFinding:
    mapping = status_mapping(result["status"])
    severity = severity_id(result["status"], control["severity"])
    uid = fingerprint(result, place_of(result, run))
    started, ended = _moment(run["started"]), _moment(run["ended"])
    detail = mapping.note
    accepted = result.get("suppression")
    if accepted:
        detail = f"suppressed: {accepted['reason']} (owner {accepted['owner']}, expires {accepted['expires']})"
    if result["status"] == "BASELINED":
        detail = f"{mapping.note}: {(result.get('baseline') or {}).get('file', 'unnamed')}"
    message = result["message"] or f"{control['id']} {result['status']} on {result['target']}"
    return ComplianceFinding(
        class_name="Compliance Finding",
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        type_uid=ComplianceFindingTypeID.Create,
        type_name=f"Compliance Finding: {ActivityID.Create.name}",
        time=_millis(ended),
        time_dt=ended,
        start_time=_millis(started),
        start_time_dt=started,
        end_time=_millis(ended),
        end_time_dt=ended,
        metadata=_metadata(run, uid),
        severity_id=severity,
        severity=severity.name,
        status_id=mapping.status,
        status=mapping.status.name,
        status_code=result["status"],
        status_detail=detail,
        message=clip(message, 4096),
        finding_info=FindingInformation(
            uid=uid,
            title=f"{control['id']} {control['title']}",
            desc=message,
            created_time=_millis(started),
            created_time_dt=started,
            types=[f"stackproof {control['family']}"],
        ),
        compliance=Compliance(
            control=control["id"],
            desc=control["title"],
            standards=["stackproof catalogue"],
            requirements=[f"{control['seed']}: {control['quote']}"],
            status_id=mapping.compliance,
            checks=[
                Check(
                    uid=result["check"],
                    name=result["check"],
                    status=mapping.compliance.name,
                    status_id=mapping.compliance,
                    severity=control["severity"],
                    severity_id=SEVERITY[control["severity"]],
                )
            ],
        ),
        resources=_resources(result, run),
        unmapped={
            "stackproof": {
                "target": result["target"],
                "reference": result.get("reference"),
                **{k: result[k] for k in ("environment", "account", "region") if k in result},
            }
        },
    )


def detection_finding(finding: dict[str, Any], tool: dict[str, Any], run: dict[str, Any]) -> DetectionFinding:
    if finding["status"] not in TOOL_STATUS:
        raise UnknownStatus(f"no OCSF mapping for {tool['tool']} finding status {finding['status']!r}")
    if finding["severity"] not in SEVERITY:
        raise UnknownStatus(f"no OCSF severity for {tool['tool']} severity {finding['severity']!r}")
    template = template_identity(finding["file"] or run["template"]["path"])
    key = [tool.get("reference") or "", tool["tool"], finding["rule"], template, finding["resource"] or ""]
    uid = hashlib.sha256(json.dumps(key).encode()).hexdigest()
    started, ended = _moment(run["started"]), _moment(run["ended"])
    meta = tool.get("rules", {}).get(finding["rule"], {})
    where = f"{template}:{finding['line']}" if finding["line"] else template
    resources = [ResourceDetails(uid=template, name=template, type="CloudFormation template")]
    if finding["resource"]:
        resources.append(ResourceDetails(uid=finding["resource"], name=finding["resource"], data={"location": where}))
    status = TOOL_STATUS[finding["status"]]
    return DetectionFinding(
        activity_id=ActivityID.Create,
        activity_name=ActivityID.Create.name,
        type_uid=DetectionFindingTypeID.Create,
        type_name=f"Detection Finding: {ActivityID.Create.name}",
        time=_millis(ended),
        time_dt=ended,
        metadata=_metadata(run, uid),
        severity_id=SEVERITY[finding["severity"]],
        severity=SEVERITY[finding["severity"]].name,
        status_id=status,
        status=status.name,
        status_code=finding["status"],
        status_detail=finding.get("justification") or None,
        message=clip(finding["message"], 4096),
        finding_info=FindingInformation(
            uid=uid,
            title=f"{tool['tool']} {finding['rule']}: {meta.get('title') or finding['message']}"[:512],
            desc=finding["message"],
            created_time=_millis(started),
            created_time_dt=started,
            types=[f"{tool['tool']} finding"],
            src_url=meta.get("help_uri") if str(meta.get("help_uri", "")).startswith("http") else None,
        ),
        resources=resources,
    )


def events(report: dict[str, Any]) -> list[ComplianceFinding | DetectionFinding]:
    controls = {c["id"]: c for c in report["catalogue"]}
    found: list[ComplianceFinding | DetectionFinding] = [
        compliance_finding(result, controls[result["control"]], report["run"]) for result in report["results"]
    ]
    for tool in report.get("tools", []):
        found += [detection_finding(f, tool, report["run"]) for f in tool["findings"]]
    return found


def render(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every result of ``report`` as an OCSF event, as JSON data (times as ISO 8601 strings)."""
    return [event.model_dump(mode="json", exclude_none=True) for event in events(report)]
