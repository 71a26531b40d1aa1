"""The policy values controls compare against (``reference/policy.yaml``)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import yaml

from stackproof.support import paths


class PolicyError(Exception):
    pass


@cache
def load(path: Path | None = None) -> dict[str, Any]:
    source = path or paths.reference_dir() / "policy.yaml"
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{source}: {exc}") from None
    for section in ("scaling", "tls", "data", "lambda", "instance_vcpus", "quotas", "seed_quota_table"):
        if section not in (data or {}):
            raise PolicyError(f"{source}: missing section {section!r}")
    return dict(data)
