"""The scheduler in a live market (issue 14): every accepted task at once on real Celery
workers and a real anvil, islands shared out within one epoch of a task's arrival, successive
commitments that strictly improve within the per-task limit and the bond budget, all revealed."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from eth_account.signers.local import LocalAccount

import bisuna
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.node import Node
from services.common.spec import parse_spec
from services.requester import create_task
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.islands import Candidate
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealState, RevealStore, SolverTaskState
from services.scheduler.service import CommitMailbox, Proposal, Scheduler
from tests.fixtures.chain import ETHER, Chain
from tests.integration.test_market_e2e import Procs, wait_until

QUICK = {  # solved in a few epochs (the environment hands Alice K xor P)
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 64},
    "budget": {"population": 16},
}
SLOW = {  # improves over many epochs
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "multiplexer-6"},
    "eval": {"samples": 64},
    "budget": {"population": 24},
}


@dataclass
class Market:
    chain: Chain
    deployment: Deployment
    procs: Procs
    settings: SolverSettings
    content: LocalContentStore
    tmp: Path

    def node(self, account: LocalAccount) -> Node:
        return Node(
            Marketplace.from_deployment(self.chain.w3, self.deployment, account),
            self.deployment,
            account,
        )

    def scheduler(self, solver: LocalAccount, **overrides: Any) -> Scheduler:  # Any: setting values
        settings = self.settings.model_copy(update=overrides)
        private = PrivateAgents(
            redis.Redis.from_url(settings.redis_url), settings.private_prefix, 600
        )
        return Scheduler(
            settings,
            self.node(solver),
            RevealStore(self.tmp / f"{solver.address}.sqlite"),
            self.content,
            make_app(settings),
            private,
        )

    def create(
        self,
        requester: LocalAccount,
        evaluator: str,
        spec: dict[str, Any],
        commit_seconds: int,
        reveal_seconds: int = 600,
        at: int | None = None,
    ) -> int:
        """Create a task; `at` pins the chain time of its block (its deadlines count from it)."""
        if at is not None:
            self.chain.rpc("evm_setNextBlockTimestamp", [at])
        created = create_task(
            self.node(requester),
            self.content,
            parse_spec(json.dumps(spec)),
            bounty=ETHER,
            evaluators=[evaluator],
            commit_seconds=commit_seconds,
            reveal_seconds=reveal_seconds,
            eval_window=600,
            commit_bond=ETHER // 10,
        )
        return created.task_id


def announce(scheduler: Scheduler, task_id: int) -> None:
    """What the indexer's stream would hand the scheduler for this task."""
    t = scheduler.market.get_task(task_id)
    scheduler.on_task_created(
        Message(
            kind=Kind.TASK_CREATED,
            chain_id=31337,
            contract=scheduler.market.address.lower(),
            block_number=1,
            block_hash="0x" + "11" * 32,
            tx_hash="0x" + "22" * 32,
            log_index=task_id,
            args={
                "task_id": str(task_id),
                "creator": t.creator.lower(),
                "spec_digest": "0x" + t.spec_digest.hex(),
                "bounty": str(t.bounty),
                "commit_deadline": str(t.commit_deadline),
                "reveal_deadline": str(t.reveal_deadline),
                "eval_window": str(t.eval_window),
                "evaluators": [e.lower() for e in t.evaluators],
                "quorum": str(t.quorum),
                "min_score": str(t.min_score),
                "commit_bond": str(t.commit_bond),
                "evaluator_fee": str(t.evaluator_fee),
            },
        )
    )


