"""Lambda's ``FileSystemConfigs``, which LocalStack 4.13.1 drops (its CloudFormation provider
does not pass them, its Lambda service does not keep them), kept here and mapped to directories.

:mod:`.hooks` records them when a function is created and adds them to what GetFunction and
GetFunctionConfiguration answer, so a deployed model sees the mount. The local executor runs a
function with every environment value under a ``LocalMountPath`` rewritten to the access point's
directory: ``$STACKPROOF_EFS_ROOT/<file system ID>/<access point root>``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

_configs: dict[str, list[dict[str, str]]] = {}  # unqualified function ARN -> FileSystemConfigs
_lock = threading.Lock()


def unqualified(arn: str) -> str:
    parts = arn.split(":")
    return ":".join(parts[:7])


def record(function_arn: str, configs: Any) -> None:
    if not configs:
        return
    with _lock:
        _configs[unqualified(function_arn)] = [
            {"Arn": c["Arn"], "LocalMountPath": c["LocalMountPath"]} for c in configs
        ]


def configs_of(function_arn: str) -> list[dict[str, str]]:
    with _lock:
        return [dict(c) for c in _configs.get(unqualified(function_arn), [])]


def directory(access_point_arn: str) -> Path:
    """The directory an access point's root maps to, made on first use."""
    from moto.efs.models import efs_backends

    _, _, _, region, account, resource = access_point_arn.split(":", 5)
    point_id = resource.rsplit("/", 1)[-1]
    point = efs_backends[account][region].access_points[point_id]
    root = Path(os.environ.get("STACKPROOF_EFS_ROOT") or "/tmp/stackproof-efs")
    inner = str((point.root_directory or {}).get("Path", "/")).strip("/")
    found = root / point.file_system_id / inner
    found.mkdir(parents=True, exist_ok=True)
    return found


def mapped(function_arn: str, environment: dict[str, str]) -> dict[str, str]:
    """``environment`` with each value under a mount path rewritten to its directory."""
    result = dict(environment)
    for config in configs_of(function_arn):
        local = config["LocalMountPath"].rstrip("/")
        target = str(directory(config["Arn"]))
        for key, value in environment.items():
            if value == local or value.startswith(local + "/"):
                result[key] = target + value[len(local) :]
    return result
