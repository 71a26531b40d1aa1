"""The console's report: a controls x targets table, the failures with their evidence, the
gate tools' tallies, drift, and one summary line."""

from __future__ import annotations

from dataclasses import asdict
from typing import TextIO

from stackproof import catalogue
from stackproof.domain.drift import compare
from stackproof.model.deployment import Deployment
from stackproof.results import BASELINED, ERROR, FAIL, FAILING, PASS, RANK, SKIP, SUPPRESSED, WARNING, Result
from stackproof.results.coverage import drills_ran
from stackproof.results.gating import broken_suppressions
from stackproof.results.session import Session


def worst(results: list[Result]) -> str:
    return max((r.status for r in results), key=RANK.__getitem__, default="-")


def table(session: Session) -> str:
    controls = catalogue.load()
    by_key: dict[tuple[str, str], list[Result]] = {}
    for result in session.results:
        by_key.setdefault((result.control, result.target), []).append(result)
    width = max(len(t) for t in session.targets) + 2
    lines = [f"{'control':<8} {'sev':<8} " + "".join(f"{t:<{width}}" for t in session.targets) + " statement"]
    for cid, control in controls.items():
        if not any((cid, t) in by_key for t in session.targets):
            continue
        cells = "".join(f"{worst(by_key.get((cid, t), [])):<{width}}" for t in session.targets)
        lines.append(f"{cid:<8} {control.severity:<8} {cells} {control.title[:70]}")
    return "\n".join(lines)


def details(session: Session, verbose: bool) -> str:
    lines = []
    for result in session.results:
        if result.status in FAILING:
            lines.append(f"{result.status} {result.control} [{result.target}] {result.check}")
            lines += [f"    {line}" for line in result.message.splitlines()]
        elif result.status == SUPPRESSED and result.suppression:
            accepted = result.suppression
            lines.append(
                f"{result.status} {result.control} [{result.target}] {result.check}: {accepted['reason']}"
                f" (owner {accepted['owner']}, expires {accepted['expires']}, {accepted['source']})"
            )
        elif result.status == BASELINED and verbose:
            lines.append(f"{result.status} {result.control} [{result.target}] {result.check}: in the baseline")
            lines += [f"    {line}" for line in result.message.splitlines()]
        elif verbose and (result.notes or result.status == SKIP):
            lines.append(f"{result.status} {result.control} [{result.target}] {result.check}")
            lines += [f"    {line}" for note in result.notes for line in note.splitlines()]
            if result.status == SKIP:
                lines.append(f"    {result.message}")
    for report in session.tool_reports:
        for finding in report.findings:
            if finding.status in FAILING or finding.status == WARNING or verbose:
                where = f" {finding.resource}" if finding.resource else ""
                at = f" ({finding.file}:{finding.line})" if finding.line else ""
                why = f" — {finding.justification}" if finding.justification else ""
                lines.append(f"{finding.status} {report.tool}:{finding.rule}{where}{at}: {finding.message}{why}")
    lines += [f"SUPPRESSION {problem}" for problem in broken_suppressions(session)]
    return "\n".join(lines)


def tool_lines(session: Session) -> str:
    lines = []
    for report in session.tool_reports:
        if report.status != "ran":
            lines.append(f"{report.tool}: ERROR ({report.status}) {report.message}")
            continue
        counts = {s: sum(f.status == s for f in report.findings) for s in (FAIL, SUPPRESSED, BASELINED, WARNING)}
        passed = f"{report.passed} passed, " if report.tool == "checkov" else ""
        warned = f", {counts[WARNING]} warnings" if counts[WARNING] else ""
        baselined = f", {counts[BASELINED]} baselined" if counts[BASELINED] else ""
        lines.append(
            f"{report.tool} {report.version or ''}: {passed}{counts[FAIL]} failed, {counts[SUPPRESSED]} suppressed"
            f"{baselined}{warned}"
        )
    return "\n".join(lines)


def summary(session: Session) -> str:
    counts = {s: sum(r.status == s for r in session.results) for s in (PASS, FAIL, ERROR, SKIP, SUPPRESSED, BASELINED)}
    return ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no results"


def print_session(
    session: Session, verbose: bool, out: TextIO, reference: str | None, problems: list[str] | None = None
) -> None:
    """``problems``: why the run fails beyond its results (coverage below the minimum)."""
    print(file=out)
    if reference:
        print(f"== reference {reference} ({session.template})", file=out)
    print(table(session), file=out)
    if session.tool_reports:
        print(tool_lines(session), file=out)
    text = details(session, verbose)
    if text:
        print(file=out)
        print(text, file=out)
    drift = drift_report(session)
    if drift:
        print(file=out)
        print(drift, file=out)
    print(file=out)
    for coverage in session.coverage():
        print(f"coverage {coverage}", file=out)
    drills = drills_ran([asdict(r) for r in session.results], session.drill_controls)
    if drills.total:
        grouped: dict[tuple[str, str], list[str]] = {}
        for control, target, why in drills.not_run:
            grouped.setdefault((target, why), []).append(control)
        not_run = "; ".join(f"{', '.join(c)} on {t}: {why}" for (t, why), c in grouped.items())
        print(f"{drills}" + (f" (did not run: {not_run})" if not_run else ""), file=out)
    for problem in problems or []:
        print(f"COVERAGE {problem}", file=out)
    print(f"stackproof: {summary(session)}", file=out)


def drift_report(session: Session) -> str:
    """Drift of each deployed target against the template, when both ran."""
    template = session.models.get("template")
    if not isinstance(template, Deployment):
        return ""
    lines = []
    for name, model in session.models.items():
        if name != "template" and isinstance(model, Deployment):
            lines += [f"DRIFT [{name}] {d}" for d in compare(template, model)]
    return "\n".join(lines)


def baseline_lines(summary: dict[str, object]) -> list[str]:
    """What the run made of ``--baseline``: found again, and fixed (the file can shrink)."""
    fixed = summary["fixed"]
    assert isinstance(fixed, list)
    lines = [
        f"stackproof: baseline {summary['file']}: {summary['found_again']} of {summary['entries']} findings found again"
        + (f", {summary['unchecked']} not checked by this run" if summary["unchecked"] else "")
    ]
    if fixed:
        lines.append(
            f"stackproof: {len(fixed)} baselined finding{'s are' if len(fixed) > 1 else ' is'} fixed; the baseline can"
            " shrink (remove them, or run `stackproof baseline create` again):"
        )
        for entry in fixed:
            where = f" {', '.join(entry['resources'])}" if entry["resources"] else ""
            lines.append(f"    {entry['control']}{where}: {entry['message'].splitlines()[0][:160]}")
    return lines
