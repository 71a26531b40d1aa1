"""SCL-05's simulation: alarm evaluation as CloudWatch documents it (table-driven), and
hypothesis properties over demand traces: the reference's 70/20 policy keeps capacity within
1..5 and never scales back and forth under a steady demand; 50/45 does."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stackproof.domain.scaling_sim import ALARM, INSUFFICIENT, OK, AlarmSpec, GroupSpec, PolicySpec, Step, simulate
from stackproof.model.types import AutoScalingGroup
from tests.conftest import TEMPLATE
from tests.mutants import MUTANTS
from tests.test_controls import model_of


@pytest.mark.parametrize(
    ("treat", "window", "current", "expected"),
    [
        ("missing", [80, 80, 80], OK, ALARM),
        ("missing", [80, 60, 80], OK, OK),  # 2 of 3 breach, 3 needed
        ("missing", [None, None, None], ALARM, INSUFFICIENT),
        ("missing", [None, 80, 80], OK, OK),  # only 2 present, 3 needed
        ("ignore", [None, None, None], ALARM, ALARM),  # keeps its state
        ("ignore", [None, None, None], OK, OK),
        ("breaching", [None, 80, 80], OK, ALARM),
        ("notBreaching", [None, 80, 80], ALARM, OK),
        ("missing", [10, 80, 80, 80], OK, ALARM),  # only the last EvaluationPeriods count
    ],
)
def test_alarm_evaluation_three_of_three(treat: str, window: list[float | None], current: str, expected: str) -> None:
    alarm = AlarmSpec(70, "GreaterThanOrEqualToThreshold", 60, 3, 3, treat)
    assert alarm.state(window, current) == expected


@pytest.mark.parametrize(("window", "expected"), [([80, 10, 80], ALARM), ([80, 10, 10], OK), ([None, 80, 80], ALARM)])
def test_alarm_evaluation_m_of_n(window: list[float | None], expected: str) -> None:
    assert AlarmSpec(70, "GreaterThanOrEqualToThreshold", 60, 3, 2).state(window, OK) == expected


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"comparison": "Above"}, "comparison 'Above'"),
        ({"period": 90}, "whole number of minutes"),
        ({"treat_missing": "drop"}, "TreatMissingData 'drop'"),
        ({"evaluation_periods": 2, "datapoints_to_alarm": 3}, "DatapointsToAlarm"),
    ],
)
def test_alarm_specs_are_validated(kwargs: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"threshold": 70, "comparison": "GreaterThanOrEqualToThreshold"}
    with pytest.raises(ValueError, match=message):
        AlarmSpec(**{**base, **kwargs})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("adjustment_type", "adjustment", "capacity", "after"),
    [
        ("ChangeInCapacity", 1, 2, 3),
        ("PercentChangeInCapacity", 10, 2, 3),  # 0.2 of an instance rounds away from zero to 1
        ("PercentChangeInCapacity", 50, 4, 6),
        ("ExactCapacity", 4, 2, 4),
    ],
)
def test_adjustment_types(adjustment_type: str, adjustment: int, capacity: int, after: int) -> None:
    policy = PolicySpec(
        "p", AlarmSpec(70, "GreaterThanOrEqualToThreshold"), (Step(0, None, adjustment),), adjustment_type
    )
    assert policy.apply(capacity, policy.steps[0]) == after


def group_spec(template_path: object) -> GroupSpec:
    from checks.test_scaling import simulated_group

    deployment = model_of(template_path)  # type: ignore[arg-type]
    (group,) = deployment.all(AutoScalingGroup)
    return simulated_group(deployment, group)


REFERENCE = group_spec(TEMPLATE)


def test_reference_spec_is_the_seed_policy() -> None:
    thresholds = sorted(p.alarm.threshold for p in REFERENCE.policies)
    assert (REFERENCE.min_size, REFERENCE.max_size, thresholds) == (1, 5, [20.0, 70.0])


demand = st.one_of(st.none(), st.floats(min_value=0, max_value=600, allow_nan=False))


@settings(max_examples=200, deadline=None)
@given(st.lists(demand, min_size=1, max_size=400))
def test_capacity_stays_within_bounds_for_any_trace(trace: list[float | None]) -> None:
    run = simulate(REFERENCE, trace)
    assert all(1 <= c <= 5 for c in run.capacity)
    assert len(run.capacity) == len(trace)


segments = st.lists(
    st.tuples(st.floats(min_value=0, max_value=600, allow_nan=False), st.integers(min_value=40, max_value=120)),
    min_size=1,
    max_size=6,
)


def steady_reversals(spec: GroupSpec, plan: list[tuple[float, int]]) -> int:
    """Direction changes inside each constant stretch, once the alarms' windows (15 minutes,
    period-aligned) and warm-ups (5) no longer see the previous stretch."""
    trace: list[float | None] = [level for level, length in plan for _ in range(length)]
    run = simulate(spec, trace)
    worst, start = 0, 0
    for _, length in plan:
        moves = [
            a.after - a.before
            for a in run.activities
            if start + 20 <= a.minute < start + length and a.after != a.before
        ]
        signs = [m > 0 for m in moves]
        worst = max(worst, sum(1 for x, y in itertools.pairwise(signs) if x != y))
        start += length
    return worst


@settings(max_examples=200, deadline=None)
@given(segments)
def test_reference_policy_never_flaps_under_steady_demand(plan: list[tuple[float, int]]) -> None:
    assert steady_reversals(REFERENCE, plan) == 0


def test_thresholds_50_45_flap(tmp_path: object) -> None:
    """The same property is shown to fail: it is not vacuous."""
    from pathlib import Path

    mutant = next(m for m in MUTANTS if m.name == "thresholds-50-45-flap")
    spec = group_spec(mutant.apply(TEMPLATE, Path(str(tmp_path))))
    assert steady_reversals(spec, [(100.0, 120)]) > 0
    assert simulate(spec, [100.0] * 120).reversals() >= 4
