"""Evaluators against contract v2 on a real anvil with the real core: a task finalized while
its agents were being scored, best-first batches, a process pool that hostile agents cannot
stall, invalid specs never attested."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.scoring import Verdict, score_agent
from services.common.spec import TaskSpec, parse_spec
from services.evaluator.service import Evaluator
from services.requester import create_task
from tests.fixtures.chain import ETHER, Chain, Commit, commit_agent, reveal, seal
from tests.integration.test_evaluator import SPEC, agents, node_for


@dataclass
class Revealed:
    """A sealed task with revealed solutions, and who is who."""

    task_id: int
    eval_deadline: int
    commits: list[Commit]
    requester: Marketplace
    evaluators: list[LocalAccount]
    content: LocalContentStore
    eval_seed: bytes


def revealed_task(
    chain: Chain,
    deployment: Deployment,
    tmp_path: Path,
    entries: list[tuple[bytes, int]],
    *,
    spec: TaskSpec | bytes | None = None,
    evaluators: int = 1,
    eval_window: int = 300,
) -> Revealed:
    """A task with one reveal per (agent, claimed score), each by its own solver, sealed."""
    requester, *rest = chain.accounts[10:]
    evs, solvers = rest[:evaluators], rest[evaluators : evaluators + len(entries)]
    content = LocalContentStore(tmp_path / "content")
    if spec is None:
        spec = parse_spec(json.dumps(SPEC))
    if isinstance(spec, bytes):
        # A spec our tools refuse (created by bypassing them): straight to the store and chain.
        cid = content.put(spec)
        req = Marketplace.from_deployment(chain.w3, deployment, requester)
        now = chain.now()
        created_tx = req.create_task(
            spec_digest=c.agent_digest(spec),
            commit_deadline=now + 100,
            reveal_deadline=now + 200,
            eval_window=eval_window,
            evaluators=[e.address for e in evs],
            quorum=evaluators // 2 + 1,
            min_score=0,
            commit_bond=ETHER // 10,
            evaluator_fee=ETHER // 100,
            bounty=ETHER,
        )
        assert cid  # the store names it by the same digest
        tid = created_tx.event(c.TaskCreated).task_id
        commit_deadline, reveal_deadline = now + 100, now + 200
    else:
        created = create_task(
            node_for(chain, deployment, requester),
            content,
            spec,
            bounty=ETHER,
            evaluators=[e.address for e in evs],
            commit_seconds=100,
            reveal_seconds=100,
            eval_window=eval_window,
            commit_bond=ETHER // 10,
            evaluator_fee=ETHER // 100,
        )
        tid, commit_deadline = created.task_id, created.commit_deadline
        reveal_deadline = created.reveal_deadline
    commits = []
    for (agent, claim), solver in zip(entries, solvers, strict=True):
        commits.append(
            commit_agent(
                Marketplace.from_deployment(chain.w3, deployment, solver), tid, agent, claim
            )
        )
    chain.travel_to(commit_deadline)
    for commit, solver in zip(commits, solvers, strict=True):
        reveal(Marketplace.from_deployment(chain.w3, deployment, solver), commit)
    chain.travel_to(reveal_deadline)
    req = Marketplace.from_deployment(chain.w3, deployment, requester)
    eval_seed = seal(chain, req, tid)
    return Revealed(tid, reveal_deadline + eval_window, commits, req, list(evs), content, eval_seed)


def test_a_task_finalized_while_its_agents_are_scored_is_left_alone(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    """Scoring outlasts the window and someone finalizes meanwhile: the attestation meets
    TaskNotOpen. The evaluator logs it and moves on (no exception, so no retry loop)."""
    strong, _ = agents(parse_spec(json.dumps(SPEC)))
    task = revealed_task(chain, marketplace_deployment, tmp_path, [(strong, 1)])

    def slow_then_finalized(agent: bytes, spec: TaskSpec, seed: bytes) -> Verdict:
        chain.travel_to(task.eval_deadline)
        task.requester.finalize(task.task_id)
        return score_agent(agent, spec, seed)

    node = node_for(chain, marketplace_deployment, task.evaluators[0])
    evaluator = Evaluator(node, task.content, score=slow_then_finalized)
    assert evaluator.attest_task(task.task_id) == 0
    assert task.requester.get_task(task.task_id).state is c.OnChainTaskState.FINALIZED
    assert not task.requester.has_attested(
        task.task_id, task.commits[0].solution_id, task.evaluators[0].address
    )


def test_best_claim_first_and_one_attest_scores_for_the_lot(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    spec = parse_spec(json.dumps(SPEC))
    strong, weak = agents(spec)
    entries = [
        (weak, 10),
        (b"garbage", 999_999),
        (strong, 500_000),
        (b"junk!", 999_999),
        (weak, 500_000),
    ]
    task = revealed_task(chain, marketplace_deployment, tmp_path, entries)
    order: list[bytes] = []

    def recording(agent: bytes, spec: TaskSpec, seed: bytes) -> Verdict:
        order.append(agent)
        return score_agent(agent, spec, seed)

    me = task.evaluators[0]
    node = node_for(chain, marketplace_deployment, me)
    nonce = chain.w3.eth.get_transaction_count(me.address)
    assert Evaluator(node, task.content, score=recording).attest_task(task.task_id) == 5
    # The contract's order on the claims: higher claim, then smaller agent, then lower id.
    ranked = sorted(enumerate(entries), key=lambda e: (-e[1][1], len(e[1][0]), e[0]))
    assert order == [agent for _, (agent, _) in ranked]
    assert order[:2] == [b"junk!", b"garbage"] and order[-1] == weak
    assert chain.w3.eth.get_transaction_count(me.address) == nonce + 1  # one attestScores
    zeros = 0
    for commit in task.commits:
        sol = task.requester.get_solution(task.task_id, commit.solution_id)
        assert sol.verified and sol.score == score_agent(commit.agent, spec, task.eval_seed).score
        zeros += sol.score == 0
    # Quorum 1: the bonds of the agents verified at 0 (the junk at least) went to this evaluator.
    assert zeros >= 2 and task.requester.credits(me.address) == zeros * (ETHER // 10)


def stall_on_slow(agent: bytes, spec: TaskSpec, seed: bytes) -> Verdict:
    """A stand-in for an agent that runs for hours: only killing its process ends it."""
    if agent.startswith(b"SLOW"):
        threading.Event().wait()
    return score_agent(agent, spec, seed)


def test_agents_that_never_finish_cost_workers_not_the_honest_attestation(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    """Two workers, two agents that never finish: the honest and the garbage agent are
    attested, the never-finishing ones are dropped when the window closes (their processes
    killed), and attest_task returns."""
    spec = parse_spec(json.dumps(SPEC))
    strong, _ = agents(spec)
    slow = [b"SLOW" + bytes([i]) * 400 for i in range(2)]  # bigger: ranked after the honest
    entries = [
        (slow[0], 1_000_000),
        (b"garbage", 1_000_000),
        (strong, 1_000_000),
        (slow[1], 1_000_000),
    ]
    task = revealed_task(chain, marketplace_deployment, tmp_path, entries, eval_window=60)
    chain.travel_to(task.eval_deadline - 30)
    me = task.evaluators[0]
    evaluator = Evaluator(
        node_for(chain, marketplace_deployment, me),
        task.content,
        score=stall_on_slow,
        workers=2,
        margin=15,  # so the window, for this evaluator, closes 15 s from now
    )
    try:
        evaluator.pool.warm(stall_on_slow)
        assert evaluator.attest_task(task.task_id) == 2
        assert evaluator.pool._pool is None  # killed with the agents it was running
    finally:
        evaluator.close()
    attested = {
        c_.agent: task.requester.has_attested(task.task_id, c_.solution_id, me.address)
        for c_ in task.commits
    }
    assert attested == {slow[0]: False, b"garbage": True, strong: True, slow[1]: False}


def test_a_task_whose_spec_our_tools_refuse_is_not_attested_and_bonds_come_back(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    strong, _ = agents(parse_spec(json.dumps(SPEC)))
    task = revealed_task(
        chain, marketplace_deployment, tmp_path, [(strong, 1)], spec=b'{"schema": "nope"}'
    )
    me = task.evaluators[0]
    evaluator = Evaluator(node_for(chain, marketplace_deployment, me), task.content)
    assert evaluator.attest_task(task.task_id) == 0
    commit = task.commits[0]
    assert not task.requester.has_attested(task.task_id, commit.solution_id, me.address)
    chain.travel_to(task.eval_deadline)
    task.requester.finalize(task.task_id)
    solver = task.requester.get_solution(task.task_id, commit.solution_id).solver
    returned = task.requester.reclaim_bonds(task.task_id, solver).event(c.BondReturned)
    assert (returned.solver, returned.amount) == (solver, ETHER // 10)
