"""SCL-05 on a deployed group: CPU datapoints published minute by minute for a demand trace, the
emulator's alarm engine evaluating the alarms and executing the policies, and the group's
desired capacity read back — to be compared with the simulation of the same configuration."""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from stackproof.domain.scaling_sim import cpu
from stackproof.targets.stack_handle import StackHandle

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def drive(stack: StackHandle, demand: Sequence[float | None], start: datetime.datetime = EPOCH) -> list[int]:
    """Desired capacity after each minute of ``demand``; the group starts at its minimum."""
    from stackproof.emulator.alarm_engine import AlarmEngine

    autoscaling, cloudwatch = stack.client("autoscaling"), stack.client("cloudwatch")
    name = stack.physical("AutoScalingGroup")
    (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    autoscaling.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=group["MinSize"], HonorCooldown=False)
    engine = AlarmEngine(stack.client)
    capacity: list[int] = []
    for minute, load in enumerate(demand):
        # Nothing but the engine's tick changes the group: the last reading is the current size.
        value = cpu(load, capacity[-1] if capacity else int(group["MinSize"]))
        if value is not None:
            cloudwatch.put_metric_data(
                Namespace="AWS/EC2",
                MetricData=[
                    {
                        "MetricName": "CPUUtilization",
                        "Dimensions": [{"Name": "AutoScalingGroupName", "Value": name}],
                        "Timestamp": start + datetime.timedelta(minutes=minute, seconds=30),
                        "Value": value,
                        "Unit": "Percent",
                    }
                ],
            )
        engine.tick(start + datetime.timedelta(minutes=minute + 1))
        after = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]
        capacity.append(int(after["DesiredCapacity"]))
    return capacity
