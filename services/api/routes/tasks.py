"""GET /tasks, /tasks/{id}, /tasks/{id}/leaderboard, /tasks/{id}/solutions/{solution_id}."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field
from sqlmodel import Session

from services.api.deps import (
    DB,
    REVALIDATE,
    ApiState,
    State,
    etag_of,
    not_modified,
    state_of,
    version_now,
)
from services.api.guard import GuardedRoute
from services.api.problems import PROBLEM_RESPONSES, not_found
from services.api.routes import read_model
from services.api.routes.read_model import SolutionRow, TaskRow
from services.common.chain.protocol import rank_key
from services.common.json_input import JsonObject

router = APIRouter(tags=["tasks"], responses=PROBLEM_RESPONSES, route_class=GuardedRoute)

TaskId = Annotated[int, Path(ge=1, lt=2**63, description="the task id on chain (from 1)")]
SolutionId = Annotated[
    int, Path(ge=0, lt=2**63, description="the solution id within its task (from 0)")
]


class TaskStateName(StrEnum):
    open = "open"
    finalized = "finalized"
    cancelled = "cancelled"


class TaskOut(BaseModel):
    id: int
    creator: str
    spec_digest: str
    spec_cid: str
    title: str | None = None
    description: str | None = None
    env: str | None = None
    bounty_wei: str
    commit_deadline: int
    reveal_deadline: int
    eval_window: int
    evaluators: list[str]
    quorum: int
    min_score: int
    commit_bond_wei: str
    evaluator_fee_wei: str
    state: TaskStateName
    phase: str = Field(
        description="commit, reveal, evaluate, finalizable, finalized or cancelled (by the projected block's time)"
    )
    eval_seed: str | None
    spec_problem: str | None = Field(
        default=None,
        description="why the task's spec fails the checks: no solver works on it, no evaluator attests",
    )
    solutions: int
    best_solution_id: int | None
    best_score: int | None
    winner: str | None
    payout_wei: str | None
    created_block: int


class TaskPage(BaseModel):
    items: list[TaskOut]
    total: int
    limit: int
    offset: int


class AttestationOut(BaseModel):
    evaluator: str
    score: int


class SolutionOut(BaseModel):
    task_id: int
    solution_id: int
    rank: int | None = Field(
        description="position among verified solutions, as the contract ranks them"
    )
    solver: str
    status: str = Field(description="committed, revealed or verified")
    commitment: str
    claimed_score: int | None
    verified_score: int | None
    agent_digest: str | None
    agent_cid: str | None
    agent_size: int | None
    attestations: list[AttestationOut]
    bond: str = Field(
        description="where its commit bond is: held, returned (to the solver), forfeited "
        "(verified at 0: to its evaluators; never revealed: to the requester) or none"
    )


class SolverOut(BaseModel):
    """One solver in the race for a task."""

    solver: str
    rank: int = Field(description="1 = leading: best verified score, then as the contract ranks")
    commitments: int
    reveals: int = Field(description="commitments revealed (verified ones included)")
    verified: int
    best_verified_score: int | None
    best_claimed_score: int | None = Field(description="the best claim among its revealed solutions")


class Leaderboard(BaseModel):
    task_id: int
    block: int | None = Field(description="the last block the projection has seen")
    entries: list[SolutionOut]
    solvers: list[SolverOut] = Field(
        default_factory=list, description="per solver: commitments, reveals, best verified score"
    )


def leaderboard_key(s: SolutionRow) -> tuple[int, int, int, int]:
    """Verified solutions first, in the contract's order; the others by solution id."""
    if s.verified_score is None:
        return (1, 0, 0, s.solution_id)
    return (0, *rank_key(s.verified_score, s.agent_size or 0, s.solution_id))


def ranked(solutions: list[SolutionRow]) -> list[tuple[int | None, SolutionRow]]:
    out: list[tuple[int | None, SolutionRow]] = []
    rank = 0
    for s in sorted(solutions, key=leaderboard_key):
        if s.verified_score is not None:
            rank += 1
            out.append((rank, s))
        else:
            out.append((None, s))
    return out


