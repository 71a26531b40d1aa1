"""The undo journal: what a drill must undo, on disk before the change is made, so that a drill
killed outright (SIGKILL, a lost machine) can be finished later with
``stackproof drill --cleanup RUN-ID``.

An undo is data, not a closure: a kind from :data:`KINDS` (delete this snapshot, put back that
vault policy, ...), its parameters and its region. The in-process cleanup and a later
``--cleanup`` run the same function for it. Every kind is idempotent: a resource that is already
gone counts as cleaned, so a journal can be finished twice, or after a cleanup that got halfway.

The file is rewritten whole, atomically (a temporary file, fsync, rename, fsync of the
directory), each time an undo is registered or finished: a reader sees the old journal or the
new one, never half of either. Secrets never go in: undos name resources, and what needs a
credential (the emulated database) reads it from where the stack keeps it.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

TAG_KEY = "stackproof:drill-run"  # on everything a drill creates where the API takes tags at creation
NAME_PREFIX = "stackproof-"  # names and creation tokens of what a drill creates
ENVIRONMENT = "STACKPROOF_DRILL_JOURNALS"  # where journals go when --journal-dir is not given
PENDING, DONE, FAILED = "pending", "done", "failed"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")

Client = Callable[[str], Any]  # a boto3 client factory bound to one region: client("rds")


class JournalError(Exception):
    """A journal that cannot be found or read: the message is for the user."""


@dataclass(frozen=True)
class Undo:
    """One thing to put back: ``kind`` names the function in :data:`KINDS`."""

    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    region: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown undo kind {self.kind!r} (known: {', '.join(sorted(KINDS))})")
        json.dumps(self.params)  # must survive the journal: a TypeError here, not after a crash


def default_directory() -> Path:
    """``$STACKPROOF_DRILL_JOURNALS``, else ``~/.stackproof/drills/``: in the home directory, not
    the reports directory, so ``--cleanup`` finds a journal whatever directory it is run from."""
    configured = os.environ.get(ENVIRONMENT)
    return Path(configured) if configured else Path.home() / ".stackproof" / "drills"


def new_run_id() -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{os.urandom(4).hex()}"


def tags(run_id: str) -> list[dict[str, str]]:
    """The run's tag in the Key/Value list form most creating calls take."""
    return [{"Key": TAG_KEY, "Value": run_id}]


# --------------------------------------------------------------------------- the journal file


@dataclass
class Entry:
    what: str
    undo: Undo
    status: str = PENDING
    detail: str = ""


@dataclass
class Journal:
    """One drill's journal: a header naming where it ran, and its undos in registration order."""

    path: Path
    run_id: str
    drill: str
    context: dict[str, Any]  # account, region, stack, endpoint_url (an emulator's), started
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def create(cls, directory: Path, run_id: str, drill: str, context: dict[str, Any]) -> Journal:
        if not _RUN_ID.match(run_id):
            raise ValueError(f"run ID {run_id!r} is not a plain name")
        directory.mkdir(parents=True, exist_ok=True)
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        journal = cls(directory / f"{run_id}.json", run_id, drill, {**context, "started": started, "pid": os.getpid()})
        journal.save()
        return journal

    def add(self, what: str, undo: Undo) -> int:
        self.entries.append(Entry(what, undo))
        self.save()
        return len(self.entries) - 1

    def amend(self, index: int, **params: Any) -> None:
        """More of what an undo needs, learnt from the creating call (a job ID)."""
        entry = self.entries[index]
        entry.undo = Undo(entry.undo.kind, {**entry.undo.params, **params}, entry.undo.region)
        self.save()

    def mark(self, index: int, status: str, detail: str = "") -> None:
        self.entries[index].status, self.entries[index].detail = status, detail
        self.save()

    def pending(self) -> list[int]:
        """Indexes of undos still to run, newest first."""
        return [i for i in reversed(range(len(self.entries))) if self.entries[i].status != DONE]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "drill": self.drill,
            "context": self.context,
            "undos": [
                {
                    "what": e.what,
                    **asdict(e.undo),
                    "module": KINDS[e.undo.kind].__module__,  # where the kind is registered, for --cleanup
                    "status": e.status,
                    "detail": e.detail,
                }
                for e in self.entries
            ],
        }

    def save(self) -> None:
        _write_atomically(self.path, json.dumps(self.as_dict(), indent=2, sort_keys=True) + "\n")

    def finish(self) -> None:
        """Every undo done: the journal has nothing left to finish."""
        if not self.pending():
            self.path.unlink(missing_ok=True)


