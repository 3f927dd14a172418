"""The pending-reveal store keeps salt and agent through a kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from services.scheduler.reveals import RevealState, RevealStore, SolverTaskState


def test_intent_survives_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite"
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from services.scheduler.reveals import RevealStore\n"
        f"s = RevealStore(Path({str(db)!r}))\n"
        "s.record_commit_intent(7, b'\\x01' * 32, b'agent-bytes', b'\\x02' * 32, 123)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False)
    assert proc.returncode == -signal.SIGKILL
    store = RevealStore(db)
    [p] = store.pending(7)
    assert (p.agent, p.salt, p.claimed_score, p.state) == (
        b"agent-bytes",
        b"\x02" * 32,
        123,
        RevealState.COMMITTING,
    )
    assert os.stat(db).st_size > 0


def test_pending_lifecycle(tmp_path: Path) -> None:
    store = RevealStore(tmp_path / "s.sqlite")
    store.record_commit_intent(1, b"c" * 32, b"a", b"s" * 32, 5)
    store.record_commit_intent(1, b"c" * 32, b"other", b"t" * 32, 6)  # same commitment: kept once
    store.mark(b"c" * 32, RevealState.COMMITTED, solution_id=3)
    [p] = store.pending(1)
    assert (p.agent, p.solution_id, p.state) == (b"a", 3, RevealState.COMMITTED)
    store.mark(b"c" * 32, RevealState.REVEALED)
    assert store.pending(1) == []
    assert store.all_for(1)[0].solution_id == 3


def test_task_states(tmp_path: Path) -> None:
    store = RevealStore(tmp_path / "s.sqlite")
    store.put_task(
        4, SolverTaskState.ACCEPTED, spec_cid="bafk", commit_deadline=10, reveal_deadline=20
    )
    store.set_task_state(4, SolverTaskState.REJECTED, "spec is not edgemarket/task@1")
    rec = store.task(4)
    assert rec is not None and rec.state is SolverTaskState.REJECTED and "task@1" in rec.reason
    assert store.tasks_in(SolverTaskState.ACCEPTED) == []
    assert store.task(5) is None


def test_get_sees_what_a_listed_row_missed(tmp_path: Path) -> None:
    store = RevealStore(tmp_path / "s.sqlite")
    store.record_commit_intent(4, b"k" * 32, b"agent", b"s" * 32, 9)
    [listed] = store.pending(4)
    store.mark(b"k" * 32, RevealState.COMMITTED, 2)  # the commit finished meanwhile
    assert listed.solution_id is None
    fresh = store.get(b"k" * 32)
    assert fresh is not None
    assert (fresh.state, fresh.solution_id, fresh.agent) == (RevealState.COMMITTED, 2, b"agent")
    assert store.get(b"x" * 32) is None
