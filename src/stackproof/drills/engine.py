"""The drill engine: a runbook as named steps, each with a precondition, an action, a
postcondition and a timeout; per-step timings; RTO and RPO; and cleanup of everything the
drill created, in reverse order, whether the drill passed, failed, timed out or was interrupted.

A step's action registers the undo of whatever it creates (:meth:`Drill.on_cleanup`) *before*
creating it where the identifier is known in advance, or immediately after. Cleanup runs with
SIGINT ignored, so a second Ctrl-C cannot leave half of it undone; the interrupt is re-raised
once everything is removed.

RTO is the time from the disaster (the end of the step marked ``disaster``) until the step
marked ``recovered`` saw its postcondition hold. RPO is the data lost, in time: 0 when every
canary written before the disaster was found intact afterwards (:meth:`Drill.survived`), else
the age at the disaster of the newest one that was.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Action = Callable[["Drill"], Any]

OK, FAILED, TIMED_OUT, NOT_RUN, INTERRUPTED = "ok", "failed", "timed out", "not run", "interrupted"


class StepFailed(Exception):
    """A precondition or a check inside a step did not hold; the message says what."""


@dataclass(frozen=True)
class Step:
    name: str
    action: Action
    precondition: Action | None = None
    postcondition: Action | None = None  # polled until it returns something truthy
    timeout: float = 60.0  # seconds for action and postcondition together
    marks: str | None = None  # "disaster" or "recovered"


@dataclass
class StepRecord:
    name: str
    status: str = NOT_RUN
    started: float | None = None  # seconds since the drill started
    duration: float | None = None
    detail: str = ""


@dataclass
class Canary:
    name: str
    written_at: float  # drill clock
    checksum: str


@dataclass
class CleanupRecord:
    what: str
    status: str
    detail: str = ""


@dataclass
class DrillResult:
    name: str
    status: str  # ok, failed, timed out, interrupted
    steps: list[StepRecord]
    cleanup: list[CleanupRecord]
    rto: float | None
    rpo: float | None
    error: str = ""

    @property
    def cleaned(self) -> bool:
        return all(c.status == OK for c in self.cleanup)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "steps": [vars(s) for s in self.steps],
            "cleanup": [vars(c) for c in self.cleanup],
            "rto_seconds": self.rto,
            "rpo_seconds": self.rpo,
            "error": self.error,
        }


class Drill:
    def __init__(
        self,
        name: str,
        steps: list[Step],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        poll: float = 0.02,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if len({s.name for s in steps}) != len(steps):
            raise ValueError(f"drill {name}: step names must be unique")
        self.name = name
        self.steps = steps
        self.clock, self.sleep, self.poll = clock, sleep, poll
        self.progress = progress or (lambda line: None)
        self.data: dict[str, Any] = {}
        self.canaries: list[Canary] = []
        self._cleanups: list[tuple[str, Callable[[], Any]]] = []
        self._start = 0.0
        self._disaster: float | None = None
        self._recovered: float | None = None
        self._survivors: set[str] = set()

    def now(self) -> float:
        return self.clock() - self._start

    def on_cleanup(self, what: str, undo: Callable[[], Any]) -> None:
        self._cleanups.append((what, undo))

    def canary(self, name: str, checksum: str) -> None:
        self.canaries.append(Canary(name, self.now(), checksum))

    def survived(self, names: set[str]) -> None:
        self._survivors |= names

    def rpo(self) -> float | None:
        """0 when every write made before the disaster survived; else the age, at the disaster,
        of the newest write that survived (the state the recovery went back to)."""
        if self._disaster is None:
            return None
        before = [c for c in self.canaries if c.written_at <= self._disaster]
        if not self._survivors or not before:
            return None
        if all(c.name in self._survivors for c in before):
            return 0.0
        kept = [c.written_at for c in before if c.name in self._survivors]
        return round(self._disaster - max(kept), 3) if kept else None

    def _run_step(self, step: Step, record: StepRecord) -> None:
        record.started = round(self.now(), 3)
        began = self.clock()
        self.progress(f"{self.name}: {step.name} ...")
        if step.precondition is not None and not step.precondition(self):
            raise StepFailed(f"precondition of {step.name!r} does not hold")
        step.action(self)
        if step.marks == "disaster":
            self._disaster = self.now()
        if step.postcondition is not None:
            while not step.postcondition(self):
                if self.clock() - began > step.timeout:
                    record.status = TIMED_OUT
                    raise StepFailed(f"{step.name!r}: postcondition not met within {step.timeout:g} s")
                self.sleep(self.poll)
        if step.marks == "recovered":
            self._recovered = self.now()
        record.status = OK

    def run(self) -> DrillResult:
        self._start = self.clock()
        records = [StepRecord(s.name) for s in self.steps]
        status, error, interrupt = OK, "", None
        for step, record in zip(self.steps, records, strict=True):
            try:
                self._run_step(step, record)
            except KeyboardInterrupt as exc:
                record.status, status, error, interrupt = INTERRUPTED, INTERRUPTED, f"interrupted in {step.name!r}", exc
            except StepFailed as exc:
                record.status = TIMED_OUT if record.status == TIMED_OUT else FAILED
                status, error = record.status, str(exc)
            except Exception as exc:  # an API error: the drill cannot go on
                record.status, status, error = FAILED, FAILED, f"{step.name!r}: {type(exc).__name__}: {exc}"
            finally:
                if record.started is not None:
                    record.duration = round(self.now() - record.started, 3)
            if status != OK:
                record.detail = error
                break
        cleanup = self.clean_up()
        rto = round(self._recovered - self._disaster, 3) if self._disaster is not None and self._recovered else None
        result = DrillResult(self.name, status, records, cleanup, rto if status == OK else None, self.rpo(), error)
        if interrupt is not None:
            raise DrillInterrupted(result) from interrupt
        return result

    def clean_up(self) -> list[CleanupRecord]:
        """Undo everything registered, newest first; every undo is tried even when one fails."""
        previous = signal.getsignal(signal.SIGINT)
        in_main = _in_main_thread()
        if in_main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        done = []
        try:
            while self._cleanups:
                what, undo = self._cleanups.pop()
                self.progress(f"{self.name}: cleaning up {what}")
                try:
                    undo()
                    done.append(CleanupRecord(what, OK))
                except Exception as exc:
                    done.append(CleanupRecord(what, FAILED, f"{type(exc).__name__}: {exc}"))
        finally:
            if in_main:
                signal.signal(signal.SIGINT, previous)
        return done


class DrillInterrupted(KeyboardInterrupt):
    """Ctrl-C during a drill, raised after cleanup; carries what was done."""

    def __init__(self, result: DrillResult) -> None:
        super().__init__(f"drill {result.name} interrupted; cleanup {'complete' if result.cleaned else 'INCOMPLETE'}")
        self.result = result


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
