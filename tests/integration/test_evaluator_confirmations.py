"""Evaluators act only on confirmed, canonical messages."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from services.common import chain as c
from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.process import Stopped
from services.common.spec import parse_spec
from services.evaluator.service import Evaluator
from services.requester import create_task
from tests.fixtures.chain import Chain, commit_agent, reveal
from tests.integration.test_evaluator import SPEC, agents, node_for


def seed_set_message(market: Marketplace, tx: c.TxResult, block_hash: str) -> Message:
    ev = tx.event(c.EvaluationSeedSet)
    return Message(
        kind=Kind.SEED_SET,
        chain_id=31337,
        contract=market.address.lower(),
        block_number=tx.block_number,
        block_hash=block_hash,
        tx_hash="0x" + tx.tx_hash.hex(),
        log_index=0,
        args={"task_id": str(ev.task_id), "eval_seed": "0x" + ev.eval_seed.hex()},
    )


def test_waits_for_confirmations_and_skips_orphans(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    requester, solver, e1 = chain.accounts[26:29]
    content = LocalContentStore(tmp_path / "content")
    spec = parse_spec(json.dumps(SPEC))
    strong, _ = agents(spec)
    created = create_task(
        node_for(chain, marketplace_deployment, requester), content, spec,
        bounty=10**18, evaluators=[e1.address], commit_seconds=100, reveal_seconds=100,
        eval_window=300,
    )  # fmt: skip
    tid = created.task_id
    req = Marketplace.from_deployment(chain.w3, marketplace_deployment, requester)
    sol = Marketplace.from_deployment(chain.w3, marketplace_deployment, solver)
    commit = commit_agent(sol, tid, strong, 1)
    chain.travel_to(created.commit_deadline)
    reveal(sol, commit)
    chain.travel_to(created.reveal_deadline)
    req.request_seed(tid)
    chain.mine(1)
    sealed = req.seal_seed(tid)
    block_hash = "0x" + bytes(chain.w3.eth.get_block(sealed.block_number)["hash"]).hex()

    def evaluator(confirmations: int) -> Evaluator:
        node = node_for(chain, marketplace_deployment, e1)
        return Evaluator(node, content, confirmations=confirmations)

    # A message from a block that is no longer canonical is skipped, whatever it says.
    evaluator(0).on_seed_set(seed_set_message(req, sealed, "0x" + "ee" * 32))
    assert not req.has_attested(tid, commit.solution_id, e1.address)

    # The real one waits for 3 confirmations before anything is sent.
    message = seed_set_message(req, sealed, block_hash)
    waiting = threading.Thread(target=evaluator(3).on_seed_set, args=(message,))
    waiting.start()
    waiting.join(timeout=1.5)
    assert waiting.is_alive() and not req.has_attested(tid, commit.solution_id, e1.address)
    chain.mine(3)
    waiting.join(timeout=30)
    assert not waiting.is_alive()
    assert req.has_attested(tid, commit.solution_id, e1.address)

    # A stop during the confirmation wait unwinds at once (Stopped): nothing is sent and the
    # stream entry stays pending for the restart.
    stopping = evaluator(10**6)
    outcome: list[BaseException] = []

    def wait_then_record() -> None:
        try:
            stopping.on_seed_set(message)
        except Stopped as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait_then_record)
    waiter.start()
    waiter.join(timeout=1.0)
    assert waiter.is_alive()
    stopping.stop.set()
    waiter.join(timeout=30)
    assert not waiter.is_alive() and len(outcome) == 1
