"""Issue 11's end-to-end check, as real processes on a real anvil under the demo's windows
(commit 45 s, reveal 20 s, evaluation 60 s): three hostile reveals, each claiming a perfect
score, and one honest perfect agent. The indexer, the keeper and three evaluators (quorum 2)
run as services. The honest agent is verified and paid; the hostile agents are verified at 0
and their bonds go to the evaluators who scored them."""

from __future__ import annotations

import json

from eth_account.signers.local import LocalAccount

import bisuna
from bisuna.agent import Connection, Network
from services.cli.up import DEMO_SPEC
from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.spec import parse_spec
from tests.fixtures.chain import ETHER, Chain, commit_agent, reveal
from tests.integration.test_market_e2e import Procs, node_for, procs, wait_until

__all__ = ["procs"]  # the fixture, imported for this module's test

# The demo's windows and limits, but the one-word xor cipher: there a wire from input to output
# is a perfect pad, so the honest agent below is perfect by construction.
SPEC = {
    **DEMO_SPEC,
    "scorer": "bisuna-core/2",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "title": "hostile e2e",
}
BOND, FEE = 10**16, 10**15  # the demo's


def fuel_burner(length: int, hidden: int) -> bytes:
    """Legal at the demo limits, but over bisuna-core/2's fuel ceiling: a random source drives
    a chain of threshold neurons to the output, and every other hidden neuron, fed by the
    input and the chain's tail, feeds the input back."""
    src, first = 2, 3
    tail = first + length - 1
    conns = [Connection(0, src), Connection(src, first), Connection(tail, 1)]
    conns += [Connection(first + k, first + k + 1) for k in range(length - 1)]
    for h in range(first + length, first + hidden):
        conns += [Connection(0, h, 1), Connection(tail, h, 1), Connection(h, 0, 1)]
    kinds = (("random", 1),) + (("threshold", 1),) * hidden
    net = Network(1, 1, kinds, tuple(conns))
    return bisuna.Agent.from_networks([net, net]).to_bytes()


def test_three_hostile_reveals_and_an_honest_perfect_agent(
    chain: Chain, marketplace_deployment: Deployment, procs: Procs, tmp_path: object
) -> None:
    accounts = chain.accounts[30:39]
    requester, keeper, e1, e2, e3, honest, *hostile = accounts
    evaluators: list[LocalAccount] = [e1, e2, e3]
    spec = parse_spec(json.dumps(SPEC))
    perfect = bisuna.Agent.from_networks([Network(1, 1, (), (Connection(0, 1),))] * 2).to_bytes()
    junk = [fuel_burner(128, 253), fuel_burner(64, 253), b"\x00garbage, not an agent" * 8]
    limits = spec.to_dict()["limits"]
    for agent in junk[:2]:  # legal, so only fuel stops them
        assert bisuna.Agent.from_bytes(agent, limits=limits).neuron_count <= 2 * 256

    procs.start("indexer", "run", "indexer")
    procs.start("keeper", "run", "keeper", key=keeper)
    for i, e in enumerate(evaluators, 1):
        procs.start(f"evaluator-{i}", "run", "evaluator", key=e)

    def evaluators_up() -> bool:  # scoring workers warm: as in the demo, up before the task
        logs = [procs.logs / f"evaluator-{i}.log" for i in range(1, 4)]
        return all(p.exists() and "evaluator up" in p.read_text() for p in logs)

    wait_until("the evaluators", evaluators_up, procs, 180)

    from services.requester import create_task

    content = LocalContentStore(procs.env["EDGEMARKET_CONTENT_STORE"].removeprefix("file:"))
    created = create_task(
        node_for(chain, marketplace_deployment, requester),
        content,
        spec,
        bounty=ETHER,
        evaluators=[e.address for e in evaluators],
        quorum=2,
        commit_seconds=45,
        reveal_seconds=20,
        eval_window=60,
        commit_bond=BOND,
        evaluator_fee=FEE,
    )
    tid = created.task_id
    as_ = {
        a.address: Marketplace.from_deployment(chain.w3, marketplace_deployment, a)
        for a in accounts
    }
    commits = [commit_agent(as_[honest.address], tid, perfect, 1_000_000)]
    commits += [
        commit_agent(as_[s.address], tid, agent, 1_000_000)
        for s, agent in zip(hostile, junk, strict=True)
    ]
    chain.travel_to(created.commit_deadline)
    for commit, solver in zip(commits, [honest, *hostile], strict=True):
        reveal(as_[solver.address], commit)
    chain.travel_to(created.reveal_deadline)

    market = as_[requester.address]

    # The keeper seals the seed once the seed block is mined: mine it, and only it (every
    # block moves the chain's clock on by at least a second).
    def mine_the_seed_block() -> None:
        seed_block = market.get_task(tid).seed_block
        if seed_block and chain.block_number() < seed_block:
            chain.mine(1)

    wait_until(
        "sealSeed", lambda: market.get_task(tid).seed_sealed, procs, 60, tick=mine_the_seed_block
    )
    # Attestations after the 60 s window revert (EvaluationClosed): verified means in time.
    wait_until(
        "every solution verified",
        lambda: all(market.get_solution(tid, x.solution_id).verified for x in commits),
        procs,
        120,
    )
    scores = [market.get_solution(tid, x.solution_id).score for x in commits]
    assert scores == [1_000_000, 0, 0, 0]

    chain.travel_to(created.reveal_deadline + 60)
    wait_until(
        "finalize", lambda: market.get_task(tid).state == c.OnChainTaskState.FINALIZED, procs, 60
    )
    events = [e.event for e in market.get_events(marketplace_deployment.block_number)]
    fin = next(e for e in events if isinstance(e, c.TaskFinalized) and e.task_id == tid)
    assert (fin.winner, fin.solution_id, fin.payout) == (honest.address, 0, ETHER)
    returned = [e for e in events if isinstance(e, c.BondReturned) and e.task_id == tid]
    assert [(e.solver, e.amount) for e in returned] == [(honest.address, BOND)]
    forfeited = [e for e in events if isinstance(e, c.BondForfeited) and e.task_id == tid]
    assert sorted(e.solution_id for e in forfeited) == [1, 2, 3]
    shares = [e for e in events if isinstance(e, c.ForfeitShareCredited) and e.task_id == tid]
    assert {e.evaluator for e in shares} <= {e.address for e in evaluators}
    assert sum(e.amount for e in shares) == 3 * BOND  # every junk wei to the evaluators
    fees = [e for e in events if isinstance(e, c.FeeCredited) and e.task_id == tid]
    assert sorted(e.evaluator for e in fees) == sorted(e.address for e in evaluators)
    # The evaluators take their fees and forfeit shares home once the task is finalized.
    wait_until(
        "the evaluators' withdrawals",
        lambda: all(market.credits(e.address) == 0 for e in evaluators),
        procs,
        60,
    )
    logs = "".join((procs.logs / f"evaluator-{i}.log").read_text() for i in range(1, 4))
    assert logs.count("agent ran out of fuel") >= 2 * 3  # two burners, three evaluators
