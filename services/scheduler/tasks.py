"""Celery tasks run by workers: one island's epoch of evolution in the C core."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import redis
from celery import Task

from services.common.content import ContentError, open_content_store
from services.common.json_input import JsonObject
from services.common.spec import TaskSpec, parse_spec
from services.scheduler.celery_app import app
from services.scheduler.config import get_solver_settings
from services.scheduler.islands import core_strategies
from services.scheduler.private_store import PrivateAgentError, PrivateAgents

if TYPE_CHECKING:
    import bisuna

EVOLVE_EPOCH = "edgemarket.evolve_epoch"
PROGRESS_EVERY_SECONDS = 1.0

log = logging.getLogger("edgemarket.worker")


class ProgressReporter:
    """Progress reports go to the result backend from a thread of their own: each costs a
    round trip to Redis, which on a far or lossy link would otherwise stall the evolution
    once a second. Only the latest report waits to be sent; `close()` returns once nothing is
    in flight and drops what is left, so no report can land after (and over) the result."""

    def __init__(self, send: Callable[[JsonObject], None]) -> None:
        self._send = send
        self._latest: JsonObject | None = None
        self._closed = False
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
        self._thread.start()

    def offer(self, meta: JsonObject) -> None:
        with self._cv:
            if not self._closed:
                self._latest = meta
                self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while self._latest is None and not self._closed:
                    self._cv.wait()
                if self._closed or self._latest is None:
                    return
                meta, self._latest = self._latest, None
            try:
                self._send(meta)  # outside the lock: offer() never waits for the network
            except Exception as exc:  # a lost progress report is only cosmetic
                log.warning("progress report not sent", extra={"error": repr(exc)})

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._latest = None
            self._cv.notify()
        self._thread.join()


@lru_cache(maxsize=8)
def _spec(spec_cid: str) -> TaskSpec:
    # Specs are public and immutable (content addressed), so a worker keeps a few in memory.
    settings = get_solver_settings()
    data = open_content_store(settings).get(spec_cid)
    return parse_spec(data, cid=spec_cid)


@lru_cache(maxsize=1)
def _private() -> PrivateAgents:
    settings = get_solver_settings()
    return PrivateAgents(
        redis.Redis.from_url(settings.redis_url), settings.private_prefix, settings.private_ttl
    )


def new_population(spec: JsonObject, seed: int, strategy: str) -> bisuna.Population:
    """A population of the core under a named search strategy, or a clear error naming the
    ones this core has."""
    import bisuna

    known = core_strategies()
    if strategy not in known:
        raise ValueError(
            f"search strategy {strategy!r} is not in this core (it has {', '.join(known)}): "
            "fix EDGEMARKET_STRATEGIES"
        )
    return bisuna.Population(spec, seed, strategy=strategy)


def run_epoch(
    spec: TaskSpec,
    seed: int,
    generations: int,
    agents: list[bytes],
    keep: int,
    on_progress: Any = None,  # Any: Celery's bound update_state, or None
    *,
    strategy: str = "suna",
    carry: PrivateAgents | None = None,
) -> JsonObject:
    """One epoch: a population seeded with `seed`, joined by `agents`, evolved `generations`
    generations; returns its `keep` best as hex and the fitness curve.

    Without `carry`, `agents` are migrants (they replace the lowest-ranked). With `carry`,
    `agents` are the neighbour's champions followed by the island's own carried population,
    best first: they become the population's members (as many as it holds; the tail of the
    own population is what gets cut), and the evolved members go back to the private store,
    their digests in `population`, for the island's next epoch."""
    import bisuna

    spec_dict = spec.to_dict()
    limits = spec_dict["limits"]
    population = new_population(spec_dict, seed, strategy)
    decoded = [bisuna.Agent.from_bytes(a, limits) for a in agents]
    if decoded and carry is not None:
        population.load(decoded[: len(population.export_population())])
    elif decoded:
        room = population.size - 1  # the core keeps at least one agent of its own
        population.import_migrants(decoded[:room])
    started = time.perf_counter()
    population.evolve(generations, on_progress=on_progress)
    seconds = time.perf_counter() - started
    result: JsonObject = {
        "best": [a.to_bytes().hex() for a in population.export_best(keep)],
        "best_fitness": int(population.best_fitness),
        "history": [int(x) for x in population.history.best],
        "generations": generations,
        "compute_seconds": seconds,
    }
    if carry is not None:
        result["population"] = carry.put_many(list(population.export_population()))
    return result


@app.task(  # type: ignore[untyped-decorator]  # Celery ships no types
    name=EVOLVE_EPOCH,
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(ContentError, redis.ConnectionError, PrivateAgentError),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=5,
)
def evolve_epoch(
    self: Task,
    spec_cid: str,
    seed: str,
    epoch: int,
    generations: int,
    agents: list[str],
    keep: int,
    strategy: str = "suna",
    carry: bool = False,
) -> JsonObject:
    """Args are small: the spec's CID, the epoch's 64-bit seed (decimal string, JSON-safe),
    and the digests of the agents to import, read from the solver's private store; with
    `carry` the whole evolved population goes back there, and only its digests come back."""
    started_at = time.time()  # wall clock, comparable across machines' logs (utilisation)
    spec = _spec(spec_cid)
    agent_bytes = _private().get_many(agents)  # one round trip, however many
    last = [0.0]
    task_id, hostname = self.request.id, self.request.hostname
    # Celery's backend is per thread: the reporter's thread (one per epoch) would open a
    # connection of its own every epoch, a TCP and TLS handshake on a far link that the result
    # then waits for. It sends through this thread's backend, whose connections stay open.
    backend = self.backend
    reporter = ProgressReporter(lambda meta: backend.store_result(task_id, meta, "PROGRESS"))

    def progress(gen: int, best_fitness: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            reporter.offer(
                {
                    "epoch": epoch,
                    "generation": int(gen),
                    "best_fitness": int(best_fitness),
                    "hostname": hostname,
                    "pid": os.getpid(),
                }
            )

    try:
        result = run_epoch(
            spec,
            int(seed),
            generations,
            agent_bytes,
            keep,
            progress,
            strategy=strategy,
            carry=_private() if carry else None,
        )
    finally:
        reporter.close()
    result["epoch"] = epoch
    result["worker"] = self.request.hostname or ""
    result["pid"] = os.getpid()
    result["started_at"] = started_at
    result["finished_at"] = time.time()
    return result
