"""The projector on real Redis, SQLite and PostgreSQL: exactly once, and reorgs undone so the
projection equals a from-scratch re-index of the final chain."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect, text
from sqlmodel import Session, SQLModel, select

from services.common.messages import Kind, decode_message
from services.common.settings import Settings
from services.common.streams import StreamConsumer
from services.indexer.devchain import (
    EMITTER_ADDRESS,
    Anvil,
    emitter_indexer,
    install_emitter,
    scenario_logs,
    send_logs,
)
from services.projector.models import (
    Attestation,
    ChainEvent,
    Checkpoint,
    Credit,
    Solution,
    Task,
    Withdrawal,
)
from services.projector.service import Projector, make_engine, migrate, run

Log = tuple[list[bytes], bytes]


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def anvil() -> Iterator[tuple[Anvil, int]]:
    node = Anvil()
    start = install_emitter(node)
    yield node, start
    node.stop()


def send(node: Anvil, logs: list[Log], per_tx: int = 6) -> None:
    for i in range(0, len(logs), per_tx):
        send_logs(node, logs[i : i + per_tx])


class Pipeline:
    """Indexer → stream → projector → database, stepped by hand."""

    def __init__(self, node: Anvil, start: int, client: redis.Redis, stream: str, url: str):
        self.client, self.stream = client, stream
        self.indexer = emitter_indexer(node.url, client, stream, start)
        self.engine = make_engine(url)
        migrate(self.engine)
        self.projector = Projector(self.engine, stream)
        self.consumer = StreamConsumer(client, stream, "projector", "projector")
        self.consumer.ensure_group()

    def sync(self) -> None:
        while not self.indexer.step().idle:
            pass
        while deliveries := self.consumer.read(count=50, block_ms=None):
            self.projector.apply(deliveries)
            self.consumer.ack([d.entry_id for d in deliveries])


def snapshot_of(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of the read model, stream positions left out (they differ between streams)."""
    out = {}
    with Session(engine) as s:
        for model in (ChainEvent, Task, Solution, Attestation, Credit, Withdrawal):
            rows = [r.model_dump(exclude={"stream_id"}) for r in s.exec(select(model)).all()]
            out[model.__name__] = sorted(
                rows, key=lambda r: json.dumps(r, sort_keys=True, default=str)
            )
    return out


def from_scratch(
    node: Anvil, start: int, client: redis.Redis, prefix: str, url: str, name: str
) -> dict[str, list[dict[str, Any]]]:
    """Index the final chain into a fresh stream and project it into a fresh database."""
    engine = make_engine(url)
    with engine.begin() as conn:  # a clean slate in the same database server
        SQLModel.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    fresh = Pipeline(node, start, client, prefix + name, url)
    fresh.sync()
    return snapshot_of(fresh.engine)


def test_projection_values(
    anvil: tuple[Anvil, int], redis_url: str, redis_prefix: str, db_url: str
) -> None:
    node, start = anvil
    send(node, scenario_logs(10))
    p = Pipeline(node, start, redis.Redis.from_url(redis_url), redis_prefix + "s", db_url)
    p.sync()
    with Session(p.engine) as s:
        tasks = {t.task_id: t for t in s.exec(select(Task)).all()}
        assert len(tasks) == 10
        assert tasks[4].state == "cancelled" and tasks[4].refund == str(4 * 10**18)
        done = [t for t in tasks.values() if t.state == "finalized"]
        assert done and all(t.eval_seed and t.seed_block for t in done)
        for t in done:
            sols = s.exec(select(Solution).where(Solution.task_id == t.task_id)).all()
            assert t.solution_count == len(sols)
            assert t.revealed_count == sum(x.status != "committed" for x in sols)
            verified = [x for x in sols if x.status == "verified"]
            if verified:
                best = max(verified, key=lambda x: (x.verified_score or 0, -x.solution_id))
                assert (t.best_solution_id, t.best_score) == (best.solution_id, best.verified_score)
                assert t.winner == best.solver
            for x in sols:
                if x.agent is not None:
                    assert x.agent_size == len(x.agent) and x.agent_cid.startswith("bafkrei")
        assert s.exec(select(Credit)).all() and s.exec(select(Withdrawal)).all()
        assert all(t.spec_cid.startswith("bafkrei") for t in tasks.values())


