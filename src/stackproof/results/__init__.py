"""Verdicts: one per control x check x target."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, ERROR, SKIP, SUPPRESSED = "PASS", "FAIL", "ERROR", "SKIP", "SUPPRESSED"
# A failure a baseline file accepted as it was (``--baseline``): reported, never PASS, never failing.
BASELINED = "BASELINED"
# A finding that is reported and never fails a run (a template CloudFormation accepts as written
# but a reviewer should see: a duplicate key, a transform that could not run offline).
WARNING = "WARNING"
STATUSES = (PASS, FAIL, ERROR, SKIP, SUPPRESSED, BASELINED)
FAILING = frozenset({FAIL, ERROR})
# How a control's cell in a matrix is decided from its checks: the worst status wins.
RANK = {PASS: 0, SKIP: 1, SUPPRESSED: 1, BASELINED: 1, WARNING: 2, FAIL: 3, ERROR: 4}


def matrix(results: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """The worst status of each (control, target) among report results."""
    cells: dict[tuple[str, str], str] = {}
    for result in results:
        key = (result["control"], result["target"])
        if key not in cells or RANK[result["status"]] > RANK[cells[key]]:
            cells[key] = result["status"]
    return cells


def tally(results: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
    return dict(sorted(counts.items()))


@dataclass
class Result:
    control: str
    check: str
    target: str
    status: str
    message: str = ""
    evidence: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration: float = 0.0
    suppression: dict[str, Any] | None = None  # the accepted justification of a SUPPRESSED result
    drill: dict[str, Any] | None = None  # a drill's step timeline, cleanup, RTO and RPO
    baseline: dict[str, Any] | None = None  # the baseline file that accepted (some of) this failure
