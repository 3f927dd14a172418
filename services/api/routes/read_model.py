"""The API's reads of the projection (services/projector/models.py), as plain rows for the routes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from services.projector.models import (
    Attestation,
    ChainEvent,
    Checkpoint,
    Solution,
    SolutionBase,
    Task,
)


@dataclass(frozen=True)
class TaskRow:
    task_id: int
    creator: str
    spec_digest: str
    bounty: int
    commit_deadline: int
    reveal_deadline: int
    eval_window: int
    evaluators: list[str]
    quorum: int
    min_score: int
    commit_bond: int
    evaluator_fee: int
    state: str  # open | finalized | cancelled
    eval_seed: str | None
    solution_count: int
    best_solution_id: int | None
    best_score: int | None
    winner: str | None
    payout: int | None
    created_block: int


@dataclass(frozen=True)
class SolutionRow:
    task_id: int
    solution_id: int
    solver: str
    commitment: str
    status: str  # committed | revealed | verified
    claimed_score: int | None
    verified_score: int | None
    agent_digest: str | None
    agent_size: int | None
    attestations: list[tuple[str, int]] = field(default_factory=list)


def projected_head(db: Session) -> tuple[int, str] | None:
    """(block number, block hash) of the last block the projector has applied, if any."""
    cp = _checkpoint(db)
    return (cp.block_number, cp.block_hash) if cp is not None else None


# The version is read every `ApiState.version_poll_seconds` on a worker thread while the API
# runs: a Core query on a plain connection costs a fraction of the CPU of the same read through
# an ORM session, so the poll holds the GIL (which the event loop wants) as briefly as it can.
_LAST_CHECKPOINT = (
    sa_select(col(Checkpoint.block_number), col(Checkpoint.block_hash), col(Checkpoint.stream_id))
    .order_by(col(Checkpoint.block_number).desc())
    .limit(1)
)
_EVENT_COUNT = sa_select(func.count(), func.max(ChainEvent.block_number)).select_from(ChainEvent)


def projection_version(db: Connection) -> str:
    """Changes whenever the projector applies a message (or undoes a reorg): the cache key."""
    cp = db.execute(_LAST_CHECKPOINT).first()
    if cp is not None:
        return f"{cp[0]}:{cp[1]}:{cp[2]}"
    # No checkpoint (rows written without the projector loop): count what is there.
    events = db.execute(_EVENT_COUNT).one()
    return f"events:{events[0]}:{events[1]}"


def _checkpoint(db: Session) -> Checkpoint | None:
    return db.exec(
        select(Checkpoint).order_by(col(Checkpoint.block_number).desc()).limit(1)
    ).first()


def chain_time() -> int:
    """Now, for phases. The chain's clock follows wall time on every EVM chain we target."""
    return int(time.time())


def _task_row(t: Task) -> TaskRow:
    return TaskRow(
        task_id=t.task_id,
        creator=t.creator,
        spec_digest=t.spec_digest,
        bounty=int(t.bounty),
        commit_deadline=t.commit_deadline,
        reveal_deadline=t.reveal_deadline,
        eval_window=t.eval_window,
        evaluators=list(t.evaluators),
        quorum=t.quorum,
        min_score=t.min_score,
        commit_bond=int(t.commit_bond),
        evaluator_fee=int(t.evaluator_fee),
        state=t.state,
        eval_seed=t.eval_seed,
        solution_count=t.solution_count,
        best_solution_id=t.best_solution_id,
        best_score=t.best_score,
        winner=t.winner,
        payout=int(t.payout) if t.payout is not None else None,
        created_block=t.created_block,
    )


def _solution_row(s: Solution, attestations: list[tuple[str, int]]) -> SolutionRow:
    return SolutionRow(
        task_id=s.task_id,
        solution_id=s.solution_id,
        solver=s.solver,
        commitment=s.commitment,
        status=s.status,
        claimed_score=s.claimed_score,
        verified_score=s.verified_score,
        agent_digest=s.agent_digest,
        agent_size=s.agent_size,
        attestations=attestations,
    )


def list_tasks(
    db: Session, *, state: str | None, limit: int, offset: int
) -> tuple[list[TaskRow], int]:
    """Tasks newest first, and how many there are in all (with the same filter)."""
    query = select(Task)
    count = select(func.count()).select_from(Task)
    if state is not None:
        query = query.where(Task.state == state)
        count = count.where(Task.state == state)
    rows = db.exec(query.order_by(col(Task.task_id).desc()).offset(offset).limit(limit)).all()
    return [_task_row(t) for t in rows], int(db.exec(count).one())


def get_task(db: Session, task_id: int) -> TaskRow | None:
    t = db.get(Task, task_id)
    return _task_row(t) if t is not None else None


def _attestations(
    db: Session, task_id: int, solution_ids: list[int] | None = None
) -> dict[int, list[tuple[str, int]]]:
    query = select(Attestation.solution_id, Attestation.evaluator, Attestation.score).where(
        Attestation.task_id == task_id
    )
    if solution_ids is not None:
        query = query.where(col(Attestation.solution_id).in_(solution_ids))
    out: dict[int, list[tuple[str, int]]] = {}
    for solution_id, evaluator, score in db.exec(
        query.order_by(col(Attestation.block_number), col(Attestation.log_index))
    ):
        out.setdefault(solution_id, []).append((evaluator, score))
    return out


# Every column but the agent bytes: a leaderboard of 1,000 revealed agents must not load 24 MB.
_SOLUTION_COLUMNS = list(SolutionBase.model_fields)


def _solutions(db: Session, where: Any) -> list[Solution]:  # Any: a SQLAlchemy clause (its type is internal)
    columns = [getattr(Solution, name) for name in _SOLUTION_COLUMNS]
    rows = db.exec(
        select(*columns).where(where).order_by(col(Solution.task_id), col(Solution.solution_id))
    ).all()
    return [
        Solution.model_construct(**dict(zip(_SOLUTION_COLUMNS, row, strict=True))) for row in rows
    ]


def task_solutions(db: Session, task_id: int) -> list[SolutionRow]:
    solutions = _solutions(db, Solution.task_id == task_id)
    attestations = _attestations(db, task_id)
    return [_solution_row(s, attestations.get(s.solution_id, [])) for s in solutions]


def solutions_by_agent(db: Session, digest: str) -> list[SolutionRow]:
    solutions = _solutions(db, Solution.agent_digest == digest)
    out = []
    for s in solutions:
        attestations = _attestations(db, s.task_id, [s.solution_id]).get(s.solution_id, [])
        out.append(_solution_row(s, attestations))
    return out


def agent_bytes(db: Session, digest: str) -> bytes | None:
    agent = db.exec(
        select(Solution.agent)
        .where(Solution.agent_digest == digest, col(Solution.agent).is_not(None))
        .limit(1)
    ).first()
    return bytes(agent) if agent is not None else None
