"""What a drill could leave behind, listed before and after it: the file systems and what
the stack mounts, recovery points, the vault's access policy, the drill's canary objects,
databases and snapshots, the group's size, and (emulated) the files on EFS. A drill whose
inventory differs afterwards did not clean up, whatever its steps said.

Everything is scoped to the stack and to what drills create (their names, creation tokens and
``stackproof:drill-run`` tags), never region-wide: another team's database or file system made
during a four-hour drill is not this drill's leak, and must not turn its verdict into ERROR.
"""

from __future__ import annotations

import json
from typing import Any

from stackproof.drills.journal import NAME_PREFIX, TAG_KEY
from stackproof.targets.stack_handle import StackHandle


def _tagged(tags: Any) -> bool:
    return any(t.get("Key") == TAG_KEY for t in tags or [])


def _file_systems(stack: StackHandle, resources: dict[str, str]) -> list[str]:
    """The stack's file system (made by it, or given as EfsFileSystemId) and any a drill made."""
    own = {resources.get("FileSystem"), stack.outputs().get("FileSystemId")} - {None, ""}
    found = []
    for page in stack.client("efs").get_paginator("describe_file_systems").paginate():
        for fs in page["FileSystems"]:
            made = str(fs.get("CreationToken", "")).startswith(NAME_PREFIX) or _tagged(fs.get("Tags"))
            if fs["FileSystemId"] in own or made:
                found.append(fs["FileSystemId"])
    return sorted(found)


def _databases(stack: StackHandle, resources: dict[str, str]) -> tuple[list[dict[str, Any]], list[str]]:
    """The instances in the stack's DB subnet group (the stack's and any restored beside it), and
    the manual snapshots of the stack's instances or of a drill."""
    rds = stack.client("rds")
    group = resources.get("DatabaseSubnetGroup", "").lower()
    instances = [
        d
        for page in rds.get_paginator("describe_db_instances").paginate()
        for d in page["DBInstances"]
        if str(d.get("DBSubnetGroup", {}).get("DBSubnetGroupName", "")).lower() == group
        or d["DBInstanceIdentifier"] == resources.get("Database")
    ]
    vpcs = {d.get("DBSubnetGroup", {}).get("VpcId") for d in instances} - {None}
    names = {d["DBInstanceIdentifier"] for d in instances} | {resources.get("Database")}
    snapshots = sorted(
        s["DBSnapshotIdentifier"]
        for page in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual")
        for s in page["DBSnapshots"]
        if s.get("DBInstanceIdentifier") in names
        or s.get("VpcId") in vpcs
        or s["DBSnapshotIdentifier"].startswith(NAME_PREFIX)
        or _tagged(s.get("TagList"))
    )
    return instances, snapshots


def inventory(stack: StackHandle) -> dict[str, Any]:
    resources = stack.resources()
    efs, backup, s3 = stack.client("efs"), stack.client("backup"), stack.client("s3")
    vault, bucket = resources["BackupVault"], resources["ContentBucket"]
    try:
        policy: Any = json.loads(backup.get_backup_vault_access_policy(BackupVaultName=vault)["Policy"])
    except backup.exceptions.ResourceNotFoundException:
        policy = None
    versions = s3.list_object_versions(Bucket=bucket)
    file_systems = _file_systems(stack, resources)
    group = stack.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[resources["AutoScalingGroup"]]
    )["AutoScalingGroups"][0]
    instances, snapshots = _databases(stack, resources)
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
        # The drills' canary objects: what the dashboard's users upload meanwhile is theirs.
        "objects": sorted(
            (v["Key"], v["VersionId"])
            for v in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]
            if v["Key"].rsplit("/", 1)[-1].startswith(NAME_PREFIX)
        ),
        # RES-01's update replaces the stack's database (as the runbook does) and its revert makes
        # a new one: the count is what must match, not the identifier.
        "databases": len(instances),
        "snapshots": snapshots,
        "group": (group["MinSize"], group["MaxSize"], group["DesiredCapacity"], len(group["Instances"])),
    }
    if stack.emulated:
        from stackproof.emulator import efs_data, mariadb_data

        found["files"] = {fs: efs_data.checksums(efs_data.file_system(fs)) for fs in file_systems}
        # A database's server starts when first used; one whose instance is gone is a leak.
        names = {d["DBInstanceIdentifier"] for d in instances}
        found["orphaned_database_servers"] = [i for i in mariadb_data.running() if i not in names]
    return found


def differences(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [
        f"{key}: before {before.get(key)!r}, after {after.get(key)!r}"
        for key in before
        if before[key] != after.get(key)
    ]
