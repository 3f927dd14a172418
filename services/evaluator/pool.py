"""A small process pool for scoring: the evaluator's thread never runs an agent itself, so a
slow agent costs one worker, never the evaluator, and work still running when its window
closes (or the service stops) is killed with the pool's processes.

Kept free of web3 and the chain: spawned workers import only this module and the scorer.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import threading
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from services.common.scoring import Verdict
from services.common.spec import TaskSpec

ScoreFn = Callable[[bytes, TaskSpec, bytes], Verdict]
K = TypeVar("K")


@dataclass(frozen=True)
class Job(Generic[K]):
    """One agent to score; `key` is the caller's (a solution id)."""

    key: K
    agent: bytes


def _load(fn: ScoreFn) -> None:
    """Unpickling `fn` imported its module; import the core too."""
    import bisuna  # noqa: F401


def _score(fn: ScoreFn, agent: bytes, spec: TaskSpec, seed: bytes) -> Verdict:
    return fn(agent, spec, seed)


class ScoringPool:
    """`workers` spawned processes (0: score in the calling thread, for tests and embedding)."""

    def __init__(self, workers: int) -> None:
        if workers < 0:
            raise ValueError(f"workers must be >= 0, got {workers}")
        self.workers = workers
        self._pool: multiprocessing.pool.Pool | None = None
        self._lock = threading.Lock()

    def _get(self) -> multiprocessing.pool.Pool:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the evaluator has threads and sockets a fork would copy.
                self._pool = multiprocessing.get_context("spawn").Pool(self.workers)
            return self._pool

    def warm(self, fn: ScoreFn) -> None:
        """Start the workers and have each load the scorer now, not inside a window."""
        if self.workers == 0:
            return
        pool = self._get()
        pool.map(_load, [fn] * self.workers, chunksize=1)

    def kill(self) -> None:
        """Terminate the workers and whatever they run; the next use starts fresh ones."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()
            pool.join()

    close = kill

    def score(
        self,
        fn: ScoreFn,
        spec: TaskSpec,
        seed: bytes,
        jobs: Sequence[Job[K]],
        *,
        until: float,
        stop: threading.Event,
        poll: float = 0.05,
    ) -> Generator[list[tuple[K, Verdict]], None, None]:
        """Score the jobs, submitted in the given order (best first), and yield what has
        finished as it finishes, in batches (each in submission order). Stops at `until`
        (time.monotonic()) or when `stop` is set: unfinished work is then killed, and the
        caller learns it from the keys never yielded. Exceptions in a job propagate."""
        if not jobs:
            return
        if self.workers == 0:  # in this thread, one batch at the end (or at the deadline)
            done: list[tuple[K, Verdict]] = []
            for job in jobs:
                if stop.is_set() or time.monotonic() >= until:
                    break
                done.append((job.key, fn(job.agent, spec, seed)))
            if done:
                yield done
            return
        pool = self._get()
        pending = [(job.key, pool.apply_async(_score, (fn, job.agent, spec, seed))) for job in jobs]
        try:
            while pending:
                flags = [(k, r, r.ready()) for k, r in pending]
                pending = [(k, r) for k, r, ready in flags if not ready]
                done = [(k, r.get()) for k, r, ready in flags if ready]
                if done:
                    yield done
                    continue
                if time.monotonic() >= until or stop.wait(poll):
                    break
        finally:
            if pending:
                self.kill()  # the only way to stop an agent mid-run