def _write_atomically(path: Path, text: str) -> None:
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def load(directory: Path, run_id: str) -> Journal:
    if not _RUN_ID.match(run_id):
        raise JournalError(f"{run_id!r} is not a drill run ID")
    path = directory / f"{run_id}.json"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.json"))) if directory.is_dir() else ""
        hint = f" (unfinished there: {known})" if known else " (none unfinished there)"
        raise JournalError(f"no journal for drill run {run_id} in {directory}{hint}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        for undo in data["undos"]:
            _provide(str(undo["kind"]), str(undo.get("module", "")))
        entries = [
            Entry(u["what"], Undo(u["kind"], dict(u["params"]), u.get("region")), u["status"], u.get("detail", ""))
            for u in data["undos"]
        ]
        return Journal(path, data["run_id"], data["drill"], dict(data["context"]), entries)
    except (OSError, ValueError, KeyError, TypeError, ImportError) as exc:
        raise JournalError(f"{path}: not a drill journal ({type(exc).__name__}: {exc})") from None


def _provide(name: str, module: str) -> None:
    """Import the stackproof module that registers kind ``name`` (a drill's own kinds live
    beside it), so a fresh ``--cleanup`` process knows every kind the drill used."""
    if name not in KINDS and module.startswith("stackproof."):
        importlib.import_module(module)


# --------------------------------------------------------------------------- the undo kinds

KINDS: dict[str, Callable[[Client, dict[str, Any]], None]] = {}


def kind(name: str) -> Callable[[Callable[[Client, dict[str, Any]], None]], Callable[[Client, dict[str, Any]], None]]:
    """Register an undo kind; its function must treat "already gone" as done."""

    def register(function: Callable[[Client, dict[str, Any]], None]) -> Callable[[Client, dict[str, Any]], None]:
        KINDS[name] = function
        return function

    return register


def run_undo(undo: Undo, client: Callable[..., Any] | None) -> None:
    """Run one undo with clients of its region (``client(service, region)``)."""
    bound: Client = (lambda service: client(service, undo.region)) if client else _no_client
    KINDS[undo.kind](bound, undo.params)


def _no_client(service: str) -> Any:
    raise RuntimeError(f"this undo needs an AWS client ({service}) and the drill has none")


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def _gone_ok(*codes: str) -> Iterator[None]:
    """A resource already gone (any of these error codes) is cleaned."""
    try:
        yield
    except Exception as exc:
        if _code(exc) not in codes:
            raise


@kind("rds.delete-db-snapshot")
def _delete_db_snapshot(client: Client, p: dict[str, Any]) -> None:
    with _gone_ok("DBSnapshotNotFound", "DBSnapshotNotFoundFault"):
        client("rds").delete_db_snapshot(DBSnapshotIdentifier=p["snapshot"])


@kind("rds.delete-db-instance")
def _delete_db_instance(client: Client, p: dict[str, Any]) -> None:
    rds = client("rds")
    with _gone_ok("DBInstanceNotFound", "DBInstanceNotFoundFault"):
        rds.modify_db_instance(DBInstanceIdentifier=p["instance"], DeletionProtection=False, ApplyImmediately=True)
        rds.delete_db_instance(DBInstanceIdentifier=p["instance"], SkipFinalSnapshot=True)


@kind("rds.protect-db-instance")
def _protect_db_instance(client: Client, p: dict[str, Any]) -> None:
    # Gone: the update replaced it (keeping a final snapshot) and the template protects the new one.
    with _gone_ok("DBInstanceNotFound", "DBInstanceNotFoundFault"):
        client("rds").modify_db_instance(
            DBInstanceIdentifier=p["instance"], DeletionProtection=True, ApplyImmediately=True
        )


@kind("autoscaling.set-desired-capacity")
def _set_desired_capacity(client: Client, p: dict[str, Any]) -> None:
    client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=p["group"], DesiredCapacity=int(p["capacity"]), HonorCooldown=False
    )


@kind("cloudformation.update-parameters")
def _update_parameters(client: Client, p: dict[str, Any]) -> None:
    """Put stack parameters back to the values they had (None: the parameter's default),
    keeping the deployed template and every other parameter's deployed value."""
    from stackproof.targets import deploy

    try:
        deploy.update_parameters(client("cloudformation"), p["stack"], p["changes"])
    except Exception as exc:
        if "No updates are to be performed" not in str(exc):  # already as it was
            raise


@kind("s3.delete-object-versions")
def _delete_object_versions(client: Client, p: dict[str, Any]) -> None:
    s3 = client("s3")
    with _gone_ok("NoSuchBucket"):
        listed = s3.list_object_versions(Bucket=p["bucket"], Prefix=p["key"])
        for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            if entry["Key"] == p["key"]:
                s3.delete_object(Bucket=p["bucket"], Key=p["key"], VersionId=entry["VersionId"])


