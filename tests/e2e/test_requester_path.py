"""The README's requester path, from a clean shell holding only the block `edgemarket up` prints:
`up` → `spec new multiplexer-6` → `task create` → `task show` until the payout.

Nothing but that block reaches the commands: the shell starts with `env -i` (PATH and HOME only)
and runs the block's own lines, then the README's commands (with short windows).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures.services import free_port

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _block(log: Path, up: subprocess.Popen[bytes], timeout: float) -> str:
    """The usage block from `up`'s output, once it is printed in full."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        start = text.find("# ---- your Edge Marketplace stack ----")
        end = text.find("# first task:", start)
        if start >= 0 and end >= 0:
            return text[start : text.index("\n", end) + 1]
        assert up.poll() is None, f"up exited with {up.returncode}:\n{text[-3000:]}"
        time.sleep(1)
    raise AssertionError(f"up printed no block in {timeout} s:\n{log.read_text()[-3000:]}")


def _shell(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["env", "-i", f"PATH={BIN}:/usr/bin:/bin", f"HOME={cwd}", "COLUMNS=200", "bash", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_readme_requester_path_to_a_payout(tmp_path: Path, clean_env: None) -> None:
    assert (BIN / "edgemarket").exists(), "make install puts the edgemarket command in the venv"
    run_dir = tmp_path / "up"
    home = tmp_path / "home"
    home.mkdir()
    log = tmp_path / "up.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    with log.open("wb") as out:
        up = subprocess.Popen(
            [str(BIN / "edgemarket"), "up", "--run-dir", str(run_dir), "--api-port", str(free_port()),
             "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        block = _block(log, up, 240)
        assert f"export EDGEMARKET_STACK={run_dir}" in block
        assert (run_dir / "env").read_text() == block
        evaluators = re.findall(r"^#\s+(0x[0-9a-fA-F]{40})$", block, re.M)
        assert len(evaluators) == 3
        assert "http://127.0.0.1:" in block and "requester (you): 0x" in block

        create = _shell(
            block
            + "set -e\n"
            + "edgemarket spec new multiplexer-6 > spec.jsonc\n"
            + "edgemarket task create --spec spec.jsonc --bounty 1 --fee 0.001 "
            + "--commit-seconds 60 --reveal-seconds 20 --eval-window 60 "
            + " ".join(f"-e {e}" for e in evaluators)
            + "\n",
            home,
        )
        assert create.returncode == 0, create.stdout + create.stderr
        assert "task 1 created" in create.stdout and "1 TFUEL escrowed" in create.stdout

        deadline = time.monotonic() + 420
        shown = ""
        while time.monotonic() < deadline:
            assert up.poll() is None, log.read_text()[-3000:]
            result = _shell(block + "edgemarket task show 1\n", home)
            assert result.returncode == 0, result.stderr
            shown = result.stdout
            if "payout" in shown:
                break
            time.sleep(5)
        assert "task 1: finalized" in shown, shown
        assert re.search(r"winner 0x[0-9a-fA-F]{40} \(solution \d+, score (?:1|0\.\d+)\): payout 1 TFUEL", shown), shown
        assert "evaluator fee 0.001 TFUEL each (0.003 TFUEL for 3)" in shown
        listed = _shell(block + "edgemarket task list\n", home)
        assert listed.returncode == 0 and "finalized" in listed.stdout
    finally:
        up.send_signal(signal.SIGTERM)
        try:
            up.wait(90)
        except subprocess.TimeoutExpired:
            up.kill()
            up.wait(10)
