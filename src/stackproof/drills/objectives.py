"""Recovery objectives and live step timeouts, kept as data in ``reference/resilience.yaml``."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import yaml

from stackproof.support import paths


@dataclass(frozen=True)
class Objective:
    disruption: str
    rto_seconds: float
    rpo_seconds: float


@cache
def load() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((paths.reference_dir() / "resilience.yaml").read_text(encoding="utf-8"))
    for name, entry in data["objectives"].items():
        for key in ("rto_seconds", "rpo_seconds", "drill"):
            if key not in entry:
                raise ValueError(f"reference/resilience.yaml: objective {name} lacks {key}")
    return data


def for_drill(control: str) -> Objective:
    for name, entry in load()["objectives"].items():
        if entry["drill"] == control:
            return Objective(name, float(entry["rto_seconds"]), float(entry["rpo_seconds"]))
    raise KeyError(f"reference/resilience.yaml has no objective for {control}")


def live_timeouts() -> dict[str, float]:
    return {k: float(v) for k, v in load()["live_timeouts"].items()}
