"""Availability Zone faults for moto, for RES-03: an AZ can be impaired (its group instances are
lost; new ones go only to healthy AZs) and restored; groups spread their instances over the
AZs of their subnets, as EC2 Auto Scaling balances them (moto put every instance in the first
subnet); and an RDS reboot with ``ForceFailover`` moves a Multi-AZ instance's primary to its
standby's AZ (moto ignored the flag), which is how AWS documents testing a failover.
"""

from __future__ import annotations

from typing import Any

impaired: set[str] = set()


def reset() -> None:
    impaired.clear()


def impair(account_id: str, region: str, zone: str) -> list[str]:
    """Impair ``zone``: every group instance in it is lost. The lost instance IDs."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ec2.models import ec2_backends
    from moto.elbv2.models import elbv2_backends

    impaired.add(zone)
    lost = [
        state.instance.id
        for group in autoscaling_backends[account_id][region].autoscaling_groups.values()
        for state in group.instance_states
        if state.instance.placement.zone == zone
    ]
    if lost:
        ec2_backends[account_id][region].terminate_instances(lost)
        autoscaling_backends[account_id][region].notify_terminate_instances(lost)
        elbv2_backends[account_id][region].notify_terminate_instances(lost)
    return lost


def restore(zone: str) -> None:
    impaired.discard(zone)


def install() -> None:
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.rds.models import DBInstance, RDSBackend
    from moto.rds.responses import RDSResponse

    original = FakeAutoScalingGroup.replace_autoscaling_group_instances
    if getattr(original, "stackproof", False):
        return

    def replace_autoscaling_group_instances(
        self: FakeAutoScalingGroup, count_needed: int, propagated_tags: Any
    ) -> None:
        subnets = [s for s in (self.vpc_zone_identifier or "").split(",") if s]
        if not subnets:
            original(self, count_needed, propagated_tags)
            return
        ec2 = self.autoscaling_backend.ec2_backend
        zone_of = {s: ec2.get_subnet(s).availability_zone for s in subnets}
        healthy = [s for s in subnets if zone_of[s] not in impaired]
        if not healthy:
            return  # every AZ of the group is down: nothing can launch
        saved = self.vpc_zone_identifier
        try:
            for _ in range(count_needed):
                counts = {s: sum(1 for i in self.active_instances() if i.instance.subnet_id == s) for s in healthy}
                self.vpc_zone_identifier = min(healthy, key=lambda s: (counts[s], healthy.index(s)))
                original(self, 1, dict(propagated_tags))
        finally:
            self.vpc_zone_identifier = saved

    replace_autoscaling_group_instances.stackproof = True  # type: ignore[attr-defined]
    FakeAutoScalingGroup.replace_autoscaling_group_instances = replace_autoscaling_group_instances  # type: ignore[method-assign]

    def reboot_db_instance(self: RDSBackend, db_instance_identifier: str, force_failover: bool = False) -> DBInstance:
        database: DBInstance = self.describe_db_instances(db_instance_identifier)[0]
        if force_failover:
            if not database.multi_az:
                from moto.rds.exceptions import InvalidParameterCombination

                raise InvalidParameterCombination("Failover is only possible for a Multi-AZ DB instance")
            group = getattr(database, "db_subnet_group", None)
            zones = sorted({s.availability_zone for s in group._subnets}) if group is not None else []
            others = [z for z in zones if z != database.availability_zone and z not in impaired]
            if others:
                database.availability_zone = others[0]
        return database

    RDSBackend.reboot_db_instance = reboot_db_instance  # type: ignore[method-assign]

    def reboot_response(self: RDSResponse) -> Any:
        from moto.core.responses import ActionResult

        database = self.backend.reboot_db_instance(  # type: ignore[call-arg]
            self.params.get("DBInstanceIdentifier"), bool(self.params.get("ForceFailover", False))
        )
        return ActionResult({"DBInstance": database})

    RDSResponse.reboot_db_instance = reboot_response  # type: ignore[method-assign]
