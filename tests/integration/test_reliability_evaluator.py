"""The evaluator's fault matrix (README "Reliability") on a real anvil, Redis and the real core:
a handler that fails once, the RPC connection dropped after an attestScores was mined (before
its receipt came back: the only batch, the second of several, or one still waiting in the
node's pool), Redis restarted mid-run, and the real service (`edgemarket run
evaluator`, scoring in its process pool) killed with SIGKILL in the middle of its attestations
and between its last attestation and the stream's ack. In every case each revealed solution
ends with exactly one attestation from this evaluator (one ScoreAttested event each, no
transaction sent twice or reverted), every solution verified (so every bond comes back), and
nothing pending or dead.

Faults go in at real boundaries: a proxy in front of anvil loses the reply of a transaction
that reached the node, Redis is killed and restarted, the service process is killed."""

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
from web3 import Web3

import bisuna
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.node import Node
from services.common.spec import parse_spec
from services.common.streams import consume
from services.evaluator.service import Evaluator
from services.requester import create_task
from tests.fixtures.chain import Chain, commit_agent, reveal, seal
from tests.fixtures.rpc_proxy import RpcProxy
from tests.fixtures.services import PrivateRedis
from tests.integration.test_evaluator import SPEC, node_for
from tests.integration.test_indexer import drain, make_indexer
from tests.integration.test_reliability_projector import wait_for

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = "evaluator-host"
SOLVERS = 4
# Heavier than SPEC's draw, so that each agent takes a while in the service's one pool worker
# and its attestations go out one batch per agent: a kill can then fall between two of them.
SLOW_SPEC = {**SPEC, "eval": {"samples": 1_048_576}}  # 0.2-0.6 s an agent


