"""Where the reference deployment lives, relative to the project checkout."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The checkout root: ``STACKPROOF_ROOT`` if set, else the nearest parent with ``reference/``."""
    configured = os.environ.get("STACKPROOF_ROOT")
    if configured:
        return Path(configured).resolve()
    for candidate in [Path.cwd(), *Path.cwd().parents]:
        if (candidate / "reference" / "cloudformation").is_dir():
            return candidate
    here = Path(__file__).resolve()
    for candidate in here.parents:
        if (candidate / "reference" / "cloudformation").is_dir():
            return candidate
    raise FileNotFoundError("cannot find the stackproof checkout (no reference/cloudformation/); set STACKPROOF_ROOT")


def reference_dir() -> Path:
    return project_root() / "reference"


def dashboard_template() -> Path:
    return reference_dir() / "cloudformation" / "dashboard.yaml"


def sync_function_dir() -> Path:
    return reference_dir() / "lambda" / "s3_to_efs"


def build_dir() -> Path:
    return project_root() / "build"


def dashboard_params() -> Path:
    """Example parameters for the reference (the values a run needs that have no default)."""
    return reference_dir() / "cloudformation" / "dashboard.params.json"


def checks_dir() -> Path:
    return project_root() / "checks"


REFERENCE_NAMES = ("dashboard", "analytics")


def reference_template(name: str) -> Path:
    """``reference/cloudformation/<name>.yaml`` of a reference system (``--reference``)."""
    if name not in REFERENCE_NAMES:
        raise ValueError(f"unknown reference {name!r} (choose {', '.join(REFERENCE_NAMES)})")
    return reference_dir() / "cloudformation" / f"{name}.yaml"


def reference_params(name: str) -> Path:
    return reference_template(name).with_name(f"{name}.params.json")
