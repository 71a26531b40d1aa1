"""AWS Backup jobs, recovery points, restores and vault access policies for moto, which has
none of them: the API calls the restore drills make, answered with AWS's status lifecycle.

- ``StartBackupJob`` on an EFS file system copies its directory (the data plane of
  :mod:`stackproof.emulator.efs_data`) at once: the recovery point is the state at that moment.
  The job then moves CREATED -> RUNNING -> COMPLETED, one state per ``DescribeBackupJob``, and
  the recovery point appears (COMPLETED) when the job completes.
- ``StartRestoreJob`` of an EFS recovery point creates the new file system (``newFileSystem``)
  or uses the given one, and puts the data in ``aws-backup-restore_<datetime>`` off its root,
  as AWS Backup does for full and item-level restores alike (no destructive restores). Item
  paths are relative to the file system root, start with ``/``, are case-sensitive and may not
  hold wildcards or regular expressions; a missing item fails the job. PENDING -> RUNNING ->
  COMPLETED per ``DescribeRestoreJob``.
- A vault access policy that denies ``backup:StartRestoreJob`` (or ``backup:DeleteRecoveryPoint``)
  to everyone refuses that call with AccessDeniedException, as the seed's runbook warns.
"""

from __future__ import annotations

import datetime
import fnmatch
import json
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.emulator import efs_data

BACKUP_STATES = ("CREATED", "RUNNING", "COMPLETED")
RESTORE_STATES = ("PENDING", "RUNNING", "COMPLETED")
WILDCARDS = set("*?[]{}()|^$+\\")


@dataclass
class RecoveryPoint:
    arn: str
    vault: str
    resource_arn: str
    resource_type: str
    created: datetime.datetime
    store: Path
    file_system_id: str
    status: str = "CREATING"


@dataclass
class Job:
    id: str
    kind: str  # "backup" or "restore"
    states: tuple[str, ...]
    detail: dict[str, Any] = field(default_factory=dict)
    step: int = 0
    failure: str | None = None

    @property
    def status(self) -> str:
        return "FAILED" if self.failure and self.step >= 1 else self.states[self.step]

    def advance(self) -> None:
        if self.step < len(self.states) - 1:
            self.step += 1


@dataclass
class Account:
    jobs: dict[str, Job] = field(default_factory=dict)
    points: dict[str, RecoveryPoint] = field(default_factory=dict)


_accounts: dict[tuple[str, str], Account] = {}
_store: Path | None = None


def account(account_id: str, region: str) -> Account:
    return _accounts.setdefault((account_id, region), Account())


def store() -> Path:
    global _store
    if _store is None:
        _store = Path(tempfile.mkdtemp(prefix="stackproof-backup-"))
    return _store


def reset() -> None:
    global _store
    _accounts.clear()
    if _store is not None:
        shutil.rmtree(_store, ignore_errors=True)
        _store = None


class BackupError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def denied(policy: Any, action: str) -> bool:
    """Whether a vault policy denies ``action`` to everyone."""
    if isinstance(policy, str):
        policy = json.loads(policy)
    for statement in (policy or {}).get("Statement", []):
        if statement.get("Effect") != "Deny":
            continue
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if any(fnmatch.fnmatchcase(action, pattern) for pattern in actions):
            return True
    return False


def file_system_id(resource_arn: str) -> str:
    if ":elasticfilesystem:" not in resource_arn or "file-system/" not in resource_arn:
        raise BackupError("InvalidParameterValueException", f"not an EFS file system ARN: {resource_arn}")
    return resource_arn.rsplit("/", 1)[1]


def start_backup_job(account_id: str, region: str, vault: str, resource_arn: str, efs_exists: bool) -> Job:
    fs_id = file_system_id(resource_arn)
    if not efs_exists:
        raise BackupError("ResourceNotFoundException", f"file system {fs_id} does not exist", 404)
    state = account(account_id, region)
    job = Job(str(uuid.uuid4()).upper(), "backup", BACKUP_STATES)
    point_id = str(uuid.uuid4()).upper()
    arn = f"arn:aws:backup:{region}:{account_id}:recovery-point:{point_id}"
    copy = store() / point_id
    shutil.copytree(efs_data.file_system(fs_id), copy, symlinks=True)
    created = datetime.datetime.now(datetime.UTC)
    state.points[arn] = RecoveryPoint(arn, vault, resource_arn, "EFS", created, copy, fs_id)
    job.detail = {"vault": vault, "resource_arn": resource_arn, "recovery_point": arn, "created": created}
    state.jobs[job.id] = job
    return job