@dataclass
class Scene:
    """A task with SOLVERS revealed solutions, evaluated by `evaluator` alone (quorum 1)."""

    chain: Chain
    deployment: Deployment
    content: LocalContentStore
    requester: Marketplace
    evaluator: LocalAccount
    task_id: int
    solutions: list[int]
    reveal_deadline: int
    first_block: int

    @property
    def group(self) -> str:
        return f"evaluator-{self.evaluator.address.lower()}"

    def make_evaluator(self, rpc_url: str | None = None, workers: int = 0) -> Evaluator:
        if rpc_url is None:
            node = node_for(self.chain, self.deployment, self.evaluator)
        else:
            w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 10}))
            market = Marketplace.from_deployment(w3, self.deployment, self.evaluator)
            node = Node(market, self.deployment, self.evaluator)
        return Evaluator(node, self.content, workers=workers)

    def seal(self) -> None:
        self.chain.travel_to(self.reveal_deadline)
        seal(self.chain, self.requester, self.task_id)

    def attested(self) -> bool:
        return all(
            self.requester.has_attested(self.task_id, sid, self.evaluator.address)
            for sid in self.solutions
        )

    def attested_ids(self) -> list[int]:
        """Solution ids of this evaluator's ScoreAttested events, one per event."""
        logs = self.requester.w3.eth.get_logs(
            {
                "address": self.requester.address,
                "fromBlock": self.first_block,
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
            if decoded.event.evaluator.lower() == self.evaluator.address.lower():  # type: ignore[union-attr]
                ids.append(decoded.event.solution_id)  # type: ignore[union-attr]
        return ids

    def transactions(self) -> list[int]:
        """Statuses of every transaction this evaluator sent since the scene was set."""
        w3 = self.chain.w3
        out = []
        for n in range(self.first_block, w3.eth.block_number + 1):
            for tx in w3.eth.get_block(n, full_transactions=True)["transactions"]:
                if str(tx["from"]).lower() == self.evaluator.address.lower():  # type: ignore[index]
                    out.append(int(w3.eth.get_transaction_receipt(tx["hash"])["status"]))  # type: ignore[index]
        return out

    def assert_exactly_once(self, client: redis.Redis, stream: str) -> list[int]:
        """One ScoreAttested per solution from this evaluator, no transaction wasted or reverted,
        every solution verified; returns the statuses of the evaluator's transactions."""
        assert sorted(self.attested_ids()) == sorted(self.solutions)
        statuses = self.transactions()
        assert statuses and all(s == 1 for s in statuses), statuses
        assert len(statuses) <= len(self.solutions)
        for sid in self.solutions:
            assert self.requester.get_solution(self.task_id, sid).verified, sid
        assert client.xpending(stream, self.group)["pending"] == 0
        assert client.xlen(f"{stream}:dead:{self.group}") == 0
        return statuses


def make_scene(
    chain: Chain, deployment: Deployment, tmp_path: Path, spec_doc: dict[str, Any]
) -> Scene:
    requester, e1, *solvers = chain.accounts[30 : 32 + SOLVERS]
    content = LocalContentStore(tmp_path / "content")
    spec = parse_spec(json.dumps(spec_doc))
    pop = bisuna.Population(spec.to_dict(), 5)
    pop.evolve(1)
    agents = [a.to_bytes() for a in pop.export_best(SOLVERS)]
    first_block = chain.block_number() + 1
    created = create_task(
        node_for(chain, deployment, requester), content, spec,
        bounty=10**18, evaluators=[e1.address], quorum=1, commit_seconds=100,
        reveal_seconds=100, eval_window=3000, commit_bond=10**17,
    )  # fmt: skip
    commits = []
    for solver, agent in zip(solvers, agents, strict=True):
        m = Marketplace.from_deployment(chain.w3, deployment, solver)
        commits.append((m, commit_agent(m, created.task_id, agent, 1)))
    chain.travel_to(created.commit_deadline)
    for m, c in commits:
        reveal(m, c)
    return Scene(
        chain,
        deployment,
        content,
        Marketplace.from_deployment(chain.w3, deployment, requester),
        e1,
        created.task_id,
        [c.solution_id for _, c in commits],
        created.reveal_deadline,
        first_block,
    )


@pytest.fixture
def scene(chain: Chain, marketplace_deployment: Deployment, tmp_path: Path) -> Scene:
    return make_scene(chain, marketplace_deployment, tmp_path, SPEC)


@pytest.fixture
def proxy(chain: Chain) -> Iterator[RpcProxy]:
    p = RpcProxy(chain.url)
    yield p
    p.close()


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


def settled(client: redis.Redis, stream: str, group: str) -> Callable[[], bool]:
    return lambda: client.xpending(stream, group)["pending"] == 0


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
        wait_for(settled(client, stream, scene.group), 30, "the acks")
    assert failed.is_set()
    # One attestScores for every solution: the failed delivery sent nothing.
    assert scene.assert_exactly_once(client, stream) == [1]


def test_rpc_dropped_after_an_attestation_was_mined(
    scene: Scene, proxy: RpcProxy, redis_url: str, redis_prefix: str
) -> None:
    """The node mines the batch's attestScores, then the connection drops before the reply:
    the entry is retried and the chain, not memory, says every solution is attested."""
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    e = scene.make_evaluator(proxy.url)
    proxy.arm("eth_sendRawTransaction", "drop")
    with consuming(client, stream, scene.group, handlers(e)):
        wait_for(proxy.fired.is_set, 60, "the attestation sent")
        wait_for(settled(client, stream, scene.group), 60, "the acks")
    assert scene.assert_exactly_once(client, stream) == [1]
    assert proxy.calls["eth_sendRawTransaction"] == 1  # the retry sent nothing


def test_rpc_dropped_after_the_second_of_several_batches(
    chain: Chain,
    marketplace_deployment: Deployment,
    proxy: RpcProxy,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    """Scoring in a one-worker pool, slow agents come back one at a time and each is attested
    in its own transaction; the reply of the second is lost after it was mined. The retry
    scores and attests only the solutions the chain says are not attested yet."""
    scene = make_scene(chain, marketplace_deployment, tmp_path, SLOW_SPEC)
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    e = scene.make_evaluator(proxy.url, workers=1)
    proxy.arm("eth_sendRawTransaction", "drop", nth=2)
    try:
        with consuming(client, stream, scene.group, handlers(e)):
            wait_for(proxy.fired.is_set, 60, "the second attestation sent")
            wait_for(scene.attested, 60, "every solution attested")
            wait_for(settled(client, stream, scene.group), 60, "the acks")
    finally:
        e.close()
    statuses = scene.assert_exactly_once(client, stream)
    assert len(statuses) == proxy.calls["eth_sendRawTransaction"]  # none sent twice


def test_rpc_dropped_while_the_attestation_is_still_pending(
    scene: Scene, proxy: RpcProxy, redis_url: str, redis_prefix: str
) -> None:
    """On a chain with block times the lost attestScores may still wait in the node's pool
    when the entry is retried: the chain's latest state says nothing is attested yet, and the
    retry must not send a second transaction that would revert once the first is mined.
    Anvil stops mining on its own here, so the first is certainly still pending."""
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    e = scene.make_evaluator(proxy.url)
    proxy.arm("eth_sendRawTransaction", "drop")
    scene.chain.rpc("evm_setAutomine", [False])
    try:
        with consuming(client, stream, scene.group, handlers(e)):
            wait_for(proxy.fired.is_set, 60, "the attestation sent")
            wait_for(
                lambda: (
                    proxy.calls.get("eth_sendRawTransaction", 0) >= 2
                    or settled(client, stream, scene.group)()
                ),
                60,
                "the retry",
            )
            scene.chain.mine(1)
            scene.chain.rpc("evm_setAutomine", [True])
            wait_for(scene.attested, 60, "every solution attested")
            wait_for(settled(client, stream, scene.group), 60, "the acks")
    finally:
        scene.chain.rpc("evm_setAutomine", [True])
    assert scene.assert_exactly_once(client, stream) == [1]


def test_redis_restarted_mid_run(scene: Scene, private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis(persistent=True)
    client, stream = redis.Redis.from_url(server.url, socket_timeout=5), "s"
    ix = index(scene, client, stream)  # the reveals
    e = scene.make_evaluator()
    with consuming(client, stream, scene.group, handlers(e)):
        wait_for(settled(client, stream, scene.group), 30, "the reveals")
        server.stop()
        scene.seal()
        server.start()
        drain(ix)  # the seed
        wait_for(scene.attested, 60, "every solution attested")
        wait_for(settled(client, stream, scene.group), 30, "the acks")
    assert scene.assert_exactly_once(client, stream) == [1]


def service_env(
    scene: Scene, tmp_path: Path, rpc_url: str, redis_url: str, stream: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    deployment = scene.deployment.save(tmp_path / "deployment.json")
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "EDGEMARKET_RPC_URL": rpc_url,
            "EDGEMARKET_CHAIN_ID": "31337",
            "EDGEMARKET_DEPLOYMENT_FILE": str(deployment),
            "EDGEMARKET_REDIS_URL": redis_url,
            "EDGEMARKET_STREAM": stream,
            "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
            "EDGEMARKET_STATE_DIR": str(tmp_path / "state"),
            "EDGEMARKET_PRIVATE_KEY": scene.evaluator.key.hex(),
            "EDGEMARKET_EVALUATOR_WORKERS": "1",
        }
    )
    return env


def start_service(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "run", "evaluator"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def kill9(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the service and its pool processes (its own session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


@pytest.mark.parametrize("where", ["mid-batch", "before-ack"])
def test_kill_9_mid_batch_and_between_attestation_and_ack(
    chain: Chain,
    marketplace_deployment: Deployment,
    proxy: RpcProxy,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
    where: str,
) -> None:
    """The service attests as its pool's one worker finishes slow agents (a batch each); the
    proxy holds the reply of the first attestation (mid-batch: the others are not attested
    yet) or of the one that completes them all (every attestation mined, the entry not
    acknowledged), and the service is killed there. The restarted service sends only what
    is missing."""
    scene = make_scene(chain, marketplace_deployment, tmp_path, SLOW_SPEC)
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    scene.seal()
    index(scene, client, stream)
    log = tmp_path / "evaluator.log"
    env = service_env(scene, tmp_path, proxy.url, redis_url, stream)
    if where == "mid-batch":
        proxy.arm("eth_sendRawTransaction", "hold")
    else:
        proxy.arm("eth_sendRawTransaction", "hold", when=scene.attested)
    proc = start_service(env, log)
    try:
        wait_for(proxy.fired.is_set, 120, "the attestation to kill after")
        kill9(proc)
    finally:
        kill9(proc)
    done = len(scene.attested_ids())
    assert client.xpending(stream, scene.group)["pending"] > 0, log.read_text()[-3000:]
    if where == "mid-batch":
        assert 1 <= done < SOLVERS, log.read_text()[-3000:]
    else:
        assert done == SOLVERS, log.read_text()[-3000:]
    sent_before = proxy.calls["eth_sendRawTransaction"]
    successor = start_service(env, log)
    try:
        wait_for(scene.attested, 120, "every solution attested")
        wait_for(settled(client, stream, scene.group), 60, "the acks")
    finally:
        kill9(successor)
    statuses = scene.assert_exactly_once(client, stream)
    resent = proxy.calls["eth_sendRawTransaction"] - sent_before
    assert len(statuses) == sent_before + resent
    if where == "before-ack":
        assert resent == 0, log.read_text()[-3000:]
