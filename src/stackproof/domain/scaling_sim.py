"""SCL-05's simulation: CloudWatch alarms evaluated as AWS documents them, driving step scaling,
over a demand trace, so a policy can be shown stable (or shown to flap) before it is deployed.

The clock ticks once a minute. Demand is given per minute in "percent of one instance": the
group's average CPU is ``min(100, demand / capacity)``, or missing when the demand is ``None``
(no datapoint: the agent was down, the group had no instances reporting).

Alarm evaluation (CloudWatch "Evaluating an alarm"): at the end of each of its periods an alarm
takes the period's average as one datapoint and looks at the last ``EvaluationPeriods`` of
them; it is in ALARM when at least ``DatapointsToAlarm`` breach. Missing datapoints follow
``TreatMissingData``: ``breaching`` and ``notBreaching`` count them so; ``ignore`` keeps the
current state when nothing is present; ``missing`` (the default) goes to INSUFFICIENT_DATA when
the whole window is missing. Unlike CloudWatch, the look-back never reaches beyond the window.

Scaling (EC2 Auto Scaling "Step and simple scaling policies"): while its alarm is in ALARM the
policy is executed at each evaluation. The step is chosen by the breach (datapoint minus
threshold) against the step bounds; ``ChangeInCapacity``, ``PercentChangeInCapacity`` (at least
1) and ``ExactCapacity`` are applied and clamped to [MinSize, MaxSize]. After any scaling
activity a step policy waits its ``EstimatedInstanceWarmup`` (or, without one, the group's
default cooldown) before acting again: the warm-up during which AWS does not let new instances
count twice. A simple policy is one step over the whole range; it waits its own ``Cooldown``
(or the group's default cooldown) after any scaling activity.

Target tracking (EC2 Auto Scaling "Target tracking scaling policies"): AWS creates two alarms on
the tracked metric, one in ALARM when the last 3 one-minute datapoints are above the target and
one when the last 15 are below 90% of it (none when scale-in is disabled). Either sets the
capacity proportionally, ``ceil(capacity * metric / target)``, never past the direction it acts
in, and then waits the policy's warm-up (or the group's default cooldown).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
COMPARE = {
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "GreaterThanThreshold": lambda v, t: v > t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}
MISSING_TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class AlarmSpec:
    threshold: float
    comparison: str
    period: int = 60  # seconds, a multiple of 60
    evaluation_periods: int = 1
    datapoints_to_alarm: int | None = None
    treat_missing: str = "missing"

    def __post_init__(self) -> None:
        if self.comparison not in COMPARE:
            raise ValueError(f"comparison {self.comparison!r} is not one of {', '.join(COMPARE)}")
        if self.period < 60 or self.period % 60:
            raise ValueError(f"period {self.period} is not a whole number of minutes")
        if self.treat_missing not in MISSING_TREATMENTS:
            raise ValueError(f"TreatMissingData {self.treat_missing!r} is not one of {', '.join(MISSING_TREATMENTS)}")
        if not 1 <= self.needed <= self.evaluation_periods:
            raise ValueError("DatapointsToAlarm must be between 1 and EvaluationPeriods")

    @property
    def needed(self) -> int:
        return self.datapoints_to_alarm or self.evaluation_periods

    def state(self, window: Sequence[float | None], current: str) -> str:
        """The state after evaluating the last ``evaluation_periods`` datapoints."""
        recent = list(window[-self.evaluation_periods :])
        breaching = 0
        present = 0
        for value in recent:
            if value is None:
                if self.treat_missing == "breaching":
                    breaching += 1
                    present += 1
                elif self.treat_missing == "notBreaching":
                    present += 1
                continue
            present += 1
            breaching += COMPARE[self.comparison](value, self.threshold)
        if present == 0:
            return current if self.treat_missing == "ignore" else INSUFFICIENT
        return ALARM if breaching >= self.needed else OK


@dataclass(frozen=True)
class Step:
    lower: float | None  # relative to the threshold; None is minus infinity
    upper: float | None  # None is plus infinity
    adjustment: int


KINDS = ("step", "simple", "target")


@dataclass(frozen=True)
class PolicySpec:
    name: str
    alarm: AlarmSpec
    steps: tuple[Step, ...]
    adjustment_type: str = "ChangeInCapacity"
    warmup: int | None = None  # seconds: a step or target-tracking policy's warm-up
    kind: str = "step"  # step, simple (one step, waits its cooldown) or target (tracks ``target``)
    cooldown: int | None = None  # seconds: a simple policy's own cooldown
    target: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"policy kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.kind == "target" and not (self.target and self.target > 0):
            raise ValueError(f"target tracking needs a positive target value, not {self.target!r}")

    def wait(self, group_cooldown: int) -> int:
        """Seconds after a scaling activity before this policy acts again."""
        own = self.cooldown if self.kind == "simple" else self.warmup
        return group_cooldown if own is None else own

    def next_capacity(self, capacity: int, datapoint: float) -> int | None:
        """What the policy sets the capacity to for ``datapoint`` (before clamping), or None."""
        if self.kind == "target":
            assert self.target is not None
            wanted = math.ceil(capacity * datapoint / self.target)
            return max(wanted, capacity) if self.alarm.comparison.startswith("Greater") else min(wanted, capacity)
        step = self.step_for(datapoint - self.alarm.threshold)
        return None if step is None else self.apply(capacity, step)

    def step_for(self, breach: float) -> Step | None:
        for step in self.steps:
            low = -math.inf if step.lower is None else step.lower
            high = math.inf if step.upper is None else step.upper
            if low <= breach < high:
                return step
        return None

    def apply(self, capacity: int, step: Step) -> int:
        if self.adjustment_type == "ExactCapacity":
            return step.adjustment
        if self.adjustment_type == "PercentChangeInCapacity":
            change = capacity * step.adjustment / 100
            whole = math.trunc(change)
            if whole == 0 and change != 0:
                whole = 1 if change > 0 else -1
            return capacity + whole
        return capacity + step.adjustment


@dataclass(frozen=True)
class GroupSpec:
    min_size: int
    max_size: int
    policies: tuple[PolicySpec, ...]
    desired: int | None = None
    cooldown: int = 300  # the group's default cooldown, seconds


@dataclass
class Activity:
    minute: int
    policy: str
    before: int
    after: int


@dataclass
class Simulation:
    capacity: list[int] = field(default_factory=list)  # per minute, after that minute's actions
    activities: list[Activity] = field(default_factory=list)
    states: dict[str, list[str]] = field(default_factory=dict)  # alarm state per policy per evaluation

    def reversals(self) -> int:
        """How often the direction of scaling changed (up then down, or down then up)."""
        directions = [1 if a.after > a.before else -1 for a in self.activities if a.after != a.before]
        return sum(1 for x, y in itertools.pairwise(directions) if x != y)


def cpu(demand: float | None, capacity: int) -> float | None:
    if demand is None or capacity <= 0:
        return None
    return min(100.0, demand / capacity)


def simulate(group: GroupSpec, demand: Sequence[float | None]) -> Simulation:
    """Run the group over ``demand`` (one value per minute)."""
    capacity = min(max(group.desired or group.min_size, group.min_size), group.max_size)
    result = Simulation(states={p.name: [] for p in group.policies})
    minute_cpu: list[float | None] = []
    datapoints: dict[str, list[float | None]] = {p.name: [] for p in group.policies}
    states = {p.name: INSUFFICIENT for p in group.policies}
    last_activity: int | None = None
    for minute, load in enumerate(demand):
        minute_cpu.append(cpu(load, capacity))
        for policy in group.policies:
            span = policy.alarm.period // 60
            if (minute + 1) % span:
                continue
            values = [v for v in minute_cpu[-span:] if v is not None]
            datapoint = sum(values) / len(values) if values else None
            datapoints[policy.name].append(datapoint)
            states[policy.name] = policy.alarm.state(datapoints[policy.name], states[policy.name])
            result.states[policy.name].append(states[policy.name])
            if states[policy.name] != ALARM or datapoint is None:
                continue
            if last_activity is not None and (minute - last_activity) * 60 < policy.wait(group.cooldown):
                continue
            wanted = policy.next_capacity(capacity, datapoint)
            if wanted is None:
                continue
            after = min(max(wanted, group.min_size), group.max_size)
            if after != capacity:
                result.activities.append(Activity(minute, policy.name, capacity, after))
                capacity = after
                last_activity = minute
        result.capacity.append(capacity)
    return result


def simple_policy(
    name: str, alarm: AlarmSpec, adjustment: int, adjustment_type: str, cooldown: int | None
) -> PolicySpec:
    """A simple scaling policy: one adjustment whatever the breach, then its cooldown."""
    return PolicySpec(name, alarm, (Step(None, None, adjustment),), adjustment_type, None, "simple", cooldown)


def target_tracking(name: str, target: float, warmup: int | None, disable_scale_in: bool) -> tuple[PolicySpec, ...]:
    """A target-tracking policy as the two alarms AWS creates for it and what each does."""
    high = AlarmSpec(target, "GreaterThanThreshold", 60, 3)
    low = AlarmSpec(0.9 * target, "LessThanThreshold", 60, 15)
    specs = [PolicySpec(f"{name} (scale out)", high, (), warmup=warmup, kind="target", target=target)]
    if not disable_scale_in:
        specs.append(PolicySpec(f"{name} (scale in)", low, (), warmup=warmup, kind="target", target=target))
    return tuple(specs)


def stability_traces(group: GroupSpec, minutes: int = 240) -> dict[str, list[float | None]]:
    """Constant demands across the whole range the group can serve, and a ramp up and down:
    under a constant demand a stable policy settles; it never scales back and forth."""
    top = group.max_size * 100
    traces: dict[str, list[float | None]] = {}
    for level in range(0, int(top) + 1, 10):
        traces[f"constant {level}%"] = [float(level)] * minutes
    ramp: list[float | None] = [top * i / minutes for i in range(minutes)]
    traces["ramp up then down"] = ramp + ramp[::-1]
    return traces
