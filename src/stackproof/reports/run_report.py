"""The run as data: what every report format is written from (``report.json`` verbatim).

Secrets never enter it: NoEcho parameters and parameters named like a password or secret are
redacted here, once, before any writer sees them.
"""

from __future__ import annotations

import datetime
import hashlib
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackproof import __version__, catalogue
from stackproof.catalogue import mappings
from stackproof.model.exposures import secret_named
from stackproof.results.coverage import FAILED, INCOMPLETE, PASSED, drills_ran, verdict
from stackproof.results.session import Session
from stackproof.results.suppressions import states
from stackproof.template.values import FromParameter, Unknown

REDACTED = "<redacted>"
VERDICTS = (PASSED, INCOMPLETE, FAILED)  # worst last
SECRET_NAMES = ("password", "passwd", "secret", "token", "privatekey")
SCHEMA = Path(__file__).with_name("report.schema.json")


def run_id(now: datetime.datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def is_secret(name: str, value: Any) -> bool:
    lowered = name.lower()
    if isinstance(value, FromParameter) and value.no_echo:
        return True
    if secret_named(name):  # what DAT-07 holds a secret's name to be is never shown either
        return True
    return any(word in lowered for word in SECRET_NAMES) and not lowered.endswith(("arn", "id", "name"))


def parameters(session: Session) -> dict[str, str]:
    from stackproof.model.deployment import Deployment

    template = session.models.get("template")
    values: dict[str, Any] = {}
    if isinstance(template, Deployment):
        values = template.parameter_values
    else:
        for model in session.models.values():
            if isinstance(model, Deployment):
                values = model.parameter_values
                break
    shown = {}
    for name, value in values.items():
        if is_secret(name, value):
            shown[name] = REDACTED
        elif isinstance(value, Unknown):
            shown[name] = f"<unknown: {value.reason}>"
        elif isinstance(value, list):
            shown[name] = ",".join(str(v) for v in value)
        else:
            shown[name] = str(value)
    return shown


def template_digest(path: Path) -> str:
    """sha256 of the template; of a set given as a directory, of its templates' names and
    contents in order; zeros when there is nothing to read."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if path.is_dir():
        from stackproof.template.stack_set import StackSetError, expand

        digest = hashlib.sha256()
        try:
            members = expand([str(path)])
        except StackSetError:
            members = []
        for member in members:
            digest.update(f"{Path(member).name}\0".encode())
            digest.update(Path(member).read_bytes())
        return digest.hexdigest()
    return "0" * 64


def deployed_where(model: Any) -> dict[str, Any]:
    """The account and the stacks an ``aws`` model was read from: the account is the one in
    the stacks' ARNs (CloudFormation's own answer, whichever credentials were used), so a report
    of a sweep over several accounts names each. Empty when nothing names an account."""
    arns = [arn.split(":") for arn in getattr(model, "stacks", {}).values() if str(arn).startswith("arn:")]
    accounts = sorted({parts[4] for parts in arns if len(parts) > 5 and parts[4]})
    if len(accounts) != 1:
        return {}
    digests = getattr(model, "template_digests", {})
    templates = [{"stack": name, "sha256": digests[name]} for name in model.stacks if digests.get(name)]
    return {"account": accounts[0], "stacks": list(model.stacks), "deployed_templates": templates}


@dataclass
class RunTimes:
    started: datetime.datetime
    ended: datetime.datetime


def build(session: Session, exit_code: int, times: RunTimes, identifier: str) -> dict[str, Any]:
    from stackproof.domain.drift import compare
    from stackproof.model.deployment import Deployment

    template_path = Path(session.template)
    digest = template_digest(template_path)
    calls: dict[str, int] = {}
    drift = []
    template_model = session.models.get("template")
    for name, model in session.models.items():
        if isinstance(model, Deployment):
            if model.api_calls:
                calls[name] = sum(model.api_calls.values())
            if name != "template" and isinstance(template_model, Deployment):
                drift += [
                    {
                        "target": name,
                        "logical_id": d.logical_id,
                        "resource_type": d.resource_type,
                        "physical_id": d.physical_id,
                        "field": d.field,
                        "template": str(d.template),
                        "deployed": str(d.deployed),
                    }
                    for d in compare(template_model, model)
                ]
    coverage = session.coverage()
    drills = drills_ran([asdict(r) for r in session.results], session.drill_controls)
    where = deployed_where(session.models["aws"]) if "aws" in session.models else {}
    controls = []
    for control in catalogue.load().values():
        entry = {
            "id": control.id,
            "title": control.title,
            "family": control.family,
            "severity": control.severity,
            "seed": control.seed,
            "quote": control.quote,
            "targets": list(control.targets),
            "status": control.status,
            "suite": control.suite,
            "references": list(control.references),
            "frameworks": mappings.of_control(control.id),
        }
        if control.planned_in:
            entry["planned_in"] = control.planned_in
        controls.append(entry)
    return {
        "schema_version": 1,
        "run": {
            "id": identifier,
            "stackproof_version": __version__,
            "template": {
                "path": os.path.relpath(template_path) if template_path.is_absolute() else str(template_path),
                "sha256": digest,
            },
            "parameters": parameters(session),
            "targets": list(session.targets),
            "references": [
                {
                    "name": session.reference,
                    "template": {
                        "path": os.path.relpath(template_path) if template_path.is_absolute() else str(template_path),
                        "sha256": digest,
                    },
                }
            ],
            "region": session.region,
            **where,
            "stack_name": session.stack_name,
            "api_calls": calls,
            "started": times.started.isoformat(),
            "ended": times.ended.isoformat(),
            "exit_code": exit_code,
            "verdict": verdict(exit_code, coverage, drills if drills.total else None),
            "coverage": [c.as_dict() for c in coverage],
            "drills": drills.as_dict(),
            **({"baseline": session.baseline_summary} if session.baseline_summary is not None else {}),
        },
        "catalogue": controls,
        "results": [
            {**asdict(result), "reference": session.reference, "frameworks": mappings.of_control(result.control)}
            for result in session.results
        ],
        "drift": drift,
        "suppressions": states(session.suppressions, session.applied),
        "tools": [{**report.as_dict(), "reference": session.reference} for report in session.tool_reports],
    }


def combine(reports: list[dict[str, Any]]) -> dict[str, Any]:
    """One report of several runs (one per reference): run metadata of the first, with every
    reference listed; results, drift, suppressions and tool findings of all; the worst exit."""
    first = reports[0]
    if len(reports) == 1:
        return first
    combined = {**first, "run": dict(first["run"])}
    combined["run"]["references"] = [r for report in reports for r in report["run"]["references"]]
    combined["run"]["exit_code"] = max(report["run"]["exit_code"] for report in reports)
    combined["run"]["coverage"] = [c for report in reports for c in report["run"]["coverage"]]
    combined["run"]["verdict"] = max((report["run"]["verdict"] for report in reports), key=VERDICTS.index)
    for key in ("results", "drift", "suppressions", "tools"):
        combined[key] = [item for report in reports for item in report[key]]
    return combined


def by_reference_and_target(report: dict[str, Any]) -> dict[str, Any]:
    """For the writers: when several references ran, a column per reference and target
    (``analytics/moto``); with one reference the report as it is."""
    if len(report["run"]["references"]) < 2:
        return report
    shown = {**report, "run": dict(report["run"])}
    shown["results"] = [{**r, "target": f"{r['reference']}/{r['target']}"} for r in report["results"]]
    shown["tools"] = [{**t, "target": f"{t['reference']}/template"} for t in report["tools"]]
    shown["run"]["targets"] = list(dict.fromkeys(r["target"] for r in shown["results"]))
    shown["run"]["template"] = {
        "path": ", ".join(r["template"]["path"] for r in report["run"]["references"]),
        "sha256": report["run"]["template"]["sha256"],
    }
    return shown
