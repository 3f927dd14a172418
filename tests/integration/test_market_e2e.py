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
    redis = private_redis()
    (tmp_path / "logs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    env.update(
        {
            "EDGEMARKET_RPC_URL": chain.url,
            "EDGEMARKET_CHAIN_ID": "31337",
            "EDGEMARKET_REDIS_URL": redis.url,
            "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
            "EDGEMARKET_STATE_DIR": str(tmp_path / "state"),
            "EDGEMARKET_DEPLOYMENT_FILE": str(
                marketplace_deployment.save(tmp_path / "deployments")
            ),
            "EDGEMARKET_KEEPER_INTERVAL": "0.3",
            "EDGEMARKET_COMMIT_MARGIN": "1",
            "EDGEMARKET_LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    p = Procs(tmp_path / "logs", env)
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

    # The scheduler evolves on the two workers and commits; killed right after, it must still
    # reveal once restarted (salt and agent were on disk before the commit left).
    wait_until("the scheduler's commit", lambda: market.solution_count(tid) >= 1, procs, 180)
    procs.kill9("scheduler")
    assert market.get_solution(tid, 0).solver == solver.address
    chain.travel_to(created.commit_deadline)
    procs.start("scheduler", "run", "scheduler", key=solver)
    wait_until("the reveal", lambda: market.get_solution(tid, 0).revealed, procs, 90)
    revealed = [
        e.event
        for e in market.get_events(marketplace_deployment.block_number)
        if isinstance(e.event, c.SolutionRevealed)
    ]
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
    wait_until("verification", lambda: market.get_solution(tid, 0).verified, procs, 90)
    wait_until(
        "all three attestations",
        lambda: all(market.has_attested(tid, 0, e.address) for e in (e1, e2, e3)),
        procs,
        60,
    )

    chain.travel_to(created.reveal_deadline + 600)
    wait_until("finalize", lambda: market.get_task(tid).state == c.OnChainTaskState.FINALIZED, procs, 60)
    wait_until("the solver's withdrawal", lambda: market.credits(solver.address) == 0, procs, 60)

    sol = market.get_solution(tid, 0)
    task = market.get_task(tid)
    assert task.has_best and task.best_solution_id == 0
    gained = chain.balance(solver.address) - solver_start
    assert bounty - ETHER // 100 < gained < bounty  # bounty back home, minus gas (bond returned)
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
    # Evaluator 3, killed around its attestation, sent exactly two transactions: one
    # attestation and its fee withdrawal.
    assert chain.w3.eth.get_transaction_count(e3.address) == 2
    scores = {market.attestation(tid, 0, e.address) for e in (e1, e2, e3)}
    assert scores == {sol.score}

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
