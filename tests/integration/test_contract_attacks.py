"""Attacks on EdgeMarketplace: re-entrancy, copying a revealed agent, gas exhaustion at finalize."""

from __future__ import annotations

from typing import Any

import pytest
from web3.contract import Contract
from web3.exceptions import ContractLogicError

from services.common import chain as c
from services.common.chain import Marketplace, commitment
from tests.fixtures.chain import (
    ETHER,
    Chain,
    commit_agent,
    compile_test_contract,
    open_task,
    reveal,
    seal,
    send_many,
)

BOND = ETHER // 10
FEE = ETHER // 100


def _deploy_attacker(chain: Chain, mp: Marketplace, owner: str) -> Contract:
    abi, bytecode = compile_test_contract("ReentrantSolver.sol", "ReentrantSolver")
    factory = chain.w3.eth.contract(abi=abi, bytecode=bytecode)
    tx = factory.constructor(mp.address).transact({"from": owner})  # type: ignore[arg-type]
    address = chain.w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return chain.w3.eth.contract(address=address, abi=abi)


def _send(chain: Chain, mp: Marketplace, fn: Any, sender: str, value: int = 0) -> None:
    try:
        tx = fn.transact({"from": sender, "value": value})
    except ContractLogicError as exc:
        raise mp.errors.from_web3(exc) from None
    assert chain.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1


def test_reentrant_solver_gets_exactly_its_credits(chain: Chain, marketplace: Marketplace) -> None:
    creator, operator, ev = chain.accounts[1], chain.accounts[2], chain.accounts[10]
    mp = marketplace.with_signer(creator)
    attacker = _deploy_attacker(chain, mp, operator.address)
    evil = attacker.address

    # Task W: the attacker's solution wins. Task F: someone else's, due for finalize when the
    # attacker withdraws. Task C: created by the attacker, never committed to (cancellable).
    w = open_task(chain, mp, evaluators=[ev.address], quorum=1)
    f = open_task(chain, mp, evaluators=[ev.address], quorum=1, bounty=3 * ETHER)
    now = chain.now()
    _send(
        chain,
        mp,
        attacker.functions.create(b"\x0c" * 32, now + 100, now + 200, [ev.address], FEE),
        operator.address,
        value=2 * ETHER + FEE,
    )
    c_task = mp.task_count()
    agent, salt = b"evil agent", b"\x5a" * 32
    digest = c.agent_digest(agent)
    cm = commitment(
        chain_id=31337,
        contract=mp.address,
        task_id=w.task_id,
        solver=evil,
        agent_digest=digest,
        claimed_score=900,
        salt=salt,
    )
    _send(chain, mp, attacker.functions.commit(w.task_id, cm), operator.address, value=BOND)
    chain.travel_to(w.commit_deadline)
    _send(chain, mp, attacker.functions.reveal(w.task_id, 0, agent, 900, salt), operator.address)
    chain.travel_to(w.reveal_deadline)
    seal(chain, mp, w.task_id)
    mp.with_signer(ev).attest_score(w.task_id, 0, 900)
    chain.travel_to(max(w.eval_deadline, f.eval_deadline))
    mp.finalize(w.task_id)
    assert mp.credits(evil) == ETHER + BOND
    _send(chain, mp, attacker.functions.setTargets(f.task_id, c_task), operator.address)

    owed_before = mp.total_owed()
    _send(chain, mp, attacker.functions.withdraw(), operator.address)

    # It received its winnings and (re-entering cancelTask legitimately) its own task's refund,
    # not a wei more: the re-entrant withdraw while its credit was zero failed.
    assert chain.balance(evil) == ETHER + BOND + 2 * ETHER + FEE
    assert (
        attacker.functions.reentrySuccesses().call() == 3
    )  # finalize(F), cancel(C), withdraw(refund)
    assert attacker.functions.reentryFailures().call() == 1
    assert mp.credits(evil) == 0
    assert mp.get_task(f.task_id).state is c.OnChainTaskState.FINALIZED
    assert mp.credits(creator.address) == 3 * ETHER  # F had no winner: bounty back to its creator
    assert mp.total_owed() == owed_before - (3 * ETHER + BOND + FEE)
    assert chain.balance(mp.address) == mp.total_owed()
    with pytest.raises(c.NothingToWithdraw):
        _send(chain, mp, attacker.functions.withdraw(), operator.address)


