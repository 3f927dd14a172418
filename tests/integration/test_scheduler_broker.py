"""RabbitMQ by URL: a worker on an amqp:// broker (results in Redis) runs an epoch."""

from __future__ import annotations

import json
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.content import LocalContentStore
from services.common.spec import parse_spec
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.islands import epoch_seed
from services.scheduler.private_store import PrivateAgents
from services.scheduler.service import EpochDispatcher, Island, epoch_args
from services.scheduler.tasks import run_epoch
from tests.integration.test_faults import gather
from tests.integration.test_market_e2e import Procs, wait_until

AMQP = "amqp://guest:guest@127.0.0.1:5672//"
SPEC = {"schema": "edgemarket/task@1", "scorer": "bisuna-core/1", "env": {"name": "cipher"},
        "eval": {"samples": 128}, "budget": {"population": 12}}  # fmt: skip


def rabbit_running() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 5672)) == 0


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    (tmp_path / "logs").mkdir()
    p = Procs(
        tmp_path / "logs", {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    )
    try:
        yield p
    finally:
        p.stop_all()


def test_epoch_over_rabbitmq(
    procs: Procs, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    if not rabbit_running():  # make test starts the installed rabbitmq-server (scripts/test-deps.sh)
        pytest.fail("no RabbitMQ on 127.0.0.1:5672: run `make test`, or start rabbitmq-server")
    queue = f"edgemarket.test.{uuid.uuid4().hex[:8]}"
    env = {
        "EDGEMARKET_BROKER_URL": AMQP,
        "EDGEMARKET_REDIS_URL": redis_url,
        "EDGEMARKET_QUEUE": queue,
        "EDGEMARKET_PRIVATE_PREFIX": redis_prefix + "private",
        "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
    }
    settings = SolverSettings(
        broker_url=AMQP,
        redis_url=redis_url,
        queue=queue,
        private_prefix=redis_prefix + "private",
        content_store=f"file:{tmp_path / 'content'}",
    )
    spec = parse_spec(json.dumps(SPEC))
    cid = LocalContentStore(tmp_path / "content").put(spec.to_bytes())
    procs.start("worker", "worker", "--concurrency", "1", "--loglevel", "WARNING", **env)
    app = make_app(settings)
    assert app.conf.broker_url.startswith("amqp://")
    wait_until("the worker", lambda: app.control.ping(timeout=0.5), procs, 60)
    private = PrivateAgents(redis.Redis.from_url(redis_url), settings.private_prefix, 60)
    dispatcher = EpochDispatcher(app, queue=queue, epoch_timeout=60)
    seed = b"\x05" * 32
    migrant = bytes.fromhex(run_epoch(spec, 1, 2, [], 1)["best"][0])
    island = Island(index=0, seed=seed, strategy="suna", epochs=3)
    dispatcher.send(island, epoch_args(cid, island, 5, private.put_many([migrant]), 2))
    outcome = gather(dispatcher, island)
    assert outcome is not None
    local = run_epoch(spec, epoch_seed(seed, 3), 5, [migrant], 2, carry=private)
    assert outcome["best"] == local["best"]
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)
