"""The evaluator's fault matrix (README "Reliability") on a real anvil, Redis and the real core: a
handler that fails once, the RPC connection lost mid-batch (after a transaction was mined),
Redis restarted mid-run, kill -9 between an attestation and the ack. In every case each
revealed solution ends with exactly one attestation from this evaluator (one ScoreAttested
event, one transaction) and nothing pending or dead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from eth_account.signers.local import LocalAccount

import bisuna
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.spec import parse_spec
from services.common.streams import consume
from services.evaluator.service import Evaluator
from services.requester import create_task
from tests.fixtures.chain import Chain, commit_agent, reveal, seal
from tests.fixtures.services import PrivateRedis
from tests.integration.test_evaluator import SPEC, node_for
from tests.integration.test_indexer import drain, make_indexer
from tests.integration.test_reliability_projector import wait_for

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = "evaluator-host"

# An evaluator in its own process that stops dead right after its first attestation was mined
# (before the stream entry is acknowledged), for the test to kill -9 it there.
DYING_EVALUATOR = """
import sys, time
import redis
from eth_account import Account
from web3 import Web3
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind
from services.common.node import Node
from services.common.streams import consume
from services.evaluator.service import Evaluator
rpc, deployment, key, content, redis_url, stream, group, consumer = sys.argv[1:9]
w3 = Web3(Web3.HTTPProvider(rpc))
account = Account.from_key(key)
d = Deployment.load(deployment)
evaluator = Evaluator(Node(Marketplace.from_deployment(w3, d, account), d, account),
                      LocalContentStore(content))
real = Marketplace.attest_score
def attest_then_hold(self, *args, **kwargs):
    real(self, *args, **kwargs)
    print("holding", flush=True)
    time.sleep(300)
Marketplace.attest_score = attest_then_hold
consume(redis.Redis.from_url(redis_url), stream, group, consumer,
        {Kind.SEED_SET: evaluator.on_seed_set,
         Kind.SOLUTION_REVEALED: evaluator.on_solution_revealed}, block_ms=100)
