"""The keeper's fault matrix (README "Reliability") on a real anvil: a step failing once (a bug),
the RPC lost after a requestSeed or a finalize was mined, kill -9 right after a finalize. In
every case each task gets exactly one requestSeed, one sealSeed and one finalize (events and
transactions counted), and one task's failure never stalls the others. The keeper keeps no
state of its own (not in Redis, not on disk): it reads the chain before every step."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from services.common.chain import Deployment, Marketplace
from services.common.settlement import TRANSIENT, Keeper
from tests.fixtures.chain import Chain, OpenTask, commit_agent, open_task, reveal
from tests.integration.test_evaluator import node_for

ROOT = Path(__file__).resolve().parents[2]

# A keeper in its own process that stops dead right after its first finalize was mined.
DYING_KEEPER = """
import sys, time
from eth_account import Account
from web3 import Web3
from services.common.chain import Deployment, Marketplace
from services.common.node import Node
from services.common.settlement import Keeper
rpc, deployment, key = sys.argv[1:4]
w3 = Web3(Web3.HTTPProvider(rpc))
account = Account.from_key(key)
d = Deployment.load(deployment)
real = Marketplace.finalize
def finalize_then_hold(self, *args, **kwargs):
    real(self, *args, **kwargs)
    print("holding", flush=True)
    time.sleep(300)
Marketplace.finalize = finalize_then_hold
Keeper(Node(Marketplace.from_deployment(w3, d, account), d, account)).step()
"""


@dataclass
class Scene:
    chain: Chain
    deployment: Deployment
    market: Marketplace
    evaluator: Marketplace
    keeper_account: LocalAccount
    tasks: list[OpenTask]
    solutions: list[int]
    nonce0: int

    def keeper(self) -> Keeper:
        return Keeper(node_for(self.chain, self.deployment, self.keeper_account))

    def passes(self, keeper: Keeper, n: int = 2) -> None:
        """`n` passes, a lost node retried as the service loop does."""
        for _ in range(n):
            with contextlib.suppress(*TRANSIENT):
                keeper.step()

    def run_through(self, keeper: Keeper | None = None) -> None:
        """Reveal deadline → seed requested and sealed → attested → finalized."""
        keeper = keeper or self.keeper()
        self.chain.travel_to(max(t.reveal_deadline for t in self.tasks))
        self.passes(keeper)  # requestSeed (a retry pass too)
        self.chain.mine(1)
        self.passes(keeper)  # sealSeed
        for t, sid in zip(self.tasks, self.solutions, strict=True):
            if self.market.get_task(t.task_id).seed_sealed:
                self.evaluator.attest_score(t.task_id, sid, 5)
        self.chain.travel_to(max(t.eval_deadline for t in self.tasks))
        self.passes(keeper)  # finalize

    def count(self, name: str, task_id: int) -> int:
        return len(
            self.market.w3.eth.get_logs(
                {
                    "address": self.market.address,
                    "fromBlock": self.deployment.block_number,
                    "toBlock": "latest",
                    "topics": [
                        "0x" + self.market.events.topics[name].hex(),
                        "0x" + task_id.to_bytes(32, "big").hex(),
                    ],
                }
            )
        )

    def assert_exactly_once(self) -> None:
        for t in self.tasks:
            for name in ("SeedRequested", "EvaluationSeedSet", "TaskFinalized"):
                assert self.count(name, t.task_id) == 1, (name, t.task_id)
        sent = self.chain.w3.eth.get_transaction_count(self.keeper_account.address) - self.nonce0
        assert sent == 3 * len(self.tasks)


@pytest.fixture
def scene(chain: Chain, marketplace_deployment: Deployment) -> Scene:
    requester, evaluator, keeper_account, *solvers = chain.accounts[15:20]
    market = Marketplace.from_deployment(chain.w3, marketplace_deployment, requester)
    tasks = [open_task(chain, market, evaluators=[evaluator.address]) for _ in solvers]
    commits = []
    for t, solver in zip(tasks, solvers, strict=True):
        m = Marketplace.from_deployment(chain.w3, marketplace_deployment, solver)
        commits.append((m, commit_agent(m, t.task_id, b"\x01agent", 5)))
    chain.travel_to(max(t.commit_deadline for t in tasks))
    for m, c in commits:
        reveal(m, c)
    return Scene(
        chain,
        marketplace_deployment,
        market,
        Marketplace.from_deployment(chain.w3, marketplace_deployment, evaluator),
        keeper_account,
        tasks,
        [c.solution_id for _, c in commits],
        chain.w3.eth.get_transaction_count(keeper_account.address),
    )


def fail_once(keeper: Keeper, name: str, error: Exception, *, after: bool) -> Callable[[], int]:
    """Make keeper.market.<name> raise `error` once, before sending or after it was mined."""
    real = getattr(keeper.market, name)
    calls = 0

    def flaky(*args: Any, **kwargs: Any) -> Any:  # Any: the wrapped call's own signature
        nonlocal calls
        calls += 1
        if calls == 1 and not after:
            raise error
        out = real(*args, **kwargs)
        if calls == 1:
            raise error
        return out

    setattr(keeper.market, name, flaky)
    return lambda: calls


def test_a_step_failing_once_stalls_nothing(scene: Scene) -> None:
    keeper = scene.keeper()
    calls = fail_once(keeper, "request_seed", RuntimeError("injected bug"), after=False)
    scene.chain.travel_to(max(t.reveal_deadline for t in scene.tasks))
    keeper.step()  # the first task fails, the second is still tended in the same pass
    assert scene.count("SeedRequested", scene.tasks[0].task_id) == 0
    assert scene.count("SeedRequested", scene.tasks[1].task_id) == 1
    scene.run_through(keeper)
    assert calls() == 3
    scene.assert_exactly_once()


@pytest.mark.parametrize("step", ["request_seed", "seal_seed", "finalize"])
def test_rpc_lost_after_a_mined_transaction(scene: Scene, step: str) -> None:
    keeper = scene.keeper()
    fail_once(keeper, step, ConnectionResetError("connection reset (injected)"), after=True)
    scene.run_through(keeper)
    scene.assert_exactly_once()


def test_kill_9_after_a_finalize(scene: Scene, tmp_path: Path) -> None:
    first = scene.keeper()
    scene.chain.travel_to(max(t.reveal_deadline for t in scene.tasks))
    scene.passes(first)
    scene.chain.mine(1)
    scene.passes(first)
    for t, sid in zip(scene.tasks, scene.solutions, strict=True):
        scene.evaluator.attest_score(t.task_id, sid, 5)
    scene.chain.travel_to(max(t.eval_deadline for t in scene.tasks))
    deployment = scene.deployment.save(tmp_path / "deployment.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", DYING_KEEPER, scene.chain.url, str(deployment),
         scene.keeper_account.key.hex()],
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
    finalized = [scene.count("TaskFinalized", t.task_id) for t in scene.tasks]
    assert finalized == [1, 0]
    scene.passes(scene.keeper())  # a restarted keeper: finalizes the other one only
    scene.assert_exactly_once()
