"""SCL: scaling (seed 002 step 3 and its quota table)."""

from __future__ import annotations

from typing import Any

import pytest

from stackproof.checking import Findings, findings, known, require
from stackproof.domain import policy
from stackproof.domain.scaling_sim import simulate, stability_traces
from stackproof.domain.scaling_spec import alarms_for, simulated_group
from stackproof.model.deployment import PRIVATE, Deployment
from stackproof.model.types import Alarm, AutoScalingGroup, ScalingPolicy, Subnet

SCALE_OUT = ("GreaterThanOrEqualToThreshold", "GreaterThanThreshold")
SCALE_IN = ("LessThanThreshold", "LessThanOrEqualToThreshold")


def direction(p: ScalingPolicy) -> int:
    """+1 when the policy adds capacity, -1 when it removes, 0 when mixed or empty."""
    if known(p.policy_type, f"type of {p}") != "StepScaling":
        return 0
    signs = {(known(s.adjustment, f"step of {p}") > 0) - (s.adjustment < 0) for s in p.steps}
    return signs.pop() if len(signs) == 1 else 0


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


def scaling_pair(deployment: Deployment, group: AutoScalingGroup, f: Findings) -> tuple[list[Alarm], list[Alarm]]:
    policies = [p for p in deployment.all(ScalingPolicy) if p.group == group.key]
    out = [a for p in policies if direction(p) > 0 for a in alarms_for(deployment, p)]
    inn = [a for p in policies if direction(p) < 0 for a in alarms_for(deployment, p)]
    if not out:
        f.fail("no alarm drives a policy that adds capacity", group)
    if not inn:
        f.fail("no alarm drives a policy that removes capacity", group)
    return out, inn


@pytest.mark.control("SCL-01")
@pytest.mark.static
def test_scales_out_at_70_and_in_below_20(deployment: Deployment) -> None:
    scaling = policy.load()["scaling"]
    with findings() as f:
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            out, inn = scaling_pair(deployment, group, f)
            wanted = (
                ("scale-out", out, ("GreaterThanOrEqualToThreshold", scaling["scale_out_cpu"])),
                ("scale-in", inn, ("LessThanThreshold", scaling["scale_in_cpu"])),
            )
            for label, alarms, expected in wanted:
                for alarm in alarms:
                    observed = (known(alarm.comparison, f"{alarm}"), known(alarm.threshold, f"threshold of {alarm}"))
                    if observed != expected:
                        f.fail(
                            f"{label} alarm is not CPU {expected[0]} {expected[1]}%",
                            alarm,
                            observed=observed,
                            expected=expected,
                        )
                    for problem in cpu_alarm_problems(alarm, group):
                        f.fail(f"{label} alarm {problem}", alarm)


@pytest.mark.control("SCL-02")
@pytest.mark.static
def test_group_is_bounded_one_to_five(deployment: Deployment) -> None:
    scaling = policy.load()["scaling"]
    expected = (scaling["min_size"], scaling["max_size"])
    with findings() as f:
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            observed = (known(group.min_size, f"MinSize of {group}"), known(group.max_size, f"MaxSize of {group}"))
            if observed != expected:
                f.fail("group bounds differ from 1..5", group, observed=observed, expected=expected)


@pytest.mark.control("SCL-03")
@pytest.mark.static
def test_exactly_two_step_policies_each_driven_by_its_cpu_alarm(deployment: Deployment) -> None:
    with findings() as f:
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            policies = [p for p in deployment.all(ScalingPolicy) if p.group == group.key]
            directions = sorted(direction(p) for p in policies)
            if directions != [-1, 1]:
                f.fail(
                    "group does not have exactly one step policy adding and one removing capacity",
                    group,
                    *policies,
                    observed=[f"{p.key}: {p.policy_type} {direction(p):+d}" for p in policies] or "no policies",
                    expected="two StepScaling policies, +1 and -1",
                )
            for p in policies:
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
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
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
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            out, inn = scaling_pair(deployment, group, f)
            for high in out:
                for low in inn:
                    if known(low.threshold, f"{low}") >= known(high.threshold, f"{high}"):
                        f.fail(
                            "scale-in threshold is not below scale-out threshold (the group would flap)",
                            low,
                            high,
                            observed=(low.threshold, high.threshold),
                        )


@pytest.mark.control("SCL-05")
def test_simulated_capacity_stays_in_bounds_and_never_flaps(deployment: Deployment, record_property: Any) -> None:
    """Constant demands over the whole range, and a ramp up and down: a stable policy settles
    under a constant demand and scales back at most once over the ramp."""
    with findings() as f:
        for group in require(deployment.all(AutoScalingGroup), "Auto Scaling group"):
            try:
                spec = simulated_group(deployment, group)
            except ValueError as exc:
                f.fail(f"the scaling configuration cannot be simulated: {exc}", group)
                continue
            traces = stability_traces(spec)
            flapping = []
            for name, trace in traces.items():
                run = simulate(spec, trace)
                low, high = min(run.capacity), max(run.capacity)
                if low < spec.min_size or high > spec.max_size:
                    f.fail(f"{name}: capacity left its bounds", group, observed=(low, high))
                allowed = 1 if name.startswith("ramp") else 0
                if run.reversals() > allowed:
                    moves = ", ".join(f"min {a.minute}: {a.before}->{a.after}" for a in run.activities[:5])
                    flapping.append(f"{name} ({run.reversals()} reversals: {moves}, ...)")
            if flapping:
                f.fail(
                    f"capacity goes back and forth under {len(flapping)} of {len(traces)} demand traces, e.g. "
                    + "; ".join(flapping[:2]),
                    group,
                    observed=f"{len(flapping)} flapping traces",
                    expected="none",
                )
            record_property("note", f"simulated {len(traces)} demand traces on {group}")