"""


@dataclass
class Scene:
    """A task with three revealed solutions, evaluated by `evaluator` alone (quorum 1)."""

    chain: Chain
    deployment: Deployment
    content: LocalContentStore
    requester: Marketplace
    evaluator: LocalAccount
    task_id: int
    solutions: list[int]
    reveal_deadline: int
    nonce0: int

    @property
    def group(self) -> str:
        return f"evaluator-{self.evaluator.address.lower()}"

    def make_evaluator(self) -> Evaluator:
        return Evaluator(node_for(self.chain, self.deployment, self.evaluator), self.content)

    def seal(self) -> None:
        self.chain.travel_to(self.reveal_deadline)
        seal(self.chain, self.requester, self.task_id)

    def attested(self) -> bool:
        return all(
            self.requester.has_attested(self.task_id, sid, self.evaluator.address)
            for sid in self.solutions
        )

    def assert_exactly_once(self, client: redis.Redis, stream: str) -> None:
        """One ScoreAttested per solution from this evaluator, one transaction each."""
        logs = self.requester.w3.eth.get_logs(
            {
                "address": self.requester.address,
                "fromBlock": self.deployment.block_number,
                "toBlock": "latest",
                "topics": [
                    "0x" + self.requester.events.topics["ScoreAttested"].hex(),
                    "0x" + self.task_id.to_bytes(32, "big").hex(),
                ],
            }
        )
        ids = []
        for entry in logs:
            decoded = self.requester.events.decode_log(dict(entry))
            assert decoded is not None
            ids.append(decoded.event.solution_id)  # type: ignore[union-attr]
        assert sorted(ids) == sorted(self.solutions)
        sent = self.chain.w3.eth.get_transaction_count(self.evaluator.address) - self.nonce0
        assert sent == len(self.solutions)
        assert client.xpending(stream, self.group)["pending"] == 0
        assert client.xlen(f"{stream}:dead:{self.group}") == 0


@pytest.fixture
def scene(chain: Chain, marketplace_deployment: Deployment, tmp_path: Path) -> Scene:
    requester, e1, *solvers = chain.accounts[30:35]
    content = LocalContentStore(tmp_path / "content")
    spec = parse_spec(json.dumps(SPEC))
    pop = bisuna.Population(spec.to_dict(), 5)
    pop.evolve(1)
    agents = [a.to_bytes() for a in pop.export_best(3)]
    created = create_task(
        node_for(chain, marketplace_deployment, requester), content, spec,
        bounty=10**18, evaluators=[e1.address], quorum=1, commit_seconds=100,
        reveal_seconds=100, eval_window=3000,
    )  # fmt: skip
    commits = []
    for solver, agent in zip(solvers, agents, strict=True):
        m = Marketplace.from_deployment(chain.w3, marketplace_deployment, solver)
        commits.append((m, commit_agent(m, created.task_id, agent, 1)))
    chain.travel_to(created.commit_deadline)
    for m, c in commits:
        reveal(m, c)
    return Scene(
        chain,
        marketplace_deployment,
        content,
        Marketplace.from_deployment(chain.w3, marketplace_deployment, requester),
        e1,
        created.task_id,
        [c.solution_id for _, c in commits],
        created.reveal_deadline,
        chain.w3.eth.get_transaction_count(e1.address),
    )


def handlers(e: Evaluator) -> dict[Kind, Callable[[Message], None]]:
    return {Kind.SEED_SET: e.on_seed_set, Kind.SOLUTION_REVEALED: e.on_solution_revealed}


@contextlib.contextmanager
def consuming(
    client: redis.Redis, stream: str, group: str, on: dict[Kind, Callable[[Message], None]]
) -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(
        target=consume,
        args=(client, stream, group, CONSUMER, on),
        kwargs={"stop": stop, "block_ms": 100},
        daemon=True,
    )
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=30)


def index(scene: Scene, client: redis.Redis, stream: str) -> Any:  # Any: the Indexer
    ix = make_indexer(
        scene.chain.url, client, stream, scene.deployment.address.lower(),
        scene.deployment.block_number,
    )  # fmt: skip
    drain(ix)
    return ix


def test_handler_failing_once(scene: Scene, redis_url: str, redis_prefix: str) -> None:
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    e = scene.make_evaluator()
    on = handlers(e)
    failed = threading.Event()
    real = on[Kind.SEED_SET]

    def flaky(m: Message) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("injected handler bug")
        real(m)

    on[Kind.SEED_SET] = flaky
    with consuming(client, stream, scene.group, on):
        wait_for(scene.attested, 60, "every solution attested")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    assert failed.is_set()
    scene.assert_exactly_once(client, stream)


def test_rpc_lost_mid_batch_after_a_transaction(
    scene: Scene, redis_url: str, redis_prefix: str
) -> None:
    """The connection drops after the second attestation was mined, before its receipt came
    back: the batch is retried and the chain, not memory, says what is done."""
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    e = scene.make_evaluator()
    real = e.market.attest_score
    calls = 0

    def lossy(task_id: int, solution_id: int, score: int) -> Any:  # Any: TxResult
        nonlocal calls
        calls += 1
        out = real(task_id, solution_id, score)
        if calls == 2:
            raise ConnectionResetError("connection reset by peer (injected)")
        return out

    e.market.attest_score = lossy  # type: ignore[method-assign]
    with consuming(client, stream, scene.group, handlers(e)):
        wait_for(scene.attested, 60, "every solution attested")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    assert calls == 3
    scene.assert_exactly_once(client, stream)


def test_redis_restarted_mid_run(scene: Scene, private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis(persistent=True)
    client, stream = redis.Redis.from_url(server.url, socket_timeout=5), "s"
    ix = index(scene, client, stream)  # the reveals
    e = scene.make_evaluator()
    with consuming(client, stream, scene.group, handlers(e)):
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the reveals")
        server.stop()
        scene.seal()
        server.start()
        drain(ix)  # the seed
        wait_for(scene.attested, 60, "every solution attested")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    scene.assert_exactly_once(client, stream)


def test_kill_9_after_an_attestation_before_the_ack(
    scene: Scene, redis_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    deployment = scene.deployment.save(tmp_path / "deployment.json")
    proc = subprocess.Popen(
        [
            sys.executable, "-c", DYING_EVALUATOR, scene.chain.url, str(deployment),
            scene.evaluator.key.hex(), str(tmp_path / "content"), redis_url, stream,
            scene.group, CONSUMER,
        ],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "holding"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert client.xpending(stream, scene.group)["pending"] > 0
    done = sum(
        scene.requester.has_attested(scene.task_id, sid, scene.evaluator.address)
        for sid in scene.solutions
    )
    assert done == 1
    with consuming(client, stream, scene.group, handlers(scene.make_evaluator())):
        wait_for(scene.attested, 60, "every solution attested")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    scene.assert_exactly_once(client, stream)
