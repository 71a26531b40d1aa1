"""Coverage: how much of what a deployment promises a run actually showed on each target.

A run whose results are mostly SKIP proved little, whatever its exit code (LocalStack's free
edition shows one control of thirty-six), so the verdict of such a run is "incomplete", never
"passed", and ``--min-coverage`` turns too little coverage into a failed run. So is a run in
which a drill was skipped: "N of M drills ran" says how many proved anything. A control counts
on a target when it is a promise of the run's reference system; a control that target cannot
show counts as not shown, because the deployment's promise is still unproven there.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from stackproof.results import BASELINED, ERROR, FAIL, PASS, SKIP, SUPPRESSED, matrix

PASSED, FAILED, INCOMPLETE = "passed", "failed", "incomplete"
# Below this share of a target's controls proven, a run that found nothing wrong is incomplete.
MOSTLY_SHOWN = 50.0


@dataclass(frozen=True)
class Coverage:
    target: str
    controls: int  # the reference's controls with a result on this target
    proven: int  # every check PASS
    failed: int  # a FAIL or ERROR
    suppressed: int  # a failure accepted for a while
    not_shown: int  # SKIP: the target could not show it, or nothing ran
    reference: str | None = None
    baselined: int = 0  # a failure a baseline file accepted as it was

    @property
    def percent(self) -> float:
        return round(100.0 * self.proven / self.controls, 1) if self.controls else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "reference": self.reference,
            "controls": self.controls,
            "proven": self.proven,
            "failed": self.failed,
            "suppressed": self.suppressed,
            "not_shown": self.not_shown,
            "baselined": self.baselined,
            "percent": self.percent,
        }

    def __str__(self) -> str:
        column = f"{self.reference}/{self.target}" if self.reference else self.target
        return (
            f"{column}: {self.proven} of {self.controls} controls proven ({self.percent:g}%),"
            f" {self.failed} failed, {self.suppressed} suppressed,"
            + (f" {self.baselined} baselined," if self.baselined else "")
            + f" {self.not_shown} not shown"
        )


def by_target(
    results: Iterable[Mapping[str, Any]],
    references_of: Mapping[str, Iterable[str]],
    targets: Iterable[str],
    reference: str | None = None,
) -> list[Coverage]:
    """One Coverage per target, from report-shaped results (control, target, status) of one
    reference; ``references_of`` maps each control to the systems that promise it."""
    chosen = [r for r in results if reference is None or reference in references_of.get(r["control"], ())]
    cells = matrix(chosen)
    found = []
    for target in targets:
        statuses = [status for (_, column), status in cells.items() if column == target]
        found.append(
            Coverage(
                target=target,
                controls=len(statuses),
                proven=statuses.count(PASS),
                failed=statuses.count(FAIL) + statuses.count(ERROR),
                suppressed=statuses.count(SUPPRESSED),
                not_shown=statuses.count(SKIP),
                reference=reference,
                baselined=statuses.count(BASELINED),
            )
        )
    return found


@dataclass(frozen=True)
class DrillCount:
    """How many of a run's drills ran: a drill that was skipped (its guard refused, the target
    cannot run it, its data plane is missing) proved nothing, so a run with one is never
    "passed", and a required one fails the run (:func:`stackproof.results.gating.drills_not_run`)."""

    ran: int
    total: int
    not_run: tuple[tuple[str, str, str], ...] = ()  # (control, target, why)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ran": self.ran,
            "total": self.total,
            "not_run": [{"control": c, "target": t, "reason": why} for c, t, why in self.not_run],
        }

    def __str__(self) -> str:
        return f"{self.ran} of {self.total} drills ran"


def drills_ran(results: Iterable[Mapping[str, Any]], drills_of: Collection[str]) -> DrillCount:
    """Of report-shaped results, those of the controls run as drills (``drills_of``: the
    scenarios collected on a drill stack); ERROR counts as run only when the drill itself
    started (it has a record)."""
    drills = [r for r in results if r["control"] in drills_of]
    skipped = [r for r in drills if r["status"] == SKIP or (r["status"] == ERROR and not r.get("drill"))]
    return DrillCount(
        len(drills) - len(skipped),
        len(drills),
        tuple((r["control"], r["target"], str(r.get("message") or "no reason given")) for r in skipped),
    )


def verdict(exit_code: int, coverage: Iterable[Coverage], drills: DrillCount | None = None) -> str:
    if exit_code != 0:
        return FAILED
    if any(c.percent < MOSTLY_SHOWN for c in coverage) or (drills is not None and drills.not_run):
        return INCOMPLETE
    return PASSED


def shortfall(coverage: Iterable[Coverage], minimum: float | None) -> list[str]:
    """What fails ``--min-coverage``: each target whose proven share is below it."""
    if minimum is None:
        return []
    return [f"{c} is below --min-coverage {minimum:g}%" for c in coverage if c.percent < minimum]
