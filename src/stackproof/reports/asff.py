"""``report.asff.json``: the run's control verdicts as AWS Security Finding Format findings, the
list ``BatchImportFindings`` takes (``stackproof publish securityhub`` sends it).

One finding per result (control x check x target, per reference), PASS included: Security Hub
closes a finding only when the same Id arrives again as PASSED, so a fixed failure must be sent
as a passed finding under the Id its failure had. The Id is therefore a fingerprint of what the
finding is about (reference, target, control, check and the deployment: the account, region and
stacks read, or the template), never of the outcome or the run. The gate tools' findings are
not sent: they list only failures, so a fixed one could never be closed.

Status mapping (fail closed: only PASS is PASSED):

=========== ================== ================= ==========================================
status      Compliance.Status  Workflow.Status   severity
=========== ================== ================= ==========================================
PASS        PASSED             RESOLVED          INFORMATIONAL
FAIL        FAILED             NEW               the control's
ERROR       WARNING            NEW               the control's (undecided is not compliant)
SKIP        NOT_AVAILABLE      NEW               INFORMATIONAL
SUPPRESSED  FAILED             SUPPRESSED        the control's (accepted, still a failure)
BASELINED   FAILED             SUPPRESSED        the control's (accepted from a baseline)
=========== ================== ================= ==========================================

ERROR is WARNING, not NOT_AVAILABLE: Security Hub's WARNING is "some information is missing",
which is what an unresolved value or an unanswered call is, and a WARNING stays in view. An
unknown status raises :class:`UnknownStatus` instead of defaulting to anything.

Security Hub takes ``Workflow`` from ``BatchImportFindings`` only when it creates a finding;
afterwards only ``BatchUpdateFindings`` (the account's own triage) changes it. A result that
becomes SUPPRESSED on a later run therefore keeps the workflow it has in Security Hub; the
finding's ``ProductFields`` carry the suppression either way.

Account and region: a finding about what was read from an account (target ``aws``, a sweep's
environments) names that account and region. Anything else (the template, an emulator) has
no account of its own: its findings carry :data:`PLACEHOLDER_ACCOUNT` and
:data:`PLACEHOLDER_REGION`, which ``stackproof publish`` replaces with the caller's."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof import __version__
from stackproof.support import paths

SCHEMA_VERSION = "2018-10-08"
PLACEHOLDER_ACCOUNT = "ACCOUNT"
PLACEHOLDER_REGION = "REGION"
FINDING_TYPE = "Software and Configuration Checks/Industry and Regulatory Standards/stackproof"
# Limits Security Hub documents for ASFF (the service model itself carries none of them).
MAX_TITLE, MAX_DESCRIPTION, MAX_RESOURCES, MAX_PRODUCT_FIELDS, MAX_FIELD_VALUE = 256, 1024, 32, 50, 2048
MAX_RECOMMENDATION = 512
SEVERITY_LABEL = {"critical": "CRITICAL", "high": "HIGH", "medium": "MEDIUM", "low": "LOW"}


class UnknownStatus(ValueError):
    """A result status (or control severity) no mapping knows: refused, never guessed."""


@dataclass(frozen=True)
class StatusMapping:
    compliance: str
    workflow: str
    control_severity: bool  # False: INFORMATIONAL whatever the control's severity
    note: str


STATUS: dict[str, StatusMapping] = {
    "PASS": StatusMapping("PASSED", "RESOLVED", False, "the check passed"),
    "FAIL": StatusMapping("FAILED", "NEW", True, "the check failed"),
    "ERROR": StatusMapping("WARNING", "NEW", True, "the check could not decide: never compliant"),
    "SKIP": StatusMapping("NOT_AVAILABLE", "NEW", False, "the target cannot show this control"),
    "SUPPRESSED": StatusMapping("FAILED", "SUPPRESSED", True, "a failure accepted with a justification"),
    "BASELINED": StatusMapping("FAILED", "SUPPRESSED", True, "an accepted existing finding from a baseline file"),
}


def status_mapping(status: str) -> StatusMapping:
    try:
        return STATUS[status]
    except KeyError:
        raise UnknownStatus(f"no ASFF mapping for result status {status!r} (known: {', '.join(STATUS)})") from None


def severity_label(status: str, control_severity: str) -> str:
    """The finding's Severity.Label: the control's for what needs attention, INFORMATIONAL else."""
    if control_severity not in SEVERITY_LABEL:
        raise UnknownStatus(f"no ASFF severity for control severity {control_severity!r}")
    return SEVERITY_LABEL[control_severity] if status_mapping(status).control_severity else "INFORMATIONAL"


def timestamp(value: str) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, the form Security Hub documents."""
    moment = datetime.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def template_identity(path: str) -> str:
    """The template a result is about, the same on every machine: a shipped reference by its
    place in the package, any other template by the path the run was given."""
    try:
        inside = Path(path).resolve().relative_to(paths.reference_dir().resolve())
    except (ValueError, OSError):
        return (os.path.relpath(path) if os.path.isabs(path) else path).replace(os.sep, "/")
    return f"stackproof-reference/{inside.as_posix()}"


