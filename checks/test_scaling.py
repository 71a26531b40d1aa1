"""SCL: scaling (seed 002 step 3 and its quota table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from stackproof.checking import Findings, findings, known, optional, subjects
from stackproof.domain import policy
from stackproof.domain.numbers import known_number
from stackproof.domain.scaling_sim import simulate, stability_traces
from stackproof.domain.scaling_spec import SIMPLE, STEP, TARGET, alarms_for, policies_of, policy_type, simulated_group
from stackproof.model.deployment import PRIVATE, Deployment
from stackproof.model.types import Alarm, AutoScalingGroup, ScalingPolicy, Subnet

SCALE_OUT = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")
SCALE_IN = ("LessThanThreshold", "LessThanOrEqualToThreshold")
SYMBOL = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


def direction(p: ScalingPolicy) -> int:
    """+1 when a step or simple policy adds capacity, -1 when it removes, 0 when mixed, empty,
    exact (ExactCapacity moves either way) or target tracking (both ways, on alarms of its own)."""
    kind = policy_type(p)
    if kind == STEP:
        signs = {(known_number(s.adjustment, f"step of {p}") > 0) - (s.adjustment < 0) for s in p.steps}
        return signs.pop() if len(signs) == 1 else 0
    if kind == SIMPLE:
        if str(known(p.adjustment_type, f"adjustment type of {p}")) == "ExactCapacity":
            return 0
        change = known(p.simple_adjustment, f"ScalingAdjustment of {p}")
        return 0 if change is None else (change > 0) - (change < 0)
    return 0


def describe(p: ScalingPolicy) -> str:
    kind = policy_type(p)
    if kind == TARGET:
        return f"{p.key}: {kind} {p.target_metric} at {p.target_value}"
    return f"{p.key}: {kind} {direction(p):+d}"


def cpu_alarm_problems(alarm: Alarm, group: AutoScalingGroup) -> list[str]:
    metric = policy.load()["scaling"]["metric"]
    problems = []
    if (known(alarm.namespace, f"{alarm}"), known(alarm.metric, f"{alarm}")) != (metric["namespace"], metric["name"]):
        problems.append(f"watches {alarm.namespace}/{alarm.metric}, not {metric['namespace']}/{metric['name']}")
    if known(alarm.statistic, f"statistic of {alarm}") != metric["statistic"]:
        problems.append(f"uses statistic {alarm.statistic}, not {metric['statistic']}")
    if known(alarm.dimensions, f"dimensions of {alarm}") != {"AutoScalingGroupName": group.key}:
        problems.append(f"dimensions {alarm.dimensions} are not this group's")
    return problems


@dataclass(frozen=True)
class Threshold:
    """Where a group scales out or in: an alarm of a step or simple policy, or the alarm AWS
    creates for a target-tracking policy."""

    comparison: str
    value: float
    source: Alarm | ScalingPolicy


def thresholds(deployment: Deployment, group: AutoScalingGroup) -> tuple[list[Threshold], list[Threshold]]:
    """The group's scale-out and scale-in thresholds."""
    out: list[Threshold] = []
    inn: list[Threshold] = []
    for p in optional(policies_of(deployment, group), "a lookup: no threshold is a failure where it is used"):
        if policy_type(p) == TARGET:
            target = float(known_number(p.target_value, f"target value of {p}"))
            out.append(Threshold("GreaterThanThreshold", target, p))
            if not known(p.disable_scale_in, f"DisableScaleIn of {p}"):
                inn.append(Threshold("LessThanThreshold", 0.9 * target, p))
            continue
        sign = direction(p)
        for alarm in optional(alarms_for(deployment, p) if sign else [], "a lookup: see above"):
            comparison = str(known(alarm.comparison, f"comparison of {alarm}"))
            (out if sign > 0 else inn).append(
                Threshold(comparison, float(known_number(alarm.threshold, f"{alarm}")), alarm)
            )
    return out, inn


