"""Commit-to-reveal recovery: whatever point a scheduler died at, its successor finishes the job
from the durable store and the chain (intent never sent, sent but not recorded, recorded)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import redis

import bisuna
from services.common.chain import Deployment, Marketplace, SolutionCommitted
from services.common.content import LocalContentStore, cid_of
from services.common.node import Node
from services.common.spec import parse_spec
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealState, RevealStore
from services.scheduler.service import Scheduler
from tests.fixtures.chain import ETHER, Chain, open_task

SPEC = {"schema": "edgemarket/task@1", "scorer": "bisuna-core/1", "env": {"name": "cipher"}}


def test_successor_commits_and_reveals_what_a_dead_scheduler_left(
    chain: Chain,
    marketplace_deployment: Deployment,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    requester, solver, evaluator = chain.accounts[36:39]
    node = Node(
        Marketplace.from_deployment(chain.w3, marketplace_deployment, solver),
        marketplace_deployment,
        solver,
    )
    settings = SolverSettings(redis_url=redis_url, queue=redis_prefix + "q")
    content = LocalContentStore(tmp_path / "content")
    task = open_task(
        chain,
        Marketplace.from_deployment(chain.w3, marketplace_deployment, requester),
        evaluators=[evaluator.address],
    )
    pop = bisuna.Population(parse_spec(json.dumps(SPEC)).to_dict(), 3)
    pop.evolve(2)
    agents = [a.to_bytes() for a in pop.export_best(3)]

    def successor(in_flight: set[bytes] | None = None) -> Scheduler:
        store = RevealStore(tmp_path / "state.sqlite")
        private = PrivateAgents(redis.Redis.from_url(redis_url), redis_prefix + "p", 60)
        return Scheduler(settings, node, store, content, make_app(settings), private, in_flight)

    m = node.market
    tid = task.task_id
    # (1) died after recording its intent, before sending the commit;
    s1, salt1 = successor(), os.urandom(32)
    c1 = m.commitment_for(tid, agents[0], 10, salt1)
    s1.store.record_commit_intent(tid, c1, agents[0], salt1, 10)
    # (2) died after the commit was mined, before recording the solution id;
    salt2 = os.urandom(32)
    c2 = m.commitment_for(tid, agents[1], 20, salt2)
    s1.store.record_commit_intent(tid, c2, agents[1], salt2, 20)
    m.commit_solution(tid, c2)
    # (3) died with everything recorded.
    salt3 = os.urandom(32)
    c3 = m.commitment_for(tid, agents[2], 30, salt3)
    s1.store.record_commit_intent(tid, c3, agents[2], salt3, 30)
    sid3 = m.commit_solution(tid, c3).event(SolutionCommitted).solution_id
    s1.store.mark(c3, RevealState.COMMITTED, sid3)
    s1.store.close()

    # A commit this very process is sending is not a leftover: the settle loop keeps off it.
    busy = successor(in_flight={c1})
    busy.reveal_due()
    assert m.solution_count(tid) == 2
    s2 = successor()
    s2.reveal_due()  # commit phase: sends (1), finds (2), reveals nothing yet
    assert m.solution_count(tid) == 3
    assert {p.state for p in s2.store.pending(tid)} == {RevealState.COMMITTED}
    assert not any(m.get_solution(tid, i).revealed for i in range(3))
    assert not (tmp_path / "content").exists() or not any((tmp_path / "content").rglob("*"))

    chain.travel_to(task.commit_deadline)
    s3 = successor()
    s3.reveal_due()
    assert all(m.get_solution(tid, i).revealed for i in range(3))
    assert s3.store.pending(tid) == []
    for agent in agents:
        assert content.get(cid_of(agent)) == agent
    s3.reveal_due()  # nothing left: idempotent
    credit = m.credits(solver.address)
    assert credit == 3 * (ETHER // 10)  # all three bonds back


def test_select_rescores_champions_on_one_validation_draw(
    chain: Chain,
    marketplace_deployment: Deployment,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    from services.common.scoring import score_agent
    from services.scheduler.islands import Candidate

    solver = chain.accounts[37]
    node = Node(
        Marketplace.from_deployment(chain.w3, marketplace_deployment, solver),
        marketplace_deployment,
        solver,
    )
    settings = SolverSettings(redis_url=redis_url, queue=redis_prefix + "q")
    private = PrivateAgents(redis.Redis.from_url(redis_url), redis_prefix + "p", 60)
    scheduler = Scheduler(
        settings, node, RevealStore(tmp_path / "s.sqlite"), LocalContentStore(tmp_path / "c"),
        make_app(settings), private,
    )  # fmt: skip
    spec = parse_spec(json.dumps({**SPEC, "eval": {"samples": 128}}))
    pop = bisuna.Population(spec.to_dict(), 8)
    pop.evolve(6)
    real = [a.to_bytes() for a in pop.export_best(4)]
    # Training fitness says the garbage is best; validation scoring knows better.
    finalists = [Candidate(b"garbage", 1_000_000, 0)] + [
        Candidate(a, 10, i) for i, a in enumerate(real)
    ]
    chosen = scheduler.select(1, spec, finalists)
    assert chosen is not None and chosen.agent in real
    assert chosen.fitness == max(
        score_agent(a, spec, _validation_seed(scheduler)).score for a in real
    )
    assert scheduler.select(1, spec, []) is None


def _validation_seed(s: Scheduler) -> bytes:
    import hashlib

    from services.scheduler.islands import island_seed

    return hashlib.sha256(
        b"edgemarket/validation" + island_seed(s.market.chain_id, s.market.address, 1, s.me, -1)
    ).digest()
