"""The scheduler's durable state: tasks it took on, and each commitment's salt and agent from
before the commit transaction is sent until the reveal is mined (SQLite, fsync'd)."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any


class SolverTaskState(StrEnum):
    ACCEPTED = "accepted"  # spec valid, evolution to run
    REJECTED = "rejected"  # spec invalid or task unworkable: never retried
    COMMITTED = "committed"  # our commitment(s) recorded; reveal pending
    DONE = "done"  # revealed, or given up (reason says why)


class RevealState(StrEnum):
    COMMITTING = "committing"  # written before the commit tx is sent
    COMMITTED = "committed"  # mined; solution id known
    REVEALED = "revealed"
    ABANDONED = "abandoned"  # never mined, or reveal window missed


@dataclass(frozen=True)
class TaskRecord:
    task_id: int
    state: SolverTaskState
    spec_cid: str
    commit_deadline: int
    reveal_deadline: int
    reason: str
    attempts: int


@dataclass(frozen=True)
class PendingReveal:
    task_id: int
    commitment: bytes
    agent: bytes
    salt: bytes
    claimed_score: int
    state: RevealState
    solution_id: int | None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS task (
    task_id INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    spec_cid TEXT NOT NULL,
    commit_deadline INTEGER NOT NULL,
    reveal_deadline INTEGER NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    attempts INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS pending (
    task_id INTEGER NOT NULL,
    commitment BLOB NOT NULL PRIMARY KEY,
    agent BLOB NOT NULL,
    salt BLOB NOT NULL,
    claimed_score INTEGER NOT NULL,
    state TEXT NOT NULL,
    solution_id INTEGER,
    updated REAL NOT NULL
);
"""


class RevealStore:
    """One SQLite file per (chain, contract, solver). Every write is a committed, fsync'd
    transaction (journal_mode=DELETE, synchronous=FULL) before the caller goes on."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        # One connection shared by the stream thread and the work loop, serialised by a lock.
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=DELETE")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(sql, args)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")  # durable on return (synchronous=FULL)

    def _read(self, sql: str, args: tuple[object, ...]) -> list[Any]:  # Any: sqlite3 rows are untyped
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # tasks ------------------------------------------------------------------------------
    def task(self, task_id: int) -> TaskRecord | None:
        rows = self._read(
            "SELECT task_id, state, spec_cid, commit_deadline, reveal_deadline, reason, attempts"
            " FROM task WHERE task_id = ?",
            (task_id,),
        )
        if not rows:
            return None
        row: tuple[Any, ...] = rows[0]  # Any: a sqlite3 row
        return TaskRecord(row[0], SolverTaskState(row[1]), row[2], row[3], row[4], row[5], row[6])

    def put_task(
        self,
        task_id: int,
        state: SolverTaskState,
        *,
        spec_cid: str,
        commit_deadline: int,
        reveal_deadline: int,
        reason: str = "",
    ) -> None:
        self._write(
            "INSERT INTO task (task_id, state, spec_cid, commit_deadline, reveal_deadline, reason,"
            " attempts, updated) VALUES (?, ?, ?, ?, ?, ?, 0, ?)"
            " ON CONFLICT(task_id) DO UPDATE SET state = excluded.state, reason = excluded.reason,"
            " updated = excluded.updated",
            (task_id, state.value, spec_cid, commit_deadline, reveal_deadline, reason, time.time()),
        )

    def set_task_state(self, task_id: int, state: SolverTaskState, reason: str = "") -> None:
        self._write(
            "UPDATE task SET state = ?, reason = ?, updated = ? WHERE task_id = ?",
            (state.value, reason, time.time(), task_id),
        )

    def tasks_in(self, *states: SolverTaskState) -> list[TaskRecord]:
        marks = ",".join("?" for _ in states)
        rows = self._read(
            "SELECT task_id, state, spec_cid, commit_deadline, reveal_deadline, reason, attempts"
            f" FROM task WHERE state IN ({marks}) ORDER BY task_id",
            tuple(s.value for s in states),
        )
        return [TaskRecord(r[0], SolverTaskState(r[1]), r[2], r[3], r[4], r[5], r[6]) for r in rows]

    # pending reveals ----------------------------------------------------------------------
    def record_commit_intent(
        self, task_id: int, commitment: bytes, agent: bytes, salt: bytes, claimed_score: int
    ) -> None:
        """Keep salt and agent durably; call before sending the commit transaction."""
        self._write(
            "INSERT INTO pending (task_id, commitment, agent, salt, claimed_score, state, updated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(commitment) DO NOTHING",
            (
                task_id,
                commitment,
                agent,
                salt,
                claimed_score,
                RevealState.COMMITTING.value,
                time.time(),
            ),
        )

    def mark(self, commitment: bytes, state: RevealState, solution_id: int | None = None) -> None:
        self._write(
            "UPDATE pending SET state = ?, solution_id = COALESCE(?, solution_id), updated = ?"
            " WHERE commitment = ?",
            (state.value, solution_id, time.time(), commitment),
        )

    def pending(self, task_id: int | None = None) -> list[PendingReveal]:
        sql = f"{_PENDING_COLUMNS} WHERE state IN (?, ?)"
        args: tuple[object, ...] = (RevealState.COMMITTING.value, RevealState.COMMITTED.value)
        if task_id is not None:
            sql += " AND task_id = ?"
            args += (task_id,)
        rows = self._read(sql + " ORDER BY task_id, updated", args)
        return [_pending(r) for r in rows]

    def get(self, commitment: bytes) -> PendingReveal | None:
        """The current row of one commitment (a list read earlier may be stale)."""
        rows = self._read(f"{_PENDING_COLUMNS} WHERE commitment = ?", (commitment,))
        return _pending(rows[0]) if rows else None

    def all_for(self, task_id: int) -> list[PendingReveal]:
        rows = self._read(
            f"{_PENDING_COLUMNS} WHERE task_id = ? ORDER BY updated",
            (task_id,),
        )
        return [_pending(r) for r in rows]


_PENDING_COLUMNS = (
    "SELECT task_id, commitment, agent, salt, claimed_score, state, solution_id FROM pending"
)


def _pending(r: Any) -> PendingReveal:  # Any: a sqlite3 row
    return PendingReveal(r[0], bytes(r[1]), bytes(r[2]), bytes(r[3]), r[4], RevealState(r[5]), r[6])
