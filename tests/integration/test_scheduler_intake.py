"""The scheduler takes a task on once: a bad spec is rejected once with its reason (never
retried), a missing one stays pending for a bounded retry, a replay changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import redis
from eth_account.signers.local import LocalAccount

from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.content import ContentNotFoundError, LocalContentStore
from services.common.messages import Kind, Message
from services.common.node import Node
from services.scheduler.celery_app import make_app
from services.scheduler.config import SolverSettings
from services.scheduler.private_store import PrivateAgents
from services.scheduler.reveals import RevealStore, SolverTaskState
from services.scheduler.service import Scheduler
from tests.fixtures.chain import ETHER, Chain

GOOD = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher"},
}


def created_message(market: Marketplace, tx: c.TxResult) -> Message:
    ev = tx.event(c.TaskCreated)
    return Message(
        kind=Kind.TASK_CREATED,
        chain_id=31337,
        contract=market.address.lower(),
        block_number=tx.block_number,
        block_hash="0x" + "11" * 32,
        tx_hash="0x" + tx.tx_hash.hex(),
        log_index=0,
        args={
            "task_id": str(ev.task_id),
            "creator": ev.creator.lower(),
            "spec_digest": "0x" + ev.spec_digest.hex(),
            "bounty": str(ev.bounty),
            "commit_deadline": str(ev.commit_deadline),
            "reveal_deadline": str(ev.reveal_deadline),
            "eval_window": str(ev.eval_window),
            "evaluators": [e.lower() for e in ev.evaluators],
            "quorum": str(ev.quorum),
            "min_score": str(ev.min_score),
            "commit_bond": str(ev.commit_bond),
            "evaluator_fee": str(ev.evaluator_fee),
        },
    )


def test_intake(
    chain: Chain,
    marketplace_deployment: Deployment,
    redis_url: str,
    redis_prefix: str,
    tmp_path: Path,
) -> None:
    requester, solver, evaluator = chain.accounts[36:39]
    content = LocalContentStore(tmp_path / "content")
    settings = SolverSettings(redis_url=redis_url, queue=redis_prefix + "q")
    account: LocalAccount = solver
    node = Node(
        Marketplace.from_deployment(chain.w3, marketplace_deployment, account),
        marketplace_deployment,
        account,
    )
    store = RevealStore(tmp_path / "state.sqlite")
    private = PrivateAgents(redis.Redis.from_url(redis_url), redis_prefix + "private", 60)
    scheduler = Scheduler(settings, node, store, content, make_app(settings), private)
    req = Marketplace.from_deployment(chain.w3, marketplace_deployment, requester)

    def task_for(spec_bytes: bytes) -> Message:
        now = chain.now()
        tx = req.create_task(
            spec_digest=hashlib.sha256(spec_bytes).digest(),
            commit_deadline=now + 600,
            reveal_deadline=now + 900,
            eval_window=300,
            evaluators=[evaluator.address],
            quorum=1,
            min_score=0,
            commit_bond=0,
            evaluator_fee=0,
            bounty=ETHER,
        )
        return created_message(req, tx)

    # A spec that is not JSON: rejected once, with the reason; a replay is a no-op.
    bad = b"this is not a spec"
    content.put(bad)
    msg = task_for(bad)
    scheduler.on_task_created(msg)
    rec = store.task(1)
    assert rec is not None and rec.state is SolverTaskState.REJECTED and "not JSON" in rec.reason
    scheduler.on_task_created(msg)
    assert store.task(1) == rec

    # A spec of the wrong schema: rejected, saying which field.
    wrong = json.dumps({**GOOD, "schema": "other/thing@9"}).encode()
    content.put(wrong)
    scheduler.on_task_created(task_for(wrong))
    rec = store.task(2)
    assert rec is not None and rec.state is SolverTaskState.REJECTED and "schema" in rec.reason

    # A valid spec, but evaluators this solver does not trust, or too small a bounty.
    good = json.dumps(GOOD).encode()
    content.put(good)
    picky = Scheduler(
        settings.model_copy(update={"trusted_evaluators": [requester.address], "min_bounty": 0}),
        node, RevealStore(tmp_path / "picky.sqlite"), content, make_app(settings), private,
    )  # fmt: skip
    picky.on_task_created(task_for(good))
    rec = picky.store.task(3)
    assert rec is not None and rec.state is SolverTaskState.REJECTED and "not trusted" in rec.reason
    greedy = Scheduler(
        settings.model_copy(update={"min_bounty": 2 * ETHER}),
        node, RevealStore(tmp_path / "greedy.sqlite"), content, make_app(settings), private,
    )  # fmt: skip
    greedy.on_task_created(task_for(good))
    rec = greedy.store.task(4)
    assert rec is not None and rec.state is SolverTaskState.REJECTED and "below" in rec.reason

    # A spec nobody uploaded (yet): the handler raises so the stream retries, boundedly.
    missing = json.dumps({**GOOD, "title": "not uploaded"}).encode()
    msg = task_for(missing)
    with pytest.raises(ContentNotFoundError):
        scheduler.on_task_created(msg)
    assert store.task(5) is None
    content.put(missing)
    scheduler.on_task_created(msg)
    rec = store.task(5)
    assert rec is not None and rec.state is SolverTaskState.ACCEPTED
