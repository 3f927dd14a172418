"""The requester's side: store a spec and create its task on chain (the CLI and the demo call this)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from services.common import chain
from services.common.content import ContentStore, digest_of_cid
from services.common.node import Node
from services.common.spec import TaskSpec, parse_spec
from services.common.task_checks import check_evaluators, check_retrievable, check_spec


@dataclass(frozen=True)
class CreatedTask:
    task_id: int
    spec_cid: str
    commit_deadline: int
    reveal_deadline: int
    tx_hash: bytes


def create_task(
    node: Node,
    content: ContentStore,
    spec: TaskSpec | bytes,
    *,
    bounty: int,
    evaluators: Sequence[str],
    quorum: int | None = None,
    commit_seconds: int = 600,
    reveal_seconds: int = 300,
    eval_window: int = 300,
    min_score: int = 0,
    commit_bond: int = 0,
    evaluator_fee: int = 0,
    services_store: ContentStore | None = None,
    services_store_name: str = "the content store",
    store_fix: str = "store the spec where the stack's services read it",
) -> CreatedTask:
    """Upload the spec (its CID names it on chain by digest) and escrow the bounty plus the
    evaluators' fees. Deadlines count from the next block's time (`Node.next_block_time`). Quorum defaults to a bare majority.

    Before anything is sent (TaskCheckError otherwise): the spec is valid for this core, the
    evaluators are addresses, and the spec reads back from `services_store`, the store the
    stack's services read (by default `content` itself)."""
    if isinstance(spec, bytes):
        spec = parse_spec(spec)
    if commit_seconds < 1 or reveal_seconds < 1:
        raise ValueError("commit_seconds and reveal_seconds must be at least 1")
    check_spec(spec)
    evaluators = check_evaluators(evaluators)
    spec_cid = content.put(spec.to_bytes())
    content.pin(spec_cid)
    check_retrievable(
        spec_cid,
        services_store if services_store is not None else content,
        where=services_store_name,
        fix=store_fix,
    )
    n = len(evaluators)
    now = node.next_block_time()
    commit_deadline = now + commit_seconds
    reveal_deadline = commit_deadline + reveal_seconds
    tx = node.market.create_task(
        spec_digest=digest_of_cid(spec_cid),
        commit_deadline=commit_deadline,
        reveal_deadline=reveal_deadline,
        eval_window=eval_window,
        evaluators=list(evaluators),
        quorum=quorum if quorum is not None else n // 2 + 1,
        min_score=min_score,
        commit_bond=commit_bond,
        evaluator_fee=evaluator_fee,
        bounty=bounty,
    )
    created = tx.event(chain.TaskCreated)
    return CreatedTask(created.task_id, spec_cid, commit_deadline, reveal_deadline, tx.tx_hash)
