"""What a check uses to reach a verdict: known values, evidence, and fail-closed outcomes.

A check reads model fields through :func:`known`; an Unknown raises :class:`Undecidable`,
which the runner reports as ERROR, never PASS. Failures are collected with evidence by
:class:`Findings` and raised together as :class:`ControlFailed` (an AssertionError, so
plain pytest shows them too).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackproof.model.outcomes import NotEmulated, Undecidable, known
from stackproof.model.types import Location, Obj
from stackproof.template.values import Unknown

T = TypeVar("T")

__all__ = [
    "ControlFailed",
    "Evidence",
    "Findings",
    "NotEmulated",
    "Undecidable",
    "exists",
    "findings",
    "known",
    "locations",
    "require",
]


@dataclass(frozen=True)
class Evidence:
    message: str
    resources: tuple[Location, ...] = ()
    observed: Any = None
    expected: Any = None

    def __str__(self) -> str:
        where = ", ".join(str(r) for r in self.resources)
        parts = [f"{k}: {v!s}" for k, v in (("observed", self.observed), ("expected", self.expected)) if v is not None]
        detail = f" [{'; '.join(parts)}]" if parts else ""
        return f"{self.message}{detail}" + (f" — {where}" if where else "")


class ControlFailed(AssertionError):
    def __init__(self, evidence: Sequence[Evidence], undecided: Sequence[str] = ()) -> None:
        self.evidence = list(evidence)
        self.undecided = list(undecided)
        lines = [str(e) for e in self.evidence]
        lines += [f"(also undecided: {u})" for u in self.undecided]
        super().__init__("\n".join(lines))


def exists(obj: Obj) -> bool:
    """Whether ``obj`` exists; Undecidable when its condition could not be evaluated."""
    if isinstance(obj.exists, Unknown):
        raise Undecidable(f"whether {obj.location} exists: {obj.exists.reason}")
    return bool(obj.exists)


def locations(*objs: Any) -> tuple[Location, ...]:
    result = []
    for obj in objs:
        if isinstance(obj, Obj):
            result.append(obj.location)
        elif isinstance(obj, Location):
            result.append(obj)
    return tuple(result)


@dataclass
class Findings:
    """Collects failures and undecided items; decides the verdict when the block ends."""

    failures: list[Evidence] = field(default_factory=list)
    undecided: list[str] = field(default_factory=list)

    def fail(self, message: str, *where: Any, observed: Any = None, expected: Any = None) -> None:
        self.failures.append(Evidence(message, locations(*where), observed, expected))

    @contextmanager
    def each(self, obj: Any = None) -> Iterator[None]:
        """Judge one item; an unknown value in it is recorded, and the rest still judged."""
        try:
            yield
        except Undecidable as exc:
            self.undecided.append(f"{exc}" + (f" — {obj}" if obj is not None else ""))

    def verdict(self) -> None:
        if self.failures:
            raise ControlFailed(self.failures, self.undecided)
        if self.undecided:
            raise Undecidable("; ".join(self.undecided))


@contextmanager
def findings() -> Iterator[Findings]:
    collected = Findings()
    try:
        yield collected
    except Undecidable as exc:
        collected.undecided.append(str(exc))
    collected.verdict()


def require(items: Sequence[T], what: str) -> Sequence[T]:
    """The control needs at least one of ``what``; none is a failure, not a pass."""
    if not items:
        raise ControlFailed([Evidence(f"the deployment has no {what}")])
    return items
