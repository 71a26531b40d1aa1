"""What fails a run: FAIL and ERROR of controls at or above the chosen severity, failing gate
tool findings, suppressions that cannot apply, and required drills that did not run."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from stackproof import catalogue
from stackproof.results import FAILING, Result
from stackproof.results.session import Session


def failing_tool_findings(session: Session, fail_on: str | None) -> list[Any]:
    return [
        finding
        for report in session.tool_reports
        for finding in report.findings
        if finding.status in FAILING and at_or_above(finding.severity, fail_on)
    ]


def broken_suppressions(session: Session) -> list[str]:
    """Suppressions that cannot apply (expired, no reason, no owner, unknown control): each
    fails the run, whatever the checks found."""
    return [f"{s.source}: suppression of {s.control}: {s.problem}" for s in session.suppressions if s.problem]


def at_or_above(severity: str, fail_on: str | None) -> bool:
    order = catalogue.SEVERITIES
    return fail_on is None or order.index(severity) >= order.index(fail_on)


def gating(results: list[Result], fail_on: str | None) -> list[Result]:
    """The FAIL and ERROR results that fail the run: all of them, or those of controls at
    ``fail_on`` severity or above."""
    controls = catalogue.load()
    return [r for r in results if r.status in FAILING and at_or_above(controls[r.control].severity, fail_on)]


def drills_not_run(results: list[Result], drills_of: Collection[str], require_all: bool) -> list[str]:
    """A drill that was required and did not run, with why: every drill of the run
    (``drills_of``: the controls run as drills) with ``--require-drills``, else those the
    catalogue marks ``required`` (for scheduled runs)."""
    from dataclasses import asdict

    from stackproof.results.coverage import drills_ran

    controls = catalogue.load()
    count = drills_ran([asdict(r) for r in results], drills_of)
    return [
        f"required drill {control} did not run on {target}: {why}"
        for control, target, why in count.not_run
        if require_all or controls[control].required
    ]
