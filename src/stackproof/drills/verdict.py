"""A drill's verdict: FAIL when a step failed or an objective was missed (evidence: the step and
its error, or the measured RTO/RPO against the objective), ERROR when cleanup could not remove
what the drill created — the account is not as it was, which nobody may take as a pass."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stackproof.checking import ControlFailed, Evidence, Undecidable
from stackproof.drills.engine import OK, DrillResult
from stackproof.drills.objectives import Objective


def judge(
    result: DrillResult,
    objective: Objective,
    record_property: Callable[[str, Any], None],
    left_behind: list[str] | None = None,
    unverified: str | None = None,
) -> None:
    """``left_behind``: differences between the inventories taken before and after the drill.
    ``unverified``: why the drill could not write and verify its data (no data plane here); then
    no RPO was measured and none is judged — the caller reports SKIP with that reason once the
    rest of the drill has passed."""
    record = result.as_dict()
    record["objective"] = {
        "disruption": objective.disruption,
        "rto_seconds": objective.rto_seconds,
        "rpo_seconds": objective.rpo_seconds,
    }
    record_property("drill", record)
    timeline = ", ".join(f"{s.name}: {s.status} ({s.duration}s)" for s in result.steps if s.duration is not None)
    rto = "not measured" if result.rto is None else f"{result.rto} s"
    rpo = "not measured" if result.rpo is None else f"{result.rpo} s"
    record_property("note", f"{result.name}: RTO {rto}, RPO {rpo}; {timeline}")
    left = [f"{c.what}: {c.detail}" for c in result.cleanup if c.status != OK] + list(left_behind or [])
    if left:
        raise Undecidable(f"{result.name} could not remove what it created: " + "; ".join(left))
    failures = []
    if result.status != OK:
        failures.append(Evidence(f"{result.name} {result.status}: {result.error}"))
    else:
        if result.rto is None or result.rto > objective.rto_seconds:
            failures.append(
                Evidence(
                    "recovery took longer than the objective",
                    observed=result.rto,
                    expected=f"<= {objective.rto_seconds:g} s",
                )
            )
        if unverified and result.rpo is None:
            record_property("note", f"{result.name}: RPO not measured: {unverified}")
        elif result.rpo is None or result.rpo > objective.rpo_seconds:
            failures.append(
                Evidence(
                    "more data was lost than the objective allows",
                    observed=result.rpo,
                    expected=f"<= {objective.rpo_seconds:g} s",
                )
            )
    if failures:
        raise ControlFailed(failures)
