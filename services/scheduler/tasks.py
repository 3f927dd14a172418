"""Celery tasks run by workers: one island's epoch of evolution in the C core."""

from __future__ import annotations

import os
import time
from functools import lru_cache
from typing import Any

import redis
from celery import Task

from services.common.content import ContentError, open_content_store
from services.common.json_input import JsonObject
from services.common.spec import TaskSpec, parse_spec
from services.scheduler.celery_app import app
from services.scheduler.config import get_solver_settings
from services.scheduler.private_store import PrivateAgentError, PrivateAgents

EVOLVE_EPOCH = "edgemarket.evolve_epoch"
PROGRESS_EVERY_SECONDS = 1.0


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


def run_epoch(
    spec: TaskSpec,
    seed: int,
    generations: int,
    agents: list[bytes],
    keep: int,
    on_progress: Any = None,  # Any: Celery's bound update_state, or None
) -> JsonObject:
    """One epoch: a population seeded with `seed`, joined by `agents` (own elite and migrants),
    evolved `generations` generations; returns its `keep` best as hex and the fitness curve."""
    import bisuna

    spec_dict = spec.to_dict()
    limits = spec_dict["limits"]
    population = bisuna.Population(spec_dict, seed)
    if agents:
        population.import_migrants([bisuna.Agent.from_bytes(a, limits) for a in agents])
    started = time.perf_counter()
    population.evolve(generations, on_progress=on_progress)
    seconds = time.perf_counter() - started
    best = population.export_best(keep)
    return {
        "best": [a.to_bytes().hex() for a in best],
        "best_fitness": int(population.best_fitness),
        "history": [int(x) for x in population.history.best],
        "generations": generations,
        "compute_seconds": seconds,
    }


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
) -> JsonObject:
    """Args are small: the spec's CID, the epoch's 64-bit seed (decimal string, JSON-safe),
    and the digests of the agents to import, read from the solver's private store."""
    spec = _spec(spec_cid)
    agent_bytes = [_private().get(d) for d in agents]
    last = [0.0]

    def progress(gen: int, best_fitness: int) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY_SECONDS:
            last[0] = now
            self.update_state(
                state="PROGRESS",
                meta={
                    "epoch": epoch,
                    "generation": int(gen),
                    "best_fitness": int(best_fitness),
                    "hostname": self.request.hostname,
                    "pid": os.getpid(),
                },
            )

    result = run_epoch(spec, int(seed), generations, agent_bytes, keep, progress)
    result["epoch"] = epoch
    result["worker"] = self.request.hostname or ""
    return result
