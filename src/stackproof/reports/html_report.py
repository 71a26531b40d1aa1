"""``report.html``: one self-contained page (no external assets, no network) for auditors: a
control x target matrix, filters by status, severity and family, and the evidence of every
finding. Everything shown is escaped; the data is the same dict as ``report.json``."""

from __future__ import annotations

import html
from typing import Any

from stackproof.reports.sweep_report import column_label, place
from stackproof.reports.tool_rules import tool_findings, tool_rules
from stackproof.results import matrix, tally

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#555;margin-bottom:16px}.meta code{background:#eef1f5;padding:1px 4px;border-radius:3px}
.counts span{display:inline-block;margin-right:10px;padding:2px 8px;border-radius:10px;font-weight:600}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px rgba(0,0,0,.06)}
th,td{border-bottom:1px solid #e4e7ec;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f2f4f7;position:sticky;top:0;font-weight:600}
td.s{font-weight:700;text-align:center;width:90px;border-radius:0}
.PASS{background:#e3f6e8;color:#146c2e}.FAIL{background:#fde2e1;color:#a11d15}.ERROR{background:#fbe3f7;color:#7d1570}
.SKIP,.SUPPRESSED,.BASELINED{background:#eef1f5;color:#5b6472}.WARNING{background:#fff4d6;color:#7a5200}
td.planned{color:#98a2b3;font-weight:400;font-style:italic}tr.planned td{color:#98a2b3}
.sev{font-size:12px;text-transform:uppercase;letter-spacing:.03em}
.critical{color:#a11d15;font-weight:700}.high{color:#b54708}.medium{color:#475467}.low{color:#667085}
.filters{margin:12px 0;display:flex;gap:16px;flex-wrap:wrap}.filters label{margin-right:8px}
details{background:#fff;border:1px solid #e4e7ec;border-radius:6px;margin:6px 0;padding:6px 10px}
summary{cursor:pointer}pre{white-space:pre-wrap;margin:6px 0;font:12px/1.4 ui-monospace,Menlo,monospace}
.statement{color:#475467;font-size:13px}.accepted{color:#5b6472;font-style:italic;margin:4px 0}
"""

SCRIPT = """
function applyFilters(){
  const on=n=>[...document.querySelectorAll('input[name='+n+']:checked')].map(e=>e.value);
  const st=on('status'),sv=on('severity'),fm=on('family');
  document.querySelectorAll('[data-control]').forEach(el=>{
    const statuses=el.dataset.statuses.split(' ');
    const show=sv.includes(el.dataset.severity)&&fm.includes(el.dataset.family)&&statuses.some(s=>st.includes(s));
    el.style.display=show?'':'none';
  });
}
document.querySelectorAll('.filters input').forEach(e=>e.addEventListener('change',applyFilters));
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


STEP_CLASS = {"ok": "PASS", "not run": "SKIP"}


def step_row(step: dict[str, Any]) -> str:
    detail = f"<br><small>{esc(step['detail'])}</small>" if step["detail"] else ""
    started = "" if step["started"] is None else step["started"]
    took = "" if step["duration"] is None else step["duration"]
    css = STEP_CLASS.get(step["status"], "FAIL")
    return (
        f'<tr><td>{esc(started)}</td><td>{esc(took)}</td><td class="s {css}">{esc(step["status"])}</td>'
        f"<td>{esc(step['name'])}{detail}</td></tr>"
    )


def drill_timeline(drill: dict[str, Any] | None) -> str:
    if not drill:
        return ""
    objective = drill.get("objective", {})
    rows = "".join(step_row(step) for step in drill["steps"])
    cleanup = "".join(f"<li>{esc(c['status'])}: {esc(c['what'])} {esc(c['detail'])}</li>" for c in drill["cleanup"])
    return (
        f"<p><strong>{esc(drill['name'])}</strong>: RTO {esc(drill['rto_seconds'])} s (objective "
        f"{esc(objective.get('rto_seconds'))} s), RPO {esc(drill['rpo_seconds'])} s (objective "
        f"{esc(objective.get('rpo_seconds'))} s)</p>"
        f"<table><thead><tr><th>start s</th><th>took s</th><th>status</th><th>step</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        f"<details><summary>cleanup ({len(drill['cleanup'])})</summary><ul>{cleanup}</ul></details>"
    )


def muted_row(control: dict[str, Any], targets: list[str], cell: str, note: str) -> str:
    """A control with no result in this run (not run here, or planned), greyed out."""
    tds = "".join(f'<td class="s planned">{esc(cell)}</td>' for _ in targets)
    return (
        f'<tr data-control="{esc(control["id"])}" data-severity="{esc(control["severity"])}" '
        f'data-family="{esc(control["family"])}" data-statuses="SKIP" class="planned">'
        f"<td><strong>{esc(control['id'])}</strong></td>"
        f'<td class="sev {esc(control["severity"])}">{esc(control["severity"])}</td>{tds}'
        f'<td class="statement">{esc(control["title"])}<br><small>{esc(note)}</small></td></tr>'
    )


def frameworks_line(frameworks: dict[str, list[str]] | None) -> str:
    """The framework requirements a control bears on, under its statement or finding."""
    if not frameworks:
        return ""
    shown = "; ".join(f"{name} {', '.join(ids)}" for name, ids in sorted(frameworks.items()))
    return f'<br><small class="frameworks">{esc(shown)}</small>'


def baseline_section(baseline: dict[str, Any] | None) -> str:
    """With ``--baseline``: what the run found again, and the fixed findings that can leave it."""
    if not baseline:
        return ""
    fixed = "".join(
        f"<tr><td>{esc(e['control'])}</td><td>{esc(', '.join(e['resources']))}</td><td>{esc(e['message'])}</td>"
        f"<td><code>{esc(e['fingerprint'][:12])}</code></td></tr>"
        for e in baseline["fixed"]
    )
    table = (
        "<p>Fixed, so the baseline can shrink:</p><table><thead><tr><th>control</th><th>resources</th>"
        f"<th>finding</th><th>fingerprint</th></tr></thead><tbody>{fixed}</tbody></table>"
        if fixed
        else ""
    )
    unchecked = f", {baseline['unchecked']} not checked by this run" if baseline["unchecked"] else ""
    return (
        f"<h2>Baseline</h2><p><code>{esc(baseline['file'])}</code>: {baseline['found_again']} of"
        f" {baseline['entries']} accepted findings found again{unchecked}.</p>{table}"
    )


def suppression_row(s: dict[str, Any]) -> str:
    broken = s["state"] in ("expired", "invalid")
    problem = f"<br><small>{esc(s['problem'])}</small>" if s["problem"] else ""
    return (
        f"<tr><td><strong>{esc(s['control'])}</strong></td><td>{esc(s['resource'] or 'all')}</td>"
        f'<td class="s {"FAIL" if broken else "SUPPRESSED"}">{esc(s["state"])}</td>'
        f"<td>{esc(s['reason'])}{problem}</td><td>{esc(s['owner'])}</td><td>{esc(s['expires'] or '')}</td>"
        f"<td><code>{esc(s['source'])}</code></td></tr>"
    )


def render(report: dict[str, Any]) -> str:
    run = report["run"]
    targets = run["targets"]
    cells = matrix(report["results"])
    shown = [c for c in report["catalogue"] if any((c["id"], t) in cells for t in targets)]
    counts = tally(report["results"])
    tool_counts = tally(tool_findings(report))
    planned = [c for c in report["catalogue"] if c["status"] == "planned"]
    not_run = [c for c in report["catalogue"] if c["status"] == "active" and c not in shown]

    def checkboxes(name: str, values: list[str]) -> str:
        boxes = "".join(
            f'<label><input type="checkbox" name="{esc(name)}" value="{esc(v)}" checked> {esc(v)}</label>'
            for v in values
        )
        return f"<div><strong>{esc(name)}</strong> {boxes}</div>"

    rows = []
    for control in shown:
        statuses = sorted({cells[(control["id"], t)] for t in targets if (control["id"], t) in cells})
        tds = "".join(
            f'<td class="s {esc(cells.get((control["id"], t), ""))}">{esc(cells.get((control["id"], t), "-"))}</td>'
            for t in targets
        )
        rows.append(
            f'<tr data-control="{esc(control["id"])}" data-severity="{esc(control["severity"])}" '
            f'data-family="{esc(control["family"])}" data-statuses="{esc(" ".join(statuses))}">'
            f"<td><strong>{esc(control['id'])}</strong></td>"
            f'<td class="sev {esc(control["severity"])}">{esc(control["severity"])}</td>{tds}'
            f'<td class="statement">{esc(control["title"])}<br><small>{esc(control["seed"])}: '
            f"\u201c{esc(control['quote'])}\u201d</small>{frameworks_line(control.get('frameworks'))}</td></tr>"
        )
    for control in not_run:
        where = "the drills: pytest scenarios (tox -e drill)" if control.get("suite") == "scenarios" else "checks/"
        rows.append(muted_row(control, targets, "not run", f"not in this run: shown by {where}"))
    for control in planned:
        rows.append(
            muted_row(control, targets, "planned", f"not checked yet: planned in {control.get('planned_in', '')}")
        )
    rules = tool_rules(report)
    for row in rules:
        tds = "".join(
            f'<td class="s {esc(row.status)}">{esc(row.status)}</td>' if t == row.column else '<td class="s">-</td>'
            for t in targets
        )
        link = f' <a href="{esc(row.help_uri)}">rule</a>' if row.help_uri.startswith("https://") else ""
        rows.append(
            f'<tr data-control="{esc(row.id)}" data-severity="{esc(row.severity)}" '
            f'data-family="{esc(row.tool)}" data-statuses="{esc(row.status)}">'
            f"<td><strong>{esc(row.id)}</strong></td>"
            f'<td class="sev {esc(row.severity)}">{esc(row.severity)}</td>{tds}'
            f'<td class="statement">{esc(row.title)}{link}</td></tr>'
        )
    families = sorted({c["family"] for c in [*shown, *not_run, *planned]}) + sorted({r.tool for r in rules})
    severities = [
        s
        for s in ("critical", "high", "medium", "low")
        if any(c["severity"] == s for c in shown) or any(r.severity == s for r in rules)
    ]
    by_id = {c["id"]: c for c in report["catalogue"]}
    findings = []
    for result in report["results"]:
        if result["status"] == "PASS" and not result["notes"]:
            continue
        control = by_id.get(result["control"], {})
        evidence = "".join(
            ("<li><em>baselined</em> " if e.get("baselined") else "<li>")
            + f"{esc(e['message'])}"
            + (f" — observed <code>{esc(e['observed'])}</code>" if e["observed"] is not None else "")
            + (f", expected <code>{esc(e['expected'])}</code>" if e["expected"] is not None else "")
            + (f"<br><small>{esc(', '.join(e['resources']))}</small>" if e["resources"] else "")
            + "</li>"
            for e in result["evidence"]
        )
        body = f"<ul>{evidence}</ul>" if evidence else f"<pre>{esc(result['message'])}</pre>"
        accepted = result.get("suppression")
        if accepted:
            body = (
                f'<p class="accepted">Suppressed: {esc(accepted["reason"])} — owner {esc(accepted["owner"])}, '
                f"expires {esc(accepted['expires'])} (<code>{esc(accepted['source'])}</code>)</p>{body}"
            )
        if result["status"] == "BASELINED" and result.get("baseline"):
            body = (
                f'<p class="accepted">Baselined: accepted in <code>{esc(result["baseline"]["file"])}</code></p>{body}'
            )
        notes = "".join(f"<pre>{esc(n)}</pre>" for n in result["notes"]) + drill_timeline(result.get("drill"))
        findings.append(
            f'<details data-control="{esc(result["control"])}" data-severity="{esc(control.get("severity", ""))}" '
            f'data-family="{esc(control.get("family", ""))}" data-statuses="{esc(result["status"])}"'
            f"{' open' if result['status'] in ('FAIL', 'ERROR') else ''}>"
            f'<summary><span class="{esc(result["status"])}">&nbsp;{esc(result["status"])}&nbsp;</span> '
            f"<strong>{esc(result['control'])}</strong> on <code>{esc(place(result))}</code> — "
            f"{esc(result['check'])}</summary>{frameworks_line(result.get('frameworks'))}{body}{notes}</details>"
        )
    for row in rules:
        for finding in row.findings:
            where = f" <code>{esc(finding['file'])}:{esc(finding['line'])}</code>" if finding["line"] else ""
            why = (
                f'<p class="accepted">Suppressed: {esc(finding["justification"])}</p>'
                if finding["justification"]
                else ""
            )
            findings.append(
                f'<details data-control="{esc(row.id)}" data-severity="{esc(row.severity)}" '
                f'data-family="{esc(row.tool)}" data-statuses="{esc(finding["status"])}"'
                f"{' open' if finding['status'] in ('FAIL', 'ERROR') else ''}>"
                f'<summary><span class="{esc(finding["status"])}">&nbsp;{esc(finding["status"])}&nbsp;</span> '
                f"<strong>{esc(row.id)}</strong> on <code>template</code> — {esc(finding['resource'] or '')}{where}"
                f"</summary>{why}<pre>{esc(finding['message'])}</pre></details>"
            )
    suppressions = "".join(suppression_row(s) for s in report.get("suppressions", []))
    drift = "".join(
        f"<tr><td>{esc(d['target'])}</td><td>{esc(d['logical_id'])}</td><td>{esc(d['field'])}</td>"
        f"<td><code>{esc(d['template'])}</code></td><td><code>{esc(d['deployed'])}</code></td></tr>"
        for d in report["drift"]
    )
    parameters = ", ".join(f"{esc(k)}=<code>{esc(v)}</code>" for k, v in run["parameters"].items())
    verdict = run["verdict"]
    coverage = "".join(
        f"<tr><td>{esc(c['reference'] or '')}</td><td>{esc(c['target'])}</td><td>{c['proven']} of {c['controls']}"
        f" ({c['percent']:g}%)</td><td>{c['failed']}</td><td>{c['suppressed']}</td><td>{c['not_shown']}</td></tr>"
        for c in run["coverage"]
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>stackproof {esc(verdict)} — {esc(run["id"])}</title><style>{STYLE}</style></head><body>
<h1>stackproof {esc(verdict)}</h1>
<div class="meta">Run <code>{esc(run["id"])}</code>, stackproof {esc(run["stackproof_version"])}, {esc(run["started"])} to {esc(run["ended"])}<br>
Template <code>{esc(run["template"]["path"])}</code> (sha256 <code>{esc(run["template"]["sha256"][:16])}</code>), region <code>{esc(run["region"])}</code>, targets {esc(", ".join(targets))}<br>
<details><summary>Parameters</summary>{parameters}</details></div>
<div class="counts">{"".join(f'<span class="{esc(s)}">{n} {esc(s)}</span>' for s, n in counts.items())}{" &nbsp; gate tools: " + "".join(f'<span class="{esc(s)}">{n} {esc(s)}</span>' for s, n in tool_counts.items()) if tool_counts else ""}</div>
<div class="filters">{checkboxes("status", ["PASS", "FAIL", "ERROR", "SKIP", "SUPPRESSED", "BASELINED", "WARNING"])}{checkboxes("severity", severities)}{checkboxes("family", families)}</div>
<h2>Coverage</h2>
<table><thead><tr><th>reference</th><th>target</th><th>proven</th><th>failed</th><th>suppressed</th><th>not shown</th></tr></thead><tbody>{coverage}</tbody></table>
<h2>Controls &times; targets</h2>
<table><thead><tr><th>control</th><th>severity</th>{"".join(f"<th>{esc(column_label(run, t))}</th>" for t in targets)}<th>statement and source</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>Findings, skips and notes</h2>{"".join(findings) or "<p>None.</p>"}
{baseline_section(run.get("baseline"))}
{f"<h2>Suppressions</h2><table><thead><tr><th>control</th><th>resource</th><th>state</th><th>reason</th><th>owner</th><th>expires</th><th>where</th></tr></thead><tbody>{suppressions}</tbody></table>" if suppressions else ""}
{f"<h2>Drift</h2><table><thead><tr><th>target</th><th>resource</th><th>field</th><th>template</th><th>deployed</th></tr></thead><tbody>{drift}</tbody></table>" if drift else ""}
<script>{SCRIPT}</script></body></html>
"""
