"""CloudWatch alarm evaluation and EC2 Auto Scaling step scaling for moto, which stores alarms,
metrics and policies but never evaluates or executes them (and whose ``ExecutePolicy`` fails
for step scaling). Driven from outside through the APIs, one tick per minute: at the end of each
alarm's period the alarm is evaluated on ``GetMetricStatistics`` datapoints with
:class:`stackproof.domain.scaling_sim.AlarmSpec` (the same rules the SCL-05 simulation uses), its state
set with ``SetAlarmState``, and while in ALARM its scaling-policy actions are executed: the step
chosen by the breach, the adjustment applied with ``SetDesiredCapacity`` within the group's
bounds, after the policy's warm-up (or the group's default cooldown) since the last activity.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackproof.domain.scaling_sim import ALARM, INSUFFICIENT, AlarmSpec, PolicySpec, Step


@dataclass
class AlarmEngine:
    client: Callable[[str], Any]
    states: dict[str, str] = field(default_factory=dict)
    last_activity: dict[str, datetime.datetime] = field(default_factory=dict)  # per group
    activities: list[tuple[datetime.datetime, str, int, int]] = field(default_factory=list)

    def tick(self, now: datetime.datetime) -> None:
        """Evaluate every alarm whose period ends at ``now`` (a whole minute)."""
        cloudwatch = self.client("cloudwatch")
        alarms = cloudwatch.describe_alarms()["MetricAlarms"]
        for alarm in sorted(alarms, key=lambda a: a["AlarmName"]):
            period = int(alarm["Period"])
            if int(now.timestamp()) % period:
                continue
            spec = AlarmSpec(
                float(alarm["Threshold"]),
                alarm["ComparisonOperator"],
                period,
                int(alarm["EvaluationPeriods"]),
                alarm.get("DatapointsToAlarm"),
                alarm.get("TreatMissingData") or "missing",
            )
            window = self.datapoints(cloudwatch, alarm, spec, now)
            name = alarm["AlarmName"]
            state = spec.state(window, self.states.get(name, INSUFFICIENT))
            if state != self.states.get(name):
                cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason="stackproof alarm engine")
            self.states[name] = state
            if state == ALARM and window[-1] is not None and alarm.get("ActionsEnabled", True):
                for action in alarm.get("AlarmActions", []):
                    if isinstance(action, str) and ":autoscaling:" in action and ":scalingPolicy:" in action:
                        self.execute(action, window[-1] - spec.threshold, spec, now)

    def datapoints(
        self, cloudwatch: Any, alarm: dict[str, Any], spec: AlarmSpec, now: datetime.datetime
    ) -> list[float | None]:
        """The last EvaluationPeriods datapoints, oldest first; None where a period has no data.
        Minutes are read at one-minute resolution and averaged per period here (moto aligns its
        periods on the first datapoint, CloudWatch on the clock)."""
        if (alarm.get("Statistic") or "Average") != "Average":
            raise ValueError(f"alarm {alarm['AlarmName']}: only the Average statistic is evaluated")
        period = datetime.timedelta(seconds=spec.period)
        start = now - period * spec.evaluation_periods
        found = cloudwatch.get_metric_statistics(
            Namespace=alarm["Namespace"],
            MetricName=alarm["MetricName"],
            Dimensions=alarm.get("Dimensions", []),
            StartTime=start,
            EndTime=now,
            Period=60,
            Statistics=["Average"],
        )["Datapoints"]
        buckets: list[list[float]] = [[] for _ in range(spec.evaluation_periods)]
        for point in found:
            index = int((point["Timestamp"] - start).total_seconds() // spec.period)
            if 0 <= index < spec.evaluation_periods:
                buckets[index].append(float(point["Average"]))
        return [sum(b) / len(b) if b else None for b in buckets]

    def execute(self, policy_arn: str, breach: float, alarm: AlarmSpec, now: datetime.datetime) -> None:
        autoscaling = self.client("autoscaling")
        policies = autoscaling.get_paginator("describe_policies").paginate().build_full_result()["ScalingPolicies"]
        matching = [p for p in policies if p["PolicyARN"] == policy_arn]
        if not matching:
            return  # the action names a policy that no longer exists: AWS does nothing either
        policy = matching[0]
        group_name = policy["AutoScalingGroupName"]
        (group,) = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group_name])["AutoScalingGroups"]
        spec = PolicySpec(
            policy["PolicyName"],
            alarm,
            tuple(
                Step(s.get("MetricIntervalLowerBound"), s.get("MetricIntervalUpperBound"), int(s["ScalingAdjustment"]))
                for s in policy.get("StepAdjustments", [])
            ),
            policy.get("AdjustmentType") or "ChangeInCapacity",
            policy.get("EstimatedInstanceWarmup"),
        )
        wait = spec.warmup if spec.warmup is not None else int(group.get("DefaultCooldown", 300))
        last = self.last_activity.get(group_name)
        if last is not None and (now - last).total_seconds() < wait:
            return
        step = spec.step_for(breach)
        if step is None:
            return
        current = int(group["DesiredCapacity"])
        wanted = min(max(spec.apply(current, step), int(group["MinSize"])), int(group["MaxSize"]))
        if wanted != current:
            autoscaling.set_desired_capacity(
                AutoScalingGroupName=group_name, DesiredCapacity=wanted, HonorCooldown=False
            )
            self.last_activity[group_name] = now
            self.activities.append((now, policy["PolicyName"], current, wanted))
