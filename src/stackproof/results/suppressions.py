"""Suppressions: a recorded decision that a failing control is accepted for a while.

A suppression names the control, why (reason), who answers for it (owner) and until when
(expires). It is written either beside the resource it concerns, in the template::

    Metadata:
      stackproof:
        suppress:
          - {control: NET-05, reason: ..., owner: ..., expires: 2027-06-30}

or in a suppressions file (``--suppressions``), where it may name a ``resource`` (logical ID)
and a ``target``, or neither to cover the whole control::

    suppressions:
      - {control: QTA-01, resource: AppGroup, reason: ..., owner: ..., expires: 2027-01-31}

Only FAIL is ever suppressed: an ERROR means nobody knows the answer, and that cannot be
accepted in advance. A failure is suppressed when every piece of its evidence names resources
and all of them are covered. A suppression that has expired, lacks a reason or an owner, or
names an unknown control does not apply, and it fails the run on its own.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.template.cfn_yaml import LocatedDict, TemplateSyntaxError, load_text

FIELDS = ("control", "reason", "owner", "expires", "resource", "target")
ACTIVE, EXPIRED, INVALID, UNUSED = "active", "expired", "invalid", "unused"


class SuppressionFileError(Exception):
    """A suppressions file that cannot be read at all (exit 2); the message names file:line."""


@dataclass(frozen=True)
class Suppression:
    control: str
    reason: str
    owner: str
    expires: datetime.date | None
    source: str  # file:line
    kind: str  # "template" (beside the resource) or "file"
    resource: str | None = None
    target: str | None = None
    problem: str | None = None  # why it cannot apply: the run fails

    def covers(self, control: str, target: str, resource: str | None) -> bool:
        if self.problem or control != self.control:
            return False
        if self.target is not None and self.target != target:
            return False
        return self.resource is None or self.resource == resource

    def as_dict(self, state: str) -> dict[str, Any]:
        return {
            "control": self.control,
            "resource": self.resource,
            "target": self.target,
            "reason": self.reason,
            "owner": self.owner,
            "expires": self.expires.isoformat() if self.expires else None,
            "source": self.source,
            "kind": self.kind,
            "state": state,
            "problem": self.problem,
        }


def _date(value: Any) -> datetime.date | None:
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    if isinstance(value, str):
        try:
            return datetime.date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _entry(
    entry: Any,
    source: str,
    kind: str,
    controls: Iterable[str],
    today: datetime.date,
    resource: str | None = None,
) -> Suppression:
    if not isinstance(entry, Mapping):
        return Suppression(
            "?", "", "", None, source, kind, resource, problem="not a mapping of control, reason, owner, expires"
        )
    text = {k: str(entry.get(k) or "").strip() for k in ("control", "reason", "owner")}
    expires = _date(entry.get("expires"))
    unknown_fields = sorted(set(map(str, entry)) - set(FIELDS))
    problems = []
    if unknown_fields:
        problems.append(f"unknown field(s) {', '.join(unknown_fields)}")
    if text["control"] not in set(controls):
        problems.append(f"unknown control {text['control'] or '(none)'}")
    if not text["reason"]:
        problems.append("no reason")
    if not text["owner"]:
        problems.append("no owner")
    if expires is None:
        problems.append(f"expires {entry.get('expires')!r} is not a date (YYYY-MM-DD)")
    elif expires < today:
        problems.append(f"expired on {expires.isoformat()}")
    if kind == "file":
        resource = str(entry["resource"]) if entry.get("resource") else None
    target = str(entry["target"]) if entry.get("target") else None
    return Suppression(
        text["control"] or "?",
        text["reason"],
        text["owner"],
        expires,
        source,
        kind,
        resource,
        target,
        "; ".join(problems) or None,
    )


def _line(container: Any, key: Any, fallback: int) -> int:
    if isinstance(container, LocatedDict) and isinstance(key, str):
        return container.line_of(key)
    if isinstance(container, list) and isinstance(key, int) and isinstance(container[key], LocatedDict):
        line: int = container[key].line
        return line
    return fallback


def from_template(
    data: Mapping[str, Any], path: str, controls: Iterable[str], today: datetime.date
) -> list[Suppression]:
    """Suppressions in the ``Metadata.stackproof.suppress`` of each resource."""
    found = []
    resources = data.get("Resources")
    if not isinstance(resources, Mapping):
        return []
    names = list(controls)
    for logical_id, resource in resources.items():
        metadata = resource.get("Metadata") if isinstance(resource, Mapping) else None
        ours = metadata.get("stackproof") if isinstance(metadata, Mapping) else None
        if not isinstance(ours, Mapping) or "suppress" not in ours:
            continue
        entries = ours["suppress"]
        base = _line(ours, "suppress", _line(resources, logical_id, 0))
        if not isinstance(entries, list):
            found.append(
                Suppression(
                    "?", "", "", None, f"{path}:{base}", "template", logical_id, problem="suppress is not a list"
                )
            )
            continue
        for index, entry in enumerate(entries):
            source = f"{path}:{_line(entries, index, base)}"
            found.append(_entry(entry, source, "template", names, today, resource=logical_id))
    return found


def from_file(path: Path, controls: Iterable[str], today: datetime.date) -> list[Suppression]:
    try:
        data = load_text(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError) as exc:
        raise SuppressionFileError(f"{path}: cannot read suppressions: {exc}") from None
    except TemplateSyntaxError as exc:
        raise SuppressionFileError(str(exc)) from None
    entries = data.get("suppressions")
    if not isinstance(entries, list):
        raise SuppressionFileError(f"{path}:{data.line or 1}: expected a top-level `suppressions:` list")
    names = list(controls)
    return [
        _entry(e, f"{path}:{_line(entries, i, data.line_of('suppressions'))}", "file", names, today)
        for i, e in enumerate(entries)
    ]


def matching(
    suppressions: Iterable[Suppression], control: str, target: str, evidence: list[dict[str, Any]]
) -> list[Suppression]:
    """The suppressions that together accept this failure; empty when any part is uncovered."""
    candidates = [s for s in suppressions if not s.problem and s.control == control and s.target in (None, target)]
    whole = [s for s in candidates if s.resource is None]
    if whole:
        return whole[:1]
    used: list[Suppression] = []
    for item in evidence:
        resources = [loc["resource"] for loc in item.get("locations", [])] or list(item.get("resources", []))
        if not resources:
            return []
        for resource in resources:
            cover = next((s for s in candidates if s.covers(control, target, resource)), None)
            if cover is None:
                return []
            if cover not in used:
                used.append(cover)
    return used


def states(suppressions: Iterable[Suppression], applied: Iterable[Suppression]) -> list[dict[str, Any]]:
    """Each suppression with its state, for the reports."""
    used = set(applied)
    out = []
    for suppression in suppressions:
        if suppression.problem:
            state = EXPIRED if suppression.problem.startswith("expired") else INVALID
        else:
            state = ACTIVE if suppression in used else UNUSED
        out.append(suppression.as_dict(state))
    return out
