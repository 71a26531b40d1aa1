"""Simple and target-tracking policies in SCL-05's simulation, with their cooldowns, and
SCL-01/03/05 on templates that use them."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from stackproof.domain.scaling_sim import (
    AlarmSpec,
    GroupSpec,
    PolicySpec,
    simple_policy,
    simulate,
    stability_traces,
    target_tracking,
)
from stackproof.model.from_template import build
from stackproof.results.evaluate import evaluate
from stackproof.template.loader import load_template
from stackproof.template.resolver import resolve
from tests.conftest import REGION
from tests.test_launch_configuration import TEMPLATE

HIGH = AlarmSpec(70, "GreaterThanThreshold", 300, 1)
LOW = AlarmSpec(10, "LessThanThreshold", 300, 1)


def vendor(cooldown: int | None = 300) -> GroupSpec:
    """The vendor's policy: +1 above 70, -1 below 10, simple, 300 s cooldowns."""
    return GroupSpec(
        1,
        5,
        (
            simple_policy("up", HIGH, 1, "ChangeInCapacity", cooldown),
            simple_policy("down", LOW, -1, "ChangeInCapacity", cooldown),
        ),
    )


def test_a_simple_70_10_policy_is_stable_under_every_trace() -> None:
    spec = vendor()
    for name, trace in stability_traces(spec).items():
        run = simulate(spec, trace)
        assert run.reversals() <= (1 if name.startswith("ramp") else 0), name


def test_a_simple_policy_waits_its_cooldown() -> None:
    run = simulate(vendor(cooldown=900), [500.0] * 60)
    minutes = [a.minute for a in run.activities]
    assert minutes == [4, 19, 34, 49]  # every 15 minutes, each at the end of a 5-minute period
    quick = simulate(vendor(cooldown=None), [500.0] * 60)  # without one: the group's 300 s
    assert [a.minute for a in quick.activities] == [4, 9, 14, 19]


@pytest.mark.parametrize("demand", [30.0, 150.0, 260.0, 410.0])
def test_target_tracking_settles_at_the_proportional_capacity(demand: float) -> None:
    spec = GroupSpec(1, 5, target_tracking("track", 50.0, 300, disable_scale_in=False))
    run = simulate(spec, [demand] * 240)
    assert run.capacity[-1] == min(5, max(1, math.ceil(demand / 50)))
    assert run.reversals() == 0


def test_target_tracking_scales_in_only_when_allowed() -> None:
    trace = [400.0] * 60 + [20.0] * 120
    assert simulate(GroupSpec(1, 5, target_tracking("t", 50.0, None, False)), trace).capacity[-1] == 1
    assert simulate(GroupSpec(1, 5, target_tracking("t", 50.0, None, True)), trace).capacity[-1] == 5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "predictive"}, "not one of"),
        ({"kind": "target", "target": None}, "positive target"),
        ({"kind": "target", "target": 0.0}, "positive target"),
    ],
)
def test_policy_specs_are_validated(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PolicySpec("p", HIGH, (), **kwargs)  # type: ignore[arg-type]


TARGET_TRACKING = """  ScaleUpPolicy:
    Type: AWS::AutoScaling::ScalingPolicy
    Properties:
      AutoScalingGroupName: !Ref AutoScalingGroup
      PolicyType: TargetTrackingScaling
      EstimatedInstanceWarmup: 300
      TargetTrackingConfiguration:
        PredefinedMetricSpecification: {PredefinedMetricType: ASGAverageCPUUtilization}
        TargetValue: 50
"""


def variant(tmp_path: Path, name: str, change: str) -> Path:
    text = TEMPLATE.read_text(encoding="utf-8")
    if change == "target-tracking":
        start, end = text.index("  ScaleUpPolicy:"), text.index("  CpuHigh:")
        text = text[:start] + TARGET_TRACKING + "\n" + text[end:]
        start, end = text.index("  CpuHigh:"), len(text)
        text = text[:start]
    elif change == "fixed-size":
        text = text.replace('MaxSize: "5"', 'MaxSize: "1"')
    elif change == "no-policies":
        text = text[: text.index("  ScaleUpPolicy:")]
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


CASES = [
    ("target-tracking", "SCL-05", "PASS", ""),
    (
        "target-tracking",
        "SCL-01",
        "FAIL",
        "ScaleUpPolicy tracks ASGAverageCPUUtilization at 50 (target tracking: out above 50, in below 45); "
        "the policy requires scale-out at >= 70 and scale-in at < 20",
    ),
    ("target-tracking", "SCL-03", "FAIL", "TargetTrackingScaling ASGAverageCPUUtilization at 50"),
    ("fixed-size", "SCL-05", "FAIL", "the group never scales under any of"),
    ("no-policies", "SCL-05", "FAIL", "no policy adds capacity, so there is no scale-out threshold"),
    ("no-policies", "SCL-01", "FAIL", "no alarm drives a policy that adds capacity"),
]


@pytest.mark.parametrize(("change", "control", "expected", "evidence"), CASES, ids=[f"{c[1]}:{c[0]}" for c in CASES])
def test_scaling_controls_on_policy_shapes(
    change: str, control: str, expected: str, evidence: str, tmp_path: Path
) -> None:
    deployment = build(resolve(load_template(variant(tmp_path, change, change)), {}, REGION))
    status, message = evaluate(deployment, control)
    assert status == expected, message
    assert evidence in message


@pytest.mark.parametrize(
    ("change", "evidence"),
    [
        ("no-policies", "no scaling policy with an alarm drives the group: there is nothing to simulate"),
        ("fixed-size", r"the group never scales under any of \d+ demand traces"),
    ],
)
def test_the_simulation_never_passes_over_a_group_that_cannot_scale(change: str, evidence: str, tmp_path: Path) -> None:
    from stackproof.checking import ControlFailed
    from stackproof.results.evaluate import load_checks

    (simulation,) = [c for c in load_checks() if c.name == "test_simulated_capacity_stays_in_bounds_and_never_flaps"]
    deployment = build(resolve(load_template(variant(tmp_path, change, change)), {}, REGION))
    with pytest.raises(ControlFailed, match=evidence):
        simulation.function(deployment=deployment, record_property=lambda name, value: None)