def scaling_pair(deployment: Deployment, group: AutoScalingGroup, f: Findings) -> tuple[list[Alarm], list[Alarm]]:
    """The alarms of the group's step and simple policies that add and that remove capacity."""
    policies = policies_of(deployment, group)
    out = [a for p in policies if direction(p) > 0 for a in alarms_for(deployment, p)]
    inn = [a for p in policies if direction(p) < 0 for a in alarms_for(deployment, p)]
    if not out:
        f.fail("no alarm drives a policy that adds capacity", group, observed=[describe(p) for p in policies] or "none")
    if not inn:
        f.fail(
            "no alarm drives a policy that removes capacity", group, observed=[describe(p) for p in policies] or "none"
        )
    return out, inn


def _number(value: float) -> str:
    return f"{value:g}"


@pytest.mark.control("SCL-01")
@pytest.mark.static
def test_scales_out_at_70_and_in_below_20(deployment: Deployment) -> None:
    scaling = policy.load()["scaling"]
    wanted = {
        "scale-out": ("GreaterThanOrEqualToThreshold", float(scaling["scale_out_cpu"])),
        "scale-in": ("LessThanThreshold", float(scaling["scale_in_cpu"])),
    }
    required = {label: f"{SYMBOL[op]} {_number(value)}" for label, (op, value) in wanted.items()}
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            tracking = optional(policies_of(deployment, group), "the alarms of scaling_pair are the subject")
            for p in tracking:
                if policy_type(p) == TARGET:
                    target = known(p.target_value, f"target value of {p}")
                    f.fail(
                        f"{p.key} tracks {p.target_metric} at {_number(float(target))} (target tracking: out above "
                        f"{_number(float(target))}, in below {_number(0.9 * float(target))}); the policy requires "
                        f"scale-out at {required['scale-out']} and scale-in at {required['scale-in']}",
                        p,
                        observed=f"target {_number(float(target))}",
                        expected=f"step or simple policies: out {required['scale-out']}, in {required['scale-in']}",
                    )
            out, inn = scaling_pair(deployment, group, f)
            for label, alarms in (("scale-out", out), ("scale-in", inn)):
                expected = wanted[label]
                for alarm in alarms:
                    comparison = str(known(alarm.comparison, f"comparison of {alarm}"))
                    threshold = float(known_number(alarm.threshold, f"threshold of {alarm}"))
                    if (comparison, threshold) != expected:
                        f.fail(
                            f"{label} alarm is CPU {SYMBOL.get(comparison, comparison)} {_number(threshold)} "
                            f"({comparison}); the policy requires {required[label]}",
                            alarm,
                            observed=f"{SYMBOL.get(comparison, comparison)} {_number(threshold)}",
                            expected=f"{required[label]} ({expected[0]})",
                        )
                    for problem in cpu_alarm_problems(alarm, group):
                        f.fail(f"{label} alarm {problem}", alarm)


@pytest.mark.control("SCL-02")
@pytest.mark.static
def test_group_is_bounded_one_to_five(deployment: Deployment) -> None:
    scaling = policy.load()["scaling"]
    expected = (scaling["min_size"], scaling["max_size"])
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            observed = (known(group.min_size, f"MinSize of {group}"), known(group.max_size, f"MaxSize of {group}"))
            if observed != expected:
                f.fail("group bounds differ from 1..5", group, observed=observed, expected=expected)


@pytest.mark.control("SCL-03")
@pytest.mark.static
def test_exactly_two_step_policies_each_driven_by_its_cpu_alarm(deployment: Deployment) -> None:
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            policies = policies_of(deployment, group)
            steps = sorted(direction(p) for p in policies if policy_type(p) == STEP)
            if steps != [-1, 1] or len(steps) != len(policies):
                f.fail(
                    "group does not have exactly one step policy adding and one removing capacity",
                    group,
                    *policies,
                    observed=[describe(p) for p in policies] or "no policies",
                    expected="two StepScaling policies, +1 and -1",
                )
            for p in policies:
                if policy_type(p) == TARGET:
                    continue  # its alarms are AWS's own, not the stack's
                alarms = alarms_for(deployment, p)
                if len(alarms) != 1:
                    f.fail(f"policy is driven by {len(alarms)} alarms, not one", p)
                for alarm in alarms:
                    for problem in cpu_alarm_problems(alarm, group):
                        f.fail(f"alarm driving {p.key} {problem}", alarm)


