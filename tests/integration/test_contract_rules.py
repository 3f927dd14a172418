"""The marketplace's rules: quorum verification, ranking, payouts, fees, bonds, the seed."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import NO_SOLUTION, Marketplace, OnChainTaskState, TaskFinalized
from tests.fixtures.chain import ETHER, Chain, commit_agent, open_task, reveal, seal

BOND = ETHER // 10
FEE = ETHER // 100


def test_verified_only_when_quorum_evaluators_agree(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[e.address for e in evaluators], quorum=3)
    sol = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"x", 1)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), sol)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    scores = [600, 500, 600, 500]  # two and two: nobody reaches 3
    for ev, score in zip(evaluators, scores, strict=False):
        result = mp.with_signer(ev).attest_score(task.task_id, sol.solution_id, score)
        assert not [e for e in result.events if isinstance(e, c.SolutionVerified)]
    assert not mp.get_solution(task.task_id, sol.solution_id).verified
    last = mp.with_signer(evaluators[4]).attest_score(task.task_id, sol.solution_id, 500)
    verified = last.event(c.SolutionVerified)
    assert (verified.score, verified.best) == (500, True)
    info = mp.get_solution(task.task_id, sol.solution_id)
    assert info.verified and info.score == 500


def test_ranking_highest_then_smaller_agent_then_lower_id(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[evaluators[0].address], quorum=1, min_score=100)
    a, b, d = solvers
    # ids 0..4: (solver, agent, true score)
    plan = [
        (a, b"L" * 300, 700),  # 0: top score, big
        (b, b"S" * 100, 700),  # 1: top score, small  <- winner
        (d, b"T" * 100, 700),  # 2: top score, small, higher id
        (a, b"Q" * 10, 650),  # 3: smallest but lower score
        (b, b"Z" * 1, 50),  # 4: below nothing matters
    ]
    commits = [commit_agent(mp.with_signer(who), task.task_id, agent, score) for who, agent, score in plan]
    chain.travel_to(task.commit_deadline)
    for (who, _, _), cm in zip(plan, commits, strict=True):
        reveal(mp.with_signer(who), cm)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    ev = mp.with_signer(evaluators[0])
    expected_best = {2: True, 3: False, 0: False, 1: True, 4: False}
    for sid in (2, 3, 0, 1, 4):
        got = ev.attest_score(task.task_id, sid, plan[sid][2]).event(c.SolutionVerified)
        assert got.best is expected_best[sid], sid
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert (fin.winner, fin.solution_id, fin.score, fin.payout) == (b.address, 1, 700, ETHER)
    # The winner gets the bounty on top of its two bonds back.
    assert mp.credits(b.address) == ETHER + 2 * BOND


def test_no_winner_below_min_score_refunds_the_creator(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(
        chain, mp, evaluators=[e.address for e in evaluators[:3]], quorum=2, min_score=800_000
    )
    sol = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"weak", 900_000)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), sol)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    for ev in evaluators[:3]:
        mp.with_signer(ev).attest_score(task.task_id, sol.solution_id, 799_999)
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert (fin.winner, fin.solution_id, fin.score, fin.payout) == (
        "0x" + "00" * 20,
        NO_SOLUTION,
        0,
        ETHER,
    )
    assert mp.credits(creator.address) == ETHER
    assert mp.credits(solvers[0].address) == BOND
    for ev in evaluators[:3]:
        assert mp.credits(ev.address) == FEE


def test_fees_go_to_evaluators_that_attested_every_revealed_solution(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    evs = evaluators[:3]
    task = open_task(chain, mp, evaluators=[e.address for e in evs], quorum=2)
    s0 = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"a", 1)
    s1 = commit_agent(mp.with_signer(solvers[1]), task.task_id, b"b", 1)
    unrevealed = commit_agent(mp.with_signer(solvers[2]), task.task_id, b"c", 1)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), s0)
    reveal(mp.with_signer(solvers[1]), s1)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    for sid in (s0.solution_id, s1.solution_id):
        mp.with_signer(evs[0]).attest_score(task.task_id, sid, 5)
    mp.with_signer(evs[1]).attest_score(task.task_id, s0.solution_id, 5)  # misses s1
    chain.travel_to(task.eval_deadline)
    mp.finalize(task.task_id)
    assert mp.credits(evs[0].address) == FEE
    assert mp.credits(evs[1].address) == 0
    assert mp.credits(evs[2].address) == 0
    # ev0 and ev1 agree on s0 (quorum 2), so s0 is verified and wins; the creator gets the
    # two unearned fees and the unrevealed solution's bond.
    fin_winner = mp.get_task(task.task_id)
    assert fin_winner.has_best and fin_winner.best_solution_id == s0.solution_id
    assert mp.credits(creator.address) == 2 * FEE + BOND
    assert mp.credits(solvers[0].address) == BOND + ETHER
    # s1 was never verified (one attestation, quorum 2): its bond waits for reclaimBonds.
    assert mp.credits(solvers[1].address) == 0
    mp.reclaim_bonds(task.task_id, solvers[1].address)
    assert mp.credits(solvers[1].address) == BOND
    assert mp.credits(solvers[2].address) == 0
    assert unrevealed.solution_id == 2


def test_no_reveals_pays_every_evaluator_and_forfeits_bonds(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[e.address for e in evaluators[:2]], quorum=2)
    commit_agent(mp.with_signer(solvers[0]), task.task_id, b"never shown", 1)
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert fin.winner == "0x" + "00" * 20
    assert mp.credits(creator.address) == ETHER + BOND
    assert mp.credits(evaluators[0].address) == mp.credits(evaluators[1].address) == FEE
    assert mp.get_task(task.task_id).state is OnChainTaskState.FINALIZED


def test_each_credit_is_withdrawable_exactly_once(
    chain: Chain, marketplace: Marketplace, creator: LocalAccount
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[chain.accounts[10].address])
    mp.cancel_task(task.task_id)
    before = chain.balance(creator.address)
    result = mp.withdraw()
    assert result.event(c.Withdrawn).amount == ETHER + FEE
    price = int(chain.w3.eth.get_transaction_receipt(result.tx_hash)["effectiveGasPrice"])
    assert chain.balance(creator.address) == before + ETHER + FEE - result.gas_used * price
    with pytest.raises(c.NothingToWithdraw):
        mp.withdraw()
    assert mp.total_owed() == 0 == chain.balance(mp.address)


def test_seed_comes_from_a_block_after_the_reveal_deadline_and_never_changes(
    chain: Chain, marketplace: Marketplace, creator: LocalAccount, solvers: list[LocalAccount]
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[chain.accounts[10].address])
    salts = []
    for i, s in enumerate(solvers):
        cm = commit_agent(mp.with_signer(s), task.task_id, bytes([i]) * 8, 1)
        salts.append(cm)
    chain.travel_to(task.commit_deadline)
    for s, cm in zip(solvers, salts, strict=True):
        reveal(mp.with_signer(s), cm)
    last_reveal_block = chain.block_number()
    chain.travel_to(task.reveal_deadline)
    seed = seal(chain, mp, task.task_id)
    info = mp.get_task(task.task_id)
    seed_block = chain.w3.eth.get_block(info.seed_block)
    # Every reveal was mined before the reveal deadline; the seed block at or after it, and
    # after the block that requested it.
    assert int(seed_block["timestamp"]) >= task.reveal_deadline
    assert info.seed_block > last_reveal_block
    assert info.salt_xor == c.xor_salts([cm.salt for cm in salts])
    assert seed == c.evaluation_seed(bytes(seed_block["hash"]), task.task_id, info.salt_xor)
    chain.mine(300)
    with pytest.raises(c.SeedAlreadySealed):
        mp.request_seed(task.task_id)
    assert mp.get_task(task.task_id).eval_seed == seed


def test_events_are_readable_from_the_chain(
    chain: Chain, marketplace: Marketplace, creator: LocalAccount
) -> None:
    mp = marketplace.with_signer(creator)
    start = chain.block_number() + 1
    task = open_task(chain, mp, evaluators=[chain.accounts[10].address])
    mp.cancel_task(task.task_id)
    mp.withdraw()
    logged = mp.get_events(start)
    kinds = [type(item.event).__name__ for item in logged]
    assert kinds == ["TaskCreated", "TaskCancelled", "Withdrawn"]
    assert [item.block_number for item in logged] == sorted(item.block_number for item in logged)
    assert logged[0].event == c.TaskCreated(
        task_id=task.task_id,
        creator=creator.address,
        spec_digest=mp.get_task(task.task_id).spec_digest,
        bounty=ETHER,
        commit_deadline=task.commit_deadline,
        reveal_deadline=task.reveal_deadline,
        eval_window=300,
        evaluators=(chain.accounts[10].address,),
        quorum=1,
        min_score=0,
        commit_bond=BOND,
        evaluator_fee=FEE,
    )


def test_protocol_rank_key_agrees_with_the_contract(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    """The Python ranking rule (auditor, API, islands) orders solutions as the contract does."""
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[evaluators[0].address], quorum=1)
    plan = [(b"a" * 50, 400), (b"b" * 40, 400), (b"c" * 40, 400), (b"d" * 90, 500), (b"e", 300)]
    commits = [
        commit_agent(mp.with_signer(solvers[i % 3]), task.task_id, agent, score)
        for i, (agent, score) in enumerate(plan)
    ]
    chain.travel_to(task.commit_deadline)
    for i, cm in enumerate(commits):
        reveal(mp.with_signer(solvers[i % 3]), cm)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    best: tuple[int, int, int] | None = None
    for sid in (4, 2, 0, 1, 3):
        agent, score = plan[sid]
        key = c.rank_key(score, len(agent), sid)
        got = mp.with_signer(evaluators[0]).attest_score(task.task_id, sid, score)
        assert got.event(c.SolutionVerified).best is (best is None or key < best), sid
        best = key if best is None else min(best, key)
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert fin.solution_id == min(
        range(5), key=lambda i: c.rank_key(plan[i][1], len(plan[i][0]), i)
    )
