"""Every revert of EdgeMarketplace, decoded into the Python exception named after it."""

from __future__ import annotations

import pytest
from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import Marketplace
from tests.fixtures.chain import ETHER, Chain, OpenTask, commit_agent, open_task, reveal, seal

ZERO = "0x" + "00" * 20


@pytest.fixture
def people(chain: Chain) -> dict[str, LocalAccount]:
    names = ["creator", "solver", "other", "ev1", "ev2", "ev3"]
    return dict(zip(names, chain.accounts[1:7], strict=True))


@pytest.fixture
def mp(marketplace: Marketplace, people: dict[str, LocalAccount]) -> Marketplace:
    return marketplace.with_signer(people["creator"])


@pytest.fixture
def task(chain: Chain, mp: Marketplace, people: dict[str, LocalAccount]) -> OpenTask:
    evs = [people["ev1"].address, people["ev2"].address, people["ev3"].address]
    return open_task(chain, mp, evaluators=evs)


def _create(chain: Chain, mp: Marketplace, **overrides: object) -> None:
    now = chain.now()
    args: dict[str, object] = {
        "spec_digest": b"\x01" * 32,
        "commit_deadline": now + 100,
        "reveal_deadline": now + 200,
        "eval_window": 300,
        "evaluators": [a.address for a in chain.accounts[10:13]],
        "quorum": 2,
        "min_score": 0,
        "commit_bond": 0,
        "evaluator_fee": 10,
        "bounty": ETHER,
    }
    args.update(overrides)
    mp.create_task(**args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ createTask


def test_create_rejects_zero_bounty(chain: Chain, mp: Marketplace) -> None:
    with pytest.raises(c.ZeroBounty):
        _create(chain, mp, bounty=0)


def test_create_rejects_value_below_the_fees(chain: Chain, mp: Marketplace) -> None:
    evs = [a.address for a in chain.accounts[10:13]]
    with pytest.raises(c.InsufficientValue) as info:
        mp._transact(
            "createTask",
            b"\x01" * 32,
            chain.now() + 100,
            chain.now() + 200,
            300,
            evs,
            2,
            0,
            0,
            10,
            value=29,
        )
    assert info.value.fields == {"required": 30, "sent": 29}


@pytest.mark.parametrize(("n", "quorum"), [(3, 1), (4, 2), (1, 0), (2, 1), (3, 4), (5, 2)])
def test_create_rejects_a_quorum_that_is_not_a_strict_majority(
    chain: Chain, mp: Marketplace, n: int, quorum: int
) -> None:
    with pytest.raises(c.QuorumNotMajority):
        _create(
            chain, mp, evaluators=[a.address for a in chain.accounts[10 : 10 + n]], quorum=quorum
        )


@pytest.mark.parametrize(("n", "quorum"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 3)])
def test_create_accepts_every_strict_majority(
    chain: Chain, mp: Marketplace, n: int, quorum: int
) -> None:
    _create(chain, mp, evaluators=[a.address for a in chain.accounts[10 : 10 + n]], quorum=quorum)


def test_create_rejects_bad_evaluator_lists(
    chain: Chain, mp: Marketplace, people: dict[str, LocalAccount]
) -> None:
    a, b = chain.accounts[10].address, chain.accounts[11].address
    with pytest.raises(c.DuplicateEvaluator) as dup:
        _create(chain, mp, evaluators=[a, b, a])
    assert dup.value.fields == {"evaluator": a}
    with pytest.raises(c.ZeroEvaluator):
        _create(chain, mp, evaluators=[a, ZERO, b])
    with pytest.raises(c.CreatorIsEvaluator):
        _create(chain, mp, evaluators=[a, people["creator"].address, b])
    with pytest.raises(c.BadEvaluatorCount):
        _create(chain, mp, evaluators=[], quorum=1)
    with pytest.raises(c.BadEvaluatorCount):
        _create(chain, mp, evaluators=[x.address for x in chain.accounts[10:16]], quorum=4)


