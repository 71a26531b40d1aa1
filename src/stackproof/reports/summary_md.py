"""``summary.md``: short enough for a pull-request comment or a CI step summary."""

from __future__ import annotations

from typing import Any

from stackproof.reports.sweep_report import column_label, place
from stackproof.reports.tool_rules import tool_findings, tool_rules
from stackproof.results import matrix, tally

ICON = {
    "PASS": "PASS",
    "FAIL": "**FAIL**",
    "ERROR": "**ERROR**",
    "SKIP": "skip",
    "SUPPRESSED": "suppressed",
    "BASELINED": "baselined",
    "WARNING": "warning",
}


def render(report: dict[str, Any]) -> str:
    run = report["run"]
    targets = run["targets"]
    verdicts = matrix(report["results"])
    counts = tally(report["results"])
    tool_counts = tally(tool_findings(report))
    lines = [
        f"### stackproof {run['verdict']}: {', '.join(f'{n} {s.lower()}' for s, n in counts.items())}"
        + (f"; gate tools: {', '.join(f'{n} {s.lower()}' for s, n in tool_counts.items())}" if tool_counts else ""),
        "",
        f"Template `{run['template']['path']}` (sha256 `{run['template']['sha256'][:12]}`), run `{run['id']}`.",
        "",
        *coverage_lines(run["coverage"]),
        "",
        "| control | severity | " + " | ".join(column_label(run, t) for t in targets) + " |",
        "| --- | --- | " + " | ".join("---" for _ in targets) + " |",
    ]
    for control in report["catalogue"]:
        if not any((control["id"], t) in verdicts for t in targets):
            continue
        cells = " | ".join(ICON.get(verdicts.get((control["id"], t), ""), "-") for t in targets)
        lines.append(f"| {control['id']} | {control['severity']} | {cells} |")
    rules = tool_rules(report)
    for row in rules:
        if row.id == row.tool or row.status != "SUPPRESSED":
            cells = " | ".join(ICON[row.status] if t == row.column else "-" for t in targets)
            lines.append(f"| {row.id} | {row.severity if row.id != row.tool else 'gate'} | {cells} |")
    failing = [r for r in report["results"] if r["status"] in ("FAIL", "ERROR")]
    tool_failing = [(row, f) for row in rules for f in row.findings if f["status"] in ("FAIL", "ERROR", "WARNING")]
    if failing or tool_failing:
        lines += ["", "#### Findings", ""]
        for result in failing:
            first = result["message"].splitlines()[0] if result["message"] else ""
            lines.append(f"- **{result['control']}** `{place(result)}` {result['status']}: {first}")
        for row, finding in tool_failing:
            at = f" ({finding['file']}:{finding['line']})" if finding["line"] else ""
            name = row.id if row.id != row.tool else row.tool
            lines.append(
                f"- **{name}** `{row.column}` {finding['status']}: {finding['resource'] or ''}{at} {finding['message']}"
            )
    suppressed = [r for r in report["results"] if r["status"] == "SUPPRESSED"]
    tool_suppressed = [(row, f) for row in rules for f in row.findings if f["status"] == "SUPPRESSED"]
    if suppressed or tool_suppressed:
        lines += ["", "#### Suppressed", ""]
        for result in suppressed:
            s = result["suppression"] or {}
            lines.append(
                f"- {result['control']} `{result['target']}`: {s.get('reason')} — owner {s.get('owner')},"
                f" expires {s.get('expires')} (`{s.get('source')}`)"
            )
        for row, finding in tool_suppressed:
            lines.append(f"- {row.id} {finding['resource'] or ''}: {finding['justification'] or '(no comment)'}")
    lines += baseline_section(report)
    drills = [r for r in report["results"] if r.get("drill")]
    if drills:
        lines += [
            "",
            "#### Drills",
            "",
            "| drill | target | result | RTO s (objective) | RPO s (objective) | steps |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for result in drills:
            drill, objective = result["drill"], result["drill"].get("objective", {})
            done = sum(step["status"] == "ok" for step in drill["steps"])
            status = ICON.get(result["status"], result["status"])
            rto = f"{drill['rto_seconds']} ({objective.get('rto_seconds')})"
            rpo = f"{drill['rpo_seconds']} ({objective.get('rpo_seconds')})"
            lines.append(
                f"| {drill['name']} | {result['target']} | {status} | {rto} | {rpo} | {done}/{len(drill['steps'])} |"
            )
    problems = [s for s in report["suppressions"] if s["state"] in ("expired", "invalid")]
    if problems:
        lines += ["", "#### Suppressions that fail the run", ""]
        lines += [f"- **{s['control']}** `{s['source']}`: {s['problem']}" for s in problems]
    if report["drift"]:
        lines += ["", "#### Drift", ""]
        lines += [
            f"- `{d['target']}` {d['logical_id']} {d['field']}: template `{d['template']}`, deployed `{d['deployed']}`"
            for d in report["drift"]
        ]
    return "\n".join(lines) + "\n"


def coverage_lines(coverage: list[dict[str, Any]]) -> list[str]:
    """Coverage per target: what the exit code alone does not say."""
    lines = []
    for c in coverage:
        column = f"{c['reference']}/{c['target']}" if c["reference"] else c["target"]
        lines.append(
            f"Coverage `{column}`: {c['proven']} of {c['controls']} controls proven ({c['percent']:g}%),"
            f" {c['failed']} failed, {c['suppressed']} suppressed, {c['not_shown']} not shown."
        )
    return lines


def baseline_section(report: dict[str, Any]) -> list[str]:
    """With ``--baseline``: how much of it the run found again, and what can leave it."""
    summary = report["run"].get("baseline")
    if not summary:
        return []
    baselined = sum(r["status"] == "BASELINED" for r in report["results"])
    lines = [
        "",
        "#### Baseline",
        "",
        f"`{summary['file']}`: {summary['found_again']} of {summary['entries']} accepted findings found again"
        f" ({baselined} results BASELINED)"
        + (f"; {summary['unchecked']} not checked by this run" if summary["unchecked"] else "")
        + ".",
    ]
    if summary["fixed"]:
        lines += ["", f"Fixed, so the baseline can shrink ({len(summary['fixed'])}):", ""]
        for entry in summary["fixed"]:
            where = f" {', '.join(entry['resources'])}" if entry["resources"] else ""
            lines.append(f"- {entry['control']}{where}: {entry['message'].splitlines()[0]}")
    return lines
