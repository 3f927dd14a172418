"""`DEMO_EXIT=1 edgemarket demo`: the whole marketplace as local processes, to a verified payout.

Runs the demo's entry point as a user would (anvil, a private redis-server, the contract,
indexer, projector, scheduler, keeper, three evaluators, two Celery workers, the API), with
short deadlines and a small population, then checks the payout in what the stack left behind
(its projection) and that no process of the stack survives.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, create_engine, select

from services.projector.models import Attestation, Credit, Solution, Task, Withdrawal
from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def _processes_of(run_dir: Path) -> list[int]:
    """Processes whose command line or environment names the demo's run directory."""
    marker = str(run_dir).encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            named = (
                marker in (proc / "cmdline").read_bytes()
                or marker in (proc / "environ").read_bytes()
            )
            if named and (proc / "stat").read_text().split()[2] != "Z":
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_demo_runs_a_task_to_a_verified_payout(tmp_path: Path, clean_env: None) -> None:
    run_dir = tmp_path / "demo"
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "demo",
            "--quiet",
            "--api-port",
            str(port),
            "--run-dir",
            str(run_dir),
            "--commit-seconds",
            "30",
            "--reveal-seconds",
            "15",
            "--eval-window",
            "60",
            "--timeout",
            "300",
        ],
        cwd=ROOT,
        env={**os.environ, "DEMO_EXIT": "1", "COLUMNS": "160"},
        capture_output=True,
        text=True,
        timeout=400,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "paid 1.0 TFUEL" in output and f"http://127.0.0.1:{port}/#/tasks/1" in output

    engine = create_engine(f"sqlite:///{run_dir / 'edgemarket.db'}")
    with Session(engine) as db:
        task = db.get(Task, 1)
        assert task is not None and task.state == "finalized"
        assert task.winner is not None and task.payout == str(10**18)
        best = db.get(Solution, (1, task.best_solution_id))
        assert best is not None and best.status == "verified" and best.solver == task.winner
        attestations = db.exec(select(Attestation).where(Attestation.task_id == 1)).all()
        agreeing = [
            a
            for a in attestations
            if a.solution_id == best.solution_id and a.score == best.verified_score
        ]
        assert len(agreeing) >= 2  # quorum 2 of 3 evaluators
        credits = db.exec(select(Credit).where(Credit.task_id == 1)).all()
        assert any(c.account == task.winner and c.amount == str(10**18) for c in credits)
        # The keeper withdraws the solver's credits: the bounty left the contract.
        paid = db.exec(select(Withdrawal).where(Withdrawal.account == task.winner)).all()
        assert sum(int(w.amount) for w in paid) >= 10**18
    engine.dispose()

    assert _processes_of(run_dir) == [], "the demo left processes behind"
