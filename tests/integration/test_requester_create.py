"""`create_task` counts deadlines from the block the task will be created in, not from the
latest block, which on a quiet chain (anvil mines only on demand) can be minutes old."""

from __future__ import annotations

import json
import time
from pathlib import Path

from services.common.chain import Deployment, Marketplace
from services.common.content import LocalContentStore
from services.common.node import Node
from services.common.spec import parse_spec
from services.requester import create_task
from tests.fixtures.chain import ETHER, Chain

SPEC = {"scorer": "bisuna-core/2", "env": {"name": "multiplexer-6", "params": {}}}


def test_deadlines_count_from_the_next_block_on_a_quiet_chain(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    requester, evaluator = chain.accounts[25], chain.accounts[26]
    node = Node(
        Marketplace.from_deployment(chain.w3, marketplace_deployment, requester),
        marketplace_deployment,
        requester,
    )
    chain.mine()
    time.sleep(3)  # nothing is mined meanwhile: the latest block is now 3 s old
    assert node.next_block_time() >= chain.now() + 2

    created = create_task(
        node,
        LocalContentStore(tmp_path / "content"),
        parse_spec(json.dumps(SPEC)),
        bounty=ETHER,
        evaluators=[evaluator.address],
        commit_seconds=2,
        reveal_seconds=2,
    )
    mined_at = chain.now()  # the block that created the task
    assert created.commit_deadline >= mined_at + 2
    assert created.reveal_deadline == created.commit_deadline + 2
