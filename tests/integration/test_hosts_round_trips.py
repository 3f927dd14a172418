"""On a far link every round trip between a worker and the solver's Redis costs the worker
idle time (100 ms at 50 ms each way, more with loss): an epoch's round trips must not grow
with the population the island carries. Counted on a real worker and a private Redis, by the
server's own command statistics."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.content import LocalContentStore
from services.common.spec import parse_spec
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.private_store import PrivateAgentError, PrivateAgents
from services.scheduler.tasks import EVOLVE_EPOCH, run_epoch
from tests.integration.test_market_e2e import Procs, wait_until

SPEC: dict[str, Any] = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 64},
    "budget": {"population": 48, "generations": 10, "islands": 1, "epoch_generations": 2},
}


@pytest.fixture
def worker(
    private_redis: Callable[[], Any], tmp_path: Path
) -> Iterator[tuple[Procs, SolverSettings]]:
    server = private_redis()
    settings = SolverSettings(redis_url=server.url, content_store=f"file:{tmp_path / 'content'}")
    procs = Procs.under(tmp_path, server.url)
    try:
        procs.start("worker", "worker", "--concurrency", "1", "--loglevel", "WARNING")
        yield procs, settings
    finally:
        procs.stop_all()


def _reads(client: redis.Redis) -> int:
    """GET and MGET commands the server has executed (every client's)."""
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("get", "mget"))


def _connections(client: redis.Redis) -> int:
    """Connections the server has accepted so far (every client's)."""
    stats: dict[str, int] = client.info("stats")
    return int(stats["total_connections_received"])


def test_an_epochs_reads_do_not_grow_with_the_population_it_carries(
    worker: tuple[Procs, SolverSettings], tmp_path: Path
) -> None:
    procs, settings = worker
    spec = parse_spec(json.dumps(SPEC))
    spec_cid = LocalContentStore(tmp_path / "content").put(spec.to_bytes())
    client = redis.Redis.from_url(settings.redis_url)
    store = PrivateAgents(client, settings.private_prefix, settings.private_ttl)
    population = run_epoch(spec, 5, 2, [], 2, carry=store)["population"]
    assert len(population) == 48
    app = make_app(settings)
    wait_until("the worker", lambda: app.control.ping(timeout=0.5), procs, 90)

    def epoch(carried: list[str]) -> int:
        """Reads the server executed while the worker ran one epoch carrying `carried`."""
        before = _reads(client)
        result = app.send_task(
            EVOLVE_EPOCH, args=[spec_cid, "7", 1, 2, carried, 2, "suna", True], queue=settings.queue
        )
        value = result.get(timeout=120)
        assert len(value["population"]) == 48
        result.forget()
        return _reads(client) - before

    epoch(population[:2])  # warm: the worker's connections are open, the spec cached
    epoch(population[:2])
    connections = _connections(client)
    few, many = epoch(population[:4]), epoch(population[:48])
    # One MGET for the carried agents whatever their number (this client's own result
    # fetch reads the same count both times).
    assert many == few, f"{few} reads carrying 4 agents, {many} carrying 48"
    # No connection is opened per epoch (a new one is a TCP and a TLS handshake on a far
    # link): progress reports, results and agents go over the worker's open connections.
    for _ in range(3):
        epoch(population[:4])
    assert _connections(client) == connections, "connections opened during 5 epochs"


def test_the_private_store_reads_many_agents_at_once_and_checks_each(
    private_redis: Callable[[], Any],
) -> None:
    client = redis.Redis.from_url(private_redis().url)
    store = PrivateAgents(client, "p", 60)
    agents = [bytes([i]) * (10 + i) for i in range(30)]
    digests = store.put_many(agents)
    before = _reads(client)
    assert store.get_many(digests) == agents
    assert store.get_many([]) == []
    assert store.get(digests[3]) == agents[3]
    assert _reads(client) - before == 2  # one read for thirty agents, one for one
    client.set(f"p:agent:{digests[7]}", b"tampered")
    with pytest.raises(PrivateAgentError, match=f"agent {digests[7][:16]}… does not hash"):
        store.get_many(digests)
    missing = "00" * 32
    with pytest.raises(PrivateAgentError, match="not in the private store"):
        store.get_many([digests[0], missing])


def _calls(client: redis.Redis, command: str) -> int:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


def test_a_state_is_stored_in_one_round_trip_and_a_success_is_never_overwritten(
    private_redis: Callable[[], Any],
) -> None:
    from celery import states

    from services.scheduler.results import OneTripRedisBackend

    url = private_redis().url
    app = make_app(SolverSettings(redis_url=url))
    assert not app.conf.task_track_started  # no STARTED write before every epoch
    backend = app.backend
    assert isinstance(backend, OneTripRedisBackend)
    client = redis.Redis.from_url(url)
    listener = client.pubsub()
    key = backend.get_key_for_task("epoch-1").decode()
    listener.subscribe(key)
    assert listener.get_message(timeout=5)["type"] == "subscribe"  # type: ignore[index]
    backend.store_result("warm", {"generation": 0}, "PROGRESS")  # the script is loaded once
    client.config_resetstat()
    backend.store_result("epoch-1", {"generation": 3, "hostname": "w@h"}, "PROGRESS")
    # one command from this client: the check and the write run on the server
    assert _calls(client, "evalsha") == 1 and _calls(client, "eval") == 0
    message = listener.get_message(timeout=5)
    assert message is not None and json.loads(message["data"])["status"] == "PROGRESS"
    result = app.AsyncResult("epoch-1")
    assert result.state == "PROGRESS" and result.info["hostname"] == "w@h"
    backend.store_result("epoch-1", {"best_fitness": 7}, states.SUCCESS)
    assert 0 < client.ttl(key) <= 24 * 3600
    # A late duplicate (a copy that ran elsewhere, a stale progress report) changes nothing.
    backend.store_result("epoch-1", {"generation": 9}, "PROGRESS")
    backend.store_result("epoch-1", {"best_fitness": 1}, states.SUCCESS)
    fresh = make_app(SolverSettings(redis_url=url)).AsyncResult("epoch-1")
    assert fresh.state == states.SUCCESS and fresh.result == {"best_fitness": 7}
    # A failure is stored, with Celery's failure lifetime, and read back as the exception.
    backend.store_result("epoch-2", ValueError("bad spec"), states.FAILURE)
    failed = app.AsyncResult("epoch-2")
    assert failed.state == states.FAILURE and isinstance(failed.result, ValueError)
    listener.close()