def test_exactly_once_when_acks_are_lost(
    anvil: tuple[Anvil, int], redis_url: str, redis_prefix: str, sqlite_url: str
) -> None:
    node, start = anvil
    send(node, scenario_logs(6))
    client = redis.Redis.from_url(redis_url)
    p = Pipeline(node, start, client, redis_prefix + "s", sqlite_url)
    while not p.indexer.step().idle:
        pass
    first = p.consumer.read(count=40, block_ms=None)
    p.projector.apply(first)  # committed, then the process died before XACK
    restarted = StreamConsumer(client, p.stream, "projector", "projector")
    again = restarted.read(count=1000, block_ms=None)  # its own pending entries come back
    assert [d.entry_id for d in again] == [d.entry_id for d in first]
    assert p.projector.apply(again) == 0  # all at or below the checkpoint
    restarted.ack([d.entry_id for d in again])
    p.sync()
    expected = from_scratch(node, start, client, redis_prefix, sqlite_url + ".2", "fresh")
    assert snapshot_of(p.engine) == expected


@pytest.mark.parametrize("method", ["revert", "anvil_reorg"])
def test_reorg_projection_equals_reindex(
    anvil: tuple[Anvil, int], redis_url: str, redis_prefix: str, db_url: str, method: str
) -> None:
    node, start = anvil
    history = scenario_logs(12, seed=1)
    cut = len(history) * 2 // 3
    send(node, history[:cut])
    client = redis.Redis.from_url(redis_url)
    p = Pipeline(node, start, client, redis_prefix + "s", db_url)
    p.sync()
    fork_point = node.block_number()
    snap = node.rpc("evm_snapshot")
    send(node, history[cut:])  # the branch that will be orphaned
    p.sync()
    orphaned_blocks = node.block_number() - fork_point
    with Session(p.engine) as s:
        n_events = len(s.exec(select(ChainEvent)).all())
        assert len(s.exec(select(Task)).all()) == 12, (
            n_events,
            client.xlen(p.stream),
            len(history),
        )
    if method == "revert":
        assert node.rpc("evm_revert", snap) is True
    else:
        node.rpc("anvil_reorg", orphaned_blocks, [])
    other = scenario_logs(14, seed=2)
    send(node, other[cut - 10 :], per_tx=4)  # a different, longer branch
    p.sync()
    messages = [decode_message(f[b"data"]) for _, f in client.xrange(p.stream)]
    reorgs = [m for m in messages if m.kind is Kind.CHAIN_REORGED]
    assert len(reorgs) == 1
    assert reorgs[0].args["from_block"] == fork_point + 1
    assert reorgs[0].args["ancestor_number"] == fork_point
    on_chain = node.rpc(
        "eth_getLogs", {"fromBlock": hex(start), "toBlock": "latest", "address": EMITTER_ADDRESS}
    )
    got = snapshot_of(p.engine)
    assert len(got["ChainEvent"]) == len(on_chain)
    with Session(p.engine) as s:
        checkpoint = s.get(Checkpoint, "projector")
        last_entry = client.xrevrange(p.stream, count=1)[0][0].decode()
        assert checkpoint is not None and checkpoint.stream_id == last_entry
    # SQLite: a second file; PostgreSQL: the same per-test database, emptied first
    fresh_url = db_url + "_fresh" if db_url.startswith("sqlite") else db_url
    assert got == from_scratch(node, start, client, redis_prefix, fresh_url, "fresh")


def test_migrations_match_models(db_url: str) -> None:
    engine = make_engine(db_url)
    migrate(engine)
    migrate(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    assert {
        "task",
        "solution",
        "attestation",
        "credit",
        "withdrawal",
        "chain_event",
        "checkpoint",
    } <= set(inspect(engine).get_table_names())


def test_run_projects_until_stopped(
    anvil: tuple[Anvil, int], redis_url: str, redis_prefix: str, sqlite_url: str
) -> None:
    node, start = anvil
    send(node, scenario_logs(3))
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "s"
    indexer = emitter_indexer(node.url, client, stream, start)
    while not indexer.step().idle:
        pass
    client.xadd(stream, {"data": b"not a message"})  # goes to the dead letters, not stuck
    stop = threading.Event()
    settings = Settings(redis_url=redis_url, stream=stream, database_url=sqlite_url)
    t = threading.Thread(target=run, args=(settings, stop))
    t.start()
    engine = make_engine(sqlite_url)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            time.sleep(0.1)
            if inspect(engine).has_table("task"):
                with Session(engine) as s:
                    if len(s.exec(select(Task)).all()) == 3:
                        break
    finally:
        stop.set()
        t.join(timeout=30)
    with Session(engine) as s:
        assert len(s.exec(select(Task)).all()) == 3
    assert client.xlen(f"{stream}:dead:projector") == 1
    assert client.xpending(stream, "projector")["pending"] == 0