def _vault_policy(backup: Any, vault: str) -> Any:
    try:
        return json.loads(backup.get_backup_vault_access_policy(BackupVaultName=vault)["Policy"])
    except Exception as exc:
        if _code(exc) == "ResourceNotFoundException":
            return None
        raise


@kind("backup.put-vault-policy")
def _put_vault_policy(client: Client, p: dict[str, Any]) -> None:
    backup = client("backup")
    if _vault_policy(backup, p["vault"]) != p["policy"]:
        backup.put_backup_vault_access_policy(BackupVaultName=p["vault"], Policy=json.dumps(p["policy"]))


@kind("backup.delete-recovery-points")
def _delete_recovery_points(client: Client, p: dict[str, Any]) -> None:
    """The run's recovery points in the vault: the one ARN known, or every point the backup job
    (``job``) made. The vault denies DeleteRecoveryPoint on purpose; that is lifted for the
    call and put back."""
    from stackproof.drills.vault_policy import lift_statement_action

    backup = client("backup")
    arns = [p["arn"]] if p.get("arn") else []
    if not arns and p.get("job"):
        with _gone_ok("ResourceNotFoundException"):
            found = backup.describe_backup_job(BackupJobId=p["job"]).get("RecoveryPointArn")
            arns = [found] if found else []
    listed = backup.list_recovery_points_by_backup_vault(BackupVaultName=p["vault"])["RecoveryPoints"]
    present = [a for a in arns if any(r["RecoveryPointArn"] == a for r in listed)]
    if not present:
        return
    policy = _vault_policy(backup, p["vault"])
    lifted = lift_statement_action(policy, "backup:DeleteRecoveryPoint") if policy else None
    if lifted is not None:
        backup.put_backup_vault_access_policy(BackupVaultName=p["vault"], Policy=json.dumps(lifted))
    try:
        for arn in present:
            with _gone_ok("ResourceNotFoundException"):
                backup.delete_recovery_point(BackupVaultName=p["vault"], RecoveryPointArn=arn)
    finally:
        if lifted is not None:
            backup.put_backup_vault_access_policy(BackupVaultName=p["vault"], Policy=json.dumps(policy))


@kind("efs.delete-file-system")
def _delete_file_system(client: Client, p: dict[str, Any]) -> None:
    """A file system by ID, or the one a restore job makes (its creation token): the job cannot
    be stopped, so this waits for it to end (``job``, when known) and removes what it made."""
    efs = client("efs")
    if p.get("job"):
        backup = client("backup")
        deadline = time.monotonic() + float(p.get("wait", 600))
        while True:
            job = backup.describe_restore_job(RestoreJobId=p["job"])
            if job["Status"] in ("COMPLETED", "FAILED", "ABORTED"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"restore job {p['job']} is still {job['Status']}; finish the cleanup when it ends")
            time.sleep(1)
    if p.get("file_system"):
        wanted = [p["file_system"]]
    else:
        listed = efs.describe_file_systems()["FileSystems"]
        wanted = [f["FileSystemId"] for f in listed if f.get("CreationToken") == p["creation_token"]]
    for fs_id in wanted:
        with _gone_ok("FileSystemNotFound"):
            for target in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
                efs.delete_mount_target(MountTargetId=target["MountTargetId"])
            for point in efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]:
                efs.delete_access_point(AccessPointId=point["AccessPointId"])
            efs.delete_file_system(FileSystemId=fs_id)


# The emulator's data plane lives in the process that runs the emulator: after a crash there it
# is gone with the emulator, and these find nothing to do.


@kind("emulator.delete-file")
def _delete_emulated_file(client: Client, p: dict[str, Any]) -> None:
    from stackproof.emulator import efs_data

    if p["file_system"] in efs_data.existing():
        (efs_data.file_system(p["file_system"]) / p["path"]).unlink(missing_ok=True)


@kind("emulator.drop-table")
def _drop_emulated_table(client: Client, p: dict[str, Any]) -> None:
    from stackproof.emulator import mariadb_data

    if p["instance"] not in mariadb_data.running():  # the instance is gone with its data
        return
    secret = json.loads(client("secretsmanager").get_secret_value(SecretId=p["secret"])["SecretString"])
    server = mariadb_data.server_for(p["instance"], secret["username"], secret["password"])
    with server.connect(secret["username"], secret["password"]).cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS `{p['database']}`.`{p['table']}`")


@kind("emulator.restore-zone")
def _restore_emulated_zone(client: Client, p: dict[str, Any]) -> None:
    from stackproof.emulator import az_faults

    az_faults.restore(p["zone"])
