"""What a drill could leave behind, listed before and after it: the file systems and what
the stack mounts, recovery points, the vault's access policy, the content bucket's object
versions, databases and snapshots, the group's size, and (emulated) the files on EFS. A drill
whose inventory differs afterwards did not clean up, whatever its steps said."""

from __future__ import annotations

import json
from typing import Any

from stackproof.targets.stack_handle import StackHandle


def inventory(stack: StackHandle) -> dict[str, Any]:
    resources = stack.resources()
    efs, backup, s3 = stack.client("efs"), stack.client("backup"), stack.client("s3")
    vault, bucket = resources["BackupVault"], resources["ContentBucket"]
    try:
        policy: Any = json.loads(backup.get_backup_vault_access_policy(BackupVaultName=vault)["Policy"])
    except backup.exceptions.ResourceNotFoundException:
        policy = None
    versions = s3.list_object_versions(Bucket=bucket)
    file_systems = sorted(f["FileSystemId"] for f in efs.describe_file_systems()["FileSystems"])
    group = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[resources["AutoScalingGroup"]]
    )["AutoScalingGroups"][0]
    rds = stack.client("rds")
    instances = {d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]}
    found: dict[str, Any] = {
        "file_systems": file_systems,
        "mounted": sorted(
            t["FileSystemId"]
            for fs in file_systems
            for t in efs.describe_mount_targets(FileSystemId=fs)["MountTargets"]
        ),
        "recovery_points": sorted(
            p["RecoveryPointArn"]
            for p in backup.list_recovery_points_by_backup_vault(BackupVaultName=vault)["RecoveryPoints"]
        ),
        "vault_policy": policy,
        "objects": sorted(
            (v["Key"], v["VersionId"]) for v in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]
        ),
        # RES-01's update replaces the stack's database (as the runbook does) and its revert makes
        # a new one: the count is what must match, not the identifier.
        "databases": len(instances),
        "snapshots": sorted(
            s["DBSnapshotIdentifier"] for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
        ),
        "group": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], len(group["Instances"])),
    }
    if stack.emulated:
        from stackproof.emulator import efs_data, mariadb_data

        found["files"] = {fs: efs_data.checksums(efs_data.file_system(fs)) for fs in file_systems}
        # A database's server starts when first used; one whose instance is gone is a leak.
        found["orphaned_database_servers"] = [i for i in mariadb_data.running() if i not in instances]
    return found


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{key}: before {before.get(key)!r}, after {after.get(key)!r}"
        for key in before
        if before[key] != after.get(key)
    ]
