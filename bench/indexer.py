"""Indexer throughput and head latency, against a plain web3.py get_logs + process_log + XADD loop.

Throughput: a local anvil holding >= 20,000 marketplace events (loaded from an anvil state
dump, built on first use) indexed from scratch into a fresh Redis stream, one process.
Head latency: the indexer (`python -m services.indexer`, default settings) follows the head
while blocks with one event each are mined; latency is from the mining call's return to the
message being readable on the stream (XREAD BLOCK).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from services.common.chain import Deployment, load_artifact  # noqa: E402
from services.common.messages import EVENT_KINDS, MESSAGE_SCHEMA, canonical_json  # noqa: E402
from services.indexer.devchain import (  # noqa: E402
    EMITTER_ADDRESS,
    Anvil,
    cached_chain,
    emitter_indexer,
    encode_log,
    marketplace_events,
    sample_values,
    send_logs,
)

EVENTS = 20_000


def ours(url: str, client: redis.Redis, start: int) -> tuple[int, float]:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    ix = emitter_indexer(url, client, stream, start, timeout=60)
    t = time.perf_counter()
    n = 0
    while not (r := ix.step()).idle:
        n += r.published
    dt = time.perf_counter() - t
    client.delete(stream, stream + ":checkpoint")
    return n, dt


def web3_loop(url: str, client: redis.Redis, start: int) -> tuple[int, float]:
    """The peer: what one writes with web3.py's own tools."""
    from web3 import Web3

    w3 = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 60}))
    contract = w3.eth.contract(
        address=Web3.to_checksum_address(EMITTER_ADDRESS), abi=list(load_artifact().abi)
    )
    by_topic = {}
    for ev in marketplace_events():
        sig = f"{ev['name']}({','.join(i['type'] for i in ev['inputs'])})"
        by_topic[Web3.keccak(text=sig)] = (
            getattr(contract.events, ev["name"])(),
            EVENT_KINDS[ev["name"]].value,
        )
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    t = time.perf_counter()
    head = w3.eth.block_number
    n = 0
    step = 10
    for frm in range(start, head + 1, step):
        logs = w3.eth.get_logs(
            {"fromBlock": frm, "toBlock": min(head, frm + step - 1), "address": contract.address}
        )
        pipe = client.pipeline(transaction=False)
        for lg in logs:
            event, kind = by_topic[lg["topics"][0]]
            d = event.process_log(lg)
            args = {
                k: ("0x" + v.hex() if isinstance(v, bytes) else v) for k, v in d["args"].items()
            }
            pipe.xadd(
                stream,
                {
                    "data": canonical_json(
                        {
                            "schema": MESSAGE_SCHEMA,
                            "kind": kind,
                            "chain_id": 31337,
                            "contract": EMITTER_ADDRESS,
                            "block_number": d["blockNumber"],
                            "block_hash": "0x" + d["blockHash"].hex(),
                            "tx_hash": "0x" + d["transactionHash"].hex(),
                            "log_index": d["logIndex"],
                            "args": args,
                        }
                    )
                },
            )
            n += 1
        pipe.execute()
    dt = time.perf_counter() - t
    client.delete(stream)
    return n, dt


def head_latency(node: Anvil, redis_url: str, start: int, samples: int) -> list[float]:
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    client = redis.Redis.from_url(redis_url)
    with tempfile.TemporaryDirectory() as tmp:
        deployment = Path(tmp) / "31337.json"
        # The emitter stands in for the marketplace (same events); the record names the
        # marketplace's artifact, which the indexer checks its ABI against.
        Deployment(
            chain_id=31337,
            address=EMITTER_ADDRESS,
            block_number=node.block_number() + 1,
            tx_hash="0x" + "00" * 32,
            artifact_hash=load_artifact().hash,
        ).save(deployment)
        env = {
            **os.environ,
            "EDGEMARKET_RPC_URL": node.url,
            "EDGEMARKET_REDIS_URL": redis_url,
            "EDGEMARKET_STREAM": stream,
            "EDGEMARKET_DEPLOYMENT_FILE": str(deployment),
            "EDGEMARKET_LOG_LEVEL": "WARNING",
        }
        proc = subprocess.Popen([sys.executable, "-m", "services.indexer"], env=env, cwd=ROOT)
        try:
            ev = marketplace_events()[1]
            last = "0"
            out = []
            for i in range(samples + 5):
                tx = send_logs(node, [encode_log(ev, sample_values(ev, i))])
                mined = time.perf_counter()
                while True:
                    got = client.xread({stream: last}, count=1, block=10_000)
                    if not got:
                        raise RuntimeError("the indexer published nothing for 10 s")
                    entry_id, fields = got[0][1][0]
                    last = entry_id
                    if json.loads(fields[b"data"])["tx_hash"] == tx:
                        break
                if i >= 5:  # the first few include the indexer's start-up
                    out.append((time.perf_counter() - mined) * 1000)
                time.sleep(0.005 * (i % 7))  # vary the phase against the poll interval
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            client.delete(stream, stream + ":checkpoint")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="one round, fewer latency samples")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    a = parser.parse_args()
    rounds, samples = (1, 60) if a.quick else (3, 300)
    client = redis.Redis.from_url(a.redis_url)
    node, start = cached_chain(EVENTS, "bench-indexer")
    try:
        mine = [ours(node.url, client, start) for _ in range(rounds)]
        peer = [web3_loop(node.url, client, start) for _ in range(rounds)]
        assert all(n == EVENTS for n, _ in mine + peer), (mine, peer)
        ours_rate = EVENTS / statistics.median(dt for _, dt in mine)
        peer_rate = EVENTS / statistics.median(dt for _, dt in peer)
        lat = sorted(head_latency(node, a.redis_url, start, samples))
    finally:
        node.stop()
    p50 = lat[len(lat) // 2]
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    poll = 50.0
    print(f"{'what':<34}{'figure':>14}")
    print(f"{'events indexed per round':<34}{EVENTS:>14,}")
    print(f"{'indexer events/s':<34}{ours_rate:>14,.0f}")
    print(f"{'web3-loop events/s':<34}{peer_rate:>14,.0f}")
    print(f"{'ratio':<34}{ours_rate / peer_rate:>14.2f}")
    print(f"{'head latency p50 (ms)':<34}{p50:>14.1f}")
    print(f"{'head latency p99 (ms)':<34}{p99:>14.1f}")
    print(f"{'poll interval (ms)':<34}{poll:>14.0f}")
    print(
        json.dumps(
            {
                "bench": "indexer",
                "events": EVENTS,
                "events_per_s": round(ours_rate),
                "web3_loop_events_per_s": round(peer_rate),
                "p50_ms": round(p50, 1),
                "p99_ms": round(p99, 1),
                "latency_samples": len(lat),
                "ratio_vs": {"web3-loop": round(ours_rate / peer_rate, 2)},
            }
        )
    )


if __name__ == "__main__":
    main()