def solvers_racing(ranked_rows: list[tuple[int | None, SolutionRow]]) -> list[SolverOut]:
    """Each solver's commitments, reveals and best verified score, the leader first.

    A solver ranks by its best verified solution's place on the leaderboard; solvers with
    nothing verified follow, the one with more reveals then more commitments first.
    """
    by_solver: dict[str, list[tuple[int | None, SolutionRow]]] = {}
    for rank, row in ranked_rows:
        by_solver.setdefault(row.solver, []).append((rank, row))
    summaries: list[tuple[tuple[int, int, int, int], SolverOut]] = []
    for solver, rows in by_solver.items():
        ranks = [r for r, _ in rows if r is not None]
        verified = [row.verified_score for _, row in rows if row.verified_score is not None]
        claimed = [row.claimed_score for _, row in rows if row.claimed_score is not None]
        reveals = sum(1 for _, row in rows if row.status != "committed")
        out = SolverOut(
            solver=solver,
            rank=0,
            commitments=len(rows),
            reveals=reveals,
            verified=len(verified),
            best_verified_score=max(verified) if verified else None,
            best_claimed_score=max(claimed) if claimed else None,
        )
        first_id = min(row.solution_id for _, row in rows)
        key = (min(ranks), 0, 0, first_id) if ranks else (2**63, -reveals, -len(rows), first_id)
        summaries.append((key, out))
    summaries.sort(key=lambda pair: pair[0])
    return [out.model_copy(update={"rank": i + 1}) for i, (_, out) in enumerate(summaries)]


def solution_out(s: SolutionRow, rank: int | None) -> SolutionOut:
    from services.common.content import cid_of_digest

    digest = s.agent_digest
    return SolutionOut(
        task_id=s.task_id,
        solution_id=s.solution_id,
        rank=rank,
        solver=s.solver,
        status=s.status,
        commitment=s.commitment,
        claimed_score=s.claimed_score,
        verified_score=s.verified_score,
        agent_digest=digest,
        agent_cid=cid_of_digest(bytes.fromhex(digest[2:])) if digest else None,
        agent_size=s.agent_size,
        attestations=[AttestationOut(evaluator=e, score=v) for e, v in s.attestations],
        bond=s.bond,
    )


def spec_summary(state: ApiState, spec_digest: str) -> JsonObject:
    """Title, description and env of a task's spec, from the content store (immutable: cached)."""
    cached = state.spec_summaries.get(spec_digest)
    if cached is not None:
        return cached
    summary: JsonObject = {}
    if state.content is not None:
        from services.common.content import ContentError, cid_of_digest
        from services.common.spec import SpecError, parse_spec

        cid = cid_of_digest(bytes.fromhex(spec_digest[2:]))
        try:
            raw = state.content.get(cid)
        except (ContentError, OSError):
            return {}  # not (yet) in this content store: try again next time
        try:
            # The one parser: a hostile spec (nested 100,000 deep, say) is refused, not decoded.
            spec = parse_spec(raw, cid=cid).to_dict()
            summary = {
                "title": spec.get("title"),
                "description": spec.get("description"),
                "env": spec["env"]["name"],
                "spec": spec,
            }
        except SpecError as exc:
            summary = {"invalid": str(exc)}  # shown as an invalid spec; cached: bytes never change
    state.spec_summaries[spec_digest] = summary
    return summary


def _phase(t: TaskRow, now: int | None) -> str:
    if t.state != "open":
        return t.state
    if now is None:
        return "commit"
    if now < t.commit_deadline:
        return "commit"
    if now < t.reveal_deadline:
        return "reveal"
    if now < t.reveal_deadline + t.eval_window:
        return "evaluate"
    return "finalizable"


