"""EdgeMarketplace on a real anvil: the happy path end to end."""

from __future__ import annotations

import os
from typing import Any

import pytest
from web3 import HTTPProvider, Web3

from services.common.chain import (
    NO_SOLUTION,
    EvaluationSeedSet,
    Marketplace,
    OnChainTaskState,
    ScoreAttested,
    SeedRequested,
    SolutionCommitted,
    SolutionRevealed,
    SolutionVerified,
    TaskCreated,
    TaskFinalized,
    UnknownTask,
    Withdrawn,
    agent_digest,
    evaluation_seed,
)
from tests.fixtures.chain import Chain

ETHER = 10**18


def test_happy_path_pays_the_best_verified_solution(chain: Chain, marketplace: Marketplace) -> None:
    creator, solver, ev1, ev2, ev3 = chain.accounts[1:6]
    mp = marketplace.with_signer(creator)
    now = chain.now()
    spec = os.urandom(32)
    created = mp.create_task(
        spec_digest=spec,
        commit_deadline=now + 100,
        reveal_deadline=now + 200,
        eval_window=300,
        evaluators=[ev1.address, ev2.address, ev3.address],
        quorum=2,
        min_score=1000,
        commit_bond=ETHER // 10,
        evaluator_fee=ETHER // 100,
        bounty=ETHER,
    ).event(TaskCreated)
    task_id = created.task_id
    assert task_id == 1
    assert created.creator == creator.address
    assert created.spec_digest == spec
    assert created.bounty == ETHER
    assert created.evaluators == (ev1.address, ev2.address, ev3.address)

    as_solver = mp.with_signer(solver)
    agent = os.urandom(2048)
    salt = os.urandom(32)
    commitment = as_solver.commitment_for(task_id, agent, 750_000, salt)
    committed = as_solver.commit_solution(task_id, commitment).event(SolutionCommitted)
    assert (committed.solution_id, committed.solver, committed.commitment) == (
        0,
        solver.address,
        commitment,
    )
    assert mp.escrow_of(task_id) == ETHER + 3 * ETHER // 100 + ETHER // 10

    chain.travel_to(now + 100)
    revealed = as_solver.reveal_solution(task_id, 0, agent, 750_000, salt).event(SolutionRevealed)
    assert revealed.agent == agent
    assert revealed.agent_digest == agent_digest(agent)
    assert mp.credits(solver.address) == ETHER // 10  # bond back

    chain.travel_to(now + 200)
    requested = mp.request_seed(task_id).event(SeedRequested)
    chain.mine(1)
    sealed = mp.seal_seed(task_id).event(EvaluationSeedSet)
    block_hash = bytes(chain.w3.eth.get_block(requested.seed_block)["hash"])
    assert sealed.eval_seed == evaluation_seed(block_hash, task_id, salt)
    assert mp.get_task(task_id).eval_seed == sealed.eval_seed

    first = mp.with_signer(ev1).attest_score(task_id, 0, 740_000)
    assert first.event(ScoreAttested).score == 740_000
    assert not [e for e in first.events if isinstance(e, SolutionVerified)]
    second = mp.with_signer(ev2).attest_score(task_id, 0, 740_000)
    verified = second.event(SolutionVerified)
    assert (verified.solution_id, verified.score, verified.best) == (0, 740_000, True)
    assert mp.attestation(task_id, 0, ev1.address) == 740_000
    assert mp.attestation(task_id, 0, ev3.address) is None
    assert mp.has_attested(task_id, 0, ev2.address)

    chain.travel_to(now + 500)
    finalized = mp.finalize(task_id).event(TaskFinalized)
    assert (finalized.winner, finalized.solution_id, finalized.score, finalized.payout) == (
        solver.address,
        0,
        740_000,
        ETHER,
    )
    task = mp.get_task(task_id)
    assert task.state is OnChainTaskState.FINALIZED
    # ev3 never attested: its fee goes to the creator.
    assert mp.credits(creator.address) == ETHER // 100
    assert mp.credits(ev1.address) == mp.credits(ev2.address) == ETHER // 100
    assert mp.credits(ev3.address) == 0
    assert mp.credits(solver.address) == ETHER + ETHER // 10

    before = chain.balance(solver.address)
    result = as_solver.withdraw()
    assert result.event(Withdrawn).amount == ETHER + ETHER // 10
    gas_paid = result.gas_used * int(
        chain.w3.eth.get_transaction_receipt(result.tx_hash)["effectiveGasPrice"]
    )
    assert chain.balance(solver.address) == before + ETHER + ETHER // 10 - gas_paid
    assert mp.credits(solver.address) == 0
    assert mp.total_owed() == 3 * ETHER // 100
    assert chain.balance(mp.address) == mp.total_owed()
    assert NO_SOLUTION == 2**256 - 1


class _NoBatchProvider(HTTPProvider):
    """A node that refuses JSON-RPC batches, as some hosted adaptors do."""

    def make_batch_request(self, requests: Any) -> Any:  # type: ignore[override]
        raise ValueError("batch requests are not supported")


def test_views_batch_and_fall_back_to_single_calls(chain: Chain, marketplace: Marketplace) -> None:
    accounts = [a.address for a in chain.accounts[:3]]
    calls: list[tuple[str, tuple[object, ...]]] = [("taskCount", ())] + [
        ("credits", (a,)) for a in accounts
    ]
    batched = marketplace.views(calls)
    plain = Marketplace(Web3(_NoBatchProvider(chain.url)), marketplace.address)
    assert plain.views(calls) == batched == [(0,), (0,), (0,), (0,)]
    with pytest.raises(UnknownTask):
        plain.views([("taskCount", ()), ("getTask", (5,))])