@pytest.fixture
def market(
    chain: Chain,
    marketplace_deployment: Deployment,
    private_redis: Callable[[], Any],
    tmp_path: Path,
) -> Iterator[Market]:
    server = private_redis()
    (tmp_path / "logs").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    env.update(
        {
            "EDGEMARKET_REDIS_URL": server.url,
            "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    settings = SolverSettings(
        redis_url=server.url,
        content_store=f"file:{tmp_path / 'content'}",
        islands=2,
        epoch_seconds=0.3,
        commit_margin=2,
        improvement_margin=1,
        keeper_interval=0.2,
        max_commits=16,
    )
    procs = Procs(tmp_path / "logs", env)
    procs.start("worker", "worker", "--concurrency", "2", "--loglevel", "WARNING")
    m = Market(
        chain, marketplace_deployment, procs, settings, LocalContentStore(tmp_path / "content"),
        tmp_path,
    )  # fmt: skip
    app = make_app(settings)
    wait_until("the worker", lambda: app.control.ping(timeout=0.5), procs, 60)
    try:
        yield m
    finally:
        procs.stop_all()


def _turn(s: Scheduler, procs: Procs) -> None:
    s.work_step()
    procs.check_alive()


def test_two_tasks_at_once_both_get_islands_and_both_are_committed_and_revealed(
    market: Market,
) -> None:
    requester, solver, evaluator = market.chain.accounts[20:23]
    s = market.scheduler(solver)
    t1 = market.create(requester, evaluator.address, QUICK, 3600)
    t2 = market.create(requester, evaluator.address, SLOW, 3600)
    announce(s, t1)
    announce(s, t2)
    _turn(s, market.procs)
    # Both are worked on from the first turn: two slots, one island each.
    assert {tid: sum(1 for i in t.islands if i.sent) for tid, t in s.live.items()} == {t1: 1, t2: 1}

    def both_committed() -> bool:
        _turn(s, market.procs)
        return all(s.market.commit_count(t, solver.address) >= 1 for t in (t1, t2))

    wait_until("commitments on both tasks", both_committed, market.procs, 120)
    assert all(s.live[t].islands[0].epochs >= 1 for t in (t1, t2))
    # Commits stay secret until the commit phase ends; then the settle side reveals them all.
    deadline = max(s.market.get_task(t).commit_deadline for t in (t1, t2))
    market.chain.travel_to(deadline)
    _turn(s, market.procs)
    assert s.live == {}
    assert {s.store.task(t).state for t in (t1, t2)} == {SolverTaskState.COMMITTED}  # type: ignore[union-attr]
    s.settle_step()
    for t in (t1, t2):
        n = s.market.solution_count(t)
        assert n >= 1 and all(s.market.get_solution(t, i).revealed for i in range(n))
    s.settle_step()
    assert {s.store.task(t).state for t in (t1, t2)} == {SolverTaskState.DONE}  # type: ignore[union-attr]


def test_a_task_created_mid_run_gets_an_island_within_one_epoch(market: Market) -> None:
    requester, solver, evaluator = market.chain.accounts[23:26]
    s = market.scheduler(solver)
    t1 = market.create(requester, evaluator.address, SLOW, 3600)
    announce(s, t1)

    def both_islands_done_an_epoch() -> bool:
        _turn(s, market.procs)
        return sum(1 for i in s.live[t1].islands if i.epochs) >= 2

    wait_until("both islands on the first task", both_islands_done_an_epoch, market.procs, 120)
    t2 = market.create(requester, evaluator.address, SLOW, 3600)
    announce(s, t2)
    before = [i.epochs for i in s.live[t1].islands]

    def new_task_has_an_island() -> bool:
        _turn(s, market.procs)
        return t2 in s.live and any(i.sent for i in s.live[t2].islands)

    wait_until("an island on the new task", new_task_has_an_island, market.procs, 60)
    after = [i.epochs for i in s.live[t1].islands]
    # The first task's islands finished at most one epoch each in the meantime.
    assert all(b - a <= 1 for a, b in zip(before, after, strict=False))


def test_commitments_improve_strictly_within_the_limit_and_the_bond_budget(
    market: Market,
) -> None:
    requester, solver, thrifty, evaluator = market.chain.accounts[26:30]
    spec = parse_spec(json.dumps(SLOW))
    pop = bisuna.Population(spec.to_dict(), 11)
    pop.evolve(3)
    agents = [a.to_bytes() for a in pop.export_best(20)]
    tid = market.create(requester, evaluator.address, SLOW, 3600)
    s = market.scheduler(solver, islands=1)
    announce(s, tid)
    s._take_on()  # the work loop's intake, without running epochs
    task = s.live[tid]
    # Twenty ever better champions, as islands would report them: at most 16 commitments.
    for k, agent in enumerate(agents):
        task.best = Candidate(agent, 1000 * (k + 1), 0)
        s._maybe_commit(task)
        task.best = Candidate(agent, 1000 * (k + 1) - 1, 0)  # no better: nothing to commit
        s._maybe_commit(task)
    rows = s.store.all_for(tid)
    assert len(rows) == 16 == s.market.commit_count(tid, solver.address)  # the 17th never sent
    claimed = [r.claimed_score for r in rows]
    assert claimed == sorted(claimed) and len(set(claimed)) == 16
    assert all(r.state is RevealState.COMMITTED for r in rows)

    # A bond budget of three bonds: three commitments, whatever improves afterwards.
    other = market.create(requester, evaluator.address, SLOW, 3600)
    t2 = market.scheduler(thrifty, islands=1, bond_budget=3 * ETHER // 10)
    announce(t2, other)
    t2._take_on()
    for k, agent in enumerate(agents[:6]):
        t2.live[other].best = Candidate(agent, 1000 * (k + 1), 0)
        t2._maybe_commit(t2.live[other])
    assert t2.market.commit_count(other, thrifty.address) == 3
    assert t2.bonds_locked() == 3 * ETHER // 10

    # A 10 s reveal window reveals three commitments at 3 s each: no more are made, and
    # improvements along the way leave the third for the retired task's last (best) one.
    # (its commit window closes after the first task's reveals, which would share its room)
    short = market.create(requester, evaluator.address, SLOW, 7200, reveal_seconds=10)
    announce(s, short)
    s._take_on()
    for k, agent in enumerate(agents[:6]):
        s.live[short].best = Candidate(agent, 1000 * (k + 1), 0)
        s._maybe_commit(s.live[short])
    assert s.market.commit_count(short, solver.address) == 2
    last = s.live[short]
    for k, agent in enumerate(agents[6:9]):
        final = Proposal(short, Candidate(agent, 10_000 * (k + 1), 0), last.bond,
                         last.commit_deadline, last.reveal_deadline, final="commit window closing")  # fmt: skip
        s.settle_proposal(final)
    assert s.market.commit_count(short, solver.address) == 3 == s.commit_limit(s.live[short])
    # Reveals go out one at a time, the window closing first first: a task whose reveal
    # window is the same gets no room; one 3 s later has room for one reveal, not two.
    cd, rd = last.commit_deadline, last.reveal_deadline
    assert not s._reveals_fit(Proposal(0, None, 0, cd, rd), 1)
    assert s._reveals_fit(Proposal(0, None, 0, cd + 3, rd + 3), 1)
    assert not s._reveals_fit(Proposal(0, None, 0, cd + 3, rd + 3), 2)
    # A task we work on without a commitment yet keeps room for its first one.
    s.store.put_task(
        10**6, SolverTaskState.ACCEPTED, spec_cid="none", commit_deadline=cd + 3,
        reveal_deadline=rd + 3,
    )  # fmt: skip
    assert not s._reveals_fit(Proposal(0, None, 0, cd + 3, rd + 3), 1)
    assert s._reveals_fit(Proposal(10**6, None, 0, cd + 3, rd + 3), 1)
    s.store.set_task_state(10**6, SolverTaskState.REJECTED, "not on chain: only its room was tested")

    # Every commitment is revealed; every bond comes back.
    for group in ((tid, other), (short,)):
        market.chain.travel_to(max(s.market.get_task(t).commit_deadline for t in group))
        for sched in (s, t2):
            _turn(sched, market.procs)
            sched.settle_step()
    assert all(s.market.get_solution(tid, i).revealed for i in range(16))
    assert all(s.market.get_solution(short, i).revealed for i in range(3))
    assert all(t2.market.get_solution(other, i).revealed for i in range(3))
    # Under contract v2 a revealed bond comes back at verification or, never verified, by
    # reclaimBonds after finalize (test_scheduler_keeper, test_contract_v2), not at reveal.
    assert t2.store.tasks_in(SolverTaskState.COMMITTED) == [] and t2.bonds_locked() == 0


def test_the_work_loop_goes_on_while_a_commitment_waits(market: Market) -> None:
    """run()'s layout: proposals go to the commit thread's mailbox. While one waits there (no
    committer turn yet), the work loop keeps sending and gathering epochs; the committer then
    sends the newest proposal only, and closes a retired task after its last commitment."""
    requester, solver, evaluator = market.chain.accounts[30:33]
    s = market.scheduler(solver)
    s.mailbox = CommitMailbox()
    committer = Scheduler(
        s.settings, market.node(solver), s.store, s.content, s.celery, s.private,
        s.in_flight, s.tx_lock,
    )  # fmt: skip
    committer.mailbox = s.mailbox
    tid = market.create(requester, evaluator.address, SLOW, 3600)
    announce(s, tid)

    def proposed() -> bool:
        _turn(s, market.procs)
        return s.mailbox is not None and s.mailbox.pending() > 0

    wait_until("a first proposal", proposed, market.procs, 120)
    first = s.live[tid].last
    epochs = sum(i.epochs for i in s.live[tid].islands)

    def more_epochs() -> bool:
        _turn(s, market.procs)
        return sum(i.epochs for i in s.live[tid].islands) >= epochs + 4

    wait_until("epochs while the commitment waits", more_epochs, market.procs, 120)
    assert s.market.commit_count(tid, solver.address) == 0  # not sent: nobody waited for it
    assert s.mailbox.pending() == 1  # one per task: a better champion replaced the first
    committer.commit_step()
    rows = s.store.all_for(tid)
    assert len(rows) == 1 == s.market.commit_count(tid, solver.address)
    assert s.live[tid].last is not None and first is not None
    assert rows[0].claimed_score == s.live[tid].last.fitness >= first.fitness
    assert s.mailbox.pending() == 0

    # Retired at the window's end: not taken on again while its last proposal waits, and
    # closed on our side (COMMITTED: a commitment to reveal) once the committer has seen it.
    market.chain.travel_to(s.market.get_task(tid).commit_deadline)
    _turn(s, market.procs)
    _turn(s, market.procs)
    assert tid not in s.live and tid in s.retired
    assert s.store.task(tid).state is SolverTaskState.ACCEPTED  # type: ignore[union-attr]
    committer.commit_step()
    assert s.store.task(tid).state is SolverTaskState.COMMITTED  # type: ignore[union-attr]


def test_tasks_beyond_the_slots_take_turns_and_the_queue_stays_shallow(market: Market) -> None:
    requester, solver, evaluator = market.chain.accounts[33:36]
    s = market.scheduler(solver, islands=1)
    tids = [market.create(requester, evaluator.address, SLOW, 3600) for _ in range(3)]
    for tid in tids:
        announce(s, tid)
    in_flight: list[int] = []

    def every_task_had_a_turn() -> bool:
        _turn(s, market.procs)
        in_flight.append(sum(1 for t in s.live.values() for i in t.islands if i.sent))
        return all(any(i.epochs for i in s.live[t].islands) for t in tids)

    wait_until("an epoch of every task", every_task_had_a_turn, market.procs, 120)
    assert max(in_flight) == 1  # one slot: one epoch out, never one per task


def test_a_commit_mined_after_the_deadline_is_abandoned(market: Market) -> None:
    """Estimated while the window was open, mined after it closed: the transaction reverts,
    nothing is committed and no bond is taken; the commitment is abandoned, not retried."""
    requester, solver, evaluator = market.chain.accounts[36:39]
    s = market.scheduler(solver)
    tid = market.create(requester, evaluator.address, SLOW, 600)
    deadline = s.market.get_task(tid).commit_deadline
    pop = bisuna.Population(parse_spec(json.dumps(SLOW)).to_dict(), 3)
    pop.evolve(1)
    agent = pop.best().to_bytes()
    ch = market.chain
    sent = ch.w3.eth.get_transaction_count(solver.address)
    outcome: list[bool] = []
    ch.rpc("evm_setAutomine", [False])
    try:
        committer = threading.Thread(
            target=lambda: outcome.append(s.commit(tid, Candidate(agent, 1000, 0), ETHER // 10))
        )
        committer.start()
        wait_until(
            "the commit in the mempool",
            lambda: ch.w3.eth.get_transaction_count(solver.address, "pending") > sent,
            market.procs,
            30,
        )
        ch.rpc("evm_setNextBlockTimestamp", [deadline + 1])
        ch.rpc("evm_mine", [])
        committer.join(timeout=60)
    finally:
        ch.rpc("evm_setAutomine", [True])
    assert outcome == [False]
    [row] = s.store.all_for(tid)
    assert row.state is RevealState.ABANDONED
    assert s.market.solution_count(tid) == 0


def test_reveals_go_out_the_task_whose_reveal_window_closes_first_first(market: Market) -> None:
    """Task `early` was created first but gives 600 s to reveal; task `late` closes its reveal
    window 10 s after its commits: with both due in one settle pass, late's reveals go first."""
    from services.common.chain import SolutionRevealed

    requester, solver, evaluator = market.chain.accounts[23:26]
    s = market.scheduler(solver)
    # Both in blocks of the same second, so both commit windows close together. Were late's to
    # close even 1 s after early's, a reveal pass at early's deadline would send early's two
    # reveals before late's window opens, leaving late's 10 s too little for three reveals at
    # 3 s each: the scheduler rightly declines late's second commitment (a slow machine took
    # more than a second between the two creates about one run in three).
    at = market.chain.next_time() + 1
    early = market.create(requester, evaluator.address, SLOW, 3600, reveal_seconds=600, at=at)
    late = market.create(requester, evaluator.address, SLOW, 3600, reveal_seconds=10, at=at)
    assert s.market.get_task(early).commit_deadline == s.market.get_task(late).commit_deadline
    pop = bisuna.Population(parse_spec(json.dumps(SLOW)).to_dict(), 5)
    pop.evolve(2)
    agents = [a.to_bytes() for a in pop.export_best(4)]
    for tid in (early, late):
        announce(s, tid)
    s._take_on()
    for k, tid in enumerate((early, late)):
        for j in range(2):
            s.live[tid].best = Candidate(agents[2 * k + j], 1000 * (j + 1), 0)
            s._maybe_commit(s.live[tid])
    assert [s.market.commit_count(t, solver.address) for t in (early, late)] == [2, 2]
    first_block = market.chain.block_number()
    market.chain.travel_to(max(s.market.get_task(t).commit_deadline for t in (early, late)))
    _turn(s, market.procs)
    s.settle_step()
    order = [
        e.event.task_id
        for e in s.market.get_events(first_block)
        if isinstance(e.event, SolutionRevealed)
    ]
    assert order == [late, late, early, early]


def test_an_island_carries_its_whole_population(redis_url: str, redis_prefix: str) -> None:
    from services.scheduler.tasks import run_epoch

    store = PrivateAgents(redis.Redis.from_url(redis_url), redis_prefix + "p", 60)
    spec = parse_spec(json.dumps(SLOW))
    first = run_epoch(spec, 1, 3, [], 2, carry=store)
    population = [store.get(d) for d in first["population"]]
    assert len(population) == spec.budget.population  # everyone, not only elites
    assert bytes.fromhex(first["best"][0]) == population[0]  # best first
    # The next epoch starts from them: after one generation most of them are still there
    # (survivors), where a fresh population of the same seed shares none.
    again = run_epoch(spec, 2, 1, population, 2, carry=store)
    fresh = run_epoch(spec, 2, 1, [], 2, carry=store)
    back = {store.get(d) for d in again["population"]}
    assert len(back & set(population)) > len(population) // 2
    assert not {store.get(d) for d in fresh["population"]} & set(population)