def task_out(state: ApiState, t: TaskRow, now: int | None) -> TaskOut:
    from services.common.content import cid_of_digest

    summary = spec_summary(state, t.spec_digest)
    return TaskOut(
        id=t.task_id,
        creator=t.creator,
        spec_digest=t.spec_digest,
        spec_cid=cid_of_digest(bytes.fromhex(t.spec_digest[2:])),
        title=summary.get("title"),
        description=summary.get("description"),
        env=summary.get("env"),
        bounty_wei=str(t.bounty),
        commit_deadline=t.commit_deadline,
        reveal_deadline=t.reveal_deadline,
        eval_window=t.eval_window,
        evaluators=t.evaluators,
        quorum=t.quorum,
        min_score=t.min_score,
        commit_bond_wei=str(t.commit_bond),
        evaluator_fee_wei=str(t.evaluator_fee),
        state=TaskStateName(t.state),
        phase=_phase(t, now),
        eval_seed=t.eval_seed,
        spec_problem=summary.get("invalid"),
        solutions=t.solution_count,
        best_solution_id=t.best_solution_id,
        best_score=t.best_score,
        winner=t.winner,
        payout_wei=None if t.payout is None else str(t.payout),
        created_block=t.created_block,
    )


def _no_task(task_id: int) -> Exception:
    return not_found("task", f"there is no task {task_id} in the projection (yet); see GET /tasks")


def task_or_404(db: Session, task_id: int) -> TaskRow:
    task = read_model.get_task(db, task_id)
    if task is None:
        raise _no_task(task_id)
    return task


