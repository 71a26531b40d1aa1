"""The drill engine on its own: order, conditions, timeouts, RTO and RPO, and cleanup that runs
whatever happens — a failed step, an API error, a real SIGINT, a second SIGINT during cleanup."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from stackproof.drills.engine import FAILED, NOT_RUN, OK, TIMED_OUT, Drill, DrillInterrupted, Step, StepFailed


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def drill(steps: list[Step], clock: Clock | None = None) -> Drill:
    clock = clock or Clock()
    return Drill("test", steps, clock=clock, sleep=clock.sleep, poll=1.0)


def test_steps_run_in_order_and_cleanups_in_reverse() -> None:
    log: list[str] = []

    def make(name: str) -> Step:
        def action(d: Drill) -> None:
            log.append(name)
            d.on_cleanup(f"undo {name}", lambda: log.append(f"undo {name}"))

        return Step(name, action)

    result = drill([make("a"), make("b"), make("c")]).run()
    assert result.status == OK
    assert log == ["a", "b", "c", "undo c", "undo b", "undo a"]
    assert [c.what for c in result.cleanup] == ["undo c", "undo b", "undo a"]


@pytest.mark.parametrize(
    ("failing", "status", "error"),
    [
        (Step("b", lambda d: None, precondition=lambda d: False), FAILED, "precondition of 'b' does not hold"),
        (Step("b", lambda d: (_ for _ in ()).throw(StepFailed("checksum differs"))), FAILED, "checksum differs"),
        (Step("b", lambda d: (_ for _ in ()).throw(KeyError("x"))), FAILED, "'b': KeyError: 'x'"),
        (Step("b", lambda d: None, postcondition=lambda d: False, timeout=5), TIMED_OUT, "not met within 5 s"),
    ],
)
def test_a_failing_step_stops_the_drill_and_everything_is_cleaned(failing: Step, status: str, error: str) -> None:
    undone: list[str] = []

    def first(d: Drill) -> None:
        d.on_cleanup("first", lambda: undone.append("first"))

    result = drill([Step("a", first), failing, Step("c", lambda d: None)]).run()
    assert result.status == status
    assert error in result.error
    assert [s.status for s in result.steps] == [OK, status, NOT_RUN]
    assert undone == ["first"]
    assert result.rto is None


def test_every_cleanup_is_tried_even_when_one_fails() -> None:
    undone: list[str] = []

    def action(d: Drill) -> None:
        d.on_cleanup("one", lambda: undone.append("one"))
        d.on_cleanup("broken", lambda: (_ for _ in ()).throw(RuntimeError("API down")))
        d.on_cleanup("three", lambda: undone.append("three"))

    result = drill([Step("a", action)]).run()
    assert undone == ["three", "one"]
    assert [(c.what, c.status) for c in result.cleanup] == [("three", OK), ("broken", FAILED), ("one", OK)]
    assert not result.cleaned


def test_rto_and_rpo_are_measured_from_the_disaster() -> None:
    clock = Clock()

    def write(name: str) -> Any:
        def action(d: Drill) -> None:
            clock.now += 10
            d.canary(name, "sha")

        return action

    def recovered(d: Drill) -> bool:
        d.survived({"early"})
        return clock.now >= 100

    steps = [
        Step("early", write("early")),  # written at 10
        Step("late", write("late")),  # written at 20, lost
        Step("disaster", lambda d: setattr(clock, "now", clock.now + 5), marks="disaster"),  # at 25
        Step("recover", lambda d: None, postcondition=recovered, timeout=500, marks="recovered"),
    ]
    result = drill(steps, clock).run()
    assert result.status == OK
    assert result.rto == 75.0  # 25 -> 100
    assert result.rpo == 15.0  # the newest surviving write was 15 s old at the disaster


def test_rpo_is_zero_when_nothing_written_was_lost() -> None:
    def both(d: Drill) -> bool:
        d.survived({"x"})
        return True

    steps = [
        Step("write", lambda d: d.canary("x", "sha")),
        Step("disaster", lambda d: None, marks="disaster"),
        Step("check", lambda d: None, postcondition=both, marks="recovered"),
    ]
    assert drill(steps).run().rpo == 0.0


def test_a_real_sigint_cleans_up_then_interrupts() -> None:
    undone: list[str] = []

    def create(d: Drill) -> None:
        d.on_cleanup("resource", lambda: undone.append("resource"))

    def second_interrupt_during_cleanup(d: Drill) -> None:
        # A second Ctrl-C while cleaning up must not cut the cleanup short.
        d.on_cleanup("impatient", lambda: signal.raise_signal(signal.SIGINT))

    steps = [
        Step("create", create),
        Step("arm", second_interrupt_during_cleanup),
        Step("interrupted", lambda d: signal.raise_signal(signal.SIGINT)),
        Step("never", lambda d: undone.append("never ran")),
    ]
    with pytest.raises(DrillInterrupted) as caught:
        drill(steps).run()
    assert undone == ["resource"]
    result = caught.value.result
    assert [s.status for s in result.steps] == [OK, OK, "interrupted", NOT_RUN]
    assert result.cleaned
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_step_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Drill("d", [Step("a", lambda d: None), Step("a", lambda d: None)])
