"""cfn-lint and checkov findings on the template target, as rules of their own in every report.

So that CI needs only ``stackproof run``: each tool runs once on the run's template (as a
subprocess, offline), its JSON is read into :class:`ToolReport`, and the reports show each of
its findings next to the controls. checkov's own skips (``Metadata.checkov.skip`` with a
comment) appear as SUPPRESSED with that comment. A tool that is missing, crashes or prints
something unreadable is an ERROR: the gate did not run, which is never a pass.

Severities: checkov offline carries none, so a failed checkov check is ``high``; cfn-lint's
Error, Warning and Informational levels are ``high``, ``medium`` and ``low``.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from stackproof.gate.tools import ToolMissing, execute, find_tool
from stackproof.results import ERROR, FAIL, SUPPRESSED, WARNING

TOOLS = ("cfn-lint", "checkov")
LOADER = "cloudformation"  # stackproof's own reading of the templates, reported like a gate tool
LOADER_RULES = {
    "duplicate-key": "A mapping key is given twice; CloudFormation deploys the last one",
    "transform": "A transform or include could not run offline; what it makes is unknown",
    "template": "CloudFormation accepts this, but a reviewer should see it",
}
CFN_LINT_SEVERITY = {"Error": "high", "Warning": "medium", "Informational": "low"}
TIMEOUT = 600


@dataclass
class ToolFinding:
    rule: str
    status: str  # FAIL, SUPPRESSED or ERROR
    severity: str
    message: str
    resource: str | None = None
    file: str | None = None
    line: int | None = None
    justification: str | None = None


@dataclass
class ToolReport:
    tool: str
    version: str | None
    status: str  # "ran", "missing" or "failed"
    message: str = ""
    passed: int = 0
    rules: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> title, help_uri
    findings: list[ToolFinding] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ToolOutputError(Exception):
    pass


def parse_tools(text: str) -> tuple[str, ...]:
    chosen = tuple(t.strip() for t in text.split(",") if t.strip())
    if chosen in ((), ("none",)):
        return ()
    unknown = [t for t in chosen if t not in TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) {', '.join(unknown)}: choose from {', '.join(TOOLS)}, or none")
    return chosen


def _broken(tool: str, status: str, message: str, version: str | None = None) -> ToolReport:
    finding = ToolFinding(tool, ERROR, "high", message)
    return ToolReport(
        tool, version, status, message, rules={tool: {"title": f"{tool} ran", "help_uri": ""}}, findings=[finding]
    )


def _execute(command: list[str]) -> subprocess.CompletedProcess[str]:
    return execute(command, TIMEOUT)


def _version(executable: str) -> str | None:
    try:
        proc = _execute([executable, "--version"])
    except (OSError, subprocess.SubprocessError):
        return None
    words = (proc.stdout or proc.stderr).split()
    return words[-1] if proc.returncode == 0 and words else None


def cfn_lint(payload: Any, shown_path: str) -> ToolReport:
    if not isinstance(payload, list):
        raise ToolOutputError("cfn-lint --format json did not print a list")
    report = ToolReport("cfn-lint", None, "ran")
    for item in payload:
        rule = item["Rule"]
        report.rules.setdefault(rule["Id"], {"title": rule["ShortDescription"], "help_uri": rule.get("Source") or ""})
        path = item["Location"].get("Path") or []
        resource = str(path[1]) if len(path) > 1 and path[0] == "Resources" else None
        report.findings.append(
            ToolFinding(
                rule["Id"],
                FAIL,
                CFN_LINT_SEVERITY.get(item["Level"], "high"),
                item["Message"],
                resource,
                shown_path,
                item["Location"]["Start"]["LineNumber"],
            )
        )
    return report


def checkov(payload: Any, shown_path: str) -> ToolReport:
    reports = payload if isinstance(payload, list) else [payload]
    report = ToolReport("checkov", None, "ran")
    for part in reports:
        if not isinstance(part, dict):
            raise ToolOutputError("checkov -o json printed neither an object nor a list of them")
        summary = part.get("summary", part)
        report.version = summary.get("checkov_version", report.version)
        if summary.get("parsing_errors"):
            raise ToolOutputError(f"checkov could not parse the template ({summary['parsing_errors']} parsing errors)")
        results = part.get("results", {})
        report.passed += len(results.get("passed_checks", [])) if results else int(summary.get("passed", 0))
        for key, status in (("failed_checks", FAIL), ("skipped_checks", SUPPRESSED)):
            for check in results.get(key, []):
                report.rules.setdefault(
                    check["check_id"], {"title": check["check_name"], "help_uri": check.get("guideline") or ""}
                )
                resource = str(check.get("resource", "")).rpartition(".")[2] or None
                lines = check.get("file_line_range") or [None]
                report.findings.append(
                    ToolFinding(
                        check["check_id"],
                        status,
                        "high",
                        check["check_name"],
                        resource,
                        shown_path,
                        lines[0],
                        check["check_result"].get("suppress_comment") if status == SUPPRESSED else None,
                    )
                )
    return report


def run_tool(tool: str, template: str) -> ToolReport:
    """Run ``tool`` on ``template`` and read its findings; ERROR when that cannot be done."""
    try:
        executable = find_tool(tool, "STACKPROOF_CFN_LINT" if tool == "cfn-lint" else "STACKPROOF_CHECKOV")
    except (ToolMissing, FileNotFoundError) as exc:
        return _broken(tool, "missing", str(exc))
    if tool == "cfn-lint":
        command = [executable, "--format", "json", "--", template]
    else:
        command = [executable, "-f", template, "--framework", "cloudformation", "--skip-download", "-o", "json"]
    try:
        proc = _execute(command)
    except (OSError, subprocess.SubprocessError) as exc:
        return _broken(tool, "failed", f"{tool} could not run: {exc}", _version(executable))
    # cfn-lint exits with a bit mask of finding levels (2, 4, 8) and 1 on a crash; checkov with
    # 1 when a check failed. Anything else, or output that is not its JSON, is a broken run.
    crashed = proc.returncode == 1 if tool == "cfn-lint" else proc.returncode not in (0, 1)
    try:
        if crashed:
            raise ToolOutputError(f"exit {proc.returncode}")
        payload = json.loads(proc.stdout or ("[]" if tool == "cfn-lint" else "{}"))
        report = (cfn_lint if tool == "cfn-lint" else checkov)(payload, template)
    except (ValueError, KeyError, TypeError, ToolOutputError) as exc:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return _broken(tool, "failed", f"{tool} did not report ({exc}): {' / '.join(tail)}", _version(executable))
    # checkov's JSON carries its version; asking costs a second start of the tool (seconds).
    report.version = report.version or _version(executable)
    return report


def loader_report(warnings: Sequence[Any]) -> ToolReport:
    """What reading the templates found that CloudFormation accepts but a reviewer should see
    (``TemplateWarning``: file, line, message), as WARNING findings that never fail a run."""
    findings = []
    for warning in dict.fromkeys(warnings):
        text = str(warning.message)
        rule = "duplicate-key" if text.startswith("duplicate key") else "transform" if _transform(text) else "template"
        findings.append(ToolFinding(rule, WARNING, "low", text, None, str(warning.file), int(warning.line)))
    rules = {rule: {"title": title, "help_uri": ""} for rule, title in LOADER_RULES.items()}
    return ToolReport(LOADER, None, "ran", rules=rules, findings=findings)


def _transform(text: str) -> bool:
    return any(word in text for word in ("Transform", "SAM", "transform", "included part", "Include"))
