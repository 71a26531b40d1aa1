"""Where a sweep's environments run: one after another in this process, or on Dask
distributed (an embedded ``LocalCluster`` of worker processes or of threads, or an existing
cluster's scheduler). dask is imported only here, and only when a sweep runs on it.

Every mode yields ``(task, outcome)`` as environments finish. A task whose worker failed (it
died, the cluster went away) yields the exception instead of an outcome, so the caller can
report that environment as ERROR rather than lose it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SERIAL, THREADS, PROCESSES, SCHEDULER = "serial", "threads", "processes", "scheduler"
CLUSTER_TIMEOUT = 60  # seconds to start an embedded cluster or reach a scheduler


class ExecutorError(Exception):
    """The cluster could not be started or reached; the message is for the user (exit 2)."""


@dataclass(frozen=True)
class Mode:
    kind: str  # SERIAL, THREADS, PROCESSES or SCHEDULER
    workers: int = 2  # processes (one thread each) or threads of the embedded cluster
    scheduler: str | None = None  # tcp://HOST:PORT of an existing cluster

    def describe(self) -> str:
        if self.kind == SERIAL:
            return "one after another, in this process"
        if self.kind == THREADS:
            return f"Dask LocalCluster, {self.workers} threads in this process"
        if self.kind == PROCESSES:
            return f"Dask LocalCluster, {self.workers} worker processes"
        return f"Dask cluster at {self.scheduler}"


def run(function: Callable[[T], R], tasks: Sequence[T], mode: Mode) -> Iterator[tuple[T, R | BaseException]]:
    """``function`` over ``tasks`` in ``mode``, each ``(task, outcome or exception)`` as it finishes."""
    if mode.kind == SERIAL:
        for task in tasks:
            yield task, function(task)
        return
    yield from _dask(function, tasks, mode)


def _dask(function: Callable[[T], R], tasks: Sequence[T], mode: Mode) -> Iterator[tuple[T, R | BaseException]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ExecutorError(
            "Dask distributed is not installed: pip install 'stackproof[sweep]', or use --serial"
        ) from None
    cluster: Any = None
    try:
        if mode.kind == SCHEDULER:
            client = Client(mode.scheduler, timeout=CLUSTER_TIMEOUT)
        else:
            processes = mode.kind == PROCESSES
            cluster = LocalCluster(
                n_workers=mode.workers if processes else 1,
                threads_per_worker=1 if processes else mode.workers,
                processes=processes,
                # The scheduler's and workers' HTTP endpoints on loopback, on free ports.
                dashboard_address="127.0.0.1:0",
                worker_dashboard_address="127.0.0.1:0",
                silence_logs=logging.ERROR,
                # Worker processes talk TCP on loopback; threads share the process (inproc://, no host).
                **({"host": "127.0.0.1", "scheduler_port": 0} if processes else {}),
            )
            client = Client(cluster, timeout=CLUSTER_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        if cluster is not None:
            cluster.close()
        where = mode.scheduler or "an embedded LocalCluster"
        raise ExecutorError(f"cannot reach {where}: {type(exc).__name__}: {exc}") from None
    try:
        # pure=False: two environments alike in every field are still two runs.
        futures = {future: task for future, task in zip(client.map(function, tasks, pure=False), tasks, strict=True)}
        for future in as_completed(futures):
            task = futures[future]
            try:
                yield task, future.result()
            except Exception as exc:  # the worker died or the cluster failed this task
                yield task, exc
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
