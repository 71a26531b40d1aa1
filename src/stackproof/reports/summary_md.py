"""``summary.md``: short enough for a pull-request comment or a CI step summary."""

from __future__ import annotations

from typing import Any

from stackproof.results import matrix, tally

ICON = {"PASS": "PASS", "FAIL": "**FAIL**", "ERROR": "**ERROR**", "SKIP": "skip", "SUPPRESSED": "suppressed"}


def render(report: dict[str, Any]) -> str:
    run = report["run"]
    targets = run["targets"]
    verdicts = matrix(report["results"])
    counts = tally(report["results"])
    verdict = "passed" if run["exit_code"] == 0 else "failed"
    lines = [
        f"### stackproof {verdict}: {', '.join(f'{n} {s.lower()}' for s, n in counts.items())}",
        "",
        f"Template `{run['template']['path']}` (sha256 `{run['template']['sha256'][:12]}`), run `{run['id']}`.",
        "",
        "| control | severity | " + " | ".join(targets) + " |",
        "| --- | --- | " + " | ".join("---" for _ in targets) + " |",
    ]
    for control in report["catalogue"]:
        if not any((control["id"], t) in verdicts for t in targets):
            continue
        cells = " | ".join(ICON.get(verdicts.get((control["id"], t), ""), "-") for t in targets)
        lines.append(f"| {control['id']} | {control['severity']} | {cells} |")
    failing = [r for r in report["results"] if r["status"] in ("FAIL", "ERROR")]
    if failing:
        lines += ["", "#### Findings", ""]
        for result in failing:
            first = result["message"].splitlines()[0] if result["message"] else ""
            lines.append(f"- **{result['control']}** `{result['target']}` {result['status']}: {first}")
    if report["drift"]:
        lines += ["", "#### Drift", ""]
        lines += [
            f"- `{d['target']}` {d['logical_id']} {d['field']}: template `{d['template']}`, deployed `{d['deployed']}`"
            for d in report["drift"]
        ]
    return "\n".join(lines) + "\n"
