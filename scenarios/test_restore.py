"""RES-01..04: seed 002's restore runbooks and its promises of persistent storage and of
surviving an Availability Zone's loss, run as drills on a stack deployed for them (emulators)
or on a named live stack (only with --allow-destructive and a matching --account-id).

On a live stack the canary rows and files go through SSM Run Command on the stack's instances
(:mod:`stackproof.drills.instance_data`). Before the drill a probe runs there: when the data
plane cannot be reached (no instance in service, SSM not delivered, no database over TLS) the
rows or files are reported SKIP with the probe's reason, never PASS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from stackproof.drills import instance_data, objectives
from stackproof.drills.az_loss import az_loss_drill
from stackproof.drills.efs_restore import efs_restore_drill
from stackproof.drills.engine import Drill
from stackproof.drills.fis import role_arn
from stackproof.drills.instance_loss import instance_loss_drill
from stackproof.drills.inventory import differences, inventory
from stackproof.drills.rds_restore import rds_restore_drill
from stackproof.drills.verdict import judge
from stackproof.targets.stack_handle import StackHandle

pytestmark = [pytest.mark.scenario, pytest.mark.destructive]


def timeouts(stack: StackHandle) -> dict[str, float] | None:
    return None if stack.emulated else objectives.live_timeouts()


def rows_unavailable(stack: StackHandle) -> str | None:
    """Why canary rows cannot be written here: the emulator's MariaDB, or on a live stack a
    probe through SSM (the database reached over TLS from an instance)."""
    if stack.emulated:
        from stackproof.emulator import mariadb_data

        return mariadb_data.unavailable()
    return instance_data.probe_rows(instance_data.Fleet.of(stack))


def run_drill(
    stack: StackHandle,
    control: str,
    make: Callable[..., Drill],
    record_property: Any,
    rows: bool = False,
    files: bool = False,
) -> None:
    """Run the drill between two inventories and judge it; rows need a data plane, and without
    it the drill runs its other steps and the test is SKIP, never PASS. Files on a live stack
    need the instances' mount: without it the drill does not run (SKIP with the reason)."""
    if files and not stack.emulated:
        cannot = instance_data.probe_files(instance_data.Fleet.of(stack))
        if cannot:
            pytest.skip(f"files not verified: {cannot}")
    missing = rows_unavailable(stack) if rows else None
    before = inventory(stack)
    options: dict[str, Any] = {"rows": missing is None} if rows else {}
    drill = make(stack, timeouts=timeouts(stack), **options)
    result = drill.run()
    if "tls" in drill.data:  # what the canary rows' sessions used, as reported by the database
        record_property("note", f"{control}: canary rows over TLS: {drill.data['tls']}")
    if "item_level" in drill.data:
        record_property("note", f"{control}: item-level restore: {drill.data['item_level']}")
    judge(result, objectives.for_drill(control), record_property, differences(before, inventory(stack)), missing)
    if missing:
        pytest.skip(f"rows not verified: {missing}")


@pytest.mark.control("RES-01")
def test_rds_restore_from_a_snapshot(drill_stack: StackHandle, record_property: Any) -> None:
    run_drill(drill_stack, "RES-01", rds_restore_drill, record_property, rows=True)


@pytest.mark.control("RES-02")
def test_efs_restore_from_aws_backup(drill_stack: StackHandle, record_property: Any) -> None:
    run_drill(drill_stack, "RES-02", efs_restore_drill, record_property, files=True)


FIS_ROLE_MISSING = (
    "{control} on a live account is an AWS FIS experiment, and FIS acts only through an IAM role it assumes:"
    " give --fis-role-arn (or STACKPROOF_FIS_ROLE_ARN); nothing was changed"
)


def run_live_fault(
    stack: StackHandle,
    control: str,
    make: Callable[..., Drill],
    record_property: Any,
    config: pytest.Config,
    rows: bool = False,
) -> None:
    """RES-03/RES-04 on a live account: the fault is an AWS FIS experiment (no role: SKIP before
    any change), judged between two inventories on what the control plane shows (target health,
    the database's zone, the group's capacity) and on the canaries read back through SSM. Where
    a probe finds the data plane unreachable the drill proves the control plane only and the
    test is SKIP with the probe's reason, never PASS."""
    role = role_arn(config.getoption("stackproof_fis_role_arn", None))
    if not role:
        pytest.skip(FIS_ROLE_MISSING.format(control=control))
    no_files = instance_data.probe_files(instance_data.Fleet.of(stack))
    no_rows = rows_unavailable(stack) if rows else None
    options: dict[str, Any] = {"files": no_files is None} | ({"rows": no_rows is None} if rows else {})
    before = inventory(stack)
    drill = make(stack, timeouts=timeouts(stack), fis_role_arn=role, **options)
    result = drill.run()
    if "fis_experiment" in drill.data:
        record_property("note", f"{control}: AWS FIS experiment {drill.data['fis_experiment']}")
    if "tls" in drill.data:
        record_property("note", f"{control}: canary rows over TLS: {drill.data['tls']}")
    missing = "; ".join(f"{what} not verified: {why}" for what, why in (("files", no_files), ("rows", no_rows)) if why)
    left = differences(before, inventory(stack))
    judge(result, objectives.for_drill(control), record_property, left, missing or None)
    if missing:
        pytest.skip(missing)


@pytest.mark.control("RES-03")
def test_availability_zone_loss(drill_stack: StackHandle, record_property: Any, pytestconfig: pytest.Config) -> None:
    if not drill_stack.emulated:
        run_live_fault(drill_stack, "RES-03", az_loss_drill, record_property, pytestconfig, rows=True)
        return
    run_drill(drill_stack, "RES-03", az_loss_drill, record_property, rows=True)


@pytest.mark.control("RES-04")
def test_instance_loss_keeps_efs_files(
    drill_stack: StackHandle, record_property: Any, pytestconfig: pytest.Config
) -> None:
    if not drill_stack.emulated:
        run_live_fault(drill_stack, "RES-04", instance_loss_drill, record_property, pytestconfig)
        return
    run_drill(drill_stack, "RES-04", instance_loss_drill, record_property)
