"""Canary files written the way the dashboard's files arrive (seed 002 steps 4-5): an object
uploaded to the content bucket, mirrored onto EFS by the sync function. Each write registers
its own cleanup (every version of the object, and the file) before it happens."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from urllib.parse import urlencode

from stackproof.drills.engine import Drill, StepFailed
from stackproof.drills.journal import TAG_KEY, Undo
from stackproof.targets.stack_handle import StackHandle

PREFIXES = ("images/", "themes/", "excel-data/")
ACCESS_POINT_ROOT = "panintelligence"  # the sync function's access point (RootDirectory /panintelligence)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fs_dir(fs_id: str) -> Path:
    from stackproof.emulator import efs_data

    return efs_data.file_system(fs_id)


def write_through_sync_function(drill: Drill, stack: StackHandle, key: str, fs_id: str) -> str:
    """Upload a random object under ``key``; the sync function mirrors it; its sha256."""
    from stackproof.emulator.lambda_local import deliver_pending

    s3 = stack.client("s3")
    bucket = stack.physical("ContentBucket")
    body = os.urandom(4096)
    drill.on_cleanup(
        f"canary object s3://{bucket}/{key} (every version)",
        Undo("s3.delete-object-versions", {"bucket": bucket, "key": key}, stack.region),
    )
    path = _fs_dir(fs_id) / ACCESS_POINT_ROOT / key
    file = {"file_system": fs_id, "path": f"{ACCESS_POINT_ROOT}/{key}"}
    drill.on_cleanup(f"canary file {key} on {fs_id}", Undo("emulator.delete-file", file))
    s3.put_object(Bucket=bucket, Key=key, Body=body, Tagging=urlencode({TAG_KEY: drill.run_id}))
    answers = deliver_pending(stack.client)
    if len(answers) != 1 or answers[0]["written"] != 1:
        raise StepFailed(f"the sync function did not mirror {key}: {answers}")
    if not path.is_file() or _sha(path.read_bytes()) != _sha(body):
        raise StepFailed(f"{key} on the file system differs from the object")
    drill.canary(key, _sha(body))
    return _sha(body)


def intact(fs_id: str, written: dict[str, str]) -> set[str]:
    """The canary files (key -> sha256) found on ``fs_id`` through the access point, unchanged."""
    root = _fs_dir(fs_id) / ACCESS_POINT_ROOT
    return {
        key for key, digest in written.items() if (root / key).is_file() and _sha((root / key).read_bytes()) == digest
    }
