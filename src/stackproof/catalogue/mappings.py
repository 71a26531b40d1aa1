"""Framework mappings: which requirements of an external framework (AWS Foundational Security
Best Practices, CIS AWS Foundations) each control proves, so an auditor can ask "what of FSBP
does this cover?" and see every result under the requirements it bears on.

One data file per framework in ``catalogue/frameworks/`` (as Prowler keeps
``compliance/aws/*.json`` apart from its checks), validated when it is loaded: a requirement
names the framework's own ID, a short description, and the controls that prove it — none when
stackproof does not cover it, so the coverage table shows the gaps too. An unknown control, a
repeated requirement or a missing field stops the load with the file and requirement named.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml

from stackproof.catalogue import CatalogueError, load

FILE_KEYS = frozenset({"framework", "name", "version", "source", "requirements"})
REQUIREMENT_KEYS = frozenset({"id", "title", "controls", "note"})


@dataclass(frozen=True)
class Requirement:
    id: str
    title: str
    controls: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class Framework:
    id: str
    name: str
    version: str
    source: str
    requirements: tuple[Requirement, ...]

    def of_control(self, control: str) -> list[str]:
        """The requirement IDs ``control`` proves (all or part of)."""
        return [r.id for r in self.requirements if control in r.controls]


def parse(data: Any, where: str, controls: Mapping[str, Any]) -> Framework:
    """One framework file's data, checked against the catalogue's controls."""
    if not isinstance(data, dict):
        raise CatalogueError(f"{where}: a framework file is a mapping with {', '.join(sorted(FILE_KEYS))}")
    missing = sorted(FILE_KEYS - data.keys())
    unknown = sorted(set(data) - FILE_KEYS)
    if missing or unknown:
        raise CatalogueError(f"{where}: missing {missing or 'nothing'}, unknown keys {unknown or 'none'}")
    for key in ("framework", "name", "version", "source"):
        if not isinstance(data[key], str) or not data[key].strip():
            raise CatalogueError(f"{where}: {key} must be a non-empty string")
    if not isinstance(data["requirements"], list) or not data["requirements"]:
        raise CatalogueError(f"{where}: requirements must be a non-empty list")
    seen: set[str] = set()
    requirements = []
    for number, item in enumerate(data["requirements"], 1):
        label = f"{where}: requirement {number}"
        if not isinstance(item, dict):
            raise CatalogueError(f"{label}: a mapping with id, title and controls")
        rid = item.get("id")
        if not isinstance(rid, str) or not rid.strip():
            raise CatalogueError(f"{label}: id must be a non-empty string")
        label = f"{where}: requirement {rid}"
        extra = sorted(set(item) - REQUIREMENT_KEYS)
        if extra:
            raise CatalogueError(f"{label}: unknown keys {extra}")
        if rid in seen:
            raise CatalogueError(f"{label}: listed twice")
        seen.add(rid)
        title, mapped, note = item.get("title"), item.get("controls"), item.get("note", "")
        if not isinstance(title, str) or not title.strip():
            raise CatalogueError(f"{label}: title must be a non-empty string")
        if not isinstance(mapped, list) or not all(isinstance(c, str) for c in mapped):
            raise CatalogueError(f"{label}: controls must be a list of control IDs ([] where none covers it)")
        if not isinstance(note, str):
            raise CatalogueError(f"{label}: note must be a string")
        strangers = [c for c in mapped if c not in controls]
        if strangers:
            raise CatalogueError(f"{label}: no such control {', '.join(strangers)}")
        if len(set(mapped)) != len(mapped):
            raise CatalogueError(f"{label}: a control is listed twice")
        requirements.append(Requirement(rid, title.strip(), tuple(mapped), note.strip()))
    return Framework(data["framework"], data["name"], data["version"], data["source"], tuple(requirements))


@cache
def frameworks() -> dict[str, Framework]:
    """Every framework that ships, by ID (the file's stem, which its ``framework`` must repeat)."""
    controls = load()
    found: dict[str, Framework] = {}
    directory = resources.files(__package__).joinpath("frameworks")
    for entry in sorted(directory.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".yaml"):
            continue
        where = f"frameworks/{entry.name}"
        try:
            data = yaml.safe_load(entry.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise CatalogueError(f"{where}: not YAML: {exc}") from None
        framework = parse(data, where, controls)
        if framework.id != entry.name.removesuffix(".yaml"):
            raise CatalogueError(f"{where}: framework {framework.id!r} must be the file's name")
        found[framework.id] = framework
    return found


def of_control(control: str) -> dict[str, list[str]]:
    """Per framework, the requirements ``control`` bears on (frameworks it maps to nothing are left out)."""
    return {f.id: ids for f in frameworks().values() if (ids := f.of_control(control))}
