"""The gate tools' findings grouped by rule, as every writer shows them: one row per rule that
found something, plus one row per tool for the run itself (so a clean run still shows that the
tool ran, and a missing tool shows as ERROR)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackproof.results import RANK


@dataclass
class ToolRule:
    id: str  # "checkov:CKV_AWS_53"; the tool's own row is just "checkov"
    tool: str
    title: str
    help_uri: str
    severity: str
    status: str
    findings: list[dict[str, Any]] = field(default_factory=list)
    column: str = "template"  # the matrix column it belongs to (``analytics/template`` with several references)


def tool_rules(report: dict[str, Any]) -> list[ToolRule]:
    rows = []
    for tool in report.get("tools", []):
        column = tool.get("target", "template")
        if tool["status"] == "ran":
            failed = sum(f["status"] == "FAIL" for f in tool["findings"])
            suppressed = sum(f["status"] == "SUPPRESSED" for f in tool["findings"])
            passed = f"{tool['passed']} checks passed, " if tool["tool"] == "checkov" else ""
            warned = sum(f["status"] == "WARNING" for f in tool["findings"])
            title = f"{tool['tool']} {tool['version'] or ''} ran: {passed}{failed} failed, {suppressed} suppressed" + (
                f", {warned} warnings" if warned else ""
            )
            status = "FAIL" if failed else "PASS"
            rows.append(ToolRule(tool["tool"], tool["tool"], title, "", "high", status, column=column))
        by_rule: dict[str, ToolRule] = {}
        for finding in tool["findings"]:
            rule_id = finding["rule"]
            if rule_id == tool["tool"]:  # the tool did not run: its own row, ERROR
                rows.append(
                    ToolRule(tool["tool"], tool["tool"], tool["message"], "", "high", "ERROR", [finding], column)
                )
                continue
            meta = tool["rules"].get(rule_id, {"title": rule_id, "help_uri": ""})
            row = by_rule.setdefault(
                rule_id,
                ToolRule(
                    f"{tool['tool']}:{rule_id}",
                    tool["tool"],
                    meta["title"],
                    meta["help_uri"],
                    finding["severity"],
                    "PASS",
                    column=column,
                ),
            )
            row.findings.append(finding)
            if RANK[finding["status"]] > RANK[row.status]:
                row.status = finding["status"]
        rows += sorted(by_rule.values(), key=lambda r: r.id)
    return rows


def tool_findings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every gate-tool finding of the report (a tool that did not run is one ERROR finding)."""
    return [finding for tool in report.get("tools", []) for finding in tool["findings"]]
