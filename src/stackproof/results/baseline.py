"""Baselines: the findings a team accepted on the day it adopted stackproof, so that a run fails
only on what is new.

``stackproof baseline create`` writes every current finding to a file the team commits: a FAIL
of a control (one entry per piece of its evidence) and a failing cfn-lint or checkov finding.
A run with ``--baseline FILE`` reports a finding found in the file as BASELINED, never PASS;
a FAIL whose evidence is all baselined becomes BASELINED, one with any new piece stays FAIL and
its message names only the new pieces. An ERROR is never baselined (nobody knows the answer),
and suppressions keep their meaning: they are applied first, with owner and expiry.

A finding is known by a fingerprint that survives edits around it: the control (or the tool's
rule), the stack, the logical IDs of the resources it names, and its message with the values
that differ between deployments of the same template made alike (physical IDs, ARNs, account
numbers) and line numbers left out. File names and lines are not in it, so moving a resource
within its template keeps its findings baselined. The target is not in it either: a finding
accepted on ``template`` is the same finding on ``moto`` or ``aws`` when it names the same thing.

A baselined finding that a run no longer finds, where the run did decide its control on a
target the baseline saw it on, is *fixed*: the report says the baseline can shrink.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.results import BASELINED, FAIL, PASS, SUPPRESSED, Result
from stackproof.support.json_files import JsonFileError, read_json

VERSION = 1
# Values that differ between two deployments of one template, and line numbers: not part of
# what a finding is.
_VOLATILE = (
    (re.compile(r"\barn:aws[a-z-]*:[^\s,;'\"()\[\]]*"), "<arn>"),
    (re.compile(r"\b(?:[a-z][a-z0-9]{0,9}-)+[0-9a-f]{8,17}\b"), "<id>"),
    (re.compile(r"\b\d{12}\b"), "<account>"),
    (re.compile(r"(\.(?:ya?ml|json|template)):\d+\b"), r"\1:<line>"),
    (re.compile(r"\bline \d+\b"), "line <n>"),
)


class BaselineError(Exception):
    """A baseline file that cannot be read (exit 2); the message names the file."""


def normalized(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]


def evidence_fingerprint(control: str, evidence: Mapping[str, Any]) -> str:
    """One piece of a control's evidence, as the baseline knows it."""
    locations = evidence.get("locations") or []
    stacks = sorted({str(loc.get("stack") or "") for loc in locations})
    resources = sorted({str(loc.get("resource") or "") for loc in locations})
    return _digest("control", control, stacks, resources, normalized(str(evidence.get("message", ""))))


def message_fingerprint(control: str, message: str) -> str:
    """A FAIL without evidence (its message is all there is)."""
    return _digest("message", control, normalized(message))


def tool_fingerprint(tool: str, finding: Any) -> str:
    """A cfn-lint or checkov finding: its rule, the file's name, the resource and the message."""
    name = Path(str(finding.file)).name if finding.file else ""
    return _digest("tool", tool, finding.rule, name, finding.resource or "", normalized(finding.message))


@dataclass(frozen=True)
class Entry:
    fingerprint: str
    control: str  # a control ID, or "<tool>:<rule>" for a gate tool's finding
    targets: tuple[str, ...]
    message: str
    resources: tuple[str, ...] = ()
    stack: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "control": self.control,
            "targets": list(self.targets),
            "stack": self.stack,
            "resources": list(self.resources),
            "message": self.message,
        }


@dataclass
class Baseline:
    path: str
    entries: dict[str, Entry]
    matched: set[str] = field(default_factory=set)  # fingerprints a run found again

    def covers(self, fingerprint: str) -> bool:
        if fingerprint in self.entries:
            self.matched.add(fingerprint)
            return True
        return False


def load(path: str | Path) -> Baseline:
    """The baseline at ``path``; every way it can be unreadable is a :class:`BaselineError`."""
    source = Path(path)
    try:
        data = read_json(source, "make a baseline with `stackproof baseline create`")
    except JsonFileError as exc:
        raise BaselineError(str(exc)) from None
    if not isinstance(data, dict) or data.get("version") != VERSION or not isinstance(data.get("findings"), list):
        raise BaselineError(f"{source}: not a stackproof baseline (version {VERSION} with a findings list)")
    entries: dict[str, Entry] = {}
    for number, item in enumerate(data["findings"], 1):
        if not isinstance(item, dict) or not all(isinstance(item.get(k), str) for k in ("fingerprint", "control")):
            raise BaselineError(f"{source}: finding {number} has no fingerprint and control")
        targets = item.get("targets", [])
        resources = item.get("resources", [])
        if not isinstance(targets, list) or not isinstance(resources, list):
            raise BaselineError(f"{source}: finding {number}: targets and resources must be lists")
        entries[item["fingerprint"]] = Entry(
            item["fingerprint"],
            item["control"],
            tuple(map(str, targets)),
            str(item.get("message", "")),
            tuple(map(str, resources)),
            str(item.get("stack", "")),
        )
    return Baseline(str(source), entries)


