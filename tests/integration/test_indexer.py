"""The indexer on real anvil and Redis: every kind in order, identity, confirmations, guards."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from services.common.chain import (
    Deployment,
    RpcClient,
    build_log_decoders,
    load_artifact,
    snake,
)
from services.common.messages import EVENT_KINDS, Kind, Message, decode_message
from services.common.settings import Settings
from services.indexer.devchain import (
    EMITTER_ADDRESS,
    Anvil,
    encode_log,
    install_emitter,
    marketplace_events,
    sample_values,
    send_logs,
)
from services.indexer.service import (
    CheckpointMovedError,
    Indexer,
    IndexerError,
    ReorgTooDeepError,
    build_indexer,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def dev_anvil() -> Iterator[Anvil]:
    """A private anvil for this module (the session one belongs to the contract tests)."""
    node = Anvil()
    yield node
    node.stop()


@pytest.fixture
def emitter(dev_anvil: Anvil) -> Iterator[tuple[Anvil, int]]:
    """The dev anvil with a fresh log emitter, reverted after the test."""
    snap = dev_anvil.rpc("evm_snapshot")
    start = install_emitter(dev_anvil)
    yield dev_anvil, start
    dev_anvil.rpc("evm_revert", snap)


def make_indexer(
    url: str, client: redis.Redis, stream: str, contract: str, start: int, **kw: Any
) -> Indexer:
    return Indexer(
        rpc=RpcClient(url, timeout=5),
        client=client,
        stream=stream,
        chain_id=31337,
        contract=contract,
        start_block=start,
        decoders=build_log_decoders(list(load_artifact().abi)),
        **kw,
    )


def drain(ix: Indexer) -> int:
    published = 0
    while not (r := ix.step()).idle:
        published += r.published
    return published


def stream_messages(client: redis.Redis, stream: str) -> list[Message]:
    return [decode_message(fields[b"data"]) for _, fields in client.xrange(stream)]


def _jsonable(v: Any) -> Any:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, str) and v.startswith("0x"):
        return v.lower()
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    return v


def test_every_kind_once_in_order_emitter(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str
) -> None:
    anvil, start = emitter
    events = marketplace_events()
    expected = []
    for i, ev in enumerate(events):
        values = sample_values(ev, i)
        expected.append(
            (EVENT_KINDS[ev["name"]], {snake(k): _jsonable(v) for k, v in values.items()})
        )
        send_logs(anvil, [encode_log(ev, values)])
    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    ix = make_indexer(anvil.url, client, stream, EMITTER_ADDRESS, start)
    assert drain(ix) == len(events)
    got = stream_messages(client, stream)
    assert [m.kind for m in got] == [k for k, _ in expected]
    assert {m.kind for m in got} == set(Kind) - {Kind.CHAIN_REORGED}
    for m, (_, values) in zip(got, expected, strict=True):
        typed = m.typed_args()  # validates every argument against its schema
        as_ints = {
            k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in m.args.items()
        }
        assert as_ints == values
        assert typed is not None
    keys = [(m.block_number, m.log_index) for m in got]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    # identity is stable: indexing again from scratch gives the same messages, byte for byte
    again = redis_prefix + "again"
    drain(make_indexer(anvil.url, client, again, EMITTER_ADDRESS, start))
    assert [f[b"data"] for _, f in client.xrange(again)] == [
        f[b"data"] for _, f in client.xrange(stream)
    ]


def test_every_kind_from_the_real_contract(
    chain: Any, marketplace: Any, marketplace_deployment: Any, redis_url: str, redis_prefix: str
) -> None:
    from tests.fixtures.chain import commit_agent, open_task, reveal, seal

    mp = marketplace
    evaluator = mp.with_signer(chain.accounts[1])
    solver = mp.with_signer(chain.accounts[2])
    task = open_task(chain, mp, evaluators=[chain.accounts[1].address])
    commit = commit_agent(solver, task.task_id, b"\x01agent-bytes" * 3, 700_000)
    chain.travel_to(task.commit_deadline)
    reveal(solver, commit)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    evaluator.attest_score(task.task_id, commit.solution_id, 650_000)
    chain.travel_to(task.eval_deadline)
    mp.finalize(task.task_id)
    solver.withdraw()
    cancelled = open_task(chain, mp, evaluators=[chain.accounts[1].address])
    mp.cancel_task(cancelled.task_id)

    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    ix = make_indexer(
        chain.url,
        client,
        stream,
        marketplace_deployment.address,
        marketplace_deployment.block_number,
    )
    drain(ix)
    got = stream_messages(client, stream)
    ours = [
        m
        for m in got
        if int(m.args.get("task_id", task.task_id)) in (task.task_id, cancelled.task_id)
    ]
    assert {m.kind for m in ours} == set(Kind) - {Kind.CHAIN_REORGED}
    # the same events, decoded by the contract bindings from the same logs
    theirs = mp.get_events(marketplace_deployment.block_number)
    assert len(theirs) == len(got)
    for m, le in zip(got, theirs, strict=True):
        assert (m.block_number, m.log_index) == (le.block_number, le.log_index)
        assert m.block_hash == "0x" + bytes(le.block_hash).hex()
        fields = asdict(le.event) if is_dataclass(le.event) else dict(le.event)
        for key, value in fields.items():
            mine = m.args[snake(key)] if snake(key) in m.args else m.args[key]
            if isinstance(value, bytes | bytearray):
                assert mine == "0x" + bytes(value).hex()
            elif isinstance(value, bool) or not isinstance(value, int):
                assert mine == (
                    value.lower()
                    if isinstance(value, str)
                    else [v.lower() for v in value]
                    if isinstance(value, list | tuple)
                    else value
                )
            else:
                assert int(mine) == value
    revealed = next(m for m in got if m.kind is Kind.SOLUTION_REVEALED).typed_args()
    assert revealed.agent_bytes() == commit.agent


def test_confirmations_hold_back_the_tip(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str
) -> None:
    anvil, start = emitter
    ev = marketplace_events()[0]
    for i in range(5):
        send_logs(anvil, [encode_log(ev, sample_values(ev, i))])
    client = redis.Redis.from_url(redis_url)
    ix = make_indexer(
        anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start, confirmations=3
    )
    drain(ix)
    assert client.xlen(redis_prefix + "s") == 2
    anvil.mine(3)
    drain(ix)
    assert client.xlen(redis_prefix + "s") == 5


def test_finalized_only(emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str) -> None:
    anvil, start = emitter
    ev = marketplace_events()[0]
    send_logs(anvil, [encode_log(ev, sample_values(ev, 1))])
    client = redis.Redis.from_url(redis_url)
    ix = make_indexer(
        anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start, finalized_only=True
    )
    drain(ix)
    assert client.xlen(redis_prefix + "s") == 0  # anvil finalizes 64 blocks behind the head
    anvil.mine(64)
    drain(ix)
    assert client.xlen(redis_prefix + "s") == 1


def test_refuses_a_stream_of_another_contract(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str
) -> None:
    anvil, start = emitter
    client = redis.Redis.from_url(redis_url)
    drain(make_indexer(anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start))
    other = make_indexer(anvil.url, client, redis_prefix + "s", "0x" + "12" * 20, start)
    with pytest.raises(IndexerError, match="use another EDGEMARKET_STREAM"):
        other.step()


def test_two_indexers_cannot_interleave(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str
) -> None:
    anvil, start = emitter
    ev = marketplace_events()[0]
    client = redis.Redis.from_url(redis_url)
    a = make_indexer(anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start)
    b = make_indexer(anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start)
    send_logs(anvil, [encode_log(ev, sample_values(ev, 1))])
    drain(a)
    send_logs(anvil, [encode_log(ev, sample_values(ev, 2))])
    b.checkpoint()
    drain(a)  # a moves on; b's view of the checkpoint is stale now
    send_logs(anvil, [encode_log(ev, sample_values(ev, 3))])
    with pytest.raises(CheckpointMovedError, match="another indexer"):
        drain(b)
    drain(b)  # after re-reading the checkpoint it continues where a stopped
    assert client.xlen(redis_prefix + "s") == 3


def test_cli_runs_the_indexer(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    anvil, start = emitter
    ev = marketplace_events()[0]
    send_logs(anvil, [encode_log(ev, sample_values(ev, i)) for i in range(3)])
    deployment = tmp_path / "31337.json"
    Deployment(
        chain_id=31337,
        address=EMITTER_ADDRESS,
        block_number=start,
        tx_hash="0x" + "00" * 32,
        artifact_hash=load_artifact().hash,
    ).save(deployment)
    env = {
        **os.environ,
        "EDGEMARKET_RPC_URL": anvil.url,
        "EDGEMARKET_REDIS_URL": redis_url,
        "EDGEMARKET_STREAM": redis_prefix + "s",
        "EDGEMARKET_DEPLOYMENT_FILE": str(deployment),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "run", "indexer"],
        env=env,
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + 30
    while client.xlen(redis_prefix + "s") < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert client.xlen(redis_prefix + "s") == 3
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    indexed = [x for x in lines if x["msg"] == "indexed"]
    assert indexed and indexed[0]["messages"] == 3 and "from_block" in indexed[0]
    assert lines[-1]["msg"] == "indexer stopped"


def test_refuses_a_deployment_of_another_artifact_or_chain(tmp_path: Path) -> None:
    """The indexer checks its deployment file as Marketplace.from_deployment does."""
    path = tmp_path / "deployment.json"
    settings = Settings(chain_id=31337, deployment_file=path)
    rpc = RpcClient("http://127.0.0.1:9")
    stale = Deployment(
        chain_id=31337,
        address=EMITTER_ADDRESS,
        block_number=1,
        tx_hash="0x" + "00" * 32,
        artifact_hash="0x" + "ab" * 32,
    )
    stale.save(path)
    with pytest.raises(IndexerError, match=r"built from artifact 0xabab.*redeploy"):
        build_indexer(settings, rpc, redis.Redis())
    dataclasses.replace(stale, chain_id=1, artifact_hash=load_artifact().hash).save(path)
    with pytest.raises(IndexerError, match="deployment is for chain 1, the node is on 31337"):
        build_indexer(settings, rpc, redis.Redis())
    path.write_text('{"chain_id": 31337, "address": "0x00", "block_number": 1}')
    with pytest.raises(IndexerError, match="is not a deployment file"):
        build_indexer(settings, rpc, redis.Redis())
    path.unlink()
    with pytest.raises(IndexerError, match=r"contract deploy.*EDGEMARKET_DEPLOYMENT_FILE"):
        build_indexer(settings, rpc, redis.Redis())


def test_reorg_deeper_than_the_window_stops_with_advice(
    emitter: tuple[Anvil, int], redis_url: str, redis_prefix: str
) -> None:
    anvil, start = emitter
    ev = marketplace_events()[0]
    snap = anvil.rpc("evm_snapshot")
    for i in range(6):
        send_logs(anvil, [encode_log(ev, sample_values(ev, i))])
    client = redis.Redis.from_url(redis_url)
    ix = make_indexer(anvil.url, client, redis_prefix + "s", EMITTER_ADDRESS, start, reorg_depth=2)
    drain(ix)
    anvil.rpc("evm_revert", snap)
    for i in range(8):
        send_logs(anvil, [encode_log(ev, sample_values(ev, 100 + i))])
    with pytest.raises(ReorgTooDeepError, match="Raise it and re-index"):
        drain(ix)
    assert client.xlen(redis_prefix + "s") == 6  # nothing published past the fork
