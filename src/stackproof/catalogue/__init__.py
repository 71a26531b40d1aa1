"""The control catalogue: data, validated when it is loaded (in the manner of Prowler's
check metadata), so a typo in an ID or severity is caught before any check runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

ID_FORMAT = re.compile(r"^(NET|TLS|SCL|QTA|DAT|IAM|OBS|RES|ANL|DEP|HST)-\d{2}$")
SEVERITIES = ("low", "medium", "high", "critical")
TARGETS = ("template", "moto", "moto-server", "localstack", "aws")
STATUSES = ("active", "planned")
# Where a control's tests live: checks/, scenarios/ (the drills), checks/host/ (on instances).
SUITES = ("checks", "scenarios", "hosts")
REFERENCES = ("dashboard", "analytics")  # the systems of the seeds whose promise a control is about


class CatalogueError(Exception):
    pass


SERVICE_WILDCARD = re.compile(r"^[a-z0-9-]+:\*$")
MANAGED_POLICY_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]+$")
EXCEPTION_KEYS = frozenset({"action", "managed_policy", "reason"})


@dataclass(frozen=True)
class Exemption:
    """A case the control's promise allows, with the reason a reviewer accepted: a service's
    every action (``action: "xray:*"``) or an AWS managed policy by name (``managed_policy``)."""

    action: str
    managed_policy: str
    reason: str


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    family: str
    severity: str
    seed: str
    quote: str
    targets: tuple[str, ...]
    status: str = "active"
    planned_in: str = ""
    suite: str = "checks"
    references: tuple[str, ...] = ("dashboard",)
    required: bool = False  # a drill every run of it must run: skipped, it fails the run
    exceptions: tuple[Exemption, ...] = ()  # justified cases the check lets pass (IAM-04)

    @property
    def active(self) -> bool:
        return self.status == "active"


def _exceptions(cid: str, raw: Any) -> tuple[Exemption, ...]:
    """The control's justified cases: each names exactly one service wildcard or managed
    policy, and why; anything else is refused here, so an allowlist cannot grow by a typo."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CatalogueError(f"{cid}: exceptions must be a list")
    found = []
    for index, entry in enumerate(raw):
        where = f"{cid}: exception #{index}"
        if not isinstance(entry, dict) or set(entry) - EXCEPTION_KEYS:
            raise CatalogueError(f"{where}: a mapping of {', '.join(sorted(EXCEPTION_KEYS))} only")
        action, managed = entry.get("action"), entry.get("managed_policy")
        if (action is None) == (managed is None):
            raise CatalogueError(f"{where}: names exactly one of action or managed_policy")
        if action is not None and not (isinstance(action, str) and SERVICE_WILDCARD.match(action)):
            raise CatalogueError(f"{where}: action {action!r} is not a service's wildcard (service:*)")
        if managed is not None and not (isinstance(managed, str) and MANAGED_POLICY_NAME.match(managed)):
            raise CatalogueError(f"{where}: managed_policy {managed!r} is not a policy name")
        reason = entry.get("reason")
        if not isinstance(reason, str) or len(reason.split()) < 3:
            raise CatalogueError(f"{where}: needs a reason (a sentence a reviewer can check)")
        found.append(Exemption(action or "", managed or "", reason.strip()))
    return tuple(found)


def _control(entry: Any, index: int) -> Control:
    if not isinstance(entry, dict):
        raise CatalogueError(f"control #{index}: not a mapping")
    cid = str(entry.get("id", ""))
    if not ID_FORMAT.match(cid):
        raise CatalogueError(f"control #{index}: id {cid!r} is not FAMILY-NN (e.g. NET-02)")
    severity = entry.get("severity")
    if severity not in SEVERITIES:
        raise CatalogueError(f"{cid}: severity {severity!r} is not one of {', '.join(SEVERITIES)}")
    targets = tuple(entry.get("targets") or ())
    unknown_targets = [t for t in targets if t not in TARGETS]
    if not targets or unknown_targets:
        raise CatalogueError(f"{cid}: targets {list(targets)} must be a non-empty subset of {', '.join(TARGETS)}")
    status = entry.get("status", "active")
    if status not in STATUSES:
        raise CatalogueError(f"{cid}: status {status!r} is not one of {', '.join(STATUSES)}")
    if status == "planned" and not entry.get("planned_in"):
        raise CatalogueError(f"{cid}: a planned control names the work that brings it (planned_in)")
    source = entry.get("source") or {}
    if not source.get("seed") or not source.get("quote"):
        raise CatalogueError(f"{cid}: source needs a seed file and a quote")
    title = str(entry.get("title", "")).strip()
    if not title:
        raise CatalogueError(f"{cid}: no title")
    suite = entry.get("suite", "checks")
    if suite not in SUITES:
        raise CatalogueError(f"{cid}: suite {suite!r} is not one of {', '.join(SUITES)}")
    references = tuple(entry.get("references") or ("dashboard",))
    if [r for r in references if r not in REFERENCES]:
        raise CatalogueError(f"{cid}: references {list(references)} must be a subset of {', '.join(REFERENCES)}")
    required = entry.get("required", False)
    if not isinstance(required, bool):
        raise CatalogueError(f"{cid}: required {required!r} is not true or false")
    if required and suite != "scenarios":
        raise CatalogueError(f"{cid}: only a drill (suite: scenarios) can be required")
    return Control(
        cid,
        title,
        str(entry.get("family")),
        severity,
        source["seed"],
        source["quote"],
        targets,
        status,
        str(entry.get("planned_in", "")),
        suite,
        references,
        required,
        _exceptions(cid, entry.get("exceptions")),
    )


def parse(data: Any) -> dict[str, Control]:
    if not isinstance(data, dict) or not isinstance(data.get("controls"), list):
        raise CatalogueError("the catalogue needs a 'controls' list")
    controls: dict[str, Control] = {}
    for index, entry in enumerate(data["controls"]):
        control = _control(entry, index)
        if control.id in controls:
            raise CatalogueError(f"{control.id}: duplicate control ID")
        controls[control.id] = control
    return controls


@cache
def load() -> dict[str, Control]:
    text = resources.files(__package__).joinpath("controls.yaml").read_text(encoding="utf-8")
    return parse(yaml.safe_load(text))


def validate_coverage(controls: dict[str, Control], checked: dict[str, list[str]], suite: str = "checks") -> list[str]:
    """Problems linking checks to the catalogue: ``checked`` maps control IDs to check names
    collected from ``suite`` (checks/ or scenarios/)."""
    problems = []
    for cid, names in sorted(checked.items()):
        if cid not in controls:
            problems.append(f"{', '.join(names)}: names unknown control {cid}")
        elif not controls[cid].active:
            problems.append(f"{', '.join(names)}: control {cid} is planned, not active")
    for cid, control in controls.items():
        if control.active and control.suite == suite and cid not in checked:
            problems.append(f"{cid}: active control without a check")
    return problems


@cache
def systems() -> dict[str, tuple[str, ...]]:
    """The parts each reference system requires (``systems.yaml``), by part name."""
    data = yaml.safe_load(resources.files(__package__).joinpath("systems.yaml").read_text(encoding="utf-8"))
    found = data.get("systems") if isinstance(data, dict) else None
    if not isinstance(found, dict) or set(found) != set(REFERENCES):
        raise CatalogueError(f"systems.yaml needs the parts of each of {', '.join(REFERENCES)}")
    return {name: tuple(str(p) for p in parts) for name, parts in found.items()}
