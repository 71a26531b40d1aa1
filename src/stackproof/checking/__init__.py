"""What a check uses to reach a verdict: known values, evidence, and fail-closed outcomes.

A check reads model fields through :func:`known`; an Unknown raises :class:`Undecidable`,
which the runner reports as ERROR, never PASS. Failures are collected with evidence by
:class:`Findings` and raised together as :class:`ControlFailed` (an AssertionError, so
plain pytest shows them too).

A control whose subject is absent never passes. Every loop a check makes over what the
deployment holds goes through :func:`subjects` (the control's subject: none of it is
:class:`NothingToCheck`, a FAIL naming the missing part of the system and the seed that
promises it) or :func:`optional` (a collection that may be empty because the control's
subject is judged elsewhere in the same check; the reason is written down). A test reads
``checks/`` and fails on a loop that does neither.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stackproof.model.outcomes import NotEmulated, Undecidable, known
from stackproof.model.types import Location, Obj
from stackproof.template.values import Unknown

T = TypeVar("T")

__all__ = [
    "PARTS",
    "ControlFailed",
    "Evidence",
    "Findings",
    "NotEmulated",
    "NothingToCheck",
    "Part",
    "Undecidable",
    "exists",
    "findings",
    "known",
    "locations",
    "optional",
    "require",
    "subjects",
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


@dataclass(frozen=True)
class Part:
    """A part of the system a control judges, and the seed that promises it: what an absent
    subject's evidence names, the same words whichever control finds it missing."""

    name: str
    source: str


PARTS: dict[str, Part] = {
    part.name: part
    for part in (
        Part("load balancer", "seed 002 step 1; seed 000 'User requests'"),
        Part("listener", "seed 002 step 1 (the load balancer listens on 80 and 443)"),
        Part("listener on port 80", "seed 002 step 1 (the load balancer listens on port 80 and port 443)"),
        Part("HTTPS listener", "seed 001 (port 443/HTTPS with an SSL certificate)"),
        Part("Auto Scaling group", "seed 002 step 3"),
        Part("scaling policy", "seed 002 step 3 (scale out at 70% CPU, back in below 20%)"),
        Part("launch template or launch configuration", "seed 002 (EC2 instances of the Panintelligence AMI)"),
        Part("instance role", "seed 002 (SSM Agent on the instances)"),
        Part("database", "seed 002 step 3 (RDS MariaDB); seed 000 'Databases'"),
        Part("RDS database", "seed 002 step 3 (an external RDS MariaDB)"),
        Part("EFS file system", "seed 002 step 4"),
        Part("data store", "seed 002 steps 3-4 (RDS MariaDB, EFS mounted by the instances, the S3 bucket)"),
        Part("content bucket", "seed 002 step 4"),
        Part("S3 bucket", "seed 002 step 4 (the content bucket); seed 000 'S3 Data Lake'"),
        Part(
            "output, user data or tag",
            "seed 002 'How to obtain the secrets?' (what the stack shows, judged for secrets)",
        ),
        Part("stack template", "seed 002 'AWS CloudFormation allows you to build the infrastructure'"),
        Part("sync function", "seed 002 step 4; seed 001 (Lambda side-loads S3 objects to EFS)"),
        Part("Lambda function", "seed 002 step 4"),
        Part("subnets", "seed 000 'VPC/availability zones'"),
        Part("internet-facing load balancer", "seed 002 step 1"),
        Part("identity policy", "seed 001 (IAM permissions)"),
        Part("ECS service", "seed 000 'Elastic Container Service (ECS)'"),
        Part("ECS task definition", "seed 000 'Modules and images'"),
        Part("data-pipeline Auto Scaling group behind a load balancer", "seed 000 'Device events'"),
        Part("S3 data lake bucket", "seed 000 'Data pipeline'"),
        Part("Redshift analytics database", "seed 000 'Databases'"),
        Part("PostgreSQL app database on RDS", "seed 000 'Databases'"),
        Part("TLS probe of an internet-facing load balancer", "seed 001 (TLS 1.2 or newer at the load balancer)"),
    )
}


class NothingToCheck(ControlFailed):
    """The control's subject is absent: a FAIL (never a pass, never a skip) naming the part of
    the system that is missing and the seed that promises it, so every control that reads an
    absent part says the same thing."""

    def __init__(self, part: Part, detail: str = "") -> None:
        self.part = part
        super().__init__([Evidence(f"no {part.name}: {part.source}" + (f" ({detail})" if detail else ""))])


def subjects(items: Iterable[T], part: str, detail: str = "") -> list[T]:
    """The items a control judges; none of them is :class:`NothingToCheck`. ``part`` is a key
    of :data:`PARTS` (a KeyError for a part nobody has named is a bug in the check)."""
    found = list(items)
    if not found:
        raise NothingToCheck(PARTS[part], detail)
    return found


def optional(items: Iterable[T], why: str) -> list[T]:
    """Items that may be absent without the control passing over nothing: ``why`` says which
    subject of the same check makes an empty collection here harmless. Does nothing else; it
    makes the choice deliberate and visible to the test that reads ``checks/``."""
    if not why.strip():
        raise ValueError("optional() needs the reason an empty collection is harmless here")
    return list(items)


def require(items: Sequence[T], what: str) -> Sequence[T]:
    """The control needs at least one of ``what``; none is a failure, not a pass. For checks
    written before :func:`subjects`: a part named in :data:`PARTS` gets its seed source."""
    if not items:
        part = PARTS.get(what)
        if part is not None:
            raise NothingToCheck(part)
        raise ControlFailed([Evidence(f"the deployment has no {what}")])
    return items
