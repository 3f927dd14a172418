"""The marketplace end to end as real processes on a real anvil: indexer, scheduler, keeper,
2 Celery workers, 3 evaluators (quorum 2). A task goes from created to paid with no human in
the loop, while the scheduler, the keeper and an evaluator are killed with SIGKILL on the way."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.content import ContentNotFoundError, LocalContentStore, cid_of
from services.common.node import Node
from services.common.spec import parse_spec
from services.requester import create_task
from tests.fixtures.chain import ETHER, Chain

ROOT = Path(__file__).resolve().parents[2]

SPEC = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 256},
    "budget": {"population": 16, "generations": 40, "islands": 2, "epoch_generations": 10},
    "title": "e2e",
}


@dataclass
class Procs:
    """Service processes, each in its own session so a kill reaches its children too."""

    logs: Path
    env: dict[str, str]
    running: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def under(cls, tmp_path: Path, redis_url: str, **env: str) -> Procs:
        """Processes logging to `tmp_path/logs`, in an environment free of the caller's own
        EDGEMARKET_* settings: the given Redis, a content store under `tmp_path`, and `env`."""
        (tmp_path / "logs").mkdir()
        clean = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
        clean.update(
            {
                "EDGEMARKET_REDIS_URL": redis_url,
                "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
                "PYTHONUNBUFFERED": "1",
                **env,
            }
        )
        return cls(tmp_path / "logs", clean)

    def start(self, name: str, *args: str, key: LocalAccount | None = None, **env: str) -> None:
        full = {**self.env, **env}
        if key is not None:
            full["EDGEMARKET_PRIVATE_KEY"] = key.key.hex()
        log = (self.logs / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", *args],
            env=full,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill9(self, name: str) -> None:
        proc = self.running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for name in list(self.running):
            proc = self.running[name]
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for name in list(self.running):
            proc = self.running.pop(name)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def check_alive(self) -> None:
        for name, proc in self.running.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text()[-3000:]
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{tail}")

    def tail(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text()[-1500:]}" for p in sorted(self.logs.glob("*.log"))
        )


def wait_until(
    what: str,
    ready: Callable[[], Any],
    procs: Procs,
    timeout: float = 120,
    tick: Callable[[], None] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = ready()
        if value:
            return value
        procs.check_alive()
        if tick is not None:
            tick()
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{procs.tail()}")


@pytest.fixture
def procs(
    chain: Chain,
    marketplace_deployment: Deployment,
    private_redis: Callable[[], Any],
    tmp_path: Path,
) -> Iterator[Procs]:
    p = Procs.under(
        tmp_path,
        private_redis().url,
        EDGEMARKET_RPC_URL=chain.url,
        EDGEMARKET_CHAIN_ID="31337",
        EDGEMARKET_STATE_DIR=str(tmp_path / "state"),
        EDGEMARKET_DEPLOYMENT_FILE=str(marketplace_deployment.save(tmp_path / "deployments")),
        EDGEMARKET_KEEPER_INTERVAL="0.3",
        EDGEMARKET_COMMIT_MARGIN="1",
        EDGEMARKET_LOG_LEVEL="INFO",
    )
    try:
        yield p
    finally:
        p.stop_all()


def _has(content: LocalContentStore, data: bytes) -> bool:
    try:
        return content.get(cid_of(data)) == data
    except ContentNotFoundError:
        return False


def node_for(chain: Chain, deployment: Deployment, account: LocalAccount) -> Node:
    return Node(Marketplace.from_deployment(chain.w3, deployment, account), deployment, account)


def test_task_goes_from_created_to_paid_through_kills(
    chain: Chain, marketplace_deployment: Deployment, procs: Procs, tmp_path: Path
) -> None:
    requester, solver, keeper, e1, e2, e3 = chain.accounts[30:36]
    market = Marketplace.from_deployment(chain.w3, marketplace_deployment)
    procs.start("indexer", "run", "indexer")
    procs.start("worker-1", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    procs.start("worker-2", "worker", "--concurrency", "1", "--loglevel", "WARNING")
    procs.start("scheduler", "run", "scheduler", key=solver)
    procs.start("keeper", "run", "keeper", key=keeper)
    for name, key in (("evaluator-1", e1), ("evaluator-2", e2), ("evaluator-3", e3)):
        procs.start(name, "run", "evaluator", key=key)

    bounty, bond, fee = ETHER, ETHER // 10, ETHER // 100
    solver_start = chain.balance(solver.address)
    content = LocalContentStore(tmp_path / "content")
    created = create_task(
        node_for(chain, marketplace_deployment, requester),
        content,
        parse_spec(json.dumps(SPEC)),
        bounty=bounty,
        evaluators=[e1.address, e2.address, e3.address],
        quorum=2,
        commit_seconds=3600,
        reveal_seconds=600,
        eval_window=600,
        commit_bond=bond,
        evaluator_fee=fee,
    )
    tid = created.task_id

    # The scheduler evolves on the two workers and commits; killed right after its first
    # commitment, with the window still open (between two commitments), its successor goes on
    # improving, then reveals every commitment exactly once (salt and agent were on disk
    # before each commit left).
    wait_until("the scheduler's commit", lambda: market.solution_count(tid) >= 1, procs, 180)
    procs.kill9("scheduler")
    assert market.get_solution(tid, 0).solver == solver.address
    scheduler_log = tmp_path / "logs" / "scheduler.log"
    before = len(scheduler_log.read_bytes())  # the log is appended to: its successor's lines follow
    procs.start("scheduler", "run", "scheduler", key=solver)
    wait_until(
        "the restarted scheduler at work",
        lambda: b"working on task" in scheduler_log.read_bytes()[before:],
        procs,
        60,
    )
    time.sleep(2)  # a few more epochs: another commitment may follow
    chain.travel_to(created.commit_deadline)
    committed = market.solution_count(tid)
    wait_until(
        "every reveal",
        lambda: all(market.get_solution(tid, i).revealed for i in range(committed)),
        procs,
        90,
    )
    revealed = [
        e.event
        for e in market.get_events(marketplace_deployment.block_number)
        if isinstance(e.event, c.SolutionRevealed)
    ]
    assert sorted(r.solution_id for r in revealed) == list(range(committed))  # none twice
    agent = revealed[0].agent
    # The copy in the content store, made once the reveal is mined.
    wait_until(
        "the agent's copy",
        lambda: (tmp_path / "content").exists() and _has(content, agent),
        procs,
        30,
    )

    # The keeper requests the seed; killed, its successor seals it and later finalizes.
    chain.travel_to(created.reveal_deadline)
    wait_until("requestSeed", lambda: market.get_task(tid).seed_block != 0, procs, 60)
    procs.kill9("keeper")
    procs.start("keeper", "run", "keeper", key=keeper)
    wait_until(
        "sealSeed", lambda: market.get_task(tid).seed_sealed, procs, 60, tick=lambda: chain.mine(1)
    )

    # Evaluator 3 is killed the moment its attestation is on chain, then restarted: it must
    # never send a second one.
    wait_until(
        "evaluator 3's attestation", lambda: market.has_attested(tid, 0, e3.address), procs, 90
    )
    procs.kill9("evaluator-3")
    procs.start("evaluator-3", "run", "evaluator", key=e3)
    wait_until(
        "verification",
        lambda: all(market.get_solution(tid, i).verified for i in range(committed)),
        procs,
        90,
    )
    wait_until(
        "all three attestations",
        lambda: all(
            market.has_attested(tid, i, e.address) for e in (e1, e2, e3) for i in range(committed)
        ),
        procs,
        60,
    )

    chain.travel_to(created.reveal_deadline + 600)
    wait_until("finalize", lambda: market.get_task(tid).state == c.OnChainTaskState.FINALIZED, procs, 60)
    wait_until("the solver's withdrawal", lambda: market.credits(solver.address) == 0, procs, 60)

    task = market.get_task(tid)
    sol = market.get_solution(tid, task.best_solution_id)
    assert task.has_best and sol.solver == solver.address
    gained = chain.balance(solver.address) - solver_start
    assert bounty - ETHER // 100 < gained < bounty  # bounty back home, minus gas (bonds returned)
    # Each evaluator attested every reveal, earned its fee at finalize and took it home.
    wait_until(
        "the evaluators' withdrawals",
        lambda: all(market.credits(e.address) == 0 for e in (e1, e2, e3)),
        procs,
        60,
    )
    withdrawn = [
        (ev.event.account, ev.event.amount)
        for ev in market.get_events(marketplace_deployment.block_number)
        if isinstance(ev.event, c.Withdrawn)
    ]
    for e in (e1, e2, e3):
        assert (e.address, fee) in withdrawn
    # Evaluator 3, killed around its attestation, sent at most one attestation transaction per
    # solution (it batches them) and its fee withdrawal, never a second attestation.
    assert 2 <= chain.w3.eth.get_transaction_count(e3.address) <= committed + 1
    for i in range(committed):
        scores = {market.attestation(tid, i, e.address) for e in (e1, e2, e3)}
        assert scores == {market.get_solution(tid, i).score}

    # Anyone can re-verify from the chain and the content store: the audit (another process)
    # re-derives the seed and gets the evaluators' integer exactly.
    alone = {k: v for k, v in procs.env.items() if not k.startswith("EDGEMARKET_")}
    out = subprocess.run(
        [
            sys.executable, "-m", "services.cli.main", "audit", str(tid),
            "--rpc-url", chain.url,
            "--content-store", f"file:{tmp_path / 'content'}",
            "--contract", market.address,
            "--from-block", str(marketplace_deployment.block_number),
        ],
        env=alone, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "audit passed" in out.stdout


RACE = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "multiplexer-6"},
    "eval": {"samples": 64},
    "budget": {"population": 24},
    "title": "race",
}


def test_two_solvers_race_the_better_verified_agent_wins_and_bonds_come_back(
    chain: Chain, marketplace_deployment: Deployment, procs: Procs, tmp_path: Path
) -> None:
    from services.common.chain.protocol import rank_key

    requester, alice, bob, keeper, e1 = chain.accounts[30:35]
    market = Marketplace.from_deployment(chain.w3, marketplace_deployment)
    procs.start("indexer", "run", "indexer")
    for name, key in (("alice", alice), ("bob", bob)):
        own = {
            "EDGEMARKET_QUEUE": f"edgemarket.{name}",
            "EDGEMARKET_PRIVATE_PREFIX": f"edgemarket:{name}",
            "EDGEMARKET_ISLANDS": "1",
            "EDGEMARKET_EPOCH_SECONDS": "1",
            "EDGEMARKET_IMPROVEMENT_MARGIN": "1",
        }
        procs.start(f"worker-{name}", "worker", "--concurrency", "1", "--loglevel", "WARNING", **own)
        procs.start(f"scheduler-{name}", "run", "scheduler", key=key, **own)
    procs.start("keeper", "run", "keeper", key=keeper)
    procs.start("evaluator", "run", "evaluator", key=e1)
    start = {s.address: chain.balance(s.address) for s in (alice, bob)}
    bounty, bond = ETHER, ETHER // 10
    created = create_task(
        node_for(chain, marketplace_deployment, requester),
        LocalContentStore(tmp_path / "content"),
        parse_spec(json.dumps(RACE)),
        bounty=bounty,
        evaluators=[e1.address],
        quorum=1,
        commit_seconds=3600,
        reveal_seconds=600,
        eval_window=600,
        commit_bond=bond,
    )
    tid = created.task_id

    def solvers() -> set[str]:
        n = market.solution_count(tid)
        return {market.get_solution(tid, i).solver for i in range(n)}

    wait_until("both solvers' commitments", lambda: len(solvers()) == 2, procs, 180)
    time.sleep(5)  # the race goes on: improvements are committed as they come
    chain.travel_to(created.commit_deadline)
    n = market.solution_count(tid)
    wait_until(
        "every reveal",
        lambda: all(market.get_solution(tid, i).revealed for i in range(n)),
        procs,
        90,
    )
    chain.travel_to(created.reveal_deadline)
    wait_until(
        "the seed", lambda: market.get_task(tid).seed_sealed, procs, 60, tick=lambda: chain.mine(1)
    )
    wait_until(
        "verification",
        lambda: all(market.get_solution(tid, i).verified for i in range(n)),
        procs,
        120,
    )
    chain.travel_to(created.reveal_deadline + 600)
    wait_until(
        "finalize", lambda: market.get_task(tid).state == c.OnChainTaskState.FINALIZED, procs, 60
    )
    wait_until(
        "both withdrawals",
        lambda: all(market.credits(s.address) == 0 for s in (alice, bob)),
        procs,
        60,
    )
    sols = [market.get_solution(tid, i) for i in range(n)]
    best = min(range(n), key=lambda i: rank_key(sols[i].score, sols[i].agent_size, i))
    task = market.get_task(tid)
    assert task.has_best and task.best_solution_id == best and task.held_bonds == 0
    winner = sols[best].solver
    withdrawn: dict[str, int] = {}
    for ev in market.get_events(marketplace_deployment.block_number):
        if isinstance(ev.event, c.Withdrawn):
            withdrawn[ev.event.account] = withdrawn.get(ev.event.account, 0) + ev.event.amount
    for s in (alice, bob):
        bonds = sum(bond for sol in sols if sol.solver == s.address)
        expected = bonds + (bounty if s.address == winner else 0)
        assert withdrawn[s.address] == expected  # every bond back, the bounty to the winner
        gas_bound = ETHER // 100
        assert chain.balance(s.address) - start[s.address] > expected - bonds - gas_bound