@router.get("/tasks", response_model=TaskPage)
def list_tasks(
    db: DB,
    state: State,
    task_state: Annotated[
        TaskStateName | None, Query(alias="state", description="only tasks in this state")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> TaskPage:
    """Tasks, newest first."""
    rows, total = read_model.list_tasks(
        db, state=task_state.value if task_state else None, limit=limit, offset=offset
    )
    now = read_model.chain_time()
    return TaskPage(
        items=[task_out(state, t, now) for t in rows], total=total, limit=limit, offset=offset
    )


def load_task_row(state: ApiState, task_id: int) -> TaskRow | None:
    """A task's row (on a worker thread), with its spec's summary read into the cache, so the
    event loop never reads the content store for it."""
    with Session(state.engine) as db:
        row = read_model.get_task(db, task_id)
    if row is not None:
        spec_summary(state, row.spec_digest)
    return row


@router.get("/tasks/{task_id}", response_model=TaskOut)
async def get_task(task_id: TaskId, request: Request) -> TaskOut:
    """One task. Its row is cached per projection version, as the leaderboard is: between two
    projected messages a request costs no query and no thread; the phase follows the clock."""
    state = state_of(request)
    key = (task_id, await version_now(state))
    row: TaskRow | None = state.task_rows.get(key)
    if row is None:
        row = await asyncio.to_thread(load_task_row, state, task_id)
        if row is None:
            raise _no_task(task_id)
        if len(state.task_rows) > 4096:
            state.task_rows.clear()
        state.task_rows[key] = row
    return task_out(state, row, read_model.chain_time())


class CreditOut(BaseModel):
    account: str
    amount_wei: str
    reason: str = Field(
        description="bounty (to the winner), refund (to the requester at finalize: unrevealed "
        "bonds, unearned fees, an unwon bounty), cancel, fee (an evaluator's), bond (back to its "
        "solver), forfeit (an evaluator's share of a bond verified at 0)"
    )
    block: int
    tx_hash: str


class TaskCredits(BaseModel):
    task_id: int
    credits: list[CreditOut]
    total_wei: dict[str, str] = Field(description="the credits summed per reason")


@router.get("/tasks/{task_id}/credits", response_model=TaskCredits)
def task_credits(task_id: TaskId, db: DB) -> TaskCredits:
    """Every wei the task credited, one entry per contract event (contract v2 emits one for
    each credit): bounty, refunds, fees, returned bonds, forfeited bonds' shares."""
    task_or_404(db, task_id)
    rows = read_model.task_credits(db, task_id)
    totals: dict[str, int] = {}
    for r in rows:
        totals[r.reason] = totals.get(r.reason, 0) + r.amount
    return TaskCredits(
        task_id=task_id,
        credits=[
            CreditOut(
                account=r.account,
                amount_wei=str(r.amount),
                reason=r.reason,
                block=r.block_number,
                tx_hash=r.tx_hash,
            )
            for r in rows
        ],
        total_wei={k: str(v) for k, v in sorted(totals.items())},
    )


@dataclass(frozen=True)
class CachedBoard:
    board: Leaderboard
    etag: str
    body: bytes  # serialized once per block: most requests only look it up


def build_leaderboard(state: ApiState, task_id: int, version: str) -> CachedBoard | None:
    """The leaderboard of a task at a projection version; None if there is no such task."""
    with Session(state.engine) as db:
        if read_model.get_task(db, task_id) is None:
            return None
        rows = read_model.task_solutions(db, task_id)
        head = read_model.projected_head(db)
    order = ranked(rows)
    board = Leaderboard(
        task_id=task_id,
        block=head[0] if head else None,
        entries=[solution_out(s, r) for r, s in order],
        solvers=solvers_racing(order),
    )
    body = board.model_dump_json().encode()
    return CachedBoard(board, etag_of("leaderboard", str(task_id), version), body)


async def leaderboard_or_404(state: ApiState, task_id: int) -> CachedBoard:
    """The leaderboard, cached per projection version: a hit costs no query and no thread.

    A miss starts one build per (task, version) and every request that misses meanwhile
    waits for that build: when the projection moves under load, N open connections cost
    one build, not N builds of the same board competing for the GIL.
    """
    key = (task_id, await version_now(state))
    cached: CachedBoard | None = state.leaderboard_cache.get(key)
    if cached is None:
        cached = await asyncio.shield(_leaderboard_build(state, key))
        if cached is None:
            raise _no_task(task_id)
    return cached


def _leaderboard_build(
    state: ApiState, key: tuple[int, str]
) -> asyncio.Future[Any]:  # Any: see ApiState.leaderboard_builds
    """The build under way for `key` in this event loop, or a new one."""
    loop = asyncio.get_running_loop()
    build = state.leaderboard_builds.get(key)
    if build is not None and not build.done() and build.get_loop() is loop:
        return build
    task_id, version = key
    build = loop.create_task(asyncio.to_thread(build_leaderboard, state, task_id, version))

    def settle(done: asyncio.Future[Any]) -> None:  # Any: as above
        if state.leaderboard_builds.get(key) is done:
            del state.leaderboard_builds[key]
        if done.cancelled() or done.exception() is not None:
            return  # each waiter sees the error; the next request tries again
        board: CachedBoard | None = done.result()
        if board is not None:
            if len(state.leaderboard_cache) > 1024:
                state.leaderboard_cache.clear()
            state.leaderboard_cache[key] = board

    build.add_done_callback(settle)
    state.leaderboard_builds[key] = build
    return build


@router.get("/tasks/{task_id}/leaderboard", response_model=Leaderboard)
async def leaderboard(task_id: TaskId, request: Request) -> Response:
    """Solutions ranked as the contract ranks them; verified ones first. Revalidate with If-None-Match."""
    # The app state comes from the request rather than a dependency: this is the hottest
    # route, and an extra dependency to solve costs more than the cache hit it serves.
    cached = await leaderboard_or_404(state_of(request), task_id)
    headers = {"ETag": cached.etag, "Cache-Control": REVALIDATE}
    if not_modified(request, cached.etag):
        return Response(status_code=304, headers=headers)
    return Response(cached.body, media_type="application/json", headers=headers)


@router.get("/tasks/{task_id}/solutions/{solution_id}", response_model=SolutionOut)
def get_solution(task_id: TaskId, solution_id: SolutionId, db: DB) -> SolutionOut:
    task_or_404(db, task_id)
    rows = read_model.task_solutions(db, task_id)
    for rank, s in ranked(rows):
        if s.solution_id == solution_id:
            return solution_out(s, rank)
    raise not_found(
        "solution", f"task {task_id} has no solution {solution_id}; see its leaderboard"
    )
