"""The projector's fault matrix (README "Reliability"): a handler that fails once, a database error
mid-batch, Redis restarted mid-run, kill -9 mid-batch and kill -9 between commit and ack. Each
ends with the read model equal to a from-scratch projection of the same chain, nothing pending
and no dead letters."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlmodel import Session

from services.common.messages import Kind
from services.common.settings import Settings
from services.indexer.devchain import Anvil, emitter_indexer, scenario_logs
from services.projector import service
from services.projector.models import ChainEvent
from services.projector.service import make_engine, run
from tests.fixtures.services import PrivateRedis
from tests.integration.test_projector import anvil, from_scratch, send, snapshot_of

__all__ = ["anvil"]  # the fixture, shared with test_projector

ROOT = Path(__file__).resolve().parents[2]
GROUP = "projector"

# A projector in its own process that stops dead at a chosen point, so the test can kill -9 it
# there: "mid-batch" inside the n-th solution.committed of a batch (nothing of it committed),
# "before-ack" after a batch's transaction committed but before its XACK.
DYING_PROJECTOR = """
import sys, time
from services.common.messages import Kind
from services.common.settings import Settings
from services.common import streams
from services.projector import service
redis_url, stream, db_url, where, n = sys.argv[1:6]
calls = 0
def hold():
    print("holding", flush=True)
    time.sleep(300)
if where == "mid-batch":
    real = service.HANDLERS[Kind.SOLUTION_COMMITTED]
    def slow(rows, ev, a):
        global calls
        calls += 1
        real(rows, ev, a)
        if calls == int(n):
            rows.s.flush()  # the batch's rows are written, uncommitted, when the kill comes
            hold()
    service.HANDLERS[Kind.SOLUTION_COMMITTED] = slow
else:
    def ack(self, ids):
        hold()
    streams.StreamConsumer.ack = ack
service.run(Settings(redis_url=redis_url, stream=stream, database_url=db_url))
"""


def index_all(indexer: Any) -> None:  # Any: the devchain's Indexer
    while not indexer.step().idle:
        pass


def drained(client: redis.Redis, stream: str) -> bool:
    """Every entry of the stream delivered to the group and acknowledged."""
    last = client.xrevrange(stream, count=1)
    if not last:
        return True
    groups = {g["name"].decode(): g for g in client.xinfo_groups(stream)}
    group = groups.get(GROUP)
    return (
        group is not None
        and group["last-delivered-id"] == last[0][0]
        and int(group["pending"]) == 0
    )


def wait_for(what: Callable[[], bool], timeout: float, why: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(redis.ConnectionError):
            if what():
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {why}")


@contextlib.contextmanager
def projector_running(settings: Settings) -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(target=run, args=(settings, stop), daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=30)


def fails_once(monkeypatch: pytest.MonkeyPatch, kind: Kind, error: Exception) -> threading.Event:
    """Make the projector's handler of `kind` raise `error` the first time it runs."""
    real = service.HANDLERS[kind]
    failed = threading.Event()

    def flaky(rows: service.Rows, ev: ChainEvent, a: Any) -> None:  # Any: the event's args
        if not failed.is_set():
            failed.set()
            raise error
        real(rows, ev, a)

    monkeypatch.setitem(service.HANDLERS, kind, flaky)
    return failed


def assert_clean_replay(
    node: Anvil, start: int, client: redis.Redis, prefix: str, stream: str, url: str, fresh: str
) -> None:
    """The read model equals a from-scratch projection; nothing pending, nothing dead."""
    got = snapshot_of(make_engine(url))
    assert got["Task"], "nothing was projected"
    assert client.xpending(stream, GROUP)["pending"] == 0
    assert client.xlen(f"{stream}:dead:{GROUP}") == 0
    expected = from_scratch(node, start, client, prefix, fresh, "fresh")
    assert got == expected


