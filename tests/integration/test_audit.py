"""The audit catches what the contract cannot: a colluding majority of evaluators that
verifies a wrong score and so pays the wrong solver."""

from __future__ import annotations

import json
from pathlib import Path

from services.common import chain as c
from services.common.audit import audit_task
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.scoring import Verdict, score_agent
from services.common.spec import TaskSpec, parse_spec
from services.evaluator.service import Evaluator
from tests.fixtures.chain import Chain, commit_agent, reveal, seal
from tests.integration.test_evaluator import SPEC, agents, node_for


def test_colluding_quorum_is_caught(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    requester, good_solver, friend, e1, e2, e3 = chain.accounts[20:26]
    content = LocalContentStore(tmp_path / "content")
    spec = parse_spec(json.dumps(SPEC))
    strong, weak = agents(spec)
    from services.requester import create_task

    created = create_task(
        node_for(chain, marketplace_deployment, requester), content, spec,
        bounty=10**18, evaluators=[e1.address, e2.address, e3.address], quorum=2,
        commit_seconds=100, reveal_seconds=100, eval_window=300,
    )  # fmt: skip
    tid = created.task_id
    m = {
        a.address: Marketplace.from_deployment(chain.w3, marketplace_deployment, a)
        for a in chain.accounts[20:26]
    }
    good = commit_agent(m[good_solver.address], tid, strong, 1)
    friends = commit_agent(m[friend.address], tid, weak, 1)
    chain.travel_to(created.commit_deadline)
    reveal(m[good_solver.address], good)
    reveal(m[friend.address], friends)
    chain.travel_to(created.reveal_deadline)
    seed = seal(chain, m[requester.address], tid)
    friend_digest = (
        Marketplace.from_deployment(chain.w3, marketplace_deployment)
        .get_solution(tid, friends.solution_id)
        .agent_digest
    )

    def colluding(agent: bytes, s: TaskSpec, eval_seed: bytes) -> Verdict:
        # Two evaluators favour the friend's agent and bury the honest one.
        return Verdict(1_000_000 if c.agent_digest(agent) == friend_digest else 0)

    for acct, score in ((e1, colluding), (e2, colluding), (e3, score_agent)):
        Evaluator(node_for(chain, marketplace_deployment, acct), content, score=score).attest_task(
            tid
        )
    chain.travel_to(created.reveal_deadline + 300)
    paid = m[requester.address].finalize(tid).event(c.TaskFinalized)
    assert paid.winner == friend.address  # the contract follows its quorum...

    report = audit_task(
        m[requester.address], content, tid, from_block=marketplace_deployment.block_number
    )
    truth = score_agent(strong, spec, seed).score
    assert truth > score_agent(weak, spec, seed).score
    assert not report.ok  # ...the audit does not
    assert set(report.liars) == {e1.address, e2.address}
    assert report.expected_winner is not None and report.expected_winner[0] == friend.address
    text = "\n".join(report.problems)
    assert f"solution {good.solution_id} was verified at 0, but scores {truth}" in text
    assert f"solution {friends.solution_id} was verified at 1000000" in text
    assert report.honest_winner == (good_solver.address, good.solution_id, truth)
    assert f"solution {good.solution_id} of {good_solver.address} ({truth}) should have won" in text
