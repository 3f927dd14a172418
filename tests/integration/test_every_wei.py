"""Contract v2's credit events through the real indexer, projector and API: every wei the
contract credits shows up in GET /tasks/{id}/credits, and each solution says where its bond is."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import redis
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.common.chain import Deployment, Marketplace
from services.common.settings import Settings
from services.common.streams import StreamConsumer
from services.projector.service import Projector, make_engine, migrate
from tests.fixtures.chain import ETHER, Chain, commit_agent, open_task, reveal, seal
from tests.integration.test_indexer import drain, make_indexer

BOND, FEE = ETHER // 10, ETHER // 100


def test_every_credited_wei_reaches_the_api(
    chain: Chain,
    marketplace: Marketplace,
    marketplace_deployment: Deployment,
    redis_url: str,
    redis_prefix: str,
    sqlite_url: str,
    tmp_path: Path,
    clean_env: None,
) -> None:
    mp = marketplace
    creator, solver, e1, e2, e3 = chain.accounts[1:6]
    evs = [e1.address, e2.address, e3.address]
    as_ = {a.address: mp.with_signer(a) for a in chain.accounts[1:6]}

    # Won: a winner, a junk agent verified at 0 (its bond split between e1 and e2), one the
    # evaluators split on (never verified: reclaimed), one never revealed (to the creator);
    # e3 attests only the winner, so its fee goes back to the creator too.
    won = open_task(chain, as_[creator.address], evaluators=evs, quorum=2)
    best = commit_agent(as_[solver.address], won.task_id, os.urandom(90), 700_000)
    junk = commit_agent(as_[solver.address], won.task_id, os.urandom(80), 900_000)
    split = commit_agent(as_[solver.address], won.task_id, os.urandom(70), 5)
    commit_agent(as_[solver.address], won.task_id, os.urandom(60), 1)
    # Nobody won: its only agent is verified at 0, so the bounty goes back.
    lost = open_task(chain, as_[creator.address], evaluators=evs[:1])
    zero = commit_agent(as_[solver.address], lost.task_id, os.urandom(50), 10)
    chain.travel_to(max(won.commit_deadline, lost.commit_deadline))
    for commit in (best, junk, split, zero):
        reveal(as_[solver.address], commit)
    chain.travel_to(max(won.reveal_deadline, lost.reveal_deadline))
    seal(chain, mp, won.task_id)
    seal(chain, mp, lost.task_id)
    ids = [best.solution_id, junk.solution_id, split.solution_id]
    as_[e1.address].attest_scores(won.task_id, ids, [700_000, 0, 5])
    as_[e2.address].attest_scores(won.task_id, ids, [700_000, 0, 6])
    as_[e3.address].attest_score(won.task_id, best.solution_id, 700_000)
    as_[e1.address].attest_score(lost.task_id, zero.solution_id, 0)
    chain.travel_to(max(won.eval_deadline, lost.eval_deadline))
    mp.finalize(won.task_id)
    mp.finalize(lost.task_id)
    mp.reclaim_bonds(won.task_id, solver.address)
    as_[solver.address].withdraw()

    client = redis.Redis.from_url(redis_url)
    stream = redis_prefix + "events"
    drain(
        make_indexer(
            chain.url, client, stream, marketplace_deployment.address,
            marketplace_deployment.block_number,
        )
    )  # fmt: skip
    engine = make_engine(sqlite_url)
    migrate(engine)
    projector = Projector(engine, stream)
    consumer = StreamConsumer(client, stream, "projector", "projector")
    consumer.ensure_group()
    while deliveries := consumer.read(count=100, block_ms=None):
        projector.apply(deliveries)
        consumer.ack([d.entry_id for d in deliveries])
    engine.dispose()

    app = create_app(Settings(database_url=sqlite_url, content_store=f"file:{tmp_path}/c"))
    with TestClient(app) as api:
        got = {t: api.get(f"/tasks/{t}/credits").json() for t in (won.task_id, lost.task_id)}
        board = api.get(f"/tasks/{won.task_id}/leaderboard").json()
        assert api.get("/tasks/999/credits").status_code == 404

    assert got[won.task_id]["total_wei"] == {
        "bounty": str(ETHER),
        "bond": str(2 * BOND),  # the winner's at verification, the split one reclaimed
        "fee": str(2 * FEE),
        "forfeit": str(BOND),
        "refund": str(BOND + FEE),  # the unrevealed commit's bond, e3's unearned fee
    }
    assert got[lost.task_id]["total_wei"] == {
        "fee": str(FEE),
        "forfeit": str(BOND),
        "refund": str(ETHER),  # the unwon bounty
    }
    forfeits = [c for c in got[won.task_id]["credits"] if c["reason"] == "forfeit"]
    assert sorted(c["account"] for c in forfeits) == sorted(a.lower() for a in evs[:2])
    bonds = {e["solution_id"]: e["bond"] for e in board["entries"]}
    assert bonds == {
        best.solution_id: "returned",
        junk.solution_id: "forfeited",
        split.solution_id: "returned",
        split.solution_id + 1: "forfeited",
    }
    # The API's credits, less withdrawals, are each account's credits on chain.
    per_account: Counter[str] = Counter()
    for doc in got.values():
        for c in doc["credits"]:
            per_account[c["account"]] += int(c["amount_wei"])
    per_account[solver.address.lower()] -= ETHER + 2 * BOND  # withdrawn
    for account in (creator.address, solver.address, e1.address, e2.address, e3.address):
        assert per_account[account.lower()] == mp.credits(account), account
