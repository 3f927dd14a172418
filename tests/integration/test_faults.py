"""Worker faults: a Celery worker killed with SIGKILL mid-epoch loses nothing; another worker
redoes the epoch and, epochs being deterministic, returns exactly what a local run returns.
The epochs go out and come back through the scheduler's own dispatcher (send, poll, wait)."""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.content import LocalContentStore
from services.common.json_input import JsonObject
from services.common.spec import parse_spec
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.islands import epoch_seed
from services.scheduler.private_store import PrivateAgents
from services.scheduler.service import EpochDispatcher, Island, epoch_args
from services.scheduler.tasks import run_epoch
from tests.integration.test_market_e2e import Procs, wait_until

HEAVY = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 2, "mix": "xor"}},
    "eval": {"samples": 512},
    "budget": {"population": 64, "generations": 400, "islands": 1, "epoch_generations": 400},
}


@pytest.fixture
def pool(
    private_redis: Callable[[], Any], tmp_path: Path
) -> Iterator[tuple[Procs, SolverSettings]]:
    server = private_redis()
    settings = SolverSettings(
        redis_url=server.url, content_store=f"file:{tmp_path / 'content'}", epoch_timeout=6.0
    )
    procs = Procs.under(tmp_path, server.url)
    try:
        yield procs, settings
    finally:
        procs.stop_all()


def gather(dispatcher: EpochDispatcher, island: Island) -> JsonObject | None:
    """What the scheduler's work loop does for one island: poll (re-sending a late epoch)
    and wait, until its result is back or the island is given up."""
    while island.sent:
        value = dispatcher.poll(island, 0)
        if value is not None:
            return value
        dispatcher.wait([island], 1.0)
    return None


def _running(client: redis.Redis, field: str) -> str | None:
    """`hostname` or `pid` of the worker running an epoch now (from the state it records)."""
    for key in client.scan_iter(match="celery-task-meta-*"):
        raw = client.get(key)
        meta = json.loads(raw) if raw else {}
        if meta.get("status") in {"STARTED", "PROGRESS"}:
            value = (meta.get("result") or {}).get(field)
            if value:
                return str(value)
    return None


def test_worker_killed_mid_epoch_another_redoes_it(
    pool: tuple[Procs, SolverSettings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    procs, settings = pool
    spec = parse_spec(json.dumps(HEAVY))
    spec_cid = LocalContentStore(tmp_path / "content").put(spec.to_bytes())
    procs.start("worker-a", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    procs.start("worker-b", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    app = make_app(settings)
    wait_until("two workers", lambda: len(app.control.ping(timeout=0.5)) >= 2, procs, 60)

    client = redis.Redis.from_url(settings.redis_url)
    private = PrivateAgents(client, settings.private_prefix, settings.private_ttl)
    dispatcher = EpochDispatcher(app, queue=settings.queue, epoch_timeout=settings.epoch_timeout)
    seed = b"\x07" * 32
    island = Island(index=0, seed=seed, strategy="suna")
    dispatcher.send(island, epoch_args(spec_cid, island, 400, [], 3))
    outcome: list[JsonObject | None] = []
    runner = threading.Thread(target=lambda: outcome.append(gather(dispatcher, island)))
    caplog.set_level(logging.WARNING, logger="edgemarket.scheduler")
    runner.start()

    host = wait_until("the epoch to start", lambda: _running(client, "hostname"), procs, 60)
    victim = next(n for n, p in procs.running.items() if f"edgemarket-{p.pid}@" in host)
    procs.kill9(victim)  # the whole worker: main process and its pool child

    runner.join(timeout=120)
    assert not runner.is_alive(), procs.tail()
    [result] = outcome
    assert result is not None
    # Determinism: the survivor's answer is what this process computes for the same epoch.
    local = run_epoch(spec, epoch_seed(seed, 0), 400, [], 3, carry=private)
    assert result["best"] == local["best"]
    assert result["best_fitness"] == local["best_fitness"]
    procs.check_alive()  # the survivor is still serving
    assert any("sending it again" in r.getMessage() for r in caplog.records)


def test_pool_process_killed_mid_epoch_is_requeued_at_once(
    pool: tuple[Procs, SolverSettings], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    procs, settings = pool
    spec = parse_spec(json.dumps(HEAVY))
    spec_cid = LocalContentStore(tmp_path / "content").put(spec.to_bytes())
    procs.start("worker", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    app = make_app(settings)
    wait_until("the worker", lambda: app.control.ping(timeout=0.5), procs, 60)
    client = redis.Redis.from_url(settings.redis_url)
    # No re-send from the scheduler's side: the worker itself must give the epoch back.
    dispatcher = EpochDispatcher(app, queue=settings.queue, epoch_timeout=600)
    seed = b"\x09" * 32
    island = Island(index=0, seed=seed, strategy="suna", epochs=2)
    dispatcher.send(island, epoch_args(spec_cid, island, 200, [], 2))
    outcome: list[JsonObject | None] = []
    runner = threading.Thread(target=lambda: outcome.append(gather(dispatcher, island)))
    caplog.set_level(logging.WARNING, logger="edgemarket.scheduler")
    runner.start()
    pid = int(wait_until("the epoch to start", lambda: _running(client, "pid"), procs, 60))
    os.kill(pid, 9)  # the pool process running the epoch; the worker's main process lives on
    runner.join(timeout=120)
    assert not runner.is_alive(), procs.tail()
    [result] = outcome
    assert result is not None
    private = PrivateAgents(client, settings.private_prefix, settings.private_ttl)
    assert result["best"] == run_epoch(spec, epoch_seed(seed, 2), 200, [], 2, carry=private)["best"]
    assert not any("sending it again" in r.getMessage() for r in caplog.records)
    procs.check_alive()


def test_the_loop_wakes_for_the_epoch_due_first_not_the_oldest(
    pool: tuple[Procs, SolverSettings], tmp_path: Path
) -> None:
    """Two islands on two workers: the older one's epoch is long, the younger one's short. The
    work loop's wait returns when the short one is back (its worker then gets its next epoch),
    not when the older one is: blocking on the oldest left that worker idle until the wait's
    timeout (a quarter second a turn in the loop)."""
    procs, settings = pool
    spec_cid = LocalContentStore(tmp_path / "content").put(parse_spec(json.dumps(HEAVY)).to_bytes())
    procs.start("worker-a", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    procs.start("worker-b", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    app = make_app(settings)
    wait_until("two workers", lambda: len(app.control.ping(timeout=0.5)) >= 2, procs, 60)
    dispatcher = EpochDispatcher(app, queue=settings.queue, epoch_timeout=600)
    older = Island(index=0, seed=b"\x0b" * 32, strategy="suna")
    younger = Island(index=1, seed=b"\x0c" * 32, strategy="suna")
    # As the work loop sends them: each with the time its generations should take.
    dispatcher.send(older, epoch_args(spec_cid, older, 1000, [], 1))
    older.expected_seconds = 1000 * 0.01
    dispatcher.send(younger, epoch_args(spec_cid, younger, 1, [], 1))
    younger.expected_seconds = 0.01
    dispatcher.wait([older, younger], 300)
    assert younger.sent[-1].ready()
    assert not older.sent[-1].ready()  # still evolving: the wait was not for it
    assert gather(dispatcher, older) is not None
