"""The values a resolved template holds besides plain JSON.

An unresolvable value is an :class:`Unknown` that carries its reason; it is never silently
replaced by a guess, so a check that meets one can only answer ERROR. References between
resources stay typed (:class:`ResourceRef`, :class:`AttrRef`) so relationships survive
resolution, and strings built from them are :class:`Symbolic`, remembering what they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unknown:
    """A value the resolver could not determine, with the reason and where it arose."""

    reason: str
    line: int | None = None

    def __str__(self) -> str:
        return f"<unknown: {self.reason}{f' (line {self.line})' if self.line else ''}>"


@dataclass(frozen=True)
class ResourceRef:
    """``Ref`` to a resource: its physical ID, which the template cannot know."""

    logical_id: str

    def __str__(self) -> str:
        return "${" + self.logical_id + "}"


@dataclass(frozen=True)
class AttrRef:
    """``Fn::GetAtt`` kept as a reference to a resource attribute."""

    logical_id: str
    attribute: str

    def __str__(self) -> str:
        return "${" + f"{self.logical_id}.{self.attribute}" + "}"


class Symbolic(str):
    """A string that is only known up to the resources and pseudo parameters it names.

    Its text keeps ``${Name}`` placeholders; ``refs`` lists the logical IDs inside, and
    ``secret`` marks a ``{{resolve:secretsmanager:...}}`` dynamic reference.
    """

    refs: frozenset[str]
    secret: bool
    dynamic: bool

    def __new__(cls, text: str, refs: frozenset[str] = frozenset(), *, secret: bool = False) -> Symbolic:
        value = super().__new__(cls, text)
        value.refs = refs
        value.secret = secret or "{{resolve:secretsmanager:" in text
        value.dynamic = value.secret or "{{resolve:" in text
        return value


class FromParameter(str):
    """A string that came straight from a template parameter (kept for DAT-03 and redaction)."""

    parameter: str
    no_echo: bool

    def __new__(cls, text: str, parameter: str, *, no_echo: bool = False) -> FromParameter:
        value = super().__new__(cls, text)
        value.parameter = parameter
        value.no_echo = no_echo
        return value


class _NoValue:
    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


def is_unknown(value: Any) -> bool:
    return isinstance(value, Unknown)


def first_unknown(value: Any) -> Unknown | None:
    """The first Unknown anywhere inside ``value``, depth first."""
    if isinstance(value, Unknown):
        return value
    if isinstance(value, dict):
        for item in value.values():
            found = first_unknown(item)
            if found:
                return found
    elif isinstance(value, list):
        for item in value:
            found = first_unknown(item)
            if found:
                return found
    return None


def refers_to(value: Any) -> str | None:
    """The logical ID a Ref/GetAtt value names, else None."""
    if isinstance(value, (ResourceRef, AttrRef)):
        return value.logical_id
    if isinstance(value, Symbolic) and len(value.refs) == 1 and value in {"${" + next(iter(value.refs)) + "}"}:
        return next(iter(value.refs))
    return None
