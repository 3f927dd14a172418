"""The scheduler's fault matrix (README "Reliability") on a real anvil and Redis: its intake handler
failing once, its state database failing mid-batch, the RPC lost after the commit and after the
reveal were mined, Redis restarted mid-run, kill -9 between a mined commit and its record. In
every case each task ends with exactly one commitment of this solver, revealed exactly once.

The evolution itself is not under test here (tests/integration/test_faults.py kills Celery
workers mid-epoch): `Scheduler.evolve` is replaced by a fixed candidate, so the commit and
reveal paths run as they do in production, against the real contract."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
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
from services.requester import create_task
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.islands import Candidate
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealStore, SolverTaskState
from services.scheduler.service import Scheduler
from tests.fixtures.chain import ETHER, Chain
from tests.fixtures.services import PrivateRedis
from tests.integration.test_evaluator import node_for
from tests.integration.test_indexer import drain, make_indexer
from tests.integration.test_reliability_projector import wait_for

ROOT = Path(__file__).resolve().parents[2]
SPEC = {"schema": "edgemarket/task@1", "scorer": "bisuna-core/1", "env": {"name": "cipher"}}
CONSUMER = "scheduler-host"

# A scheduler in its own process whose commit transaction is mined, then it stops dead before
# recording the solution id, for the test to kill -9 it there.
DYING_SCHEDULER = """
import sys, time
from pathlib import Path
import redis
from eth_account import Account
from web3 import Web3
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.node import Node
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.islands import Candidate
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealStore
from services.scheduler.service import Scheduler
rpc, deployment, key, content, state, redis_url, agent = sys.argv[1:8]
w3 = Web3(Web3.HTTPProvider(rpc))
account = Account.from_key(key)
d = Deployment.load(deployment)
settings = SolverSettings(redis_url=redis_url)
s = Scheduler(settings, Node(Marketplace.from_deployment(w3, d, account), d, account),
              RevealStore(Path(state)), LocalContentStore(Path(content)), make_app(settings),
              PrivateAgents(redis.Redis.from_url(redis_url), "p", 60))
s.evolve = lambda *a: Candidate(bytes.fromhex(agent), 7, 0)
real = Marketplace.commit_solution
def commit_then_hold(self, *args, **kwargs):
    real(self, *args, **kwargs)
    print("holding", flush=True)
    time.sleep(300)
