"""SCL-05 on a deployed group: the emulator evaluates the stack's own alarms as CloudWatch does
and executes its step policies, minute by minute, for demand traces; the group's capacity must
be exactly what the simulation of the template predicts, stay within its bounds and not flap."""

from __future__ import annotations

import datetime
import itertools
from typing import Any

import pytest

from stackproof.checking import ControlFailed, Evidence
from stackproof.domain.scaling_sim import simulate
from stackproof.domain.scaling_spec import simulated_group
from stackproof.drills.scaling_drive import EPOCH, drive
from stackproof.model.from_template import build
from stackproof.model.types import AutoScalingGroup
from stackproof.targets.stack_handle import StackHandle
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve

pytestmark = [pytest.mark.scenario, pytest.mark.destructive]

TRACES = {
    "steady 160%": [160.0] * 60,
    "steady 240%": [240.0] * 60,
    "ramp to 500% and back": [i * 500 / 60 for i in range(60)] + [(60 - i) * 500 / 60 for i in range(60)],
}


@pytest.mark.control("SCL-05")
def test_alarms_drive_the_deployed_group_as_simulated(drill_stack: StackHandle, record_property: Any) -> None:
    if not drill_stack.emulated:
        pytest.skip("driving a live group's CPU would need load generation, which stackproof does not do")
    model = build(resolve(load_template(drill_stack.template), drill_stack.parameters, drill_stack.region))
    (group,) = model.all(AutoScalingGroup)
    spec = simulated_group(model, group)
    autoscaling = drill_stack.client("autoscaling")
    name = drill_stack.physical("AutoScalingGroup")
    desired = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0][
        "DesiredCapacity"
    ]
    failures = []
    try:
        for index, (label, trace) in enumerate(TRACES.items()):
            start = EPOCH + datetime.timedelta(days=index)  # each trace on metrics of its own
            deployed = drive(drill_stack, trace, start)
            predicted = simulate(spec, list(trace)).capacity
            record_property("note", f"{label}: deployed capacity {deployed[::10]} (every 10 min)")
            if deployed != predicted:
                first = next(i for i, (a, b) in enumerate(zip(deployed, predicted, strict=True)) if a != b)
                failures.append(
                    Evidence(
                        f"{label}: the deployed group diverges from the simulation at minute {first}",
                        observed=deployed[first],
                        expected=predicted[first],
                    )
                )
            if min(deployed) < spec.min_size or max(deployed) > spec.max_size:
                failures.append(Evidence(f"{label}: capacity left its bounds", observed=(min(deployed), max(deployed))))
            moves = [b - a for a, b in itertools.pairwise(deployed) if b != a]
            reversals = sum(1 for x, y in itertools.pairwise(moves) if (x > 0) != (y > 0))
            if reversals > (1 if label.startswith("ramp") else 0):
                failures.append(Evidence(f"{label}: capacity goes back and forth", observed=reversals))
    finally:
        autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False)
    if failures:
        raise ControlFailed(failures)
