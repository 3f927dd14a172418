"""Evaluators on a real anvil with the real core: honest quorum, garbage agents, inflated claims,
copiers, a lying evaluator outvoted and named by the audit, idempotent attestation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account.signers.local import LocalAccount

import bisuna
from services.common import chain as c
from services.common.audit import audit_task
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.node import Node
from services.common.scoring import Verdict, score_agent
from services.common.spec import TaskSpec, parse_spec
from services.evaluator.service import Evaluator, ScoreFn
from services.requester import create_task
from tests.fixtures.chain import ETHER, Chain, commit_agent, reveal, seal

SPEC = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 256},
    "budget": {"population": 16, "generations": 30, "islands": 2, "epoch_generations": 10},
}
ROOT = Path(__file__).resolve().parents[2]


def node_for(chain: Chain, deployment: Deployment, account: LocalAccount) -> Node:
    return Node(Marketplace.from_deployment(chain.w3, deployment, account), deployment, account)


def agents(spec: TaskSpec) -> tuple[bytes, bytes]:
    """A good agent (30 generations) and a weak one (the worst survivor after one)."""
    strong = bisuna.Population(spec.to_dict(), 11)
    strong.evolve(30)
    weak = bisuna.Population(spec.to_dict(), 12)
    weak.evolve(1)
    return strong.best().to_bytes(), weak.export_best(8)[-1].to_bytes()


def lying(agent: bytes, spec: TaskSpec, seed: bytes) -> Verdict:
    honest = score_agent(agent, spec, seed).score
    return Verdict(999_999 if honest != 999_999 else 1)


def test_quorum_garbage_inflation_copier_and_a_lying_evaluator(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    requester, solver, inflator, garbler, copier, e1, e2, e3 = chain.accounts[20:28]
    content = LocalContentStore(tmp_path / "content")
    spec = parse_spec(json.dumps(SPEC))
    strong, weak = agents(spec)

    created = create_task(
        node_for(chain, marketplace_deployment, requester),
        content,
        spec,
        bounty=ETHER,
        evaluators=[e1.address, e2.address, e3.address],
        quorum=2,
        commit_seconds=100,
        reveal_seconds=100,
        eval_window=300,
        commit_bond=ETHER // 10,
        evaluator_fee=ETHER // 100,
    )
    tid = created.task_id
    m = {
        a.address: Marketplace.from_deployment(chain.w3, marketplace_deployment, a)
        for a in chain.accounts[20:28]
    }
    honest = commit_agent(m[solver.address], tid, strong, 300_000)
    inflated = commit_agent(m[inflator.address], tid, weak, 1_000_000)
    garbage = commit_agent(m[garbler.address], tid, b"not an agent at all", 1_000_000)
    copy_slot = commit_agent(m[copier.address], tid, os.urandom(64), 5)

    chain.travel_to(created.commit_deadline)
    for commit, owner in ((honest, solver), (inflated, inflator), (garbage, garbler)):
        reveal(m[owner.address], commit)
    # A copier, having seen the honest reveal, cannot claim it: not with its own commitment
    # (the solver's address is in it) and not in the solver's slot.
    with pytest.raises(c.CommitmentMismatch):
        m[copier.address].reveal_solution(
            tid, copy_slot.solution_id, strong, honest.claimed_score, honest.salt
        )
    with pytest.raises((c.NotSolver, c.AlreadyRevealed)):
        m[copier.address].reveal_solution(
            tid, honest.solution_id, strong, honest.claimed_score, honest.salt
        )

    chain.travel_to(created.reveal_deadline)
    eval_seed = seal(chain, m[requester.address], tid)

    def evaluator(acct: LocalAccount, score: ScoreFn = score_agent) -> Evaluator:
        return Evaluator(node_for(chain, marketplace_deployment, acct), content, score=score)

    liar = evaluator(e3, lying)
    assert liar.attest_task(tid) == 3  # the liar goes first...
    assert evaluator(e1).attest_task(tid) == 3
    assert evaluator(e2).attest_task(tid) == 3  # ...and is outvoted by the honest quorum
    assert evaluator(e1).attest_task(tid) == 0  # a replay sends nothing
    nonce = chain.w3.eth.get_transaction_count(e1.address)
    assert (
        evaluator(e1).attest_task(tid) == 0
        and chain.w3.eth.get_transaction_count(e1.address) == nonce
    )

    truth = {
        honest.solution_id: score_agent(strong, spec, eval_seed).score,
        inflated.solution_id: score_agent(weak, spec, eval_seed).score,
        garbage.solution_id: 0,
    }
    assert truth[honest.solution_id] > truth[inflated.solution_id]
    for sid, score in truth.items():
        sol = m[requester.address].get_solution(tid, sid)
        assert sol.verified and sol.score == score
        assert m[requester.address].attestation(tid, sid, e3.address) != score
    task = m[requester.address].get_task(tid)
    assert task.has_best and task.best_solution_id == honest.solution_id

    chain.travel_to(created.reveal_deadline + 300)
    fin = m[requester.address].finalize(tid).event(c.TaskFinalized)
    assert (fin.winner, fin.solution_id, fin.payout) == (solver.address, honest.solution_id, ETHER)

    # The audit, from the chain and the content store alone, agrees with the honest quorum
    # and names the liar.
    report = audit_task(
        m[requester.address], content, tid, from_block=marketplace_deployment.block_number
    )
    assert report.eval_seed_recomputed == eval_seed
    assert set(report.liars) == {e3.address}
    assert report.liars[e3.address] == sorted(truth)
    assert {s.solution_id: s.recomputed for s in report.solutions} == truth
    assert report.expected_winner == (solver.address, honest.solution_id, truth[honest.solution_id])
    assert not report.ok and all(e3.address in p for p in report.problems)

    deployment_file = marketplace_deployment.save(tmp_path / "deployments")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")},
        "EDGEMARKET_RPC_URL": chain.url,
        "EDGEMARKET_DEPLOYMENT_FILE": str(deployment_file),
        "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
    }
    out = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "audit", str(tid)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"lying evaluator {e3.address}" in out.stdout.replace("\n", "")
