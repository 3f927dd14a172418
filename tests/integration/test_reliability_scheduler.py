"""The scheduler's fault matrix (README "Reliability") on a real anvil, Redis, Celery worker and
core, against the market loop (every task at once, anytime, each improvement committed): its
intake handler failing once, epochs failing on the worker (the harvest), the RPC reply lost
after a commit or a reveal was mined or while a commit still waits in the node's pool, Redis
(broker, results, stream and private store) restarted while epochs are out, and the real
service (`edgemarket run scheduler`) killed with SIGKILL between a task written to its store
and the stream's ack, with a commit intent written but not sent, between a mined commit and
its record, and between a mined reveal and its record. In every case each task ends as a clean
run does: every commitment of this solver is a different agent, each claim better than the
last, each revealed exactly once (the chain's events counted), no bond left behind (every
commitment revealed, none abandoned), and nothing pending or dead in the intake's group.

Faults go in at real boundaries: a proxy in front of anvil loses the reply of a transaction
that reached the node (or holds it, or never passes it on), a proxy in front of Redis holds an
XACK, redis-server is killed and restarted, the service process is killed.
One Redis and one Celery worker serve the whole module; each test has its own chain snapshot,
stream, private-store prefix and state."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from eth_account.signers.local import LocalAccount
from web3 import Web3

from services.common.chain import MAX_SCORE, Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.node import Node
from services.common.spec import parse_spec
from services.common.streams import consume
from services.requester import create_task
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealState, RevealStore, SolverTaskState
from services.scheduler.service import LOOP_ERRORS, Scheduler, store_path
from tests.fixtures.chain import ETHER, Chain
from tests.fixtures.redis_proxy import RedisProxy
from tests.fixtures.rpc_proxy import RpcProxy
from tests.fixtures.services import PrivateRedis
from tests.integration.test_indexer import drain, make_indexer
from tests.integration.test_market_e2e import Procs
from tests.integration.test_reliability_projector import wait_for

# One Redis and Celery worker for the module: make test's `--dist loadfile` keeps a file's tests
# in one worker, so they are started once.

ROOT = Path(__file__).resolve().parents[2]
CONSUMER = "scheduler-host"
QUEUE = "edgemarket.reliability"
SPEC = {  # solved in a few epochs (the environment hands Alice K xor P)
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 64},
    "budget": {"population": 16},
}


@dataclass
class Stack:
    """The module's Redis (persistent, so a restart keeps its data) and Celery worker."""

    redis: PrivateRedis
    procs: Procs
    content: Path

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "PYTHONUNBUFFERED": "1",
                "EDGEMARKET_REDIS_URL": self.redis.url,
                "EDGEMARKET_CONTENT_STORE": f"file:{self.content}",
                "EDGEMARKET_QUEUE": QUEUE,
                **extra,
            }
        )
        return env


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("scheduler-stack")
    (tmp / "logs").mkdir()
    server = PrivateRedis(persistent=True)
    server.start()
    s = Stack(server, Procs(tmp / "logs", {}), tmp / "content")
    s.procs.env = s.env()
    s.procs.start("worker", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    app = make_app(SolverSettings(redis_url=server.url, queue=QUEUE))
    try:
        wait_for(lambda: bool(app.control.ping(timeout=0.5)), 60, "the Celery worker")
        yield s
    finally:
        s.procs.stop_all()
        server.cleanup()


@dataclass
class Scene:
    chain: Chain
    deployment: Deployment
    stack: Stack
    requester: LocalAccount
    solver: LocalAccount
    evaluator: str
    tmp: Path
    name: str  # this test's stream, private-store prefix

    @property
    def content(self) -> LocalContentStore:
        return LocalContentStore(self.stack.content)

    @property
    def stream(self) -> str:
        return f"{self.name}:events"

    @property
    def group(self) -> str:
        return f"scheduler-{self.solver.address.lower()}"

    @property
    def market(self) -> Marketplace:
        return Marketplace.from_deployment(self.chain.w3, self.deployment, self.requester)

    def settings(self) -> SolverSettings:
        return SolverSettings(
            redis_url=self.stack.redis.url,
            content_store=f"file:{self.stack.content}",
            queue=QUEUE,
            stream=self.stream,
            private_prefix=f"{self.name}:private",
            state_dir=self.tmp / "state",
            islands=1,
            epoch_seconds=0.3,
            epoch_timeout=5,
            commit_margin=2,
            improvement_margin=1,
            keeper_interval=0.2,
            shrink_seconds=0.2,
        )

    def create(self, content: LocalContentStore | None = None, spec: Any = SPEC) -> int:
        created = create_task(
            Node(self.market, self.deployment, self.requester), content or self.content,
            parse_spec(json.dumps(spec)), bounty=ETHER, evaluators=[self.evaluator],
            commit_seconds=3600, reveal_seconds=600, commit_bond=ETHER // 10,
        )  # fmt: skip
        return created.task_id

    def scheduler(
        self, rpc_url: str | None = None, content: LocalContentStore | None = None
    ) -> Scheduler:
        settings = self.settings()
        w3 = self.chain.w3 if rpc_url is None else Web3(Web3.HTTPProvider(rpc_url))
        market = Marketplace.from_deployment(w3, self.deployment, self.solver)
        node = Node(market, self.deployment, self.solver)
        return Scheduler(
            settings,
            node,
            RevealStore(store_path(settings, node)),
            content or self.content,
            make_app(settings),
            PrivateAgents(
                redis.Redis.from_url(settings.redis_url, socket_timeout=5),
                settings.private_prefix,
                600,
            ),
        )

    @property
    def store_file(self) -> Path:
        """The service's state file (services.scheduler.service.store_path)."""
        name = f"scheduler-31337-{self.deployment.address.lower()}-{self.solver.address.lower()}"
        return self.tmp / "state" / f"{name}.sqlite"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.stack.redis.url, socket_timeout=5)

    def index(self) -> Any:  # Any: the Indexer
        ix = make_indexer(
            self.chain.url, self.client(), self.stream, self.deployment.address.lower(),
            self.deployment.block_number,
        )  # fmt: skip
        drain(ix)
        return ix

    def events(self, name: str, task_id: int) -> list[Any]:  # Any: decoded events
        market = self.market
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
            decoded = self.market.events.decode_log(dict(entry))
            assert decoded is not None
            if decoded.event.solver.lower() == self.solver.address.lower():  # type: ignore[union-attr]
                out.append(decoded.event)
        return out

    def commit_deadline(self, tasks: list[int]) -> int:
        return max(self.market.get_task(t).commit_deadline for t in tasks)

    def assert_exactly_once(self, tasks: list[int], store: RevealStore, stream: bool) -> None:
        """As a clean run ends: at least one commitment a task, each a different agent with a
        better claim than the one before, each revealed exactly once, none left unrevealed or
        abandoned (no bond lost), nothing pending or dead in the intake's group."""
        for t in tasks:
            commits = self.events("SolutionCommitted", t)
            reveals = self.events("SolutionRevealed", t)
            ids = [c.solution_id for c in commits]
            assert ids, f"task {t}: nothing committed"
            assert sorted(r.solution_id for r in reveals) == ids, (t, ids, reveals)
            by_id = sorted(reveals, key=lambda r: r.solution_id)
            digests = [r.agent_digest for r in by_id]
            assert len(set(digests)) == len(digests), f"task {t}: an agent committed twice"
            claims = [r.claimed_score for r in by_id]
            assert claims == sorted(set(claims)), f"task {t}: claims not improving: {claims}"
            rows = store.all_for(t)
            assert sorted(r.solution_id for r in rows if r.solution_id is not None) == ids
            assert {r.state for r in rows} == {RevealState.REVEALED}, rows
            assert all(self.market.get_solution(t, i).revealed for i in ids)
        if stream:
            client = self.client()
            assert client.xpending(self.stream, self.group)["pending"] == 0
            assert client.xlen(f"{self.stream}:dead:{self.group}") == 0