def test_a_copier_cannot_claim_a_revealed_agent(chain: Chain, marketplace: Marketplace) -> None:
    creator, victim, copier, ev = (
        chain.accounts[1],
        chain.accounts[2],
        chain.accounts[3],
        chain.accounts[10],
    )
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[ev.address], quorum=1)
    as_victim, as_copier = mp.with_signer(victim), mp.with_signer(copier)
    original = commit_agent(as_victim, task.task_id, b"the good agent", 999_000)
    # The copier copies the commitment bytes it saw on chain.
    seen = as_victim.get_solution(task.task_id, original.solution_id).commitment
    copy_id = as_copier.commit_solution(task.task_id, seen).event(c.SolutionCommitted).solution_id
    chain.travel_to(task.commit_deadline)
    reveal(as_victim, original)
    # Now agent, score and salt are public. The copied commitment binds the victim's address.
    with pytest.raises(c.CommitmentMismatch):
        as_copier.reveal_solution(
            task.task_id, copy_id, original.agent, original.claimed_score, original.salt
        )
    with pytest.raises(c.NotSolver):
        as_copier.reveal_solution(
            task.task_id, original.solution_id, original.agent, 999_000, original.salt
        )
    # A fresh commitment to the copied agent is too late: commits closed before any reveal.
    with pytest.raises(c.CommitPhaseOver):
        as_copier.commit_solution(
            task.task_id,
            as_copier.commitment_for(task.task_id, original.agent, 999_000, original.salt),
        )
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    mp.with_signer(ev).attest_score(task.task_id, original.solution_id, 999_000)
    with pytest.raises(c.NotRevealed):
        mp.with_signer(ev).attest_score(task.task_id, copy_id, 999_000)
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(c.TaskFinalized)
    assert fin.winner == victim.address
    assert mp.credits(copier.address) == 0  # its bond is forfeited to the creator
    assert mp.credits(creator.address) == BOND


def _run_task(chain: Chain, mp: Marketplace, ev: str, n: int) -> int:
    """A task with n revealed, verified solutions; returns finalize's gas."""
    solvers = [a.address for a in chain.accounts[8:40]]
    task = open_task(
        chain,
        mp,
        evaluators=[ev],
        quorum=1,
        commit_bond=1,
        evaluator_fee=1,
        commit_in=10_000,
        reveal_in=20_000,
    )
    salt = b"\x01" * 32
    plan = [(solvers[i // c.MAX_COMMITS_PER_SOLVER], i.to_bytes(4, "big") * 8) for i in range(n)]
    send_many(
        chain,
        mp,
        [
            (
                solver,
                "commitSolution",
                (task.task_id, mp.commitment_for(task.task_id, agent, 1, salt, solver=solver)),
                1,
            )
            for solver, agent in plan
        ],
    )
    assert mp.solution_count(task.task_id) == n
    chain.travel_to(task.commit_deadline)
    send_many(
        chain,
        mp,
        [
            (solver, "revealSolution", (task.task_id, i, agent, 1, salt), 0)
            for i, (solver, agent) in enumerate(plan)
        ],
    )
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    send_many(
        chain,
        mp,
        [(ev, "attestScore", (task.task_id, i, (i * 7919) % 1_000_001), 0) for i in range(n)],
    )
    info = mp.get_task(task.task_id)
    assert info.revealed_count == n and mp.attestation_count(task.task_id, ev) == n
    assert info.has_best
    chain.travel_to(task.eval_deadline)
    return mp.finalize(task.task_id).gas_used


@pytest.mark.slow
def test_finalize_gas_does_not_grow_with_500_solutions(
    chain: Chain, marketplace: Marketplace
) -> None:
    mp = marketplace.with_signer(chain.accounts[1])
    ev = chain.accounts[10].address
    one = _run_task(chain, mp, ev, 1)
    many = _run_task(chain, mp, ev, 500)
    assert many <= one + 5_000, (one, many)
    assert many < 200_000
