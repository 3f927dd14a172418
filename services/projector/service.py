"""Every stream message → the read model (services/projector/models.py), exactly once, reorg-aware.

The projector is one consumer of its own group. Each batch of messages is applied in one
database transaction together with the checkpoint (the last stream entry applied), and only
then acknowledged; entries at or below the checkpoint are skipped, so a crash between commit
and ack applies nothing twice. Events are stored as `ChainEvent` rows keyed by (block_hash,
log_index) and folded into the entity rows by one handler per kind. `chain.reorged` deletes
the events of the orphaned blocks and rebuilds every task they touched from the events that
remain, so the projection always equals a from-scratch replay of the canonical chain.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import redis
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, delete
from sqlmodel import Session, SQLModel, col, select

from services.common.content import cid_of_digest
from services.common.database import make_engine as make_engine  # re-exported for callers
from services.common.json_input import JsonObject
from services.common.logs import configure_logging, get_logger, redact_url
from services.common.messages import Kind, Message
from services.common.process import Backoff, run_loop, stop_event
from services.common.settings import Settings
from services.common.streams import Delivery, StreamConsumer
from services.projector.models import (
    Attestation,
    ChainEvent,
    Checkpoint,
    Credit,
    Solution,
    SolutionStatus,
    Task,
    TaskPhase,
    Withdrawal,
)

log = get_logger("edgemarket.projector")

ALEMBIC_INI = Path(__file__).with_name("alembic.ini")
GROUP = "projector"
NO_WINNER = "0x" + "00" * 20


class ProjectorError(Exception):
    """The projector cannot start; the message says why."""


# -- database ---------------------------------------------------------------------------


def migrate(engine: Engine) -> None:
    """alembic upgrade head on `engine`'s database."""
    cfg = Config(str(ALEMBIC_INI))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


# -- the rows a batch touches ----------------------------------------------------------


class Rows:
    """The entity rows of the tasks a batch touches, loaded in one query per table and held
    for the batch (the session's identity map keeps clean rows only weakly, so without this
    every event would cost SELECTs)."""

    def __init__(self, s: Session, task_ids: set[int]) -> None:
        self.s = s
        ids = sorted(task_ids)
        self.tasks: dict[int, Task] = {}
        self.solutions: dict[tuple[int, int], Solution] = {}
        self.attestations: dict[tuple[int, int, str], Attestation] = {}
        for k in range(0, len(ids), 500):
            chunk = ids[k : k + 500]
            for t in s.exec(select(Task).where(col(Task.task_id).in_(chunk))):
                self.tasks[t.task_id] = t
            for x in s.exec(select(Solution).where(col(Solution.task_id).in_(chunk))):
                self.solutions[(x.task_id, x.solution_id)] = x
            for a in s.exec(select(Attestation).where(col(Attestation.task_id).in_(chunk))):
                self.attestations[(a.task_id, a.solution_id, a.evaluator)] = a

    def task(self, ev: ChainEvent) -> Task | None:
        task = self.tasks.get(ev.task_id or 0)
        if task is None:
            log.warning(
                "event for a task the projection does not have",
                extra={"kind": ev.kind, "task_id": ev.task_id, "block": ev.block_number},
            )
            return None
        task.updated_block = ev.block_number
        return task

    def solution(self, ev: ChainEvent, solution_id: int) -> Solution | None:
        sol = self.solutions.get((ev.task_id or 0, solution_id))
        if sol is None:
            log.warning(
                "event for a solution the projection does not have",
                extra={"kind": ev.kind, "task_id": ev.task_id, "solution_id": solution_id},
            )
        return sol

    def _drop(self, row: SQLModel) -> None:
        # Only replays of odd histories get here (one TaskCreated per id on a real chain).
        self.s.flush()
        self.s.delete(row)
        self.s.flush()

    def put_task(self, task: Task) -> None:
        old = self.tasks.pop(task.task_id, None)
        if old is not None:
            self._drop(old)
        self.tasks[task.task_id] = task
        self.s.add(task)

    def put_solution(self, sol: Solution) -> None:
        key = (sol.task_id, sol.solution_id)
        old = self.solutions.pop(key, None)
        if old is not None:
            self._drop(old)
        self.solutions[key] = sol
        self.s.add(sol)

    def put_attestation(self, att: Attestation) -> None:
        key = (att.task_id, att.solution_id, att.evaluator)
        old = self.attestations.pop(key, None)
        if old is not None:
            self._drop(old)
        self.attestations[key] = att
        self.s.add(att)


