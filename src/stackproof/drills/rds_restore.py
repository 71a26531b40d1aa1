"""RES-01: restore the database from a snapshot, following seed 002 ("you can restore the
database via a snapshot", steps 1-8): canary rows; a snapshot; a row written after it; the
disaster (the data is corrupted); the snapshot restored to a new instance identifier in the
stack's subnet group and security group; the old instance's deletion protection turned off (the
README's instruction: the update removes it, keeping a final snapshot); the stack updated with
the new DBHost and DBPort (the credentials are the snapshot's, still in the stack's secret); the
group scaled out on the new launch template version and the old instances terminated; the rows
verified on the restored database and the new launch template pointing at it.

Rows need a data plane. On the emulator (``stack.emulated``) it is the emulator's MariaDB servers
(:mod:`stackproof.emulator.mariadb_data`), reached directly. On a live account (and on the
emulator through the aws target) the rows are written, broken and verified on the application
instances through SSM Run Command (:mod:`stackproof.drills.instance_data`): seed 002's pinned
``mariadb`` client container over TLS, credentials read from ``dashboard.env`` on the instance,
and the verification reads the database the rolled instances' env file names. Without a data
plane the drill runs every control-plane step and verifies no rows; the test reports that as
SKIP with the reason, never PASS.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import uuid
from typing import Any

from stackproof.drills import instance_data
from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.fleet import latest_version, roll_instances_steps
from stackproof.drills.journal import Undo
from stackproof.targets.stack_handle import StackHandle

TABLE = "stackproof_canary"


def rds_restore_drill(
    stack: StackHandle, rows: bool, progress: Any = None, timeouts: dict[str, float] | None = None
) -> Drill:
    limits = {"snapshot": 120.0, "restore": 120.0, "update": 120.0, "instances": 120.0, **(timeouts or {})}
    rds = stack.client("rds")
    resources = stack.resources()
    original = resources["Database"]
    database = stack.parameters.get("DBName", "dashboard")
    live = not stack.emulated  # rows through SSM on the instances (instance_data), not the emulator's servers
    fleet = instance_data.Fleet.of(stack) if live else None
    run = uuid.uuid4().hex[:8]
    snapshot_id, restored_id = f"stackproof-drill-{run}", f"{original}-restored-{run}"[:63]
    state: dict[str, Any] = {"written": {}}

    def connect(instance_id: str) -> Any:
        from stackproof.emulator import mariadb_data

        secret = json.loads(
            stack.client("secretsmanager").get_secret_value(SecretId=resources["DatabaseSecret"])["SecretString"]
        )
        server = mariadb_data.server_for(instance_id, secret["username"], secret["password"])
        return server.connect(secret["username"], secret["password"])

    def insert(drill: Drill, *names: str) -> None:
        payloads = {name: os.urandom(32).hex() for name in names}
        if fleet is not None:
            address, port = _endpoint(rds, original)
            instance_data.write_rows(drill, fleet, database, TABLE, payloads, address, port)
        else:
            with connect(original).cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS `{database}`.{TABLE} (name VARCHAR(64) PRIMARY KEY, payload CHAR(64))"
                )
                for name, payload in payloads.items():
                    cursor.execute(f"INSERT INTO `{database}`.{TABLE} VALUES (%s, %s)", (name, payload))
        for name, payload in payloads.items():
            state["written"][name] = hashlib.sha256(payload.encode()).hexdigest()
            drill.canary(name, state["written"][name])

    def write_rows(drill: Drill) -> None:
        if fleet is not None:
            drop = {"group": fleet.group, "instance": original, "database": database, "table": TABLE}
            instance_data.on_cleanup(
                drill, f"table {TABLE} on {original}", "instance.drop-canary-table", drop, stack.region
            )
        else:
            drop = {"instance": original, "database": database, "table": TABLE, "secret": resources["DatabaseSecret"]}
            drill.on_cleanup(f"table {TABLE} on {original}", Undo("emulator.drop-table", drop, stack.region))
        insert(drill, *(f"before-{run}-{n}" for n in range(3)))

    def snapshot(drill: Drill) -> None:
        drill.on_cleanup(
            f"snapshot {snapshot_id}", Undo("rds.delete-db-snapshot", {"snapshot": snapshot_id}, stack.region)
        )
        rds.create_db_snapshot(DBSnapshotIdentifier=snapshot_id, DBInstanceIdentifier=original, Tags=drill.tags())

    def snapshot_ready(drill: Drill) -> bool:
        (found,) = rds.describe_db_snapshots(DBSnapshotIdentifier=snapshot_id)["DBSnapshots"]
        return bool(found["Status"] == "available")

    def write_late(drill: Drill) -> None:
        insert(drill, f"after-{run}")

    def corrupt(drill: Drill) -> None:
        if fleet is not None:
            instance_data.drop_table(fleet, database, TABLE, *_endpoint(rds, original))
        else:
            _drop(connect, original, database)

    def restore(drill: Drill) -> None:
        (source,) = rds.describe_db_instances(DBInstanceIdentifier=original)["DBInstances"]
        drill.on_cleanup(
            f"restored database {restored_id}", Undo("rds.delete-db-instance", {"instance": restored_id}, stack.region)
        )
        rds.restore_db_instance_from_db_snapshot(
            DBInstanceIdentifier=restored_id,
            DBSnapshotIdentifier=snapshot_id,
            DBSubnetGroupName=source["DBSubnetGroup"]["DBSubnetGroupName"],
            VpcSecurityGroupIds=[g["VpcSecurityGroupId"] for g in source["VpcSecurityGroups"]],
            DBParameterGroupName=source["DBParameterGroups"][0]["DBParameterGroupName"],
            MultiAZ=True,
            PubliclyAccessible=False,
            DeletionProtection=False,
            Tags=drill.tags(),
        )

    def restored_ready(drill: Drill) -> bool:
        (found,) = rds.describe_db_instances(DBInstanceIdentifier=restored_id)["DBInstances"]
        if found["DBInstanceStatus"] != "available":
            return False
        state["endpoint"] = found["Endpoint"]
        return True

    def unprotect(drill: Drill) -> None:
        drill.on_cleanup(
            f"deletion protection of {original} back on",
            Undo("rds.protect-db-instance", {"instance": original}, stack.region),
        )
        rds.modify_db_instance(DBInstanceIdentifier=original, DeletionProtection=False, ApplyImmediately=True)

    def repoint(drill: Drill) -> None:
        final = f"{original}-final"
        drill.on_cleanup(
            f"final snapshot {final} the update took", Undo("rds.delete-db-snapshot", {"snapshot": final}, stack.region)
        )
        changes = {"stack": stack.stack_name, "changes": previous_values(stack, ("DBHost", "DBPort"))}
        drill.on_cleanup(
            "the stack back on a database of its own", Undo("cloudformation.update-parameters", changes, stack.region)
        )
        stack.update({"DBHost": state["endpoint"]["Address"], "DBPort": str(state["endpoint"]["Port"])})

    def repointed(drill: Drill) -> bool:
        ec2 = stack.client("ec2")
        version = latest_version(stack)
        data = ec2.describe_launch_template_versions(
            LaunchTemplateId=stack.physical("LaunchTemplate"), Versions=[version]
        )["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        script = base64.b64decode(data.get("UserData", "")).decode("utf-8", "replace")
        if f'DB_HOST="{state["endpoint"]["Address"]}"' not in script:
            raise StepFailed(f"launch template version {version} does not point at {state['endpoint']['Address']}")
        return True

    def verify(drill: Drill) -> bool:
        if fleet is not None:  # what the rolled instances read, from the database their env file names
            found, host = instance_data.read_rows(drill, fleet, database, TABLE)
            if host != state["endpoint"]["Address"]:
                raise StepFailed(f"the instances read database {host}, not the restored {state['endpoint']['Address']}")
        else:
            with connect(restored_id).cursor() as cursor:
                cursor.execute(f"SELECT name, payload FROM `{database}`.{TABLE}")
                found = {name: hashlib.sha256(payload.encode()).hexdigest() for name, payload in cursor.fetchall()}
        expected = {k: v for k, v in state["written"].items() if k.startswith("before-")}
        if found != expected:
            lost = sorted(set(expected) - set(found))
            changed = sorted(k for k in set(expected) & set(found) if found[k] != expected[k])
            raise StepFailed(
                f"restored rows {sorted(found)}; expected exactly {sorted(expected)}"
                + (f"; lost {lost}" if lost else "")
                + (f"; changed {changed}" if changed else "")
            )
        drill.survived(set(found))
        return True

    steps = [
        Step("write canary rows", write_rows),
        Step("take a snapshot", snapshot, postcondition=snapshot_ready, timeout=limits["snapshot"]),
        Step("write a row after the snapshot", write_late),
        Step("disaster: the data is corrupted", corrupt, marks="disaster"),
        Step(
            "restore the snapshot to a new instance", restore, postcondition=restored_ready, timeout=limits["restore"]
        ),
        Step("turn off the old database's deletion protection", unprotect),
        Step("update DBHost and DBPort", repoint, postcondition=repointed, timeout=limits["update"]),
        *roll_instances_steps(stack, limits["instances"]),
        Step("verify the rows on the restored database", lambda d: None, postcondition=verify, marks="recovered"),
    ]
    if not rows:  # no data plane: the control plane only, and nothing claimed about rows
        keep = {
            "take a snapshot",
            "restore the snapshot to a new instance",
            "turn off the old database's deletion protection",
            "update DBHost and DBPort",
        }
        steps = [s for s in steps if s.name in keep or s.name.startswith(("scale out", "terminate"))]
        steps[0] = Step(
            steps[0].name,
            steps[0].action,
            postcondition=steps[0].postcondition,
            timeout=steps[0].timeout,
            marks="disaster",
        )
        steps[-1] = Step(
            steps[-1].name,
            steps[-1].action,
            postcondition=steps[-1].postcondition,
            timeout=steps[-1].timeout,
            marks="recovered",
        )
    return Drill("RES-01 RDS restore", steps, progress=progress, stack=stack, run_id=run)


def previous_values(stack: StackHandle, keys: tuple[str, ...]) -> dict[str, str | None]:
    """What the stack's parameters ``keys`` are now (None: not given, so their default), for
    the undo that puts them back."""
    deployed = stack.client("cloudformation").describe_stacks(StackName=stack.stack_name)["Stacks"][0]
    given = {p["ParameterKey"]: p.get("ParameterValue") for p in deployed.get("Parameters", [])}
    return {key: given.get(key) for key in keys}


def _endpoint(rds: Any, instance_id: str) -> tuple[str, int]:
    (found,) = rds.describe_db_instances(DBInstanceIdentifier=instance_id)["DBInstances"]
    return str(found["Endpoint"]["Address"]), int(found["Endpoint"]["Port"])


def _drop(connect: Any, instance_id: str, database: str) -> None:
    from stackproof.emulator import mariadb_data

    if instance_id not in mariadb_data.running():  # the instance is gone with its data
        return
    with connect(instance_id).cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS `{database}`.{TABLE}")