Marketplace.commit_solution = commit_then_hold
s.work_step()
"""


@dataclass
class Scene:
    chain: Chain
    deployment: Deployment
    content: LocalContentStore
    requester: Marketplace
    requester_account: LocalAccount
    solver: LocalAccount
    evaluator: str
    agent: bytes
    tmp: Path

    @property
    def group(self) -> str:
        return f"scheduler-{self.solver.address.lower()}"

    def create(self) -> Any:  # Any: CreatedTask
        return create_task(
            node_for(self.chain, self.deployment, self.requester_account),
            self.content, parse_spec(json.dumps(SPEC)), bounty=ETHER,
            evaluators=[self.evaluator], commit_seconds=600, reveal_seconds=300,
            commit_bond=ETHER // 10,
        )  # fmt: skip

    def scheduler(self, redis_url: str) -> Scheduler:
        settings = SolverSettings(redis_url=redis_url, state_dir=self.tmp / "state")
        s = Scheduler(
            settings,
            node_for(self.chain, self.deployment, self.solver),
            RevealStore(self.tmp / "state.sqlite"),
            self.content,
            make_app(settings),
            PrivateAgents(redis.Redis.from_url(redis_url), "p", 60),
        )
        s.evolve = lambda *a: Candidate(self.agent, 7, 0)  # type: ignore[method-assign]
        return s

    def events(self, name: str, task_id: int) -> list[Any]:  # Any: decoded events
        market = self.requester
        logs = market.w3.eth.get_logs(
            {
                "address": market.address,
                "fromBlock": self.deployment.block_number,
                "toBlock": "latest",
                "topics": [
                    "0x" + market.events.topics[name].hex(),
                    "0x" + task_id.to_bytes(32, "big").hex(),
                ],
            }
        )
        out = []
        for entry in logs:
            decoded = market.events.decode_log(dict(entry))
            assert decoded is not None
            out.append(decoded.event)
        return out

    def settle(self, s: Scheduler, tasks: list[Any]) -> None:  # Any: CreatedTask
        """Past every commit deadline, the settle loop reveals (retried as its loop would)."""
        self.chain.travel_to(max(t.commit_deadline for t in tasks))
        for _ in range(3):
            with contextlib.suppress(ConnectionResetError):
                s.settle_step()

    def assert_exactly_once(self, tasks: list[Any], client: redis.Redis, stream: str) -> None:
        me = self.solver.address.lower()
        for t in tasks:
            commits = self.events("SolutionCommitted", t.task_id)
            assert [e.solver.lower() for e in commits] == [me], t.task_id
            reveals = self.events("SolutionRevealed", t.task_id)
            assert [(e.solution_id, e.solver.lower()) for e in reveals] == [
                (commits[0].solution_id, me)
            ]
        assert client.xpending(stream, self.group)["pending"] == 0
        assert client.xlen(f"{stream}:dead:{self.group}") == 0


@pytest.fixture
def scene(chain: Chain, marketplace_deployment: Deployment, tmp_path: Path) -> Scene:
    requester, solver, evaluator = chain.accounts[35:38]
    pop = bisuna.Population(parse_spec(json.dumps(SPEC)).to_dict(), 9)
    pop.evolve(1)
    return Scene(
        chain,
        marketplace_deployment,
        LocalContentStore(tmp_path / "content"),
        Marketplace.from_deployment(chain.w3, marketplace_deployment, requester),
        requester,
        solver,
        evaluator.address,
        pop.best().to_bytes(),
        tmp_path,
    )


@contextlib.contextmanager
def intake(
    client: redis.Redis, stream: str, group: str, on: Callable[[Message], None]
) -> Iterator[None]:
    stop = threading.Event()
    t = threading.Thread(
        target=consume,
        args=(client, stream, group, CONSUMER, {Kind.TASK_CREATED: on}),
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


def accepted(s: Scheduler, tasks: list[Any]) -> Callable[[], bool]:  # Any: CreatedTask
    def check() -> bool:
        return all(
            (rec := s.store.task(t.task_id)) is not None
            and rec.state != SolverTaskState.REJECTED.value
            for t in tasks
        )

    return check


@pytest.mark.parametrize("fault", ["handler", "database"])
def test_intake_fails_once(scene: Scene, redis_url: str, redis_prefix: str, fault: str) -> None:
    """The intake handler raises (a bug), or the state database fails mid-batch (locked)."""
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    tasks = [scene.create(), scene.create()]
    index(scene, client, stream)
    s = scene.scheduler(redis_url)
    failed = threading.Event()
    if fault == "handler":
        real_on = s.on_task_created

        def on(m: Message) -> None:
            if not failed.is_set():
                failed.set()
                raise RuntimeError("injected handler bug")
            real_on(m)

    else:
        on = s.on_task_created
        real_put = s.store.put_task

        def put_task(*args: Any, **kwargs: Any) -> None:  # Any: put_task's own arguments
            if not failed.is_set():
                failed.set()
                raise sqlite3.OperationalError("database is locked (injected)")
            real_put(*args, **kwargs)

        s.store.put_task = put_task  # type: ignore[method-assign]
    with intake(client, stream, scene.group, on):
        wait_for(accepted(s, tasks), 30, "both tasks taken on")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    assert failed.is_set()
    s.work_step()
    s.work_step()
    scene.settle(s, tasks)
    scene.assert_exactly_once(tasks, client, stream)


@pytest.mark.parametrize("lost", ["commit", "reveal"])
def test_rpc_lost_after_a_mined_transaction(
    scene: Scene, redis_url: str, redis_prefix: str, lost: str
) -> None:
    """The connection drops after the commit (or the reveal) was mined, before its receipt;
    the loops retry and the chain, read again, says it is done."""
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    tasks = [scene.create()]
    index(scene, client, stream)
    s = scene.scheduler(redis_url)
    with intake(client, stream, scene.group, s.on_task_created):
        wait_for(accepted(s, tasks), 30, "the task taken on")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    name = "commit_solution" if lost == "commit" else "reveal_solution"
    real = getattr(s.market, name)
    calls = 0

    def lossy(*args: Any, **kwargs: Any) -> Any:  # Any: the wrapped call's own arguments
        nonlocal calls
        calls += 1
        real(*args, **kwargs)
        raise ConnectionResetError("connection reset by peer (injected)")

    setattr(s.market, name, lossy)
    with contextlib.suppress(ConnectionResetError):
        s.work_step()
    s.work_step()  # the work loop's retry
    scene.settle(s, tasks)
    assert calls == 1
    scene.assert_exactly_once(tasks, client, stream)


def test_redis_restarted_mid_run(scene: Scene, private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis(persistent=True)
    client, stream = redis.Redis.from_url(server.url, socket_timeout=5), "s"
    tasks = [scene.create()]
    ix = index(scene, client, stream)
    s = scene.scheduler(server.url)
    with intake(client, stream, scene.group, s.on_task_created):
        wait_for(accepted(s, tasks), 30, "the first task taken on")
        server.stop()
        tasks.append(scene.create())
        server.start()
        drain(ix)
        wait_for(accepted(s, tasks), 60, "the second task taken on")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    s.work_step()
    s.work_step()
    scene.settle(s, tasks)
    scene.assert_exactly_once(tasks, client, stream)


def test_kill_9_between_a_mined_commit_and_its_record(
    scene: Scene, redis_url: str, redis_prefix: str
) -> None:
    client, stream = redis.Redis.from_url(redis_url), redis_prefix + "s"
    tasks = [scene.create()]
    index(scene, client, stream)
    s = scene.scheduler(redis_url)
    with intake(client, stream, scene.group, s.on_task_created):
        wait_for(accepted(s, tasks), 30, "the task taken on")
        wait_for(lambda: client.xpending(stream, scene.group)["pending"] == 0, 30, "the acks")
    s.store.close()
    deployment = scene.deployment.save(scene.tmp / "deployment.json")
    proc = subprocess.Popen(
        [
            sys.executable, "-c", DYING_SCHEDULER, scene.chain.url, str(deployment),
            scene.solver.key.hex(), str(scene.tmp / "content"), str(scene.tmp / "state.sqlite"),
            redis_url, scene.agent.hex(),
        ],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "holding":
            proc.wait(timeout=30)
            assert proc.stderr is not None
            raise AssertionError(f"the dying scheduler did not get there: {proc.stderr.read()}")
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert len(scene.events("SolutionCommitted", tasks[0].task_id)) == 1
    successor = scene.scheduler(redis_url)
    successor.work_step()  # sees its commitment on record: leaves it to the settle loop
    scene.settle(successor, tasks)
    scene.assert_exactly_once(tasks, client, stream)
