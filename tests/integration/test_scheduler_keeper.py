"""The keeper drives a task through seed and settlement on a real anvil, reading the chain first."""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.node import Node
from services.common.settlement import Keeper
from tests.fixtures.chain import ETHER, Chain, commit_agent, open_task, reveal


def node_for(chain: Chain, deployment: Deployment, account: LocalAccount) -> Node:
    return Node(Marketplace.from_deployment(chain.w3, deployment, account), deployment, account)


def test_keeper_seeds_finalizes_and_withdraws(
    chain: Chain, marketplace: Marketplace, marketplace_deployment: Deployment
) -> None:
    requester, solver, e1, e2, e3, keeper_acct = chain.accounts[10:16]
    req = marketplace.with_signer(requester)
    task = open_task(chain, req, evaluators=[e1.address, e2.address, e3.address])
    solver_node = node_for(chain, marketplace_deployment, solver)
    commit = commit_agent(solver_node.market, task.task_id, b"\x01agent", 5)

    keeper = Keeper(node_for(chain, marketplace_deployment, keeper_acct))
    assert keeper.step() == []  # commit phase: nothing to do
    chain.travel_to(task.commit_deadline)
    reveal(solver_node.market, commit)
    assert keeper.step() == []  # reveal phase: still nothing

    chain.travel_to(task.reveal_deadline)
    assert keeper.step() == [f"requestSeed {task.task_id}"]
    # A second keeper (or a restarted one) reads the chain and does not request twice.
    other = Keeper(node_for(chain, marketplace_deployment, keeper_acct))
    assert other.step() == []
    chain.mine(1)
    assert keeper.step() == [f"sealSeed {task.task_id}"]
    assert other.step() == []
    info = marketplace.get_task(task.task_id)
    assert info.seed_sealed and info.eval_seed != b"\x00" * 32

    e1m = marketplace.with_signer(e1)
    e1m.attest_score(task.task_id, commit.solution_id, 7)
    chain.travel_to(task.eval_deadline)
    before = chain.balance(solver.address)
    solver_keeper = Keeper(solver_node)
    done = solver_keeper.step()
    assert done[0] == f"finalize {task.task_id}"
    assert done[1].startswith("withdraw ")
    assert marketplace.get_task(task.task_id).state == c.OnChainTaskState.FINALIZED
    # No quorum (one attestation of two): no winner; the solver gets its bond back only.
    gained = chain.balance(solver.address) - before
    assert ETHER // 10 - ETHER // 100 < gained <= ETHER // 10
    assert keeper.step() == [] and solver_keeper.step() == []


def test_keeper_skips_a_task_with_no_reveal(
    chain: Chain, marketplace: Marketplace, marketplace_deployment: Deployment
) -> None:
    requester, e1, keeper_acct = chain.accounts[16], chain.accounts[17], chain.accounts[18]
    task = open_task(chain, marketplace.with_signer(requester), evaluators=[e1.address])
    keeper = Keeper(node_for(chain, marketplace_deployment, keeper_acct))
    chain.travel_to(task.reveal_deadline)
    assert keeper.step() == []  # no reveal: no seed needed
    chain.travel_to(task.eval_deadline)
    assert keeper.step() == [f"finalize {task.task_id}"]
