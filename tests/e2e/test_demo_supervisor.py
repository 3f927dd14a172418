"""The supervisor behind `edgemarket up`: logs forwarded with prefixes, every child stopped, none left."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from services.cli.up import StackError, Supervisor, wait_until

# How long `up` may take to stop: stop_all's own bound is 10 s for SIGTERM, then SIGKILL and up
# to 5 s per child, and 10 s for the groups to empty; a loaded machine uses much of it (60 s
# was too short for the SIGINT test on a CI-like load).
STOP_BOUND_S = 120


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def _pids(
    capsys: pytest.CaptureFixture[str], want: dict[str, int], timeout: float = 10
) -> dict[str, list[int]]:
    """Wait until each named child has printed `want[name]` lines `pid=N`; return the pids."""
    seen = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += capsys.readouterr().out
        found = {
            name: [
                int(line.split("pid=")[1])
                for line in seen.splitlines()
                if line.startswith(f"{name:<12}| pid=")
            ]
            for name in want
        }
        if all(len(found[n]) >= c for n, c in want.items()):
            return found
        time.sleep(0.05)
    raise AssertionError(f"children did not report their pids; saw {seen!r}")


def test_stop_all_stops_children_and_grandchildren(capsys: pytest.CaptureFixture[str]) -> None:
    sup = Supervisor()
    # A child that forks a grandchild (as a Celery worker forks its pool) and ignores SIGTERM in
    # the grandchild, so only the process-group SIGKILL can end it.
    script = textwrap.dedent(
        """
        import os, signal, sys, time
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            os.write(1, f"pid={os.getpid()}\\n".encode())
            time.sleep(300)
            sys.exit(0)
        os.write(1, f"pid={os.getpid()}\\n".encode())
        time.sleep(300)
        """
    )
    sup.start("family", [sys.executable, "-c", script], dict(os.environ))
    sup.start(
        "plain",
        [
            sys.executable,
            "-c",
            "import os,time; print(f'pid={os.getpid()}', flush=True); time.sleep(300)",
        ],
        dict(os.environ),
    )
    pids = _pids(capsys, {"family": 2, "plain": 1})
    family, plain = pids["family"], pids["plain"]
    assert all(_alive(p) for p in family + plain)
    sup.stop_all(timeout=3)
    assert not any(_alive(p) for p in family + plain)


def test_a_dead_essential_child_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    sup = Supervisor()
    try:
        sup.start(
            "doomed",
            [sys.executable, "-c", "print('about to fail'); raise SystemExit(3)"],
            dict(os.environ),
        )
        with pytest.raises(StackError, match="doomed exited with status 3"):
            wait_until("nothing", lambda: False, sup, timeout=10)
        assert "doomed      | about to fail" in capsys.readouterr().out
    finally:
        sup.stop_all(timeout=3)


def test_up_stops_every_child_on_sigterm(tmp_path: Path) -> None:
    """`edgemarket up` in a subprocess: SIGTERM while it starts the stack leaves no child behind."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "up",
            "--run-dir",
            str(tmp_path / "run"),
            "--api-port",
            "0",
        ],
        stdout=(tmp_path / "up.log").open("wb"),  # a file: an unread pipe can block `up`
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        # Wait until anvil is up (its child process exists), then stop the supervisor.
        deadline = time.monotonic() + 60
        children: list[int] = []
        while time.monotonic() < deadline and not children:
            out = subprocess.run(
                ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
            ).stdout
            children = [int(p) for p in out.split()]
            time.sleep(0.1)
        assert children, "edgemarket up started no child"
        proc.send_signal(signal.SIGTERM)
        proc.wait(STOP_BOUND_S)
        time.sleep(0.2)
        assert not any(_alive(p) for p in children)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_up_serves_the_api_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """`edgemarket up`: the whole stack answers on its port; SIGINT (Ctrl-C) stops all of it."""
    import socket

    import httpx

    from tests.e2e.test_demo_e2e import _processes_of

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run_dir = tmp_path / "up"
    output = tmp_path / "up.log"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "services.cli.main",
            "up",
            "--run-dir",
            str(run_dir),
            "--api-port",
            str(port),
            "--workers",
            "1",
            "--evaluators",
            "1",
        ],
        # to a file, not a pipe: nobody reads a pipe here, and once its 64 KiB fill up `up`
        # blocks writing its shutdown lines and never exits
        stdout=output.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        # Ctrl-C as a terminal has it: a test run started in the background (nohup, `&`)
        # ignores SIGINT, and the child would inherit that and never see the signal
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, output.read_text(errors="replace")[-3000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API never became healthy"
            time.sleep(0.5)
        tasks = httpx.get(f"http://127.0.0.1:{port}/tasks", timeout=5).json()
        assert tasks["total"] == 0
        chain = httpx.get(f"http://127.0.0.1:{port}/chain", timeout=5).json()
        assert chain["chain_id"] == 31337 and chain["contract"].startswith("0x")
        assert len(_processes_of(run_dir)) >= 8  # anvil, redis, indexer, projector, ... api
        proc.send_signal(signal.SIGINT)
        proc.wait(STOP_BOUND_S)
        assert proc.returncode == 0
        assert _processes_of(run_dir) == []
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_up_refuses_to_wipe_a_directory_it_did_not_make(tmp_path: Path) -> None:
    from services.cli.up import running_stack

    (tmp_path / "precious.txt").write_text("keep me")
    with (
        pytest.raises(StackError, match="refusing to wipe"),
        running_stack(run_dir=tmp_path, api_port=0),
    ):
        pass
    assert (tmp_path / "precious.txt").read_text() == "keep me"
