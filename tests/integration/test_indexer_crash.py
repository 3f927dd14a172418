"""kill -9 the indexer at random points: after restarts the stream holds every event once, in order."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from services.common.chain import Deployment, load_artifact
from services.common.messages import decode_message
from services.indexer.devchain import EMITTER_ADDRESS, Anvil, cached_chain

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / ".edgemarket" / "fixtures"
EVENTS = 2_400


@pytest.fixture(scope="module")
def big_chain() -> Iterator[tuple[Anvil, int]]:
    """An anvil holding EVENTS events over ~120 blocks, built once and then loaded from a dump."""
    node, start = cached_chain(EVENTS, "indexer-crash", per_tx=20, per_block=1)
    yield node, start
    node.stop()


def _spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.indexer"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_at_random_points(
    big_chain: tuple[Anvil, int], redis_url: str, redis_prefix: str, tmp_path: Path, seed: int
) -> None:
    anvil, start = big_chain
    expected = [
        (int(lg["blockNumber"], 16), int(lg["logIndex"], 16))
        for lg in anvil.rpc(
            "eth_getLogs",
            {"fromBlock": hex(start), "toBlock": "latest", "address": EMITTER_ADDRESS},
        )
    ]
    assert len(expected) == EVENTS
    deployment = tmp_path / "31337.json"
    Deployment(
        chain_id=31337,
        address=EMITTER_ADDRESS,
        block_number=start,
        tx_hash="0x" + "00" * 32,
        artifact_hash=load_artifact().hash,
    ).save(deployment)
    stream = redis_prefix + "events"
    env = {
        **os.environ,
        "EDGEMARKET_RPC_URL": anvil.url,
        "EDGEMARKET_REDIS_URL": redis_url,
        "EDGEMARKET_STREAM": stream,
        "EDGEMARKET_DEPLOYMENT_FILE": str(deployment),
        "EDGEMARKET_INDEX_MAX_RANGE": "3",
        "EDGEMARKET_LOG_LEVEL": "WARNING",
    }
    client = redis.Redis.from_url(redis_url)
    rnd = random.Random(seed)
    kills = 0
    while kills < 4 and client.xlen(stream) < EVENTS:
        before = client.xlen(stream)
        threshold = rnd.randint(before + 1, EVENTS)
        late = time.monotonic() + rnd.uniform(0.3, 2.0)
        proc = _spawn(env)
        while client.xlen(stream) < threshold and time.monotonic() < late and proc.poll() is None:
            time.sleep(rnd.uniform(0, 0.01))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    proc = _spawn(env)
    deadline = time.monotonic() + 60
    while client.xlen(stream) < EVENTS and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.2)  # it would have published any duplicate by now
    proc.terminate()
    proc.wait(timeout=20)
    assert kills >= 1
    got = [decode_message(f[b"data"]) for _, f in client.xrange(stream)]
    assert [(m.block_number, m.log_index) for m in got] == expected
    checkpoint = json.loads(client.get(stream + ":checkpoint") or b"{}")
    assert checkpoint["number"] == anvil.block_number()
