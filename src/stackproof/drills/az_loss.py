"""RES-03: an Availability Zone goes down. Seed 002: "Due to having an Multi Availability zone
deployment, your data will be kept secure if an availability zone goes down." With the group
running in both AZs, the AZ of the database's primary is impaired: the load balancer must keep
serving from the other AZ at once; the database fails over (a reboot with forced failover, as
AWS documents for testing it); the group replaces the lost capacity in the healthy AZ; rows and
files are intact (RPO 0).

On the emulator the impairment is :mod:`stackproof.emulator.az_faults`. On a live account
(``stack.emulated`` False) it is an AWS FIS experiment made for the run (:mod:`.fis`): the
stack's subnets in the zone cut off and the database rebooted with a forced failover, with an
alarm as stop condition, stopped at cleanup whatever happens. Rows and files are written and
checked on the instances through SSM Run Command (:mod:`.instance_data`: the EFS mount, the
database over TLS from seed 002's pinned client), before the fault and after the group has
replaced the zone's capacity.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from typing import Any

from stackproof.drills import instance_data
from stackproof.drills.canaries import intact, write_through_sync_function
from stackproof.drills.engine import Drill, Step, StepFailed
from stackproof.drills.fis import LIVE_POLL, Experiment, zone_loss, zone_subnets
from stackproof.drills.fleet import group
from stackproof.drills.journal import Undo
from stackproof.targets.stack_handle import StackHandle

TABLE = "stackproof_canary_az"


def az_loss_drill(
    stack: StackHandle,
    rows: bool,
    progress: Any = None,
    timeouts: dict[str, float] | None = None,
    fis_role_arn: str | None = None,
    files: bool = True,
) -> Drill:
    """``fis_role_arn``: the role AWS FIS assumes; required on a live account (ValueError).
    ``files`` and ``rows``: on a live account, whether canaries go through SSM (the scenario
    probes first; without them the drill proves the control plane only)."""
    limit = (timeouts or {}).get("instances", 60.0)
    live = not stack.emulated
    if live and not fis_role_arn:
        raise ValueError("RES-03 on a live account impairs the zone with AWS FIS: give --fis-role-arn")
    autoscaling, ec2, elbv2, rds = (stack.client(s) for s in ("autoscaling", "ec2", "elbv2", "rds"))
    resources = stack.resources()
    database_id, target_group = resources["Database"], resources["TargetGroup"]
    fs_id = stack.outputs()["FileSystemId"]
    database = stack.parameters.get("DBName", "dashboard")
    run = uuid.uuid4().hex[:8]
    state: dict[str, Any] = {"files": {}, "rows": {}}
    experiment = Experiment(stack, fis_role_arn or "") if live else None
    fleet = instance_data.Fleet.of(stack) if live else None

    def zones_of(instance_ids: list[str]) -> dict[str, str]:
        if not instance_ids:
            return {}
        found = ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]
        return {i["InstanceId"]: i["Placement"]["AvailabilityZone"] for r in found for i in r["Instances"]}

    def serving() -> dict[str, str]:
        """Healthy targets of the load balancer, with their AZ."""
        health = elbv2.describe_target_health(TargetGroupArn=target_group)["TargetHealthDescriptions"]
        healthy = [h["Target"]["Id"] for h in health if h["TargetHealth"]["State"] == "healthy"]
        running = (
            {
                i["InstanceId"]
                for r in ec2.describe_instances(InstanceIds=healthy)["Reservations"]
                for i in r["Instances"]
                if i["State"]["Name"] == "running"
            }
            if healthy
            else set()
        )
        return {k: v for k, v in zones_of(sorted(running)).items()}

    def spread(drill: Drill) -> None:
        current = group(stack)
        state["desired"] = current["DesiredCapacity"]
        wanted = max(2, current["DesiredCapacity"])
        capacity = {"group": current["AutoScalingGroupName"], "capacity": current["DesiredCapacity"]}
        drill.on_cleanup(
            f"desired capacity back to {current['DesiredCapacity']}",
            Undo("autoscaling.set-desired-capacity", capacity, stack.region),
        )
        autoscaling.set_desired_capacity(
            AutoScalingGroupName=current["AutoScalingGroupName"], DesiredCapacity=wanted, HonorCooldown=False
        )

    def in_both_zones(drill: Drill) -> bool:
        return len(set(serving().values())) >= 2

    def connect(instance_id: str) -> Any:
        import json

        from stackproof.emulator import mariadb_data

        secret = json.loads(
            stack.client("secretsmanager").get_secret_value(SecretId=resources["DatabaseSecret"])["SecretString"]
        )
        return mariadb_data.server_for(instance_id, secret["username"], secret["password"]).connect(
            secret["username"], secret["password"]
        )

    def write(drill: Drill) -> None:
        for key in (f"themes/stackproof-az-{run}.css", f"images/stackproof-az-{run}.png"):
            state["files"][key] = write_through_sync_function(drill, stack, key, fs_id)
        if rows:
            secret = resources["DatabaseSecret"]
            drop = {"instance": database_id, "database": database, "table": TABLE, "secret": secret}
            drill.on_cleanup(f"table {TABLE}", Undo("emulator.drop-table", drop, stack.region))
            with connect(database_id).cursor() as cursor:
                cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{database}`")
                cursor.execute(
                    f"CREATE TABLE IF NOT EXISTS `{database}`.{TABLE} (name VARCHAR(64) PRIMARY KEY, payload CHAR(64))"
                )
                for n in range(2):
                    payload = os.urandom(32).hex()
                    cursor.execute(f"INSERT INTO `{database}`.{TABLE} VALUES (%s, %s)", (f"row-{n}", payload))
                    state["rows"][f"row-{n}"] = hashlib.sha256(payload.encode()).hexdigest()
                    drill.canary(f"row-{n}", state["rows"][f"row-{n}"])

    def write_live(drill: Drill) -> None:
        assert fleet is not None
        if files:
            keys = [f"themes/stackproof-az-{run}.css", f"images/stackproof-az-{run}.png"]
            what = f"canary files {', '.join(keys)} on the instances' mount"
            where = {"group": fleet.group, "keys": keys}
            instance_data.on_cleanup(drill, what, "instance.delete-canary-files", where, stack.region)
            written = instance_data.write_files(fleet, keys)
            for key in keys:
                state["files"][key] = written[key]
                drill.canary(key, written[key])
        if rows:
            (found,) = rds.describe_db_instances(DBInstanceIdentifier=database_id)["DBInstances"]
            drop = {"group": fleet.group, "instance": database_id, "database": database, "table": TABLE}
            what = f"table {TABLE} on {database_id}"
            instance_data.on_cleanup(drill, what, "instance.drop-canary-table", drop, stack.region)
            payloads = {f"row-{n}": os.urandom(32).hex() for n in range(2)}
            endpoint = found["Endpoint"]
            instance_data.write_rows(drill, fleet, database, TABLE, payloads, endpoint["Address"], endpoint["Port"])
            for name, payload in payloads.items():
                state["rows"][name] = hashlib.sha256(payload.encode()).hexdigest()
                drill.canary(name, state["rows"][name])

    def data_intact_live(drill: Drill) -> bool:
        """Read on an instance the group runs now (none in the lost zone by then)."""
        assert fleet is not None
        kept: set[str] = set()
        if state["files"]:
            found = instance_data.file_checksums(fleet, state["files"])
            kept |= {k for k, v in found.items() if state["files"].get(k) == v}
        if state["rows"]:
            read, _ = instance_data.read_rows(drill, fleet, database, TABLE)
            kept |= {n for n, v in read.items() if state["rows"].get(n) == v}
        expected = set(state["files"]) | set(state["rows"])
        if kept != expected:
            raise StepFailed(f"lost with the AZ: {sorted(expected - kept)}")
        drill.survived(kept)
        return True

    def impair_with_fis(drill: Drill) -> None:
        assert experiment is not None
        (database,) = rds.describe_db_instances(DBInstanceIdentifier=database_id)["DBInstances"]
        zone = state["zone"] = database["AvailabilityZone"]
        subnets = zone_subnets(stack, zone)
        if not subnets:
            raise StepFailed(f"the stack has no subnet in {zone}: nothing to cut off")
        multi_az = database.get("MultiAZ") and database["DBInstanceArn"]
        description = f"stackproof RES-03 {run}: {stack.stack_name} loses {zone}"
        experiment.start(drill, description, zone_loss(subnets, multi_az or None), target_group)

    def faults_in_place(drill: Drill) -> bool:
        assert experiment is not None
        return experiment.faults_in_place()

    def experiment_running(drill: Drill) -> None:
        if experiment is not None:
            experiment.state()  # StepFailed once it stopped (its stop condition) or failed

    def impair(drill: Drill) -> None:
        from stackproof.emulator import az_faults

        (database,) = rds.describe_db_instances(DBInstanceIdentifier=database_id)["DBInstances"]
        zone = database["AvailabilityZone"]
        state["zone"] = zone
        drill.on_cleanup(f"Availability Zone {zone} restored", Undo("emulator.restore-zone", {"zone": zone}))
        state["lost"] = az_faults.impair(stack.account_id, stack.region, zone)
        if not state["lost"]:
            raise StepFailed(f"no instance ran in {zone}: the drill would prove nothing")

    def still_serving(drill: Drill) -> bool:
        zones = set(serving().values())
        if not zones or (not live and state["zone"] in zones):
            raise StepFailed(
                f"right after losing {state['zone']} the load balancer serves from {sorted(zones) or 'nothing'}"
            )
        experiment_running(drill)
        return state["zone"] not in zones  # live: until its health checks have taken the zone out

    def failover(drill: Drill) -> None:
        rds.reboot_db_instance(DBInstanceIdentifier=database_id, ForceFailover=True)

    def failed_over(drill: Drill) -> bool:
        experiment_running(drill)
        (database,) = rds.describe_db_instances(DBInstanceIdentifier=database_id)["DBInstances"]
        return bool(database["DBInstanceStatus"] == "available" and database["AvailabilityZone"] != state["zone"])

    def replaced(drill: Drill) -> bool:
        experiment_running(drill)
        current = group(stack)
        in_service = [i["InstanceId"] for i in current["Instances"] if i["LifecycleState"] == "InService"]
        if len(in_service) < current["DesiredCapacity"]:
            return False
        zones = zones_of(in_service)
        if state["zone"] in zones.values():
            if live:  # the group has not yet taken the cut-off instances out of service
                return False
            raise StepFailed(f"the group launched into the impaired {state['zone']}")
        return set(in_service) <= set(serving())

    def data_intact(drill: Drill) -> bool:
        kept = intact(fs_id, state["files"])
        if rows:
            with connect(database_id).cursor() as cursor:
                cursor.execute(f"SELECT name, payload FROM `{database}`.{TABLE}")
                kept |= {
                    n for n, p in cursor.fetchall() if state["rows"].get(n) == hashlib.sha256(p.encode()).hexdigest()
                }
        expected = set(state["files"]) | set(state["rows"])
        if kept != expected:
            raise StepFailed(f"lost with the AZ: {sorted(expected - kept)}")
        drill.survived(kept)
        return True

    def experiment_completed(drill: Drill) -> bool:
        assert experiment is not None
        return experiment.completed()

    spread_step = Step("the group serves from both AZs", spread, postcondition=in_both_zones, timeout=limit)
    data = live and (files or rows)
    if live:
        steps = [
            spread_step,
            *([Step("write files (and rows) on the instances through SSM", write_live)] if data else []),
            Step(
                "disaster: an AWS FIS experiment cuts off the database primary's AZ and fails the database over",
                impair_with_fis,
                postcondition=faults_in_place,
                timeout=limit,
                marks="disaster",
            ),
            Step(
                "the load balancer keeps serving from the other AZ",
                lambda d: None,
                postcondition=still_serving,
                timeout=limit,
            ),
            Step(
                "the database fails over (FIS forced-failover reboot)",
                lambda d: None,
                postcondition=failed_over,
                timeout=limit,
            ),
            Step(
                "the group replaces capacity in the healthy AZ",
                lambda d: None,
                postcondition=replaced,
                timeout=limit,
                marks=None if data else "recovered",
            ),
            *(
                [
                    Step(
                        "files (and rows) intact, read through SSM",
                        lambda d: None,
                        postcondition=data_intact_live,
                        timeout=limit,
                        marks="recovered",
                    )
                ]
                if data
                else []
            ),
            Step(
                "the FIS experiment completes (the zone is back)",
                lambda d: None,
                postcondition=experiment_completed,
                timeout=(timeouts or {}).get("experiment", 900.0),
            ),
        ]
    else:
        steps = [
            spread_step,
            Step("write files (and rows)", write),
            Step("disaster: the database primary's AZ is impaired", impair, marks="disaster"),
            Step("the load balancer keeps serving from the other AZ", lambda d: None, postcondition=still_serving),
            Step(
                "the database fails over (forced-failover reboot)", failover, postcondition=failed_over, timeout=limit
            ),
            Step(
                "the group replaces capacity in the healthy AZ", lambda d: None, postcondition=replaced, timeout=limit
            ),
            Step("files (and rows) intact", lambda d: None, postcondition=data_intact, marks="recovered"),
        ]
    return Drill(
        "RES-03 AZ loss",
        steps,
        poll=(timeouts or {}).get("poll", LIVE_POLL if live else 0.02),
        progress=progress,
        stack=stack,
        run_id=run,
    )
