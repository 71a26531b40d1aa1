"""The simulation's view of a deployed or templated group: its bounds, its step policies and the
alarms that drive them, read from the model; any unknown value is undecidable (ERROR), never a
pass."""

from __future__ import annotations

from stackproof.domain.scaling_sim import AlarmSpec, GroupSpec, PolicySpec, Step
from stackproof.model.deployment import Deployment
from stackproof.model.outcomes import known
from stackproof.model.types import Alarm, AutoScalingGroup, ScalingPolicy


def alarms_for(deployment: Deployment, p: ScalingPolicy) -> list[Alarm]:
    return [a for a in deployment.all(Alarm) if p.key in [str(x) for x in known(a.actions, f"actions of {a}")]]


def simulated_group(deployment: Deployment, group: AutoScalingGroup) -> GroupSpec:
    """The group, its step policies and the alarms that drive them, as the simulation needs them;
    any unknown value makes the check undecidable (ERROR), never a pass."""
    policies = []
    for p in deployment.all(ScalingPolicy):
        if p.group != group.key:
            continue
        steps = tuple(
            Step(
                known(s.lower, f"step lower bound of {p}"),
                known(s.upper, f"step upper bound of {p}"),
                int(known(s.adjustment, f"step of {p}")),
            )
            for s in p.steps
        )
        for a in alarms_for(deployment, p):
            alarm = AlarmSpec(
                float(known(a.threshold, f"threshold of {a}")),
                str(known(a.comparison, f"comparison of {a}")),
                int(known(a.period, f"period of {a}")),
                int(known(a.evaluation_periods, f"evaluation periods of {a}")),
                known(a.datapoints_to_alarm, f"datapoints to alarm of {a}"),
                str(known(a.treat_missing_data, f"missing-data treatment of {a}") or "missing"),
            )
            warmup = known(p.warmup, f"warm-up of {p}")
            adjustment = str(known(p.adjustment_type, f"adjustment type of {p}"))
            policies.append(PolicySpec(f"{p.key} <- {a.key}", alarm, steps, adjustment, warmup))
    return GroupSpec(
        int(known(group.min_size, f"MinSize of {group}")),
        int(known(group.max_size, f"MaxSize of {group}")),
        tuple(policies),
        known(group.desired, f"DesiredCapacity of {group}"),
        int(known(group.cooldown, f"cooldown of {group}")),
    )