@pytest.fixture
def scene(chain: Chain, marketplace_deployment: Deployment, stack: Stack, tmp_path: Path) -> Scene:
    requester, solver, evaluator = chain.accounts[35:38]
    return Scene(
        chain, marketplace_deployment, stack, requester, solver, evaluator.address, tmp_path,
        f"test:{uuid.uuid4().hex[:12]}",
    )  # fmt: skip


@pytest.fixture
def proxy(chain: Chain) -> Iterator[RpcProxy]:
    p = RpcProxy(chain.url)
    yield p
    p.close()


@contextlib.contextmanager
def intake(scene: Scene, on: Callable[[Message], None]) -> Iterator[None]:
    """The scheduler's stream consumer, in a thread as the service runs it."""
    stop = threading.Event()
    t = threading.Thread(
        target=consume,
        args=(scene.client(), scene.stream, scene.group, CONSUMER, {Kind.TASK_CREATED: on}),
        kwargs={"stop": stop, "block_ms": 100},
        daemon=True,
    )
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join(timeout=30)


def turn(s: Scheduler, step: Callable[[], Any]) -> BaseException | None:
    """One step of a service loop: the errors its loop retries are returned, not raised."""
    try:
        step()
    except LOOP_ERRORS as exc:
        time.sleep(0.1)
        return exc
    return None