def test_create_rejects_min_score_above_one_million(chain: Chain, mp: Marketplace) -> None:
    with pytest.raises(c.ScoreOutOfRange):
        _create(chain, mp, min_score=1_000_001)
    _create(chain, mp, min_score=1_000_000)


def test_create_rejects_deadlines_out_of_order(chain: Chain, mp: Marketplace) -> None:
    now = chain.now()
    with pytest.raises(c.BadDeadlines):
        _create(chain, mp, commit_deadline=now, reveal_deadline=now + 100)
    with pytest.raises(c.BadDeadlines):
        _create(chain, mp, commit_deadline=now + 100, reveal_deadline=now + 100)
    with pytest.raises(c.BadDeadlines):
        _create(chain, mp, commit_deadline=now + 100, reveal_deadline=now + 50)
    with pytest.raises(c.EvalWindowTooShort):
        _create(chain, mp, eval_window=59)


# ------------------------------------------------------------------ commit


def test_commit_rejects_a_wrong_bond(
    mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    solver = mp.with_signer(people["solver"])
    for bond in (0, ETHER // 10 - 1, ETHER // 10 + 1):
        with pytest.raises(c.WrongBond) as info:
            solver.commit_solution(task.task_id, b"\x02" * 32, bond=bond)
        assert info.value.fields == {"required": ETHER // 10, "sent": bond}


def test_the_seventeenth_commit_is_refused(
    mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    solver = mp.with_signer(people["solver"])
    for i in range(16):
        solver.commit_solution(task.task_id, i.to_bytes(32, "big"), bond=ETHER // 10)
    assert mp.commit_count(task.task_id, people["solver"].address) == 16
    with pytest.raises(c.TooManyCommits):
        solver.commit_solution(task.task_id, b"\x11" * 32, bond=ETHER // 10)
    # Another solver is not affected.
    mp.with_signer(people["other"]).commit_solution(task.task_id, b"\x11" * 32, bond=ETHER // 10)


def test_commit_after_the_deadline_is_refused(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    chain.travel_to(task.commit_deadline - 2)
    mp.with_signer(people["solver"]).commit_solution(task.task_id, b"\x01" * 32)
    chain.travel_to(task.commit_deadline)
    with pytest.raises(c.CommitPhaseOver):
        mp.with_signer(people["solver"]).commit_solution(
            task.task_id, b"\x01" * 32, bond=ETHER // 10
        )


def test_unknown_task_and_solution(mp: Marketplace, task: OpenTask) -> None:
    with pytest.raises(c.UnknownTask):
        mp.commit_solution(99, b"\x01" * 32, bond=0)
    with pytest.raises(c.UnknownTask):
        mp.get_task(0)
    with pytest.raises(c.UnknownSolution):
        mp.get_solution(task.task_id, 0)


# ------------------------------------------------------------------ reveal


def test_reveal_rules(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    solver = mp.with_signer(people["solver"])
    other = mp.with_signer(people["other"])
    good = commit_agent(solver, task.task_id, b"agent-bytes", 500_000)
    with pytest.raises(c.NotRevealPhase):
        reveal(solver, good)
    chain.travel_to(task.commit_deadline)
    with pytest.raises(c.NotSolver) as who:
        other.reveal_solution(
            task.task_id, good.solution_id, good.agent, good.claimed_score, good.salt
        )
    assert who.value.fields["caller"] == people["other"].address
    with pytest.raises(c.CommitmentMismatch):
        solver.reveal_solution(
            task.task_id, good.solution_id, b"agent-bytez", good.claimed_score, good.salt
        )
    with pytest.raises(c.CommitmentMismatch):
        solver.reveal_solution(
            task.task_id, good.solution_id, good.agent, good.claimed_score + 1, good.salt
        )
    with pytest.raises(c.CommitmentMismatch):
        solver.reveal_solution(
            task.task_id, good.solution_id, good.agent, good.claimed_score, b"\x00" * 32
        )
    with pytest.raises(c.ScoreOutOfRange):
        solver.reveal_solution(task.task_id, good.solution_id, good.agent, 1_000_001, good.salt)
    with pytest.raises(c.UnknownSolution):
        solver.reveal_solution(task.task_id, 7, good.agent, good.claimed_score, good.salt)
    reveal(solver, good)
    with pytest.raises(c.AlreadyRevealed):
        reveal(solver, good)
    chain.travel_to(task.reveal_deadline)
    late = good  # any reveal at or after the reveal deadline is refused
    with pytest.raises(c.NotRevealPhase):
        reveal(solver, late)


def test_agent_size_limit(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    solver = mp.with_signer(people["solver"])
    biggest = commit_agent(solver, task.task_id, b"\xab" * c.MAX_AGENT_BYTES, 1)
    too_big = commit_agent(solver, task.task_id, b"\xab" * (c.MAX_AGENT_BYTES + 1), 1)
    chain.travel_to(task.commit_deadline)
    with pytest.raises(c.AgentTooLarge) as info:
        reveal(solver, too_big)
    assert info.value.fields == {"size": c.MAX_AGENT_BYTES + 1}
    reveal(solver, biggest)
    assert mp.get_solution(task.task_id, biggest.solution_id).agent_size == c.MAX_AGENT_BYTES


# ------------------------------------------------------------------ seed


def test_seed_rules(chain: Chain, mp: Marketplace, task: OpenTask) -> None:
    with pytest.raises(c.RevealNotOver):
        mp.request_seed(task.task_id)
    chain.travel_to(task.reveal_deadline)
    with pytest.raises(c.SeedNotRequested):
        mp.seal_seed(task.task_id)
    seed_block = mp.request_seed(task.task_id).event(c.SeedRequested).seed_block
    assert seed_block == chain.block_number() + 1
    with pytest.raises(c.SeedAlreadyRequested):
        mp.request_seed(task.task_id)
    with pytest.raises(c.SeedBlockNotMined):
        mp.seal_seed(task.task_id)  # would be mined in the seed block itself
    chain.mine(1)
    seed = mp.seal_seed(task.task_id).event(c.EvaluationSeedSet).eval_seed
    with pytest.raises(c.SeedAlreadySealed):
        mp.seal_seed(task.task_id)
    with pytest.raises(c.SeedAlreadySealed):
        mp.request_seed(task.task_id)
    assert mp.get_task(task.task_id).eval_seed == seed


def test_an_aged_out_seed_block_can_be_requested_again(
    chain: Chain, mp: Marketplace, task: OpenTask
) -> None:
    chain.travel_to(task.reveal_deadline)
    first = mp.request_seed(task.task_id).event(c.SeedRequested).seed_block
    chain.mine(256)  # blockhash(first) still available: block.number == first + 256 at the next tx
    with pytest.raises(c.SeedAlreadyRequested):
        mp.request_seed(task.task_id)
    chain.mine(1)
    with pytest.raises(c.SeedBlockExpired):
        mp.seal_seed(task.task_id)
    second = mp.request_seed(task.task_id).event(c.SeedRequested).seed_block
    assert second > first + 256
    chain.mine(1)
    seed = mp.seal_seed(task.task_id).event(c.EvaluationSeedSet).eval_seed
    block_hash = bytes(chain.w3.eth.get_block(second)["hash"])
    assert seed == c.evaluation_seed(block_hash, task.task_id, bytes(32))


# ------------------------------------------------------------------ attest


def test_attest_rules(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    solver = mp.with_signer(people["solver"])
    ev1 = mp.with_signer(people["ev1"])
    shown = commit_agent(solver, task.task_id, b"shown", 10)
    hidden = commit_agent(solver, task.task_id, b"hidden", 10)
    chain.travel_to(task.commit_deadline)
    reveal(solver, shown)
    chain.travel_to(task.reveal_deadline)
    with pytest.raises(c.SeedNotSealed):
        ev1.attest_score(task.task_id, shown.solution_id, 10)
    seal(chain, mp, task.task_id)
    with pytest.raises(c.NotEvaluator):
        solver.attest_score(task.task_id, shown.solution_id, 10)
    with pytest.raises(c.NotEvaluator):
        mp.attest_score(task.task_id, shown.solution_id, 10)  # the creator
    with pytest.raises(c.NotRevealed):
        ev1.attest_score(task.task_id, hidden.solution_id, 10)
    with pytest.raises(c.ScoreOutOfRange):
        ev1.attest_score(task.task_id, shown.solution_id, 1_000_001)
    ev1.attest_score(task.task_id, shown.solution_id, 10)
    with pytest.raises(c.AlreadyAttested):
        ev1.attest_score(task.task_id, shown.solution_id, 11)
    assert ev1.attestation(task.task_id, shown.solution_id, people["ev1"].address) == 10
    chain.travel_to(task.eval_deadline)
    with pytest.raises(c.EvaluationClosed):
        mp.with_signer(people["ev2"]).attest_score(task.task_id, shown.solution_id, 10)


# ------------------------------------------------------------------ finalize, cancel, withdraw


def test_finalize_too_early_or_twice(chain: Chain, mp: Marketplace, task: OpenTask) -> None:
    with pytest.raises(c.TooEarlyToFinalize) as info:
        mp.finalize(task.task_id)
    assert info.value.fields["finalizable_at"] == task.eval_deadline
    chain.travel_to(task.eval_deadline - 1)
    with pytest.raises(c.TooEarlyToFinalize):
        mp.finalize(task.task_id)
    chain.travel_to(task.eval_deadline)
    mp.finalize(task.task_id)
    with pytest.raises(c.TaskNotOpen):
        mp.finalize(task.task_id)
    with pytest.raises(c.TaskNotOpen):
        mp.request_seed(task.task_id)


def test_cancel_rules(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    with pytest.raises(c.NotCreator):
        mp.with_signer(people["other"]).cancel_task(task.task_id)
    mp.with_signer(people["solver"]).commit_solution(task.task_id, b"\x01" * 32)
    with pytest.raises(c.HasCommits):
        mp.cancel_task(task.task_id)


def test_every_call_on_a_cancelled_task_reverts(
    chain: Chain, mp: Marketplace, task: OpenTask, people: dict[str, LocalAccount]
) -> None:
    refund = mp.cancel_task(task.task_id).event(c.TaskCancelled).refund
    assert refund == ETHER + 3 * ETHER // 100
    assert mp.credits(people["creator"].address) == refund
    t = task.task_id
    with pytest.raises(c.TaskNotOpen):
        mp.cancel_task(t)
    with pytest.raises(c.TaskNotOpen):
        mp.with_signer(people["solver"]).commit_solution(t, b"\x01" * 32, bond=ETHER // 10)
    chain.travel_to(task.commit_deadline)
    with pytest.raises(c.TaskNotOpen):
        mp.reveal_solution(t, 0, b"", 0, bytes(32))
    chain.travel_to(task.reveal_deadline)
    for call in (mp.request_seed, mp.seal_seed, mp.finalize):
        with pytest.raises(c.TaskNotOpen):
            call(t)
    with pytest.raises(c.TaskNotOpen):
        mp.with_signer(people["ev1"]).attest_score(t, 0, 1)


def test_withdraw_with_no_credit_reverts(mp: Marketplace, people: dict[str, LocalAccount]) -> None:
    with pytest.raises(c.NothingToWithdraw) as info:
        mp.with_signer(people["other"]).withdraw()
    assert info.value.fields == {"account": people["other"].address}
    assert "has no credits" in str(info.value)
    assert isinstance(info.value, c.ContractError)