@dataclass(frozen=True)
class Place:
    """Where a result's finding lives: the account and region (placeholders when the result
    was not read from an account), the stacks read, and the template."""

    account: str
    region: str
    stacks: tuple[str, ...]
    template: str
    read_from_account: bool


def _raw_target(result: dict[str, Any]) -> str:
    target = str(result["target"])
    prefix = f"{result.get('reference')}/"
    return target[len(prefix) :] if result.get("reference") and target.startswith(prefix) else target


def place_of(result: dict[str, Any], run: dict[str, Any]) -> Place:
    references = {r["name"]: r["template"]["path"] for r in run.get("references", [])}
    template = template_identity(str(references.get(result.get("reference"), run["template"]["path"])))
    if "environment" in result:  # a sweep: each result is tagged with its environment
        environments = [e for e in run.get("environments", []) if e["name"] == result["environment"]]
        environment: dict[str, Any] = environments[0] if environments else {}
        stacks = tuple(environment.get("stacks") or ())
        if result.get("account"):
            return Place(result["account"], result["region"], stacks, template, True)
        return Place(PLACEHOLDER_ACCOUNT, result.get("region") or PLACEHOLDER_REGION, stacks, template, True)
    if _raw_target(result) == "aws":
        stacks = tuple(run.get("stacks") or ([run["stack_name"]] if run.get("stack_name") else []))
        return Place(run.get("account") or PLACEHOLDER_ACCOUNT, run["region"], stacks, template, True)
    return Place(PLACEHOLDER_ACCOUNT, PLACEHOLDER_REGION, (), template, False)


def fingerprint(result: dict[str, Any], where: Place) -> str:
    """What the finding is about, hashed: the same control, check, target and deployment give
    the same Id on every run, whatever the outcome."""
    deployment: list[str] = (
        [where.account, where.region, *where.stacks] if where.read_from_account else [where.template]
    )
    if where.read_from_account and not where.stacks:
        deployment.append(where.template)
    key = [result.get("reference") or "", _raw_target(result), result["control"], result["check"], *deployment]
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()


def finding_id(result: dict[str, Any], where: Place) -> str:
    return f"stackproof/{result['control']}/{fingerprint(result, where)[:40]}"


def product_arn(account: str, region: str) -> str:
    return f"arn:aws:securityhub:{region}:{account}:product/{account}/default"