@pytest.mark.control("SCL-04")
@pytest.mark.static
def test_group_spans_private_subnets_with_one_target_group_and_elb_checks(deployment: Deployment) -> None:
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            subnets = [deployment.get(Subnet, k) for k in known(group.subnets, f"subnets of {group}")]
            zones = set()
            for subnet in subnets:
                if subnet is None:
                    f.fail("group uses a subnet outside this deployment", group)
                    continue
                if known(deployment.tier_of(subnet), f"tier of {subnet}") != PRIVATE:
                    f.fail("group uses a subnet that is not private", group, subnet)
                zones.add(known(subnet.az, f"zone of {subnet}"))
            if len(zones) < 2:
                f.fail("group does not span two Availability Zones", group, observed=sorted(zones))
            groups = known(group.target_groups, f"target groups of {group}")
            if len(groups) != 1:
                f.fail("group is not registered with exactly one target group", group, observed=len(groups), expected=1)
            if known(group.health_check_type, f"health check type of {group}") != "ELB":
                f.fail("group does not use ELB health checks", group, observed=group.health_check_type, expected="ELB")


@pytest.mark.control("SCL-05")
@pytest.mark.static
def test_scale_in_threshold_is_below_scale_out_threshold(deployment: Deployment) -> None:
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            out, inn = thresholds(deployment, group)
            if not out:
                f.fail("no policy adds capacity, so there is no scale-out threshold to compare", group)
            if not inn:
                f.fail("no policy removes capacity, so there is no scale-in threshold to compare", group)
            for high in out:
                for low in inn:
                    if low.value >= high.value:
                        f.fail(
                            "scale-in threshold is not below scale-out threshold (the group would flap)",
                            low.source,
                            high.source,
                            observed=(low.value, high.value),
                        )


@pytest.mark.control("SCL-05")
def test_simulated_capacity_stays_in_bounds_and_never_flaps(deployment: Deployment, record_property: Any) -> None:
    """Constant demands over the whole range, and a ramp up and down: a stable policy settles
    under a constant demand and scales back at most once over the ramp. A group that never
    scales under any of them shows nothing about stability: that is a failure, not a pass."""
    with findings() as f:
        for group in subjects(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            try:
                spec = simulated_group(deployment, group)
            except ValueError as exc:
                f.fail(f"the scaling configuration cannot be simulated: {exc}", group)
                continue
            if not spec.policies:
                f.fail(
                    "no scaling policy with an alarm drives the group: there is nothing to simulate",
                    group,
                    *policies_of(deployment, group),
                    observed=[describe(p) for p in policies_of(deployment, group)] or "no policies",
                )
                continue
            traces = stability_traces(spec)
            flapping = []
            moved = False
            for name, trace in traces.items():
                run = simulate(spec, trace)
                moved = moved or bool(run.activities)
                low, high = min(run.capacity), max(run.capacity)
                if low < spec.min_size or high > spec.max_size:
                    f.fail(f"{name}: capacity left its bounds", group, observed=(low, high))
                allowed = 1 if name.startswith("ramp") else 0
                if run.reversals() > allowed:
                    moves = ", ".join(f"min {a.minute}: {a.before}->{a.after}" for a in run.activities[:5])
                    flapping.append(f"{name} ({run.reversals()} reversals: {moves}, ...)")
            if not moved:
                f.fail(
                    f"the group never scales under any of {len(traces)} demand traces, so its stability is not shown",
                    group,
                    observed=f"bounds {spec.min_size}..{spec.max_size}, capacity never changes",
                    expected="scaling out under high demand and back in under low demand",
                )
            if flapping:
                f.fail(
                    f"capacity goes back and forth under {len(flapping)} of {len(traces)} demand traces, e.g. "
                    + "; ".join(flapping[:2]),
                    group,
                    observed=f"{len(flapping)} flapping traces",
                    expected="none",
                )
            record_property("note", f"simulated {len(traces)} demand traces on {group}")
