"""Contract v2's rules: score 0 never wins, junk pays for its evaluation, bonds held until
verified, batched attestations, and a credit event for every wei. Each test fails on v1."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import NO_SOLUTION, Marketplace, TaskFinalized, TxResult, transport
from tests.fixtures.chain import ETHER, Chain, commit_agent, open_task, reveal, seal

BOND = ETHER // 10
FEE = ETHER // 100
ZERO = "0x" + "00" * 20


def _of(result: TxResult, cls: type[c.E]) -> list[c.E]:
    return [e for e in result.events if isinstance(e, cls)]


def test_a_score_zero_solution_never_wins_even_at_min_score_zero(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[evaluators[0].address], quorum=1, min_score=0)
    junk = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"junk", 1_000_000)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), junk)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    verified = mp.with_signer(evaluators[0]).attest_score(task.task_id, junk.solution_id, 0)
    assert verified.event(c.SolutionVerified).best is False
    assert not mp.get_task(task.task_id).has_best
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert (fin.winner, fin.solution_id, fin.score) == (ZERO, NO_SOLUTION, 0)
    assert mp.credits(creator.address) == ETHER
    assert mp.credits(solvers[0].address) == 0  # its bond went to the evaluator


def test_a_score_zero_solution_does_not_displace_a_real_one(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[evaluators[0].address], quorum=1)
    small_junk = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"j", 0)
    real = commit_agent(mp.with_signer(solvers[1]), task.task_id, b"r" * 50, 1)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), small_junk)
    reveal(mp.with_signer(solvers[1]), real)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    ev = mp.with_signer(evaluators[0])
    assert ev.attest_score(task.task_id, real.solution_id, 1).event(c.SolutionVerified).best
    assert (
        not ev.attest_score(task.task_id, small_junk.solution_id, 0).event(c.SolutionVerified).best
    )
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert (fin.winner, fin.solution_id, fin.score) == (solvers[1].address, real.solution_id, 1)


def test_a_zero_score_forfeits_the_bond_to_the_evaluators_that_verified_it(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    evs = evaluators[:5]
    bond = 1001  # 1001 = 3 * 333 + 2: the remainder goes to the attestation reaching quorum
    task = open_task(chain, mp, evaluators=[e.address for e in evs], quorum=3, commit_bond=bond)
    junk = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"junk", 999_999)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), junk)
    assert mp.credits(solvers[0].address) == 0  # v2: not returned at reveal
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    sid = junk.solution_id
    mp.with_signer(evs[3]).attest_score(task.task_id, sid, 0)
    mp.with_signer(evs[0]).attest_score(task.task_id, sid, 5)  # disagrees: no share
    mp.with_signer(evs[1]).attest_score(task.task_id, sid, 0)
    last = mp.with_signer(evs[4]).attest_score(task.task_id, sid, 0)  # reaches quorum 3
    assert last.event(c.BondForfeited) == c.BondForfeited(
        task.task_id, sid, solvers[0].address, bond
    )
    shares = {e.evaluator: e.amount for e in _of(last, c.ForfeitShareCredited)}
    assert shares == {evs[1].address: 333, evs[3].address: 333, evs[4].address: 335}
    late = mp.with_signer(evs[2]).attest_score(task.task_id, sid, 0)  # after verification: nothing
    assert not _of(late, c.ForfeitShareCredited)
    for e in evs:
        assert mp.credits(e.address) == shares.get(e.address, 0)
    assert mp.unverified_bonds(task.task_id, solvers[0].address) == 0
    assert mp.escrow_of(task.task_id) == ETHER + 5 * FEE
    chain.travel_to(task.eval_deadline)
    mp.finalize(task.task_id)
    assert mp.credits(solvers[0].address) == 0
    for e in evs:  # every evaluator attested the one revealed solution: fee on top
        assert mp.credits(e.address) == shares.get(e.address, 0) + FEE


def test_a_revealed_never_verified_solution_reclaims_its_bond_after_finalize(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    evs = evaluators[:3]
    task = open_task(chain, mp, evaluators=[e.address for e in evs], quorum=2)
    solver = mp.with_signer(solvers[0])
    first = commit_agent(solver, task.task_id, b"one", 7)
    second = commit_agent(solver, task.task_id, b"two", 7)
    chain.travel_to(task.commit_deadline)
    reveal(solver, first)
    reveal(solver, second)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    mp.with_signer(evs[0]).attest_score(task.task_id, first.solution_id, 7)  # evaluators go quiet
    with pytest.raises(c.TaskNotFinalized):
        mp.reclaim_bonds(task.task_id, solvers[0].address)
    assert mp.credits(solvers[0].address) == 0
    chain.travel_to(task.eval_deadline)
    mp.finalize(task.task_id)
    # Both bonds are still held for the solver, not given to the creator.
    assert mp.credits(creator.address) == ETHER + 3 * FEE
    assert mp.escrow_of(task.task_id) == 2 * BOND
    assert mp.unverified_bonds(task.task_id, solvers[0].address) == 2 * BOND
    with pytest.raises(c.NoBondsHeld):
        mp.reclaim_bonds(task.task_id, solvers[1].address)
    # Anyone may sweep it; the credit goes to the solver.
    returned = mp.with_signer(evs[1]).reclaim_bonds(task.task_id, solvers[0].address)
    assert returned.event(c.BondReturned) == c.BondReturned(
        task.task_id, solvers[0].address, 2 * BOND
    )
    assert mp.credits(solvers[0].address) == 2 * BOND
    assert mp.escrow_of(task.task_id) == 0
    with pytest.raises(c.NoBondsHeld):
        mp.reclaim_bonds(task.task_id, solvers[0].address)
    with pytest.raises(c.UnknownTask):
        mp.reclaim_bonds(999, solvers[0].address)


def test_attest_scores_verifies_a_batch_as_single_attestations_would(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    mp = marketplace.with_signer(creator)
    evs = evaluators[:3]
    task = open_task(chain, mp, evaluators=[e.address for e in evs], quorum=2)
    plan = [(solvers[0], b"a" * 30, 500), (solvers[1], b"b" * 20, 0), (solvers[2], b"c" * 10, 900)]
    commits = [commit_agent(mp.with_signer(who), task.task_id, agent, s) for who, agent, s in plan]
    chain.travel_to(task.commit_deadline)
    for (who, _, _), cm in zip(plan, commits, strict=True):
        reveal(mp.with_signer(who), cm)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    ids = [cm.solution_id for cm in commits]
    scores = [s for _, _, s in plan]
    first = mp.with_signer(evs[0]).attest_scores(task.task_id, ids, scores)
    assert [(e.solution_id, e.score) for e in _of(first, c.ScoreAttested)] == list(
        zip(ids, scores, strict=True)
    )
    assert not _of(first, c.SolutionVerified)
    second = mp.with_signer(evs[1]).attest_scores(task.task_id, ids, scores)
    assert [(e.solution_id, e.score, e.best) for e in _of(second, c.SolutionVerified)] == [
        (0, 500, True),
        (1, 0, False),
        (2, 900, True),
    ]
    assert mp.attestation_count(task.task_id, evs[1].address) == 3
    # All or nothing: one entry already attested reverts the whole batch.
    mp.with_signer(evs[2]).attest_score(task.task_id, 0, 500)
    with pytest.raises(c.AlreadyAttested):
        mp.with_signer(evs[2]).attest_scores(task.task_id, [1, 0], [0, 500])
    with pytest.raises(c.AlreadyAttested):
        mp.with_signer(evs[2]).attest_scores(task.task_id, [2, 2], [900, 900])
    assert not mp.has_attested(task.task_id, 1, evs[2].address)
    assert not mp.has_attested(task.task_id, 2, evs[2].address)
    with pytest.raises(c.BatchLengthMismatch) as info:
        mp.with_signer(evs[2]).attest_scores(task.task_id, [0, 1], [500])
    assert info.value.fields == {"ids": 2, "scores": 1}
    for size in (0, c.MAX_ATTEST_BATCH + 1):
        with pytest.raises(c.BadBatchSize):
            mp.with_signer(evs[2]).attest_scores(task.task_id, [0] * size, [1] * size)
    with pytest.raises(c.NotEvaluator):
        mp.with_signer(solvers[0]).attest_scores(task.task_id, [0], [500])
    with pytest.raises(c.ScoreOutOfRange):
        mp.with_signer(evs[2]).attest_scores(task.task_id, [1], [c.MAX_SCORE + 1])
    chain.travel_to(task.eval_deadline)
    with pytest.raises(c.EvaluationClosed):
        mp.with_signer(evs[2]).attest_scores(task.task_id, [1], [0])
    fin = mp.finalize(task.task_id).event(TaskFinalized)
    assert (fin.solution_id, fin.score) == (2, 900)


def test_credit_events_account_for_every_wei(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
) -> None:
    """Summing the credit events alone gives every account's credit: a read model needs
    nothing else to show where the bounty, the fees and every bond went."""
    mp = marketplace.with_signer(creator)
    evs = evaluators[:3]
    start = chain.block_number() + 1
    task = open_task(chain, mp, evaluators=[e.address for e in evs], quorum=2, commit_bond=7)
    good = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"good", 10)
    junk = commit_agent(mp.with_signer(solvers[1]), task.task_id, b"junk", 10)
    quiet = commit_agent(mp.with_signer(solvers[2]), task.task_id, b"quiet", 10)
    hidden = commit_agent(mp.with_signer(solvers[2]), task.task_id, b"hidden", 10)
    chain.travel_to(task.commit_deadline)
    for who, cm in ((solvers[0], good), (solvers[1], junk), (solvers[2], quiet)):
        reveal(mp.with_signer(who), cm)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    mp.with_signer(evs[0]).attest_scores(task.task_id, [good.solution_id, junk.solution_id], [10, 0])
    mp.with_signer(evs[1]).attest_scores(task.task_id, [good.solution_id, junk.solution_id], [10, 0])
    mp.with_signer(evs[2]).attest_score(task.task_id, quiet.solution_id, 3)  # alone: never verified
    chain.travel_to(task.eval_deadline)
    fin = mp.finalize(task.task_id)
    # Nobody attested all three revealed solutions: the creator gets the three fees back, and
    # the hidden commit's bond.
    assert not _of(fin, c.FeeCredited)
    assert fin.event(c.RefundCredited) == c.RefundCredited(
        task.task_id, creator.address, 3 * FEE + 7
    )
    mp.reclaim_bonds(task.task_id, solvers[2].address)
    assert hidden.solution_id == 3

    credited: dict[str, int] = {}
    for item in mp.get_events(start):
        ev = item.event
        if isinstance(ev, c.TaskFinalized) and ev.winner != ZERO:
            credited[ev.winner] = credited.get(ev.winner, 0) + ev.payout
        elif isinstance(ev, c.FeeCredited | c.ForfeitShareCredited):
            credited[ev.evaluator] = credited.get(ev.evaluator, 0) + ev.amount
        elif isinstance(ev, c.BondReturned):
            credited[ev.solver] = credited.get(ev.solver, 0) + ev.amount
        elif isinstance(ev, c.RefundCredited):
            credited[ev.creator] = credited.get(ev.creator, 0) + ev.amount
    everyone = [creator, *solvers, *evs]
    assert {a.address: mp.credits(a.address) for a in everyone} == {
        a.address: credited.get(a.address, 0) for a in everyone
    }
    # Nothing is left in the task, and every wei that came in was credited to someone.
    assert mp.escrow_of(task.task_id) == 0
    assert sum(credited.values()) == ETHER + 3 * FEE + 4 * 7
    assert credited[solvers[0].address] == ETHER + 7  # the bounty and its bond
    assert solvers[1].address not in credited  # junk: its bond went to evs[0] and evs[1]
    assert credited[evs[0].address] + credited[evs[1].address] == 7
    assert credited[solvers[2].address] == 7  # the never-verified reveal, reclaimed


def test_an_attestation_that_becomes_the_verifying_one_after_its_estimate_still_fits(
    chain: Chain,
    marketplace: Marketplace,
    creator: LocalAccount,
    solvers: list[LocalAccount],
    evaluators: list[LocalAccount],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Evaluators race: another attestation is mined between ours' gas estimate and ours, so
    ours is the one that verifies at 0 and credits three forfeit shares. Its gas must cover
    that (v2's settlement costs more than v1's verification did)."""
    mp = marketplace.with_signer(creator)
    task = open_task(chain, mp, evaluators=[e.address for e in evaluators], quorum=3)
    junk = commit_agent(mp.with_signer(solvers[0]), task.task_id, b"junk", 1)
    chain.travel_to(task.commit_deadline)
    reveal(mp.with_signer(solvers[0]), junk)
    chain.travel_to(task.reveal_deadline)
    seal(chain, mp, task.task_id)
    mp.with_signer(evaluators[0]).attest_score(task.task_id, junk.solution_id, 0)

    real_estimate = transport.estimate_gas
    raced: list[TxResult] = []
    racing: list[bool] = []

    def estimate_then_race(*args: object) -> int:
        gas = real_estimate(*args)  # type: ignore[arg-type]
        if not racing:  # only around our own estimate, not the rival's
            racing.append(True)
            raced.append(mp.with_signer(evaluators[1]).attest_score(task.task_id, junk.solution_id, 0))
        return gas

    monkeypatch.setattr(transport, "estimate_gas", estimate_then_race)
    ours = mp.with_signer(evaluators[2]).attest_score(task.task_id, junk.solution_id, 0)
    assert not _of(raced[0], c.SolutionVerified)
    assert ours.event(c.SolutionVerified).score == 0
    assert len(_of(ours, c.ForfeitShareCredited)) == 3