def resources(result: dict[str, Any], where: Place) -> list[dict[str, Any]]:
    """The stacks (or the template) the result is about, then each resource its evidence names."""
    located: dict[str, Any] = {}
    found: list[dict[str, Any]]
    if where.read_from_account and where.stacks:
        found = [
            {"Type": "AwsCloudFormationStack", "Id": stack, "Partition": "aws", "Region": where.region}
            for stack in where.stacks
        ]
    else:
        found = [
            {
                "Type": "Other",
                "Id": clip(where.template, 512),
                "Details": {"Other": {"Kind": "CloudFormation template", "Target": _raw_target(result)}},
            }
        ]
    for evidence in result.get("evidence", []):
        for location in evidence.get("locations", []):
            stack = location.get("stack") or ""
            name = location.get("resource") or ""
            if not name or f"{stack}/{name}" in located:
                continue
            details = {"LogicalResourceId": name, "StackName": stack}
            if location.get("file") and location.get("line"):
                details["TemplateLocation"] = f"{template_identity(location['file'])}:{location['line']}"
            entry: dict[str, Any] = {"Type": "Other", "Id": f"{stack}/{name}", "Details": {"Other": details}}
            if where.read_from_account:
                entry.update({"Partition": "aws", "Region": where.region})
            located[f"{stack}/{name}"] = entry
    return (found + list(located.values()))[:MAX_RESOURCES]


def product_fields(result: dict[str, Any], run: dict[str, Any], where: Place, mapping: StatusMapping) -> dict[str, str]:
    fields = {
        "ProviderName": "stackproof",
        "ProviderVersion": str(run.get("stackproof_version", __version__)),
        "stackproof/Control": result["control"],
        "stackproof/Check": result["check"],
        "stackproof/Target": _raw_target(result),
        "stackproof/Reference": str(result.get("reference") or ""),
        "stackproof/Status": result["status"],
        "stackproof/StatusMeaning": mapping.note,
        "stackproof/RunId": str(run["id"]),
        "stackproof/Template": where.template,
    }
    if "environment" in result:
        fields["stackproof/Environment"] = str(result["environment"])
    accepted = result.get("suppression")
    if accepted:
        fields["stackproof/Suppression"] = (
            f"{accepted['reason']} (owner {accepted['owner']}, expires {accepted['expires']}, {accepted['source']})"
        )
    baseline = result.get("baseline")
    if baseline:
        fields["stackproof/Baseline"] = (
            f"{baseline.get('findings')} piece(s) of evidence accepted as existing findings by baseline file"
            f" {baseline.get('file')}"
        )
    shown = {k: clip(v, MAX_FIELD_VALUE) for k, v in fields.items() if v}
    return dict(list(shown.items())[:MAX_PRODUCT_FIELDS])


def finding(result: dict[str, Any], control: dict[str, Any], run: dict[str, Any]) -> dict[str, Any]:
    mapping = status_mapping(result["status"])
    where = place_of(result, run)
    label = severity_label(result["status"], control["severity"])
    source = f"{control['seed']}: \u201c{control['quote']}\u201d"
    description = result["message"] or f"{control['id']} {result['status']} on {result['target']}: {control['title']}"
    types = [f"{FINDING_TYPE} {control['family']}"]
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(result, where),
        "ProductArn": product_arn(where.account, where.region),
        "ProductName": "stackproof",
        "CompanyName": "stackproof",
        "GeneratorId": f"stackproof/{control['id']}",
        "AwsAccountId": where.account,
        "Region": where.region,
        "Types": types,
        "FirstObservedAt": timestamp(run["started"]),
        "LastObservedAt": timestamp(run["ended"]),
        "CreatedAt": timestamp(run["started"]),
        "UpdatedAt": timestamp(run["ended"]),
        "Severity": {"Label": label, "Original": control["severity"]},
        "FindingProviderFields": {"Severity": {"Label": label, "Original": control["severity"]}, "Types": types},
        "Title": clip(f"{control['id']} {control['title']}", MAX_TITLE),
        "Description": clip(description, MAX_DESCRIPTION),
        "Remediation": {"Recommendation": {"Text": clip(f"{control['title']} Source: {source}", MAX_RECOMMENDATION)}},
        "ProductFields": product_fields(result, run, where, mapping),
        "Resources": resources(result, where),
        "Compliance": {"Status": mapping.compliance, "RelatedRequirements": [f"stackproof {control['id']}"]},
        "Workflow": {"Status": mapping.workflow},
        "RecordState": "ACTIVE",
    }


def render(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every result of ``report`` (the run as the writers show it) as an ASFF finding."""
    controls = {c["id"]: c for c in report["catalogue"]}
    return [finding(result, controls[result["control"]], report["run"]) for result in report["results"]]
