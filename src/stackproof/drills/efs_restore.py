"""RES-02: restore the file system from AWS Backup, following seed 002 ("Restoring the AWS
EFS", steps 1-13): canary files written the way the dashboard's files arrive (objects in the
content bucket, mirrored to EFS by the sync function); a recovery point; the disaster; the
vault's deny of ``backup:StartRestoreJob`` lifted if present (and put back); a full restore and
an item-level restore to new file systems; the restored data moved out of its
``aws-backup-restore_<timestamp>`` directory; ``EfsFileSystemId`` updated; the instances rolled;
the files verified by checksum.

The data plane (reading and writing files on the file system) is the emulator's directories
when ``stack.emulated``. On a live account (and on the emulator through the aws target) it is
the application instances' EFS mount, reached through SSM Run Command
(:mod:`stackproof.drills.instance_data`): the canary files are written there directly; the
disaster removes only the drill's own canary files (a drill may not destroy the dashboard's
data on the strength of a restore it has yet to prove); the restored data is moved out of
``aws-backup-restore_<timestamp>`` once the rolled instances mount the restored file system; the
files are verified by checksum on an instance. The item-level restore's file system is mounted
by no instance, so on a live account its job is awaited but its contents are not inspected
(``drill.data["item_level"]`` says so).
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

from stackproof.drills import instance_data
from stackproof.drills.canaries import ACCESS_POINT_ROOT, PREFIXES, _fs_dir, intact, write_through_sync_function
from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.fleet import roll_instances_steps
from stackproof.drills.journal import NAME_PREFIX, TAG_KEY, Undo
from stackproof.drills.vault_policy import lift_statement_action
from stackproof.targets.stack_handle import StackHandle


def _restore_dir(fs_id: str) -> Path:
    found = sorted(p for p in _fs_dir(fs_id).iterdir() if p.name.startswith("aws-backup-restore_"))
    if len(found) != 1:
        raise StepFailed(f"expected one aws-backup-restore_<timestamp> directory on {fs_id}, found {len(found)}")
    return found[0]


def efs_restore_drill(stack: StackHandle, progress: Any = None, timeouts: dict[str, float] | None = None) -> Drill:
    limits = {"backup": 60.0, "restore": 60.0, "update": 120.0, "instances": 120.0, **(timeouts or {})}
    backup, efs = stack.client("backup"), stack.client("efs")
    resources = stack.resources()
    vault = resources["BackupVault"]
    original_fs = stack.outputs()["FileSystemId"]
    region, account = stack.region, stack.account_id
    fs_arn = f"arn:aws:elasticfilesystem:{region}:{account}:file-system/{original_fs}"
    role_arn = stack.client("iam").get_role(RoleName=resources["BackupRole"])["Role"]["Arn"]
    key_arn = f"arn:aws:kms:{region}:{account}:key/{resources['DataKey']}"
    run = uuid.uuid4().hex[:8]
    state: dict[str, Any] = {"written": {}}
    fleet = None if stack.emulated else instance_data.Fleet.of(stack)

    def write_canary(drill: Drill, *keys: str) -> None:
        if fleet is None:
            for key in keys:
                state["written"][key] = write_through_sync_function(drill, stack, key, original_fs)
            return
        where = {"group": fleet.group, "keys": list(keys)}
        what = f"canary files {', '.join(keys)} on the instances' mount"
        instance_data.on_cleanup(drill, what, "instance.delete-canary-files", where, region)
        written = instance_data.write_files(fleet, keys)
        for key in keys:
            state["written"][key] = written[key]
            drill.canary(key, written[key])

    def write_canaries(drill: Drill) -> None:
        write_canary(drill, *(f"{prefix}stackproof-canary-{run}.bin" for prefix in PREFIXES))

    def start_backup(drill: Drill) -> None:
        undo = drill.on_cleanup(
            f"the recovery point of the drill's backup job in {vault}",
            Undo("backup.delete-recovery-points", {"vault": vault}, region),
        )
        job = backup.start_backup_job(
            BackupVaultName=vault,
            ResourceArn=fs_arn,
            IamRoleArn=role_arn,
            RecoveryPointTags={TAG_KEY: drill.run_id},
        )
        drill.amend(undo, job=job["BackupJobId"], arn=job["RecoveryPointArn"])
        state["job"], state["point"] = job["BackupJobId"], job["RecoveryPointArn"]

    def backup_done(drill: Drill) -> bool:
        status = backup.describe_backup_job(BackupJobId=state["job"])["State"]
        if status in ("FAILED", "ABORTED", "EXPIRED"):
            raise StepFailed(f"backup job {state['job']} {status}")
        return bool(status == "COMPLETED")

    def write_late(drill: Drill) -> None:
        write_canary(drill, f"images/stackproof-canary-{run}-after-backup.bin")

    def disaster(drill: Drill) -> None:
        if fleet is not None:
            instance_data.delete_files(fleet, state["written"])
        else:
            shutil.rmtree(_fs_dir(original_fs) / ACCESS_POINT_ROOT)

    def lift_deny(drill: Drill) -> None:
        try:
            policy = json.loads(backup.get_backup_vault_access_policy(BackupVaultName=vault)["Policy"])
        except backup.exceptions.ResourceNotFoundException:
            return
        lifted = lift_statement_action(policy, "backup:StartRestoreJob")
        if lifted is None:
            return
        drill.on_cleanup(
            f"the access policy of vault {vault} (deny of backup:StartRestoreJob put back)",
            Undo("backup.put-vault-policy", {"vault": vault, "policy": policy}, region),
        )
        if lifted.get("Statement"):
            backup.put_backup_vault_access_policy(BackupVaultName=vault, Policy=json.dumps(lifted))
        else:
            backup.delete_backup_vault_access_policy(BackupVaultName=vault)
        drill.data["lifted_deny"] = True

    def restore(label: str, items: list[str] | None) -> Any:
        def action(drill: Drill) -> None:
            metadata = {
                "file-system-id": original_fs,
                "newFileSystem": "true",
                "Encrypted": "true",
                "KmsKeyId": key_arn,
                "PerformanceMode": "generalPurpose",
                "CreationToken": f"{NAME_PREFIX}{label}-{run}",
            }
            if items:
                metadata["ItemsToRestore"] = json.dumps(items)
            # A restore job cannot be stopped (nor tagged): the undo waits for it and removes the
            # file system it made, found by its creation token.
            undo = drill.on_cleanup(
                f"the file system of the {label} restore",
                Undo("efs.delete-file-system", {"creation_token": metadata["CreationToken"]}, region),
            )
            job = backup.start_restore_job(
                RecoveryPointArn=state["point"], Metadata=metadata, IamRoleArn=role_arn, ResourceType="EFS"
            )
            drill.amend(undo, job=job["RestoreJobId"])
            state[f"{label}_job"] = job["RestoreJobId"]

        def done(drill: Drill) -> bool:
            job = backup.describe_restore_job(RestoreJobId=state[f"{label}_job"])
            if job["Status"] in ("FAILED", "ABORTED"):
                raise StepFailed(f"restore job {job['RestoreJobId']} {job['Status']}: {job.get('StatusMessage', '')}")
            if job["Status"] != "COMPLETED":
                return False
            state[f"{label}_fs"] = job["CreatedResourceArn"].rsplit("/", 1)[1]
            return True

        return action, done

    full_action, full_done = restore("full", None)
    first_key = f"{PREFIXES[0]}stackproof-canary-{run}.bin"
    item_action, item_done = restore("item", [f"/{ACCESS_POINT_ROOT}/{first_key}"])

    def item_check(drill: Drill) -> bool:
        if not item_done(drill):
            return False
        if fleet is not None:
            drill.data["item_level"] = "job completed; contents not inspected (no instance mounts that file system)"
            return True
        restored = _restore_dir(state["item_fs"])
        found = {p.relative_to(restored).as_posix() for p in restored.rglob("*") if p.is_file()}
        if found != {f"{ACCESS_POINT_ROOT}/{first_key}"}:
            raise StepFailed(f"item-level restore brought back {sorted(found)}")
        return True

    def move_out(drill: Drill) -> None:
        if fleet is not None:
            drill.data["moved_out"] = instance_data.move_out_of_restore_directory(fleet)
            return
        restored = _restore_dir(state["full_fs"])
        root = _fs_dir(state["full_fs"])
        for child in restored.iterdir():
            child.rename(root / child.name)
        restored.rmdir()

    def repoint(drill: Drill) -> None:
        back = {"stack": stack.stack_name, "changes": {"EfsFileSystemId": original_fs}}
        drill.on_cleanup(
            f"the stack back on file system {original_fs}", Undo("cloudformation.update-parameters", back, region)
        )
        stack.update({"EfsFileSystemId": state["full_fs"]})

    def repointed(drill: Drill) -> bool:
        targets = efs.describe_mount_targets(FileSystemId=state["full_fs"])["MountTargets"]
        wanted = {stack.physical("PrivateSubnetA"), stack.physical("PrivateSubnetB")}
        points = efs.describe_access_points(FileSystemId=state["full_fs"])["AccessPoints"]
        return {t["SubnetId"] for t in targets} == wanted and len(points) == 1

    def verify(drill: Drill) -> bool:
        if fleet is not None:  # on an instance that mounts the restored file system
            found = instance_data.file_checksums(fleet, state["written"])
            kept = {k for k, digest in found.items() if digest == state["written"][k]}
        else:
            found = {}
            kept = intact(state["full_fs"], state["written"])
        before_backup = {k for k in state["written"] if "after-backup" not in k}
        if kept != before_backup:
            changed = sorted(k for k in found if k not in kept)
            raise StepFailed(
                f"restored files: {sorted(kept)}; expected exactly {sorted(before_backup)}"
                + (f"; changed (sha256 differs): {changed}" if changed else "")
            )
        drill.survived(kept)
        return True

    # On the instances the restored data can only be moved once they mount the new file system.
    moving = Step("move the data out of aws-backup-restore_<timestamp>", move_out)
    return Drill(
        "RES-02 EFS restore",
        [
            Step(
                "write canary files through the sync function"
                if fleet is None
                else "write canary files on the instances' EFS mount",
                write_canaries,
            ),
            Step("take a recovery point", start_backup, postcondition=backup_done, timeout=limits["backup"]),
            Step("write a file after the recovery point", write_late),
            Step(
                "disaster: the dashboard's files are lost" if fleet is None else "disaster: the canary files are lost",
                disaster,
                marks="disaster",
            ),
            Step("lift the vault's deny of backup:StartRestoreJob", lift_deny),
            Step("full restore to a new file system", full_action, postcondition=full_done, timeout=limits["restore"]),
            Step("item-level restore of one file", item_action, postcondition=item_check, timeout=limits["restore"]),
            *([moving] if fleet is None else []),
            Step("update EfsFileSystemId", repoint, postcondition=repointed, timeout=limits["update"]),
            *roll_instances_steps(stack, limits["instances"]),
            *([moving] if fleet is not None else []),
            Step("verify the files by checksum", lambda d: None, postcondition=verify, marks="recovered"),
        ],
        progress=progress,
        stack=stack,
        run_id=run,
    )