def _described(account_id: str, region: str, job_id: str, kind: str) -> Job:
    """The job, one state further along its lifecycle (each Describe call advances it)."""
    job = account(account_id, region).jobs.get(job_id)
    if job is None or job.kind != kind:
        raise BackupError("ResourceNotFoundException", f"no {kind} job {job_id}", 404)
    job.advance()
    return job


def describe_backup_job(account_id: str, region: str, job_id: str) -> Job:
    job = _described(account_id, region, job_id, "backup")
    if job.status == "COMPLETED":
        account(account_id, region).points[job.detail["recovery_point"]].status = "COMPLETED"
    return job


def recovery_points(
    account_id: str, region: str, vault: str | None = None, resource_arn: str | None = None
) -> list[RecoveryPoint]:
    return [
        p
        for p in account(account_id, region).points.values()
        if p.status == "COMPLETED" and vault in (None, p.vault) and resource_arn in (None, p.resource_arn)
    ]


def point(account_id: str, region: str, arn: str) -> RecoveryPoint:
    found = account(account_id, region).points.get(arn)
    if found is None:
        raise BackupError("ResourceNotFoundException", f"no recovery point {arn}", 404)
    return found


def delete_recovery_point(account_id: str, region: str, vault: str, arn: str, policy: Any) -> None:
    if denied(policy, "backup:DeleteRecoveryPoint"):
        raise BackupError(
            "AccessDeniedException", f"the access policy of vault {vault} denies backup:DeleteRecoveryPoint", 403
        )
    found = point(account_id, region, arn)
    shutil.rmtree(found.store, ignore_errors=True)
    del account(account_id, region).points[arn]


def item_paths(metadata: dict[str, str]) -> list[str]:
    raw = metadata.get("ItemsToRestore")
    if not raw:
        return []
    items = json.loads(raw)
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise BackupError("InvalidParameterValueException", "ItemsToRestore must be a JSON list of paths")
    for item in items:
        if not item.startswith("/") or ".." in item.split("/"):
            raise BackupError(
                "InvalidParameterValueException", f"item path {item!r} is not relative to the mount point (/...)"
            )
        if WILDCARDS & set(item):
            raise BackupError(
                "InvalidParameterValueException", f"item path {item!r} holds wildcard or regex characters"
            )
    return items


def start_restore_job(
    account_id: str,
    region: str,
    recovery_point_arn: str,
    metadata: dict[str, str],
    policy: Any,
    vault: str,
    create_file_system: Any,
    file_system_exists: Any,
) -> Job:
    """``create_file_system(metadata) -> fs_id`` and ``file_system_exists(fs_id)`` come from the
    EFS backend of the same account."""
    if denied(policy, "backup:StartRestoreJob"):
        raise BackupError(
            "AccessDeniedException", f"the access policy of vault {vault} denies backup:StartRestoreJob", 403
        )
    source = point(account_id, region, recovery_point_arn)
    items = item_paths(metadata)
    if len(json.dumps(metadata)) > 200_000:
        raise BackupError("InvalidParameterValueException", "restore metadata exceeds 200 KB")
    if metadata.get("newFileSystem", "true").lower() == "true":
        target = create_file_system(metadata)
    else:
        target = metadata.get("file-system-id", "")
        if not file_system_exists(target):
            raise BackupError("ResourceNotFoundException", f"file system {target} does not exist", 404)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H-%M-%S-%fZ")
    destination = efs_data.file_system(target) / f"aws-backup-restore_{stamp}"
    job = Job(str(uuid.uuid4()).upper(), "restore", RESTORE_STATES)
    job.detail = {"recovery_point": recovery_point_arn, "file_system_id": target, "directory": destination.name}
    if not items:
        shutil.copytree(source.store, destination, symlinks=True)
    else:
        destination.mkdir(parents=True)
        for item in items:
            origin = source.store / item.lstrip("/")
            if not origin.exists():
                job.failure = f"item {item} is not in the recovery point (paths are case-sensitive)"
                break
            target_path = destination / item.lstrip("/")
            target_path.parent.mkdir(parents=True, exist_ok=True)
            if origin.is_dir():
                shutil.copytree(origin, target_path, symlinks=True)
            else:
                shutil.copy2(origin, target_path)
    account(account_id, region).jobs[job.id] = job
    return job


def describe_restore_job(account_id: str, region: str, job_id: str) -> Job:
    return _described(account_id, region, job_id, "restore")
