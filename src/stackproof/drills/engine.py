"""The drill engine: a runbook as named steps, each with a precondition, an action, a
postcondition and a timeout; per-step timings; RTO and RPO; and cleanup of everything the
drill created, in reverse order, whether the drill passed, failed, timed out or was interrupted.

A step's action registers the undo of whatever it creates (:meth:`Drill.on_cleanup`) *before*
creating it: an undo is data (:class:`~stackproof.drills.journal.Undo`), written to the drill's
journal on disk before the call, so that what a killed process leaves behind can be finished
with ``stackproof drill --cleanup RUN-ID``. SIGINT and SIGTERM (how schedulers stop a job) both
stop the drill and run the cleanup; cleanup runs with both ignored, so a second signal cannot
leave half of it undone; the interrupt is re-raised once everything is removed.

RTO is the time from the disaster (the end of the step marked ``disaster``) until the step
marked ``recovered`` saw its postcondition hold. RPO is the data lost, in time: 0 when every
canary written before the disaster was found intact afterwards (:meth:`Drill.survived`), else
the age at the disaster of the newest one that was.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from stackproof.drills import journal
from stackproof.drills.journal import Journal, Undo

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
    run_id: str = ""

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
            "run_id": self.run_id,
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
        *,
        stack: Any = None,
        run_id: str | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        """``stack``: the StackHandle the drill changes (its clients run the undos, its account,
        region and name head the journal). ``run_id`` tags what the drill creates and names its
        journal in ``journal_dir`` (default :func:`journal.default_directory`)."""
        if len({s.name for s in steps}) != len(steps):
            raise ValueError(f"drill {name}: step names must be unique")
        self.name = name
        self.stack = stack
        self.run_id = run_id or journal.new_run_id()
        self.journal_dir = journal_dir
        self.journal: Journal | None = None
        self.steps = steps
        self.clock, self.sleep, self.poll = clock, sleep, poll
        self.progress = progress or (lambda line: None)
        self.data: dict[str, Any] = {}
        self.canaries: list[Canary] = []
        self._start = 0.0
        self._disaster: float | None = None
        self._recovered: float | None = None
        self._survivors: set[str] = set()

    def now(self) -> float:
        return self.clock() - self._start

    def on_cleanup(self, what: str, undo: Undo) -> int:
        """Journal ``undo`` (to disk) before the step creates what it undoes; its index, for
        :meth:`amend`."""
        if not isinstance(undo, Undo):
            raise TypeError(f"{what}: an undo must be a journal.Undo (a kind and its parameters), not {undo!r}")
        return self._journal().add(what, undo)

    def amend(self, index: int, **params: Any) -> None:
        """Add to a registered undo what the creating call answered (a job ID)."""
        self._journal().amend(index, **params)

    def tags(self) -> list[dict[str, str]]:
        """This run's tag, for the creating calls that take tags."""
        return journal.tags(self.run_id)

    def _journal(self) -> Journal:
        if self.journal is None:
            stack = self.stack
            client = getattr(stack, "client", None)
            profile = getattr(getattr(client, "session", None), "profile_name", None)
            context = {
                "account": getattr(stack, "account_id", None),
                "region": getattr(stack, "region", None),
                "stack": getattr(stack, "stack_name", None),
                "endpoint_url": getattr(client, "endpoint_url", None),
                "profile": profile if profile != "default" else None,  # "default": the standard chain
                # moto in this process: what the drill changed ends with the process, and no
                # later --cleanup can (or may) reach it.
                "in_process_emulator": bool(getattr(stack, "emulated", False))
                and getattr(client, "endpoint_url", None) is None,
            }
            directory = self.journal_dir or journal.default_directory()
            self.journal = Journal.create(directory, self.run_id, self.name, context)
        return self.journal

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
        where = self._journal().path
        self.progress(f"{self.name}: run {self.run_id}, undo journal {where}")
        records = [StepRecord(s.name) for s in self.steps]
        status, error, interrupt = OK, "", None
        with _signals_interrupt():
            try:
                for step, record in zip(self.steps, records, strict=True):
                    status, error, interrupt = self._attempt(step, record)
                    if status != OK:
                        break
            except KeyboardInterrupt as exc:  # a signal between two steps
                status, error, interrupt = INTERRUPTED, "interrupted between steps", exc
            while True:
                try:
                    cleanup = self.clean_up()
                    break
                except KeyboardInterrupt as exc:  # in the instant before cleanup ignored signals
                    status, error, interrupt = INTERRUPTED, error or "interrupted", interrupt or exc
        rto = round(self._recovered - self._disaster, 3) if self._disaster is not None and self._recovered else None
        result = DrillResult(
            self.name, status, records, cleanup, rto if status == OK else None, self.rpo(), error, self.run_id
        )
        if interrupt is not None:
            raise DrillInterrupted(result, signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)
        return result

    def _attempt(self, step: Step, record: StepRecord) -> tuple[str, str, BaseException | None]:
        """Run one step: (status, error, the interrupt to re-raise after cleanup)."""
        status, error, interrupt = OK, "", None
        try:
            self._run_step(step, record)
        except KeyboardInterrupt as exc:
            record.status, status, interrupt = INTERRUPTED, INTERRUPTED, exc
            error = f"{'terminated' if isinstance(exc, Terminated) else 'interrupted'} in {step.name!r}"
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
        return status, error, interrupt

    def clean_up(self) -> list[CleanupRecord]:
        """Run the journal's undos, newest first, with SIGINT and SIGTERM ignored; every undo is
        tried even when one fails. A journal whose undos all succeeded is removed; one with a
        failure stays for ``stackproof drill --cleanup``."""
        with _signals_ignored():
            found = self.journal
            if found is None:
                return []
            return finish(found, getattr(self.stack, "client", None), self.progress)


def finish(found: Journal, client: Callable[..., Any] | None, progress: Callable[[str], None]) -> list[CleanupRecord]:
    """Run ``found``'s pending undos newest first, marking each in the journal as it ends."""
    done = []
    for index in found.pending():
        entry = found.entries[index]
        progress(f"{found.drill}: cleaning up {entry.what}")
        try:
            journal.run_undo(entry.undo, client)
        except Exception as exc:
            detail = f"{type(exc).__name__}: {exc}"
            found.mark(index, journal.FAILED, detail)
            done.append(CleanupRecord(entry.what, FAILED, detail))
        else:
            found.mark(index, journal.DONE)
            done.append(CleanupRecord(entry.what, OK))
    found.finish()
    return done


class Terminated(KeyboardInterrupt):
    """SIGTERM during a drill: handled as Ctrl-C is (cleanup, then stop)."""


class DrillInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during a drill, raised after cleanup; carries what was done."""

    def __init__(self, result: DrillResult, signum: int = signal.SIGINT) -> None:
        name = signal.Signals(signum).name
        super().__init__(
            f"drill {result.name} stopped by {name}; cleanup {'complete' if result.cleaned else 'INCOMPLETE'}"
            + ("" if result.cleaned else f" (finish it: stackproof drill --cleanup {result.run_id})")
        )
        self.result = result
        self.signum = signum


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGTERM raises :class:`Terminated` in the drill (SIGINT raises KeyboardInterrupt as always)."""
    if not _in_main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    if not _in_main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