def accepted(s: Scheduler, tasks: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        return all(
            (rec := s.store.task(t)) is not None and rec.state == SolverTaskState.ACCEPTED
            for t in tasks
        )

    return check


def evolve(scene: Scene, s: Scheduler, tasks: list[int], epochs: int = 6) -> list[BaseException]:
    """Turn the work loop until every task has a commitment and `epochs` epochs done since its
    first one (so a perfect champion comes back again), or 90 s; the errors its loop retried."""
    errors: list[BaseException] = []
    after: dict[int, int] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if (err := turn(s, s.work_step)) is not None:
            errors.append(err)
        scene.stack.procs.check_alive()
        for t in tasks:
            live = s.live.get(t)
            if t not in after and live is not None and s.market.commit_count(t, s.me) >= 1:
                after[t] = sum(i.epochs for i in live.islands)
        if len(after) == len(tasks) and all(
            sum(i.epochs for i in s.live[t].islands) >= after[t] + epochs for t in tasks
        ):
            return errors
    raise AssertionError(f"no commitment on every task in 90 s: {after}; errors {errors}")


def perfect(s: Scheduler, task_id: int) -> bool:
    live = s.live.get(task_id)
    return live is not None and live.best is not None and live.best.fitness == MAX_SCORE


def finish(scene: Scene, s: Scheduler, tasks: list[int]) -> None:
    """Past the commit deadline: the work loop retires the tasks, the settle loop reveals."""
    scene.chain.travel_to(scene.commit_deadline(tasks))
    turn(s, s.work_step)
    assert s.live == {}
    for _ in range(4):
        turn(s, s.settle_step)


def test_intake_handler_failing_once(scene: Scene) -> None:
    tasks = [scene.create(), scene.create()]
    scene.index()
    s = scene.scheduler()
    failed = threading.Event()

    def flaky(m: Message) -> None:
        if not failed.is_set():
            failed.set()
            raise RuntimeError("injected handler bug")
        s.on_task_created(m)

    with intake(scene, flaky):
        wait_for(accepted(s, tasks), 30, "both tasks taken on")
        wait_for(
            lambda: scene.client().xpending(scene.stream, scene.group)["pending"] == 0,
            30,
            "the acks",
        )
    assert failed.is_set()
    evolve(scene, s, tasks)
    finish(scene, s, tasks)
    scene.assert_exactly_once(tasks, s.store, stream=True)


def test_rpc_reply_lost_after_a_mined_commit(scene: Scene, proxy: RpcProxy) -> None:
    """The node mines the commit, then the connection drops before its reply: the work loop
    goes on evolving, and the same agent must not be committed a second time (the settle
    loop learns the solution id from the chain)."""
    tasks = [scene.create()]
    s = scene.scheduler(proxy.url)
    with intake(scene, s.on_task_created):
        scene.index()
        wait_for(accepted(s, tasks), 30, "the task taken on")
    # The commitment to a perfect agent: later epochs keep finding that same champion.
    proxy.arm("eth_sendRawTransaction", "drop", when=lambda: perfect(s, tasks[0]))

    def dropped() -> bool:
        turn(s, s.work_step)
        scene.stack.procs.check_alive()
        return proxy.fired.is_set()

    wait_for(dropped, 90, "a perfect agent's commit sent")
    evolve(scene, s, tasks)  # the same champion keeps coming back
    for _ in range(2):
        turn(s, s.settle_step)  # the settle loop runs alongside in the service
    evolve(scene, s, tasks, epochs=4)
    finish(scene, s, tasks)
    scene.assert_exactly_once(tasks, s.store, stream=True)


def test_rpc_reply_lost_while_the_commit_is_still_pending(scene: Scene, proxy: RpcProxy) -> None:
    """On a chain with block times the commit whose reply was lost may still wait in the node's
    pool when the settle loop looks for it. Sending it again then makes two solutions of one
    commitment, only one of which is ever revealed: the other's bond is lost. Anvil stops
    mining on its own here, so the commit is certainly still pending."""
    tasks = [scene.create()]
    s = scene.scheduler(proxy.url)
    with intake(scene, s.on_task_created):
        scene.index()
        wait_for(accepted(s, tasks), 30, "the task taken on")
    proxy.arm("eth_sendRawTransaction", "drop")
    settle = threading.Thread(target=turn, args=(s, s.settle_step))
    scene.chain.rpc("evm_setAutomine", [False])
    try:

        def sent() -> bool:
            turn(s, s.work_step)
            scene.stack.procs.check_alive()
            return proxy.fired.is_set()

        wait_for(sent, 90, "a commit sent")
        assert s.market.commit_count(tasks[0], s.me) == 0  # in the node's pool, not mined
        settle.start()  # the settle loop's pass, alongside the work loop in the service
        wait_for(
            lambda: not settle.is_alive() or proxy.calls["eth_sendRawTransaction"] >= 2,
            30,
            "the settle loop to send again or to wait",
        )
    finally:
        scene.chain.mine(1)
        scene.chain.rpc("evm_setAutomine", [True])
    settle.join(timeout=60)
    evolve(scene, s, tasks, epochs=2)
    finish(scene, s, tasks)
    scene.assert_exactly_once(tasks, s.store, stream=True)


def test_rpc_reply_lost_after_a_mined_reveal(scene: Scene, proxy: RpcProxy) -> None:
    tasks = [scene.create(), scene.create()]
    s = scene.scheduler(proxy.url)
    with intake(scene, s.on_task_created):
        scene.index()
        wait_for(accepted(s, tasks), 30, "both tasks taken on")
    evolve(scene, s, tasks, epochs=2)
    proxy.arm(
        "eth_sendRawTransaction",
        "drop",
        when=lambda: any(scene.events("SolutionRevealed", t) for t in tasks),
    )
    finish(scene, s, tasks)
    assert proxy.fired.is_set()
    scene.assert_exactly_once(tasks, s.store, stream=True)


def test_redis_restarted_while_epochs_are_out(scene: Scene) -> None:
    """redis-server (the broker, the epochs' results, the stream, the private store) is killed
    while an epoch is out and a second task is created while it is down; the harvest, the
    intake and the worker all come back to it."""
    tasks = [scene.create()]
    ix = scene.index()
    s = scene.scheduler()
    server = scene.stack.redis
    with intake(scene, s.on_task_created):
        wait_for(accepted(s, tasks), 30, "the first task taken on")

        def epoch_out() -> bool:
            turn(s, s.work_step)
            return tasks[0] in s.live and any(i.sent for i in s.live[tasks[0]].islands)

        wait_for(epoch_out, 30, "an epoch sent")
        server.stop()
        tasks.append(scene.create())
        errors = [turn(s, s.work_step) for _ in range(3)]
        assert all(isinstance(e, redis.RedisError) for e in errors), errors
        server.start()
        drain(ix)
        wait_for(accepted(s, tasks), 60, "the second task taken on")
    evolve(scene, s, tasks)
    finish(scene, s, tasks)
    scene.assert_exactly_once(tasks, s.store, stream=True)


def test_epochs_failing_on_the_worker_until_the_spec_reaches_it(scene: Scene) -> None:
    """The harvest's faults: the workers cannot read the spec yet (the requester's upload has
    not reached their content store), so the first epoch fails on the worker, which retries
    it; the harvest finds it late and sends a second copy. Once the spec is there a copy
    comes back (the other is dropped) and the task is evolved, committed and revealed once."""
    own = LocalContentStore(scene.tmp / "solver-content")  # where the scheduler reads it
    # A spec of this test's own: no other test has put it in the workers' store.
    tasks = [scene.create(own, {**SPEC, "title": f"harvest {scene.name}"})]
    s = scene.scheduler(content=own)
    with intake(scene, s.on_task_created):
        scene.index()
        wait_for(accepted(s, tasks), 30, "the task taken on")

    def resent() -> bool:
        turn(s, s.work_step)
        scene.stack.procs.check_alive()
        live = s.live.get(tasks[0])
        return live is not None and any(len(i.sent) >= 2 for i in live.islands)

    wait_for(resent, 60, "the late epoch sent again")
    live = s.live[tasks[0]]
    assert sum(i.epochs for i in live.islands) == 0
    scene.content.put(own.get(live.spec_cid))  # the upload reaches the workers' store
    evolve(scene, s, tasks)
    assert not any(i.dead for i in s.live[tasks[0]].islands)
    finish(scene, s, tasks)
    scene.assert_exactly_once(tasks, s.store, stream=True)


def start_service(
    scene: Scene, rpc_url: str, log: Path, redis_url: str | None = None
) -> subprocess.Popen[bytes]:
    settings = scene.settings()
    deployment = scene.deployment.save(scene.tmp / "deployment.json")
    env = scene.stack.env(
        EDGEMARKET_RPC_URL=rpc_url,
        EDGEMARKET_CHAIN_ID="31337",
        EDGEMARKET_DEPLOYMENT_FILE=str(deployment),
        EDGEMARKET_PRIVATE_KEY=scene.solver.key.hex(),
        EDGEMARKET_STREAM=settings.stream,
        EDGEMARKET_PRIVATE_PREFIX=settings.private_prefix,
        EDGEMARKET_STATE_DIR=str(settings.state_dir),
        EDGEMARKET_ISLANDS=str(settings.islands),
        EDGEMARKET_EPOCH_SECONDS=str(settings.epoch_seconds),
        EDGEMARKET_EPOCH_TIMEOUT=str(settings.epoch_timeout),
        EDGEMARKET_COMMIT_MARGIN=str(settings.commit_margin),
        EDGEMARKET_IMPROVEMENT_MARGIN=str(settings.improvement_margin),
        EDGEMARKET_KEEPER_INTERVAL=str(settings.keeper_interval),
        EDGEMARKET_SHRINK_SECONDS=str(settings.shrink_seconds),
        EDGEMARKET_REDIS_URL=redis_url or scene.stack.redis.url,
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "run", "scheduler"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip


def kill9(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def stop(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill9(proc)


@pytest.mark.parametrize("where", ["before-commit", "commit", "reveal"])
def test_kill_9_between_a_mined_transaction_and_its_record(
    scene: Scene, proxy: RpcProxy, where: str
) -> None:
    """The service's commit (or first reveal) is mined and the proxy holds its reply; the
    service is killed there, before it could record the solution id (or the reveal). Or it is
    killed with its commit written down as an intent but not yet at the node (before-commit).
    The restarted service reads the chain: nothing committed twice, everything revealed once."""
    tasks = [scene.create()]
    scene.index()
    log = scene.tmp / "scheduler.log"
    store_file = scene.store_file
    if where != "reveal":
        proxy.arm("eth_sendRawTransaction", "stall" if where == "before-commit" else "hold")
    proc = start_service(scene, proxy.url, log)
    try:
        if where == "reveal":
            wait_for(
                lambda: scene.market.commit_count(tasks[0], scene.solver.address) >= 1,
                90,
                "a commitment",
            )
            time.sleep(2)  # it goes on evolving, perhaps committing an improvement
            proxy.arm(
                "eth_sendRawTransaction", "hold",
                when=lambda: bool(scene.events("SolutionRevealed", tasks[0])),
            )  # fmt: skip
            scene.chain.travel_to(scene.commit_deadline(tasks))
        wait_for(proxy.fired.is_set, 90, f"the {where} to kill after")
        kill9(proc)
    finally:
        kill9(proc)
    if where != "reveal":
        committed = 0 if where == "before-commit" else 1
        assert len(scene.events("SolutionCommitted", tasks[0])) == committed, log.read_text()[
            -3000:
        ]
        rows = RevealStore(store_file).all_for(tasks[0])
        assert [r.state for r in rows] == [RevealState.COMMITTING]  # its id never recorded
    else:
        assert len(scene.events("SolutionRevealed", tasks[0])) == 1, log.read_text()[-3000:]
    successor = start_service(scene, scene.chain.url, log)
    try:
        if where != "reveal":
            # The successor sends the commit it inherited if it never got out, and evolves on.
            wait_for(
                lambda: scene.market.commit_count(tasks[0], scene.solver.address) >= 1,
                60,
                "the inherited commitment on chain",
            )
            time.sleep(2)
            scene.chain.travel_to(scene.commit_deadline(tasks))

        def all_revealed() -> bool:
            rows = RevealStore(store_file).all_for(tasks[0])
            return bool(rows) and all(r.state == RevealState.REVEALED for r in rows)

        wait_for(all_revealed, 90, "every commitment revealed")
    finally:
        stop(successor)
    scene.assert_exactly_once(tasks, RevealStore(store_file), stream=True)


def test_kill_9_between_taking_a_task_on_and_the_ack(scene: Scene) -> None:
    """The intake's durable effect is the task written to the solver's store, its
    acknowledgement the XACK after it: a proxy in front of Redis holds that XACK and the
    service is killed there. The restarted service is handed the entry again, finds the task
    on record, acknowledges it, and works it as a clean run does."""
    tasks = [scene.create()]
    scene.index()
    log = scene.tmp / "scheduler.log"
    proxy = RedisProxy(scene.stack.redis.port)
    proxy.hold(b"XACK")
    proc = start_service(scene, scene.chain.url, log, redis_url=proxy.url)
    try:
        wait_for(proxy.fired.is_set, 60, "the intake's acknowledgement")
        kill9(proc)
    finally:
        kill9(proc)
        proxy.close()
    rec = RevealStore(scene.store_file).task(tasks[0])
    assert rec is not None and rec.state == SolverTaskState.ACCEPTED, log.read_text()[-3000:]
    assert scene.client().xpending(scene.stream, scene.group)["pending"] == 1
    successor = start_service(scene, scene.chain.url, log)
    try:
        wait_for(
            lambda: scene.market.commit_count(tasks[0], scene.solver.address) >= 1,
            60,
            "a commitment",
        )
        time.sleep(2)  # it goes on evolving, perhaps committing an improvement
        scene.chain.travel_to(scene.commit_deadline(tasks))

        def all_revealed() -> bool:
            rows = RevealStore(scene.store_file).all_for(tasks[0])
            return bool(rows) and all(r.state == RevealState.REVEALED for r in rows)

        wait_for(all_revealed, 90, "every commitment revealed")
    finally:
        stop(successor)
    scene.assert_exactly_once(tasks, RevealStore(scene.store_file), stream=True)
