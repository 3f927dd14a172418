"""The event stream on a real Redis: groups, at-least-once delivery, reclaiming, poison."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from services.common.messages import Kind, Message, canonical_json
from services.common.streams import StreamConsumer, consume, publish
from tests.fixtures.services import PrivateRedis

H32 = "0x" + "11" * 32
ROOT = Path(__file__).resolve().parents[2]
DYING_CONSUMER = """
import sys, time, redis
from services.common.streams import StreamConsumer
c = StreamConsumer(redis.Redis.from_url(sys.argv[1]), sys.argv[2], "g", "dying")
c.ensure_group()
taken = c.read(count=10, block_ms=None)
c.ack([taken[0].entry_id])
print("holding", flush=True)
time.sleep(120)
"""


def _message(i: int, kind: Kind = Kind.CREDIT_WITHDRAWN) -> bytes:
    return canonical_json(
        {
            "schema": 1,
            "kind": kind.value,
            "chain_id": 31337,
            "contract": "0x" + "22" * 20,
            "block_number": i,
            "block_hash": H32,
            "tx_hash": H32,
            "log_index": i,
            "args": {"account": "0x" + "33" * 20, "amount": str(i)},
        }
    )


def test_groups_each_see_everything_in_order(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(i) for i in range(50)])
    for group in ("projector", "evaluator"):
        c = StreamConsumer(client, stream, group, "c1")
        c.ensure_group()
        seen = [d.message.block_number for d in c.read(count=100, block_ms=None) if d.message]
        assert seen == list(range(50))


def test_dead_consumer_pending_is_reclaimed(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(i) for i in range(10)])
    # A consumer process takes ten entries, handles one, and is killed -9 holding nine.
    child = subprocess.Popen(
        [sys.executable, "-c", DYING_CONSUMER, redis_url, stream],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "holding"
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert client.xpending(stream, "g")["pending"] == 9

    survivor = StreamConsumer(client, stream, "g", "survivor", claim_idle_ms=50)
    time.sleep(0.1)
    handled: list[int] = []
    stop = threading.Event()

    def on_withdrawn(m: Message) -> None:
        handled.append(m.block_number)
        if len(handled) == 9:
            stop.set()

    t = threading.Thread(
        target=consume,
        args=(client, stream, "g", "survivor", {Kind.CREDIT_WITHDRAWN: on_withdrawn}),
        kwargs={"stop": stop, "claim_idle_ms": 50, "block_ms": 50},
    )
    t.start()
    t.join(timeout=20)
    stop.set()
    assert sorted(handled) == list(range(1, 10))
    assert client.xpending(stream, "g")["pending"] == 0
    assert survivor.read(block_ms=None) == []


def test_restarted_consumer_gets_its_own_pending_first(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(i) for i in range(5)])
    first = StreamConsumer(client, stream, "g", "same-name")
    first.ensure_group()
    assert len(first.read(count=3, block_ms=None)) == 3
    again = StreamConsumer(client, stream, "g", "same-name")  # the process restarted
    assert [d.message.block_number for d in again.read(block_ms=None) if d.message] == [0, 1, 2]


def test_failing_handler_retries_then_dead_letters(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(1), b"garbage"])
    c = StreamConsumer(client, stream, "g", "c", claim_idle_ms=1, max_deliveries=3)
    c.ensure_group()
    attempts = 0

    def boom(m: Message) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("handler bug")

    for _ in range(10):
        time.sleep(0.01)
        c.handle(c.read(block_ms=None), {Kind.CREDIT_WITHDRAWN: boom})
    assert attempts == 3
    dead = client.xrange(c.dead_letter)
    reasons = sorted(fields[b"reason"].decode() for _, fields in dead)
    assert len(reasons) == 2 and "not JSON" in reasons[0] + reasons[1]
    assert client.xpending(stream, "g")["pending"] == 0


def test_unhandled_kinds_are_acked(redis_url: str, redis_prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(1)])
    c = StreamConsumer(client, stream, "g", "c")
    c.ensure_group()
    assert c.handle(c.read(block_ms=None), {}) == 1
    assert client.xpending(stream, "g")["pending"] == 0


def test_consume_survives_redis_restart(private_redis: Callable[[], PrivateRedis]) -> None:
    server = private_redis()
    client = redis.Redis.from_url(server.url, socket_timeout=2)
    got: list[int] = []
    stop = threading.Event()
    t = threading.Thread(
        target=consume,
        args=(client, "s", "g", "c", {Kind.CREDIT_WITHDRAWN: lambda m: got.append(1)}),
        kwargs={"stop": stop, "block_ms": 50},
    )
    t.start()
    publish(client, "s", [_message(1)])
    deadline = time.monotonic() + 10
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    server.stop()
    time.sleep(0.3)
    server.start()  # empty: no persistence, the group is gone too
    publish(client, "s", [_message(2)])
    deadline = time.monotonic() + 20
    while len(got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    t.join(timeout=10)
    assert len(got) == 2


@pytest.mark.parametrize("count", [1, 3])
def test_publish_returns_ids(redis_url: str, redis_prefix: str, count: int) -> None:
    client = redis.Redis.from_url(redis_url)
    ids = publish(client, redis_prefix + "s", [_message(i) for i in range(count)])
    assert len(ids) == count and ids == sorted(ids)


def test_own_poison_entry_is_retried_first_then_dead_lettered(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(1), _message(2)])
    first = StreamConsumer(client, stream, "g", "same")
    first.ensure_group()
    first.read(count=2, block_ms=None)  # took both, then crashed
    again = StreamConsumer(client, stream, "g", "same", claim_idle_ms=60_000, max_deliveries=3)
    calls: list[int] = []

    def fails_on_one(m: Message) -> None:
        calls.append(m.block_number)
        if m.block_number == 1:
            raise RuntimeError("poison")

    for _ in range(5):
        again.handle(again.read(block_ms=None), {Kind.CREDIT_WITHDRAWN: fails_on_one})
    # delivered 3 times (to `first`, then twice re-read before anything new); the 4th is dead
    assert calls == [1, 2, 1]
    assert client.xpending(stream, "g")["pending"] == 0
    dead = client.xrange(again.dead_letter)
    assert len(dead) == 1 and dead[0][1][b"reason"] == b"failed 3 times"


def test_failed_entry_is_not_overtaken_by_newer_ones(redis_url: str, redis_prefix: str) -> None:
    """The delivery rule: after a failure, own pending entries come back before new ones."""
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    c = StreamConsumer(client, stream, "g", "c", claim_idle_ms=60_000)
    c.ensure_group()
    publish(client, stream, [_message(1)])
    seen: list[int] = []
    failures = [RuntimeError("fails once")]

    def flaky(m: Message) -> None:
        if failures:
            raise failures.pop()
        seen.append(m.block_number)

    assert c.handle(c.read(block_ms=None), {Kind.CREDIT_WITHDRAWN: flaky}) == 0
    assert c.last_failed
    publish(client, stream, [_message(2), _message(3)])
    while c.handle(c.read(block_ms=None), {Kind.CREDIT_WITHDRAWN: flaky}):
        pass
    assert seen == [1, 2, 3]
    assert client.xpending(stream, "g")["pending"] == 0


def test_transient_error_holds_the_batch_without_counting_a_delivery(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    publish(client, stream, [_message(i) for i in range(1, 4)])
    c = StreamConsumer(client, stream, "g", "c", max_deliveries=1)
    c.ensure_group()
    seen: list[int] = []
    outage = [ConnectionRefusedError("node down")] * 5

    def needs_node(m: Message) -> None:
        if m.block_number == 2 and outage:
            raise outage.pop()
        seen.append(m.block_number)

    for _ in range(6):
        c.handle(c.read(block_ms=None), {Kind.CREDIT_WITHDRAWN: needs_node})
    assert seen == [1, 2, 3]  # five outages, never dead-lettered (max_deliveries=1)
    assert client.xlen(c.dead_letter) == 0
    assert client.xpending(stream, "g")["pending"] == 0
