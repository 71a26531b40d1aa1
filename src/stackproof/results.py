"""Verdicts: one per control x check x target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PASS, FAIL, ERROR, SKIP, SUPPRESSED = "PASS", "FAIL", "ERROR", "SKIP", "SUPPRESSED"
STATUSES = (PASS, FAIL, ERROR, SKIP, SUPPRESSED)
FAILING = frozenset({FAIL, ERROR})


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
