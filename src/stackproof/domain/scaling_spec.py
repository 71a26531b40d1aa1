"""The simulation's view of a deployed or templated group: its bounds, its step, simple and
target-tracking policies and the alarms that drive them, read from the model; any unknown value
is undecidable (ERROR), never a pass."""

from __future__ import annotations

from stackproof.domain.numbers import known_number
from stackproof.domain.scaling_sim import AlarmSpec, GroupSpec, PolicySpec, Step, simple_policy, target_tracking
from stackproof.model.deployment import Deployment
from stackproof.model.outcomes import known
from stackproof.model.types import Alarm, AutoScalingGroup, ScalingPolicy

STEP, SIMPLE, TARGET = "StepScaling", "SimpleScaling", "TargetTrackingScaling"
CPU_METRIC = "ASGAverageCPUUtilization"


def policy_type(p: ScalingPolicy) -> str:
    """StepScaling, SimpleScaling (also when PolicyType is absent), TargetTrackingScaling, ..."""
    return str(known(p.policy_type, f"type of {p}") or SIMPLE)


def alarms_for(deployment: Deployment, p: ScalingPolicy) -> list[Alarm]:
    return [a for a in deployment.all(Alarm) if p.key in [str(x) for x in known(a.actions, f"actions of {a}")]]


def policies_of(deployment: Deployment, group: AutoScalingGroup) -> list[ScalingPolicy]:
    return [p for p in deployment.all(ScalingPolicy) if p.group == group.key]


def alarm_spec(a: Alarm) -> AlarmSpec:
    return AlarmSpec(
        float(known_number(a.threshold, f"threshold of {a}")),
        str(known(a.comparison, f"comparison of {a}")),
        int(known_number(a.period, f"period of {a}")),
        int(known_number(a.evaluation_periods, f"evaluation periods of {a}")),
        known(a.datapoints_to_alarm, f"datapoints to alarm of {a}"),
        str(known(a.treat_missing_data, f"missing-data treatment of {a}") or "missing"),
    )


def policy_specs(deployment: Deployment, p: ScalingPolicy) -> list[PolicySpec]:
    """What one policy does in the simulation; ValueError for one it cannot simulate."""
    kind = policy_type(p)
    warmup = known(p.warmup, f"warm-up of {p}")
    if kind == TARGET:
        metric = known(p.target_metric, f"tracked metric of {p}")
        if metric != CPU_METRIC:
            raise ValueError(f"{p.key} tracks {metric}, which a CPU demand trace cannot drive")
        target = float(known_number(p.target_value, f"target value of {p}"))
        return list(target_tracking(p.key, target, warmup, bool(known(p.disable_scale_in, f"DisableScaleIn of {p}"))))
    adjustment = str(known(p.adjustment_type, f"adjustment type of {p}") or "ChangeInCapacity")
    specs = []
    if kind == STEP:
        steps = tuple(
            Step(
                known(s.lower, f"step lower bound of {p}"),
                known(s.upper, f"step upper bound of {p}"),
                int(known_number(s.adjustment, f"step of {p}")),
            )
            for s in p.steps
        )
        for a in alarms_for(deployment, p):
            specs.append(PolicySpec(f"{p.key} <- {a.key}", alarm_spec(a), steps, adjustment, warmup))
    elif kind == SIMPLE:
        change = int(known_number(p.simple_adjustment, f"ScalingAdjustment of {p}"))
        cooldown = known(p.cooldown, f"cooldown of {p}")
        for a in alarms_for(deployment, p):
            specs.append(simple_policy(f"{p.key} <- {a.key}", alarm_spec(a), change, adjustment, cooldown))
    else:
        raise ValueError(f"{p.key} is a {kind} policy, which the simulation does not model")
    return specs


def simulated_group(deployment: Deployment, group: AutoScalingGroup) -> GroupSpec:
    """The group, its policies and the alarms that drive them, as the simulation needs them;
    any unknown value makes the check undecidable (ERROR), never a pass."""
    policies = [spec for p in policies_of(deployment, group) for spec in policy_specs(deployment, p)]
    return GroupSpec(
        int(known_number(group.min_size, f"MinSize of {group}")),
        int(known_number(group.max_size, f"MaxSize of {group}")),
        tuple(policies),
        known(group.desired, f"DesiredCapacity of {group}"),
        int(known_number(group.cooldown, f"cooldown of {group}")),
    )