def _evidence_text(evidence: Mapping[str, Any], where: bool = True) -> str:
    """As the check said it (:class:`stackproof.checking.Evidence`); without the resources'
    files and lines (``where=False``) in a baseline, where they would go stale."""
    parts = [f"{k}: {evidence[k]}" for k in ("observed", "expected") if evidence.get(k) is not None]
    detail = f" [{'; '.join(parts)}]" if parts else ""
    places = ", ".join(str(r) for r in evidence.get("resources") or []) if where else ""
    return f"{evidence.get('message', '')}{detail}" + (f" — {places}" if places else "")


def findings_of(results: Iterable[Result], tool_reports: Iterable[Any]) -> list[Entry]:
    """Every current finding of a run, one entry per fingerprint (targets merged): what
    ``baseline create`` records. Failing results only; an ERROR is never accepted in advance."""
    found: dict[str, Entry] = {}

    def add(entry: Entry) -> None:
        seen = found.get(entry.fingerprint)
        if seen is not None:
            entry = Entry(
                entry.fingerprint,
                entry.control,
                tuple(dict.fromkeys((*seen.targets, *entry.targets))),
                seen.message,
                seen.resources,
                seen.stack,
            )
        found[entry.fingerprint] = entry

    for result in results:
        if result.status not in (FAIL, BASELINED):
            continue
        for evidence in result.evidence or [{"message": result.message}]:
            fingerprint = evidence.get("fingerprint") or (
                evidence_fingerprint(result.control, evidence)
                if result.evidence
                else message_fingerprint(result.control, result.message)
            )
            locations = evidence.get("locations") or []
            stack = next((str(loc["stack"]) for loc in locations if loc.get("stack")), "")
            resources = tuple(dict.fromkeys(str(loc["resource"]) for loc in locations if loc.get("resource")))
            text = _evidence_text(evidence, where=False)
            add(Entry(fingerprint, result.control, (result.target,), text, resources, stack))
    for report in tool_reports:
        for finding in report.findings:
            if finding.status not in (FAIL, BASELINED):
                continue
            resources = (finding.resource,) if finding.resource else ()
            rule = f"{report.tool}:{finding.rule}"
            add(Entry(tool_fingerprint(report.tool, finding), rule, ("template",), finding.message, resources))
    return sorted(found.values(), key=lambda e: (e.control, e.stack, e.resources, e.fingerprint))


def write(path: Path, entries: list[Entry], now: datetime.datetime | None = None) -> None:
    document = {
        "version": VERSION,
        "created": (now or datetime.datetime.now(datetime.UTC)).replace(microsecond=0).isoformat(),
        "about": "Findings accepted as they were when this baseline was made: `stackproof run --baseline FILE` "
        "reports them as BASELINED and fails only on new ones. Shrink it as they are fixed.",
        "findings": [e.as_dict() for e in entries],
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def apply(baseline: Baseline, results: list[Result], tool_reports: Iterable[Any]) -> None:
    """Mark what the baseline holds: evidence pieces get their fingerprint and ``baselined``; a
    FAIL all of whose pieces are baselined becomes BASELINED, one with new pieces keeps FAIL and
    a message of the new ones only. Gate tools' failing findings the baseline holds become
    BASELINED."""
    for result in results:
        if result.status != FAIL:
            continue
        if not result.evidence:
            if baseline.covers(message_fingerprint(result.control, result.message)):
                result.status = BASELINED
                result.baseline = {"file": baseline.path, "findings": 1}
            continue
        new = []
        for evidence in result.evidence:
            fingerprint = evidence_fingerprint(result.control, evidence)
            evidence["fingerprint"] = fingerprint
            evidence["baselined"] = baseline.covers(fingerprint)
            if not evidence["baselined"]:
                new.append(evidence)
        accepted = len(result.evidence) - len(new)
        if not accepted:
            continue
        result.baseline = {"file": baseline.path, "findings": accepted}
        if new:
            also = f"(and {accepted} baselined finding{'s' if accepted > 1 else ''})"
            result.message = "\n".join([*(_evidence_text(e) for e in new), also])
        else:
            result.status = BASELINED
    for report in tool_reports:
        for finding in report.findings:
            if finding.status == FAIL and baseline.covers(tool_fingerprint(report.tool, finding)):
                finding.status = BASELINED


DECIDED = frozenset({PASS, FAIL, BASELINED, SUPPRESSED})


def summary(baseline: Baseline, results: Iterable[Mapping[str, Any]], tools_ran: Iterable[str]) -> dict[str, Any]:
    """What the run made of the baseline: how many findings it found again, and which it no
    longer finds where it decided their control on a target the baseline saw them on (fixed:
    the baseline can shrink). A finding whose control was not decided there is ``unchecked``."""
    decided = {(r["control"], r["target"].rsplit("/", 1)[-1]) for r in results if r["status"] in DECIDED}
    tools = set(tools_ran)
    fixed, unchecked = [], 0
    for fingerprint, entry in baseline.entries.items():
        if fingerprint in baseline.matched:
            continue
        if ":" in entry.control:
            checked = entry.control.split(":", 1)[0] in tools
        else:
            checked = any((entry.control, target) in decided for target in entry.targets)
        if checked:
            fixed.append(entry.as_dict())
        else:
            unchecked += 1
    return {
        "file": baseline.path,
        "entries": len(baseline.entries),
        "found_again": len(baseline.matched),
        "fixed": fixed,
        "unchecked": unchecked,
    }
