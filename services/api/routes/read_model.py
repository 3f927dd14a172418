"""The API's reads of the projection (services/api/models.py), as plain rows for the routes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session


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
    raise NotImplementedError


def projected_time(db: Session) -> int | None:
    """The timestamp of the last projected block (the chain's clock, not this machine's)."""
    raise NotImplementedError


def list_tasks(
    db: Session, *, state: str | None, limit: int, offset: int
) -> tuple[list[TaskRow], int]:
    raise NotImplementedError


def get_task(db: Session, task_id: int) -> TaskRow | None:
    raise NotImplementedError


def task_solutions(db: Session, task_id: int) -> list[SolutionRow]:
    raise NotImplementedError


def solutions_by_agent(db: Session, digest: str) -> list[SolutionRow]:
    raise NotImplementedError


def agent_bytes(db: Session, digest: str) -> bytes | None:
    raise NotImplementedError


def _unused(*_: Any) -> None:
    return None
