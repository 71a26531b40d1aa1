"""The drill engine on its own: order, conditions, timeouts, RTO and RPO, and cleanup that runs
whatever happens — a failed step, an API error, a real SIGINT or SIGTERM, a second signal during
cleanup — from a journal on disk that records each undo before the step makes its change."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest

from stackproof.drills import journal
from stackproof.drills.engine import FAILED, NOT_RUN, OK, TIMED_OUT, Drill, DrillInterrupted, Step, StepFailed
from stackproof.drills.journal import Undo

LOG: list[str] = []


@journal.kind("test.log")
def _log(client: Any, params: dict[str, Any]) -> None:
    LOG.append(params["name"])


@journal.kind("test.fail")
def _fail(client: Any, params: dict[str, Any]) -> None:
    raise RuntimeError("API down")


@journal.kind("test.signal")
def _signal(client: Any, params: dict[str, Any]) -> None:
    signal.raise_signal(getattr(signal, params["signal"]))


def log(name: str) -> Undo:
    return Undo("test.log", {"name": name})


@pytest.fixture(autouse=True)
def journals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv(journal.ENVIRONMENT, str(tmp_path))
    LOG.clear()
    return tmp_path


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


def test_steps_run_in_order_and_cleanups_in_reverse(journals: Path) -> None:
    def make(name: str) -> Step:
        def action(d: Drill) -> None:
            LOG.append(name)
            d.on_cleanup(f"undo {name}", log(f"undo {name}"))

        return Step(name, action)

    result = drill([make("a"), make("b"), make("c")]).run()
    assert result.status == OK
    assert LOG == ["a", "b", "c", "undo c", "undo b", "undo a"]
    assert [c.what for c in result.cleanup] == ["undo c", "undo b", "undo a"]
    assert list(journals.iterdir()) == []  # all undone: nothing left to finish


def test_each_undo_is_on_disk_before_the_step_goes_on(journals: Path) -> None:
    seen: list[Any] = []

    def create(d: Drill) -> None:
        d.on_cleanup("the snapshot", Undo("rds.delete-db-snapshot", {"snapshot": "stackproof-x"}, "eu-west-1"))
        seen.append(json.loads((journals / f"{d.run_id}.json").read_text()))

    result = drill([Step("create", create)]).run()
    (undo,) = seen[0]["undos"]
    assert undo == {
        "what": "the snapshot",
        "kind": "rds.delete-db-snapshot",
        "params": {"snapshot": "stackproof-x"},
        "region": "eu-west-1",
        "module": "stackproof.drills.journal",
        "status": "pending",
        "detail": "",
    }
    assert seen[0]["run_id"] == result.run_id
    assert [c.status for c in result.cleanup] == [FAILED]  # no client: the journal stays to be finished
    left = json.loads((journals / f"{result.run_id}.json").read_text())
    assert left["undos"][0]["status"] == "failed"


def test_an_undo_must_be_data_not_a_closure() -> None:
    def closure(d: Drill) -> None:
        d.on_cleanup("x", lambda: None)  # type: ignore[arg-type]

    result = drill([Step("a", closure)]).run()
    assert result.status == FAILED
    assert "must be a journal.Undo" in result.error
    with pytest.raises(ValueError, match="unknown undo kind"):
        Undo("delete-everything")
    with pytest.raises(TypeError):
        Undo("test.log", {"name": object()})


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
    def first(d: Drill) -> None:
        d.on_cleanup("first", log("first"))

    result = drill([Step("a", first), failing, Step("c", lambda d: None)]).run()
    assert result.status == status
    assert error in result.error
    assert [s.status for s in result.steps] == [OK, status, NOT_RUN]
    assert LOG == ["first"]
    assert result.rto is None


def test_every_cleanup_is_tried_even_when_one_fails() -> None:
    def action(d: Drill) -> None:
        d.on_cleanup("one", log("one"))
        d.on_cleanup("broken", Undo("test.fail"))
        d.on_cleanup("three", log("three"))

    result = drill([Step("a", action)]).run()
    assert LOG == ["three", "one"]
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


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_real_signal_cleans_up_then_interrupts(name: str) -> None:
    """Ctrl-C and a scheduler's SIGTERM alike; a second signal of either kind during cleanup
    does not cut it short."""

    def create(d: Drill) -> None:
        d.on_cleanup("resource", log("resource"))

    def second_signals_during_cleanup(d: Drill) -> None:
        d.on_cleanup("impatient", Undo("test.signal", {"signal": "SIGINT"}))
        d.on_cleanup("more impatient", Undo("test.signal", {"signal": "SIGTERM"}))

    terminate = signal.getsignal(signal.SIGTERM)
    steps = [
        Step("create", create),
        Step("arm", second_signals_during_cleanup),
        Step("interrupted", lambda d: signal.raise_signal(getattr(signal, name))),
        Step("never", lambda d: LOG.append("never ran")),
    ]
    with pytest.raises(DrillInterrupted) as caught:
        drill(steps).run()
    assert LOG == ["resource"]
    assert caught.value.signum == getattr(signal, name)
    result = caught.value.result
    assert [s.status for s in result.steps] == [OK, OK, "interrupted", NOT_RUN]
    assert result.cleaned
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is terminate


def test_step_names_are_unique() -> None:
    with pytest.raises(ValueError, match="unique"):
        Drill("d", [Step("a", lambda d: None), Step("a", lambda d: None)])


def test_a_journal_that_cannot_be_read_is_one_message(journals: Path) -> None:
    (journals / "broken.json").write_text("{not json")
    with pytest.raises(journal.JournalError, match="not a drill journal"):
        journal.load(journals, "broken")
    (journals / "odd.json").write_text(
        json.dumps(
            {"run_id": "odd", "drill": "d", "context": {}, "undos": [{"what": "w", "kind": "x.y", "params": {}}]}
        )
    )
    with pytest.raises(journal.JournalError, match=r"unknown undo kind 'x\.y'"):
        journal.load(journals, "odd")
    with pytest.raises(journal.JournalError, match="is not a drill run ID"):
        journal.load(journals, "../etc/passwd")