# -- handlers: one per kind, folding an event into the entity rows ------------------------

Handler = Callable[[Rows, ChainEvent, JsonObject], None]


def _origin(ev: ChainEvent) -> JsonObject:
    return {"block_hash": ev.block_hash, "log_index": ev.log_index, "tx_hash": ev.tx_hash}


def on_task_created(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    rows.put_task(
        Task(
            task_id=int(a["task_id"]),
            creator=a["creator"],
            spec_digest=a["spec_digest"],
            spec_cid=cid_of_digest(bytes.fromhex(a["spec_digest"][2:])),
            bounty=a["bounty"],
            commit_deadline=a["commit_deadline"],
            reveal_deadline=a["reveal_deadline"],
            eval_window=a["eval_window"],
            evaluators=a["evaluators"],
            quorum=a["quorum"],
            min_score=a["min_score"],
            commit_bond=a["commit_bond"],
            evaluator_fee=a["evaluator_fee"],
            created_block=ev.block_number,
            updated_block=ev.block_number,
            **_origin(ev),
        )
    )


def on_solution_committed(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    task = rows.task(ev)
    if task is not None:
        task.solution_count += 1
    rows.put_solution(
        Solution(
            task_id=int(a["task_id"]),
            solution_id=int(a["solution_id"]),
            solver=a["solver"],
            commitment=a["commitment"],
            committed_block=ev.block_number,
            **_origin(ev),
        )
    )


def on_solution_revealed(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    sol = rows.solution(ev, int(a["solution_id"]))
    task = rows.task(ev)
    if sol is None:
        return
    agent = bytes.fromhex(a["agent"][2:])
    sol.status = SolutionStatus.REVEALED.value
    sol.agent, sol.agent_size = agent, len(agent)
    sol.agent_digest = a["agent_digest"]
    sol.agent_cid = cid_of_digest(bytes.fromhex(a["agent_digest"][2:]))
    sol.claimed_score = a["claimed_score"]
    sol.revealed_block = ev.block_number
    if task is not None:
        task.revealed_count += 1


def on_seed_requested(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    task = rows.task(ev)
    if task is not None:
        task.seed_block = int(a["seed_block"])


def on_seed_set(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    task = rows.task(ev)
    if task is not None:
        task.eval_seed = a["eval_seed"]


def on_score_attested(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    solution_id = int(a["solution_id"])
    rows.put_attestation(
        Attestation(
            task_id=int(a["task_id"]),
            solution_id=solution_id,
            evaluator=a["evaluator"],
            score=a["score"],
            block_number=ev.block_number,
            **_origin(ev),
        )
    )
    sol = rows.solution(ev, solution_id)
    if sol is not None:
        sol.attestation_count += 1
    rows.task(ev)


def on_solution_verified(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    sol = rows.solution(ev, int(a["solution_id"]))
    task = rows.task(ev)
    if sol is not None:
        sol.status = SolutionStatus.VERIFIED.value
        sol.verified_score, sol.best, sol.verified_block = a["score"], a["best"], ev.block_number
    if task is not None:
        task.verified_count += 1
        if a["best"]:
            task.best_solution_id, task.best_score = int(a["solution_id"]), a["score"]


def on_task_finalized(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    task = rows.task(ev)
    if task is None:
        return
    task.state = TaskPhase.FINALIZED.value
    won = a["winner"] != NO_WINNER
    task.winner = a["winner"] if won else None
    task.payout = a["payout"]
    rows.s.add(
        Credit(
            task_id=task.task_id,
            account=a["winner"] if won else task.creator,
            amount=a["payout"],
            reason="bounty" if won else "refund",
            block_number=ev.block_number,
            **_origin(ev),
        )
    )


def on_task_cancelled(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    task = rows.task(ev)
    if task is None:
        return
    task.state = TaskPhase.CANCELLED.value
    task.refund = a["refund"]
    rows.s.add(
        Credit(
            task_id=task.task_id,
            account=task.creator,
            amount=a["refund"],
            reason="cancel",
            block_number=ev.block_number,
            **_origin(ev),
        )
    )


def on_credit_withdrawn(rows: Rows, ev: ChainEvent, a: JsonObject) -> None:
    rows.s.add(
        Withdrawal(
            account=a["account"], amount=a["amount"], block_number=ev.block_number, **_origin(ev)
        )
    )


HANDLERS: dict[str, Handler] = {
    Kind.TASK_CREATED: on_task_created,
    Kind.SOLUTION_COMMITTED: on_solution_committed,
    Kind.SOLUTION_REVEALED: on_solution_revealed,
    Kind.SEED_REQUESTED: on_seed_requested,
    Kind.SEED_SET: on_seed_set,
    Kind.SCORE_ATTESTED: on_score_attested,
    Kind.SOLUTION_VERIFIED: on_solution_verified,
    Kind.TASK_FINALIZED: on_task_finalized,
    Kind.TASK_CANCELLED: on_task_cancelled,
    Kind.CREDIT_WITHDRAWN: on_credit_withdrawn,
}


# -- applying messages ------------------------------------------------------------------


def _entry_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _task_id(msg: Message) -> int | None:
    task_id = msg.args.get("task_id")
    return int(task_id) if task_id is not None else None


def undo_blocks(s: Session, orphaned: list[str]) -> int:
    """Remove the events of orphaned blocks and rebuild the tasks they touched."""
    if not orphaned:
        return 0
    s.flush()
    gone = s.exec(select(ChainEvent).where(col(ChainEvent.block_hash).in_(orphaned))).all()
    tasks = {ev.task_id for ev in gone if ev.task_id is not None}
    for table in (ChainEvent, Withdrawal):
        s.exec(delete(table).where(col(table.block_hash).in_(orphaned)))
    for task_id in sorted(tasks):
        rebuild_task(s, task_id)
    return len(gone)


def rebuild_task(s: Session, task_id: int) -> None:
    """Recompute a task, its solutions, attestations and credits from its stored events."""
    s.flush()
    for table in (Attestation, Credit, Solution, Task):
        s.exec(delete(table).where(col(table.task_id) == task_id))
    s.flush()
    s.expunge_all()
    events = s.exec(
        select(ChainEvent)
        .where(ChainEvent.task_id == task_id)
        .order_by(col(ChainEvent.block_number), col(ChainEvent.log_index))
    ).all()
    rows = Rows(s, set())
    for ev in events:
        HANDLERS[ev.kind](rows, ev, json.loads(ev.args))
    s.flush()


class Projector:
    """Applies deliveries in batches, each batch one transaction with the checkpoint."""

    def __init__(self, engine: Engine, stream: str, name: str = GROUP) -> None:
        self.engine = engine
        self.stream = stream
        self.name = name

    def apply(self, deliveries: list[Delivery]) -> int:
        """Apply a batch; returns how many messages changed the projection."""
        changed = 0
        with Session(self.engine) as s, s.begin():
            cp = s.get(Checkpoint, self.name)
            done = _entry_key(cp.stream_id) if cp is not None else (-1, -1)
            todo = [
                (d.entry_id, d.message)
                for d in deliveries
                if d.message is not None and _entry_key(d.entry_id) > done
            ]
            if not todo:
                return 0
            rows, applied = self._load(s, [m for _, m in todo])
            for entry_id, msg in todo:
                if msg.kind is Kind.CHAIN_REORGED:
                    undone = undo_blocks(s, list(msg.args["orphaned"]))
                    log.warning(
                        "undid orphaned blocks",
                        extra={
                            "from_block": msg.args["from_block"],
                            "to_block": msg.args["to_block"],
                            "events_undone": undone,
                        },
                    )
                    changed += 1
                    # the rebuild replaced rows: load the rest of the batch afresh
                    rows, applied = self._load(s, [m for _, m in todo])
                    continue
                assert msg.log_index is not None and msg.tx_hash is not None
                identity = (msg.block_hash, msg.log_index)
                if identity in applied:
                    continue
                applied.add(identity)
                ev = ChainEvent(
                    block_hash=msg.block_hash,
                    log_index=msg.log_index,
                    block_number=msg.block_number,
                    tx_hash=msg.tx_hash,
                    kind=msg.kind.value,
                    task_id=_task_id(msg),
                    args=json.dumps(msg.args, sort_keys=True, separators=(",", ":")),
                    stream_id=entry_id,
                )
                s.add(ev)
                HANDLERS[msg.kind](rows, ev, msg.args)
                changed += 1
            last_id, last = todo[-1]
            cp = s.get(Checkpoint, self.name)  # a reorg rebuild detached what we held
            if cp is None:
                cp = Checkpoint(
                    name=self.name,
                    stream=self.stream,
                    stream_id=last_id,
                    block_number=last.block_number,
                    block_hash=last.block_hash,
                )
            else:
                cp.stream_id = last_id
                cp.block_number = last.block_number
                cp.block_hash = last.block_hash
            s.add(cp)
        return changed

    @staticmethod
    def _load(s: Session, messages: list[Message]) -> tuple[Rows, set[tuple[str, int]]]:
        """The rows the batch's tasks have, and which of its events are applied already."""
        s.flush()
        task_ids = {t for m in messages if (t := _task_id(m)) is not None}
        hashes = sorted({m.block_hash for m in messages if m.log_index is not None})
        applied: set[tuple[str, int]] = set()
        for k in range(0, len(hashes), 500):
            q = select(ChainEvent.block_hash, ChainEvent.log_index).where(
                col(ChainEvent.block_hash).in_(hashes[k : k + 500])
            )
            applied.update((h, i) for h, i in s.exec(q))
        return Rows(s, task_ids), applied


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """`edgemarket run projector`: migrate, then project until SIGTERM/SIGINT (or `stop`)."""
    configure_logging(settings.log_level)
    stop = stop_event(stop)
    engine = make_engine(settings.database_url)
    try:
        migrate(engine)
    except Exception as e:
        raise ProjectorError(
            f"cannot migrate the database {redact_url(settings.database_url)}: {e}"
        ) from None
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    projector = Projector(engine, settings.stream)
    # One consumer name: a restarted projector first re-reads its own pending entries, so the
    # order of application is the stream's order. Run one projector per database.
    consumer = StreamConsumer(client, settings.stream, GROUP, GROUP)
    log.info(
        "projector started",
        extra={
            "database": redact_url(settings.database_url),
            "redis": redact_url(settings.redis_url),
            "stream": settings.stream,
        },
    )
    group_ready = False

    def project_batch() -> float:
        nonlocal group_ready
        try:
            if not group_ready:
                consumer.ensure_group()
                group_ready = True
            deliveries = consumer.read(count=500, block_ms=500)
            if not deliveries:
                return 0.0  # the read already blocked for new entries
            for d in deliveries:
                if d.message is None:
                    consumer.dead(d, str(d.error))
            changed = projector.apply(deliveries)
            consumer.ack([d.entry_id for d in deliveries if d.message is not None])
        except (redis.ConnectionError, redis.TimeoutError):
            group_ready = False  # a restarted Redis may have lost the group
            raise
        except Exception:
            group_ready = False
            log.exception("projecting failed, retrying the batch")
            raise
        log.info(
            "projected",
            extra={
                "messages": len(deliveries),
                "changed": changed,
                "last_entry": deliveries[-1].entry_id,
            },
        )
        return 0.0

    # Any failure (Redis lost, the database busy or gone) retries the batch after a backoff;
    # the batch is applied with its checkpoint, so a retry never applies anything twice.
    run_loop(
        "projector",
        project_batch,
        stop,
        interval=0.0,
        retry_on=(Exception,),
        log=log,
        backoff=Backoff(first=0.1, cap=10.0),
    )
    engine.dispose()
    client.close()
    log.info("projector stopped")