def test_batch_failing_once_is_retried_before_newer_entries(
    anvil: tuple[Anvil, int],
    redis_url: str,
    redis_prefix: str,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The silent drop of issue 12: the failed batch stays pending while newer entries move on;
    it must be applied, not skipped as done when it comes back."""
    node, start = anvil
    logs = scenario_logs(6)
    half = len(logs) // 2
    send(node, logs[:half])
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "s"
    indexer = emitter_indexer(node.url, client, stream, start)
    index_all(indexer)
    failed = fails_once(monkeypatch, Kind.TASK_CREATED, RuntimeError("injected handler bug"))
    settings = Settings(redis_url=redis_url, stream=stream, database_url=sqlite_url)
    with projector_running(settings):
        assert failed.wait(30)
        send(node, logs[half:])  # newer entries arrive while the failed batch is pending
        index_all(indexer)
        wait_for(lambda: drained(client, stream), 60, "the stream to be drained")
    assert_clean_replay(node, start, client, redis_prefix, stream, sqlite_url, sqlite_url + ".2")


def test_database_error_mid_batch(
    anvil: tuple[Anvil, int],
    redis_url: str,
    redis_prefix: str,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The database connection is killed by the server in the middle of a batch's transaction."""
    node, start = anvil
    send(node, scenario_logs(5, seed=3))
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "s"
    index_all(emitter_indexer(node.url, client, stream, start))
    real = service.HANDLERS[Kind.SOLUTION_REVEALED]
    killed = threading.Event()

    def connection_dies(rows: service.Rows, ev: ChainEvent, a: Any) -> None:  # Any: args
        real(rows, ev, a)
        if not killed.is_set():
            killed.set()
            rows.s.flush()
            # the server ends this very session: the next statement fails, the batch rolls back
            rows.s.connection().exec_driver_sql("SELECT pg_terminate_backend(pg_backend_pid())")

    monkeypatch.setitem(service.HANDLERS, Kind.SOLUTION_REVEALED, connection_dies)
    settings = Settings(redis_url=redis_url, stream=stream, database_url=postgres_url)
    with projector_running(settings):
        wait_for(lambda: drained(client, stream), 60, "the stream to be drained")
    assert killed.is_set()
    with Session(make_engine(postgres_url)) as s:
        assert s.connection().exec_driver_sql("SELECT 1").scalar() == 1
    assert_clean_replay(node, start, client, redis_prefix, stream, postgres_url, postgres_url)


def test_redis_restarted_mid_run(
    anvil: tuple[Anvil, int],
    private_redis: Callable[..., PrivateRedis],
    sqlite_url: str,
) -> None:
    node, start = anvil
    logs = scenario_logs(6, seed=4)
    half = len(logs) // 2
    server = private_redis(persistent=True)
    client = redis.Redis.from_url(server.url, socket_timeout=5)
    stream = "s"
    send(node, logs[:half])
    indexer = emitter_indexer(node.url, client, stream, start)
    index_all(indexer)
    settings = Settings(redis_url=server.url, stream=stream, database_url=sqlite_url)
    with projector_running(settings):
        wait_for(lambda: drained(client, stream), 60, "the first half to be projected")
        server.stop()
        send(node, logs[half:])
        time.sleep(0.5)  # the projector meets the dead Redis
        server.start()
        index_all(indexer)
        wait_for(lambda: drained(client, stream), 60, "the second half to be projected")
    assert_clean_replay(node, start, client, "", stream, sqlite_url, sqlite_url + ".2")


@pytest.mark.parametrize("where", ["mid-batch", "before-ack"])
def test_kill_9(
    anvil: tuple[Anvil, int],
    redis_url: str,
    redis_prefix: str,
    sqlite_url: str,
    where: str,
) -> None:
    """kill -9 inside a batch (nothing of it committed) or between its commit and its ack (all
    of it committed, none acknowledged); a restarted projector ends where a clean run does."""
    node, start = anvil
    send(node, scenario_logs(6, seed=5))
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "s"
    index_all(emitter_indexer(node.url, client, stream, start))
    proc = subprocess.Popen(
        [sys.executable, "-c", DYING_PROJECTOR, redis_url, stream, sqlite_url, where, "3"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert client.xpending(stream, GROUP)["pending"] > 0
    settings = Settings(redis_url=redis_url, stream=stream, database_url=sqlite_url)
    with projector_running(settings):
        wait_for(lambda: drained(client, stream), 60, "the stream to be drained")
    assert_clean_replay(node, start, client, redis_prefix, stream, sqlite_url, sqlite_url + ".2")


# ---- soak: the same, longer (`make soak`) ---------------------------------------------------


@pytest.mark.soak
@pytest.mark.timeout(1800)
def test_random_failures_soak(
    request: pytest.FixtureRequest,
    anvil: tuple[Anvil, int],
    redis_url: str,
    redis_prefix: str,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A long history arriving in slices while one handler call in five raises (every kind,
    seeded): the read model still equals a from-scratch projection."""
    import random

    node, start = anvil
    rnd = random.Random(12)
    lock = threading.Lock()
    for kind, real in list(service.HANDLERS.items()):
        # Any: the event's args, and the wrapped handler bound per kind
        def flaky(rows: service.Rows, ev: ChainEvent, a: Any, real: Any = real) -> None:
            with lock:
                fail = rnd.random() < 0.2
            if fail:
                raise RuntimeError("injected: random handler failure")
            real(rows, ev, a)

        monkeypatch.setitem(service.HANDLERS, kind, flaky)
    logs = scenario_logs(60, seed=7)
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "s"
    indexer = emitter_indexer(node.url, client, stream, start)
    settings = Settings(redis_url=redis_url, stream=stream, database_url=sqlite_url)
    with projector_running(settings):
        for k in range(0, len(logs), 40):
            send(node, logs[k : k + 40])
            index_all(indexer)
        wait_for(lambda: drained(client, stream), 600, "the stream to be drained")
    monkeypatch.undo()  # the from-scratch projection runs the real handlers
    got = snapshot_of(make_engine(sqlite_url))
    assert client.xlen(f"{stream}:dead:{GROUP}") == 0
    assert got == from_scratch(node, start, client, redis_prefix, sqlite_url + ".2", "fresh")
