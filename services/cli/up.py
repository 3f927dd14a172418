"""`edgemarket up` and `edgemarket demo`: the whole marketplace as supervised local processes."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import httpx
import typer

from services.cli.stack import StackInfo, usage_block, write_stack_files
from services.common.json_input import JsonObject
from services.common.process import free_port
from services.common.settings import ANVIL_CHAIN_ID

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ANVIL = PROJECT_ROOT / "node_modules" / ".bin" / "anvil"
COLOURS = (36, 33, 32, 35, 34, 91, 92, 93, 94, 95, 96)


class StackError(RuntimeError):
    """The stack could not start or a child died; the message says which and why."""


class Stopping(BaseException):
    """Raised in the main thread by SIGTERM so that `finally` blocks stop every child."""


# ---------------------------------------------------------------- child processes


def _die_with_parent() -> None:
    # Linux: the child gets SIGTERM if the supervisor dies without cleaning up (kill -9).
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    essential: bool = True
    pump: threading.Thread | None = None


@dataclass
class Supervisor:
    """Starts children in their own process groups, forwards their logs, stops them all."""

    quiet: bool = False
    children: list[Child] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopped: bool = False

    def say(self, name: str, line: str) -> None:
        colour = COLOURS[sum(name.encode()) % len(COLOURS)]
        prefix = f"{name:<12}|"
        if sys.stdout.isatty():
            prefix = f"\x1b[{colour}m{prefix}\x1b[0m"
        with self._lock:
            sys.stdout.write(f"{prefix} {line}\n")
            sys.stdout.flush()

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: dict[str, str],
        *,
        cwd: Path = PROJECT_ROOT,
        essential: bool = True,
    ) -> Child:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we stop its whole tree, Ctrl-C reaches only us
            preexec_fn=_die_with_parent,
        )
        child = Child(name, process, essential)
        child.pump = threading.Thread(target=self._pump, args=(child,), daemon=True)
        child.pump.start()
        self.children.append(child)
        return child

    def _pump(self, child: Child) -> None:
        assert child.process.stdout is not None
        for raw in iter(child.process.stdout.readline, b""):
            if not self.quiet:
                self.say(child.name, raw.decode(errors="replace").rstrip())

    def check(self) -> None:
        """Raise if an essential child has exited."""
        for child in self.children:
            code = child.process.poll()
            if code is not None and child.essential and not self._stopped:
                raise StackError(f"{child.name} exited with status {code}; its log is above")

    def stop_all(self, timeout: float = 10.0) -> None:
        """SIGTERM every child's process group (last started first), then SIGKILL stragglers."""
        self._stopped = True
        for child in reversed(self.children):
            _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in reversed(self.children):
            remaining = max(0.1, deadline - time.monotonic())
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(remaining)
        for child in self.children:
            # Also the group: a Celery worker's pool processes share it and may outlive it.
            _signal_group(child.process, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.process.wait(5)
        # SIGKILL is asynchronous: wait until no live member of any child's group remains.
        groups = {child.process.pid for child in self.children}
        deadline = time.monotonic() + 10
        while groups and time.monotonic() < deadline:
            groups = {g for g in groups if _group_alive(g)}
            if groups:
                time.sleep(0.05)
        for child in self.children:
            if child.pump is not None:
                child.pump.join(2)


def _group_alive(pgid: int) -> bool:
    """Whether a process group still has a member that is not a zombie (Linux /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) == 0


def wait_until(
    what: str,
    ready: Any,  # Any: a callable returning a falsy value until ready, then the result
    supervisor: Supervisor,
    timeout: float = 60.0,
    period: float = 0.2,
) -> Any:  # Any: what `ready` returned
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        supervisor.check()
        with contextlib.suppress(Exception):
            value = ready()
            if value:
                return value
        time.sleep(period)
    raise StackError(f"timed out after {timeout:.0f} s waiting for {what}")


# ---------------------------------------------------------------- the stack


@dataclass
class Stack:
    """What a running stack offers: where things are, whose keys do what."""

    run_dir: Path
    rpc_url: str
    redis_url: str
    api_url: str
    chain_id: int
    env: dict[str, str]
    accounts: list[str]
    # anvil's dev keys from its own config output; never logged. Key 0 (the requester's) is
    # written to <run-dir>/stack.json (mode 0600) so that `--stack` can sign with it.
    keys: list[str]
    supervisor: Supervisor
    evaluators: list[str] = field(default_factory=list)
    usage: str = ""  # the block `up` and `demo` print, also in <run-dir>/env

    def print_usage(self) -> None:
        with self.supervisor._lock:
            sys.stdout.write(self.usage)
            sys.stdout.flush()


def _redis_answers(port: int) -> bool:
    if not port_open(port):
        return False
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"PING\r\n")
        return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))


def _start_redis(supervisor: Supervisor, run_dir: Path) -> str:
    server = shutil.which("redis-server")
    if server is not None:
        # A private instance: a fresh stream and broker for a fresh chain, nothing shared.
        port = free_port()
        supervisor.start(
            "redis",
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(run_dir),
            ],
            dict(os.environ),
        )
        wait_until("redis", lambda: _redis_answers(port), supervisor, timeout=20)
        return f"redis://127.0.0.1:{port}/0"
    if _redis_answers(6379):
        return "redis://127.0.0.1:6379/0"
    raise StackError(
        "no Redis: nothing answers on 127.0.0.1:6379 and redis-server is not installed; "
        "run `apt-get install -y redis-server` (make demo does this) or start one"
    )


def _start_anvil(
    supervisor: Supervisor, run_dir: Path, block_time: int
) -> tuple[str, list[str], list[str]]:
    if not ANVIL.exists():
        raise StackError(f"anvil is not installed at {ANVIL}; run `make install` (npm install)")
    port = free_port()
    config = run_dir / "anvil.json"
    supervisor.start(
        "anvil",
        [
            str(ANVIL),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
            "--block-time",
            str(block_time),
            "--accounts",
            "10",
            "--silent",
            "--config-out",
            str(config),
        ],
        dict(os.environ),
    )
    rpc = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        r = httpx.post(
            rpc, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}, timeout=1
        )
        return r.status_code == 200 and config.exists() and config.stat().st_size > 0

    wait_until("anvil", ready, supervisor, timeout=30)
    data = json.loads(config.read_text())
    config.unlink()  # the keys stay in memory only
    return rpc, list(data["available_accounts"]), list(data["private_keys"])


# Anvil account indexes: 0 the requester, 1 the first solver, 2-4 evaluators, 5 the keeper,
# 6-9 more solvers.
SOLVER_KEYS = (1, 6, 7, 8, 9)


def _start_solver(supervisor: Supervisor, env: dict[str, str], k: int, workers: int) -> None:
    """Solver k+1: its own key (in env), scheduler, worker queue and private store, and its
    `workers` workers; each solver's portfolio starts at a different strategy, so the demo's
    two solvers race the ES against BiSUNA's own generation."""
    from services.scheduler.islands import DEFAULT_PORTFOLIO

    suffix = "" if k == 0 else f"-{k + 1}"
    env = dict(env)
    if k:
        env["EDGEMARKET_QUEUE"] = env.get("EDGEMARKET_QUEUE", "edgemarket.evolve") + suffix
        env["EDGEMARKET_PRIVATE_PREFIX"] = (
            env.get("EDGEMARKET_PRIVATE_PREFIX", "edgemarket:private") + suffix
        )
    known = list(DEFAULT_PORTFOLIO)
    env["EDGEMARKET_STRATEGIES"] = json.dumps(known[k % len(known) :] + known[: k % len(known)])
    # one epoch running and one queued per worker: a worker never waits for the scheduler
    env.setdefault("EDGEMARKET_ISLANDS", str(2 * workers))
    supervisor.start(f"scheduler{suffix}", _service_argv("run", "scheduler"), env)
    worker_env = {key: v for key, v in env.items() if key != "EDGEMARKET_PRIVATE_KEY"}
    for i in range(workers):
        supervisor.start(
            f"worker{suffix}-{i + 1}", _service_argv("worker", "--concurrency", "1"), worker_env
        )


def _service_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "services.cli.main", *args]


def _deploy(env: dict[str, str], supervisor: Supervisor) -> None:
    result = subprocess.run(
        _service_argv("contract", "deploy"),
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    for line in (result.stdout + result.stderr).splitlines():
        supervisor.say("deploy", line)
    if result.returncode != 0:
        raise StackError(
            f"contract deploy failed with status {result.returncode}; its output is above"
        )


@contextlib.contextmanager
def running_stack(
    *,
    run_dir: Path,
    api_port: int,
    workers: int = 2,
    evaluators: int = 3,
    solvers: int = 1,
    block_time: int = 1,
    quiet: bool = False,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Start anvil, Redis, the contract, every service and the API; stop them all on exit."""
    supervisor = Supervisor(quiet=quiet)
    if api_port and port_open(api_port):
        taken, api_port = api_port, free_port()
        supervisor.say("up", f"port {taken} is taken: the API listens on {api_port} instead")
    marker = run_dir / ".edgemarket-run"
    if run_dir.exists() and any(run_dir.iterdir()) and not marker.exists():
        raise StackError(
            f"{run_dir} is not empty and was not made by `edgemarket up`: refusing to wipe it"
        )
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh chain needs a fresh projection, stream and content store
    run_dir.mkdir(parents=True)
    marker.touch()
    try:
        rpc_url, accounts, keys = _start_anvil(supervisor, run_dir, block_time)
        redis_url = _start_redis(supervisor, run_dir)
        base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
        base.update(
            {
                "EDGEMARKET_RPC_URL": rpc_url,
                "EDGEMARKET_CHAIN_ID": str(ANVIL_CHAIN_ID),
                "EDGEMARKET_REDIS_URL": redis_url,
                "EDGEMARKET_DATABASE_URL": f"sqlite:///{run_dir / 'edgemarket.db'}",
                "EDGEMARKET_CONTENT_STORE": f"file:{run_dir / 'content'}",
                "EDGEMARKET_DEPLOYMENT_FILE": str(run_dir / "deployment.json"),
                "EDGEMARKET_STATE_DIR": str(run_dir),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if redis_url.startswith("redis://127.0.0.1:6379/"):
            # A shared Redis (a private one holds nothing else): a stream, queue and private
            # store of this run's own, so an earlier run (another chain) never mixes with it.
            run_id = os.urandom(4).hex()
            base["EDGEMARKET_STREAM"] = f"edgemarket:{run_id}:events"
            base["EDGEMARKET_QUEUE"] = f"edgemarket.{run_id}.evolve"
            base["EDGEMARKET_PRIVATE_PREFIX"] = f"edgemarket:{run_id}:private"
        base.update(extra_env or {})

        def with_key(index: int) -> dict[str, str]:
            return {**base, "EDGEMARKET_PRIVATE_KEY": keys[index]}

        _deploy(with_key(0), supervisor)
        supervisor.start("indexer", _service_argv("run", "indexer"), base)
        supervisor.start("projector", _service_argv("run", "projector"), base)
        for k in range(solvers):
            _start_solver(supervisor, with_key(SOLVER_KEYS[k]), k, workers)
        supervisor.start("keeper", _service_argv("run", "keeper"), with_key(5))
        for i in range(evaluators):
            supervisor.start(
                f"evaluator-{i + 1}", _service_argv("run", "evaluator"), with_key(2 + i)
            )
        supervisor.start(
            "api", _service_argv("run", "api", "--host", "127.0.0.1", "--port", str(api_port)), base
        )
        api_url = f"http://127.0.0.1:{api_port}"
        wait_until(
            "the API",
            lambda: httpx.get(f"{api_url}/health", timeout=2).status_code == 200,
            supervisor,
            60,
        )
        info = StackInfo(
            run_dir=str(run_dir.resolve()),
            page_url=api_url,
            rpc_url=rpc_url,
            chain_id=ANVIL_CHAIN_ID,
            redis_url=redis_url,
            database_url=f"sqlite:///{(run_dir / 'edgemarket.db').resolve()}",
            content_store=f"file:{(run_dir / 'content').resolve()}",
            deployment_file=str((run_dir / "deployment.json").resolve()),
            evaluators=accounts[2 : 2 + evaluators],
            requester=accounts[0],
            requester_key=keys[0],
            stream=base.get("EDGEMARKET_STREAM"),
        )
        usage = usage_block(info, keeper=accounts[5], scheduler=accounts[1])
        write_stack_files(info, usage)
        yield Stack(
            run_dir=run_dir,
            rpc_url=rpc_url,
            redis_url=redis_url,
            api_url=api_url,
            chain_id=ANVIL_CHAIN_ID,
            env=base,
            accounts=accounts,
            keys=keys,
            supervisor=supervisor,
            evaluators=info.evaluators,
            usage=usage,
        )
    finally:
        supervisor.stop_all()


@contextlib.contextmanager
def signals_stop() -> Iterator[None]:
    """SIGTERM (and SIGHUP) behave like Ctrl-C: unwind, stopping every child on the way."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Stopping(signal.Signals(signum).name)

    previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def serve_forever(stack: Stack) -> None:
    while True:
        stack.supervisor.check()
        time.sleep(0.5)


# ---------------------------------------------------------------- the demo task

# The cipher payload (16-bit words) of the demo task, with mix none: the largest the `es`
# search solves reliably inside the demo's window. At the demo's population (24) and samples
# (512), 2026-12-02: 5 words solved on 16/16 seeds in 1.8-13.1 CPU-s (median 7), 6 words on
# 5/6 within 20 s, 4 words in 1-2 s (see README, "Search strategies").
DEMO_PAYLOAD_WORDS = 5

DEMO_SPEC: JsonObject = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/2",
    # mix none: Alice sees the key and the plaintext apart, so a winner has learnt to encrypt
    # (with mix xor the environment hands her K xor P and three wires make a perfect pad).
    "env": {"name": "cipher", "params": {"payload_words": DEMO_PAYLOAD_WORDS, "mix": "none"}},
    "eval": {"samples": 512},
    "budget": {"population": 24, "generations": 60, "islands": 2, "epoch_generations": 20},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
    "title": "Demo: learn to encrypt",
    "description": "Alice encrypts a 16-bit word with a shared key, Bob decrypts it, and three "
    "attackers who never see the key try to read it.",
}


def create_demo_task(
    stack: Stack, *, commit_seconds: int, reveal_seconds: int, eval_window: int, evaluators: int = 3
) -> int:
    """Create the demo task as the requester, through the requester's library (as `edgemarket
    task create` does): the spec goes to the stack's content store, the task on chain."""
    from eth_account import Account
    from web3 import Web3

    from services.common.chain import Deployment, Marketplace
    from services.common.content import LocalContentStore
    from services.common.node import Node
    from services.common.spec import parse_spec
    from services.requester import create_task

    w3 = Web3(Web3.HTTPProvider(stack.rpc_url, request_kwargs={"timeout": 30}))
    deployment = Deployment.load(stack.run_dir / "deployment.json")
    requester = Account.from_key(stack.keys[0])
    node = Node(Marketplace.from_deployment(w3, deployment, requester), deployment, requester)
    created = create_task(
        node,
        LocalContentStore(stack.run_dir / "content"),
        parse_spec(DEMO_SPEC),
        bounty=10**18,
        evaluators=stack.accounts[2 : 2 + evaluators],
        quorum=evaluators // 2 + 1,
        commit_seconds=commit_seconds,
        reveal_seconds=reveal_seconds,
        eval_window=eval_window,
        min_score=0,
        commit_bond=10**16,
        evaluator_fee=10**15,
    )
    return created.task_id


def wait_for_payout(stack: Stack, task_id: int, timeout: float) -> JsonObject:
    def finalized() -> JsonObject | None:
        task: JsonObject = httpx.get(f"{stack.api_url}/tasks/{task_id}", timeout=5).json()
        return task if task.get("state") == "finalized" else None

    task: JsonObject = wait_until(
        f"task {task_id} to be paid", finalized, stack.supervisor, timeout, period=1.0
    )
    return task


def wait_for_withdrawal(stack: Stack, winner: str, timeout: float = 90) -> int:
    """The pull payment completes: the winner's credits go to zero (the solver's keeper
    withdraws them), and the projection has the Withdrawn event. Returns the amount withdrawn."""
    from web3 import Web3

    from services.common.chain import Deployment, Marketplace, Withdrawn

    w3 = Web3(Web3.HTTPProvider(stack.rpc_url, request_kwargs={"timeout": 30}))
    deployment = Deployment.load(stack.run_dir / "deployment.json")
    market = Marketplace.from_deployment(w3, deployment)
    wait_until(
        f"{winner} to withdraw the bounty",
        lambda: market.credits(winner) == 0,
        stack.supervisor,
        timeout,
        1.0,
    )
    withdrawals = [
        (e.block_number, e.event.amount)
        for e in market.get_events(deployment.block_number)
        if isinstance(e.event, Withdrawn) and e.event.account.lower() == winner.lower()
    ]
    last_block = max(block for block, _ in withdrawals)

    def projected() -> bool:
        block = httpx.get(f"{stack.api_url}/health", timeout=5).json().get("projected_block")
        return block is not None and block >= last_block

    wait_until("the projection to see the withdrawal", projected, stack.supervisor, 30)
    return sum(amount for _, amount in withdrawals)


def print_leaderboard(stack: Stack, task: JsonObject) -> None:
    from rich.console import Console
    from rich.table import Table

    board = httpx.get(f"{stack.api_url}/tasks/{task['id']}/leaderboard", timeout=5).json()
    table = Table(title=f"Task #{task['id']}: {task.get('title') or 'demo'}")
    for column in ("rank", "solution", "solver", "status", "verified", "claimed", "attested"):
        table.add_column(column, no_wrap=True)
    for e in board["entries"]:
        verified = "-" if e["verified_score"] is None else f"{e['verified_score'] / 1e6:.6f}"
        claimed = "-" if e["claimed_score"] is None else f"{e['claimed_score'] / 1e6:.6f}"
        table.add_row(
            str(e["rank"] or "-"),
            str(e["solution_id"]),
            f"{e['solver'][:8]}…{e['solver'][-6:]}",
            e["status"],
            verified,
            claimed,
            str(len(e["attestations"])),
        )
    console = Console(width=max(100, shutil.get_terminal_size().columns))
    console.print(table)
    payout = int(task.get("payout_wei") or 0) / 1e18
    console.print(f"winner {task.get('winner')} paid {payout} TFUEL")
    console.print(f"the page: {stack.api_url}/#/tasks/{task['id']}")


# ---------------------------------------------------------------- commands


def up(
    api_port: Annotated[int, typer.Option(help="Port of the API and the web page.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Celery workers to start per solver.")] = 2,
    evaluators: Annotated[
        int, typer.Option(min=1, max=5, help="Independent evaluators to start.")
    ] = 3,
    solvers: Annotated[
        int,
        typer.Option(
            min=1, max=len(SOLVER_KEYS), help="Competing solvers (key, scheduler, workers each)."
        ),
    ] = 1,
    run_dir: Annotated[
        Path, typer.Option(help="Where the local chain's data lives (wiped).")
    ] = Path(".edgemarket/up"),
) -> None:
    """Start the whole marketplace as local processes; Ctrl-C stops every one of them."""
    try:
        with (
            signals_stop(),
            contextlib.suppress(KeyboardInterrupt, Stopping),
            running_stack(
                run_dir=run_dir,
                api_port=api_port,
                workers=workers,
                evaluators=evaluators,
                solvers=solvers,
            ) as stack,
        ):
            stack.print_usage()
            stack.supervisor.say(
                "up", f"chain {stack.rpc_url} (id {stack.chain_id}), redis {stack.redis_url}"
            )
            serve_forever(stack)
    except StackError as exc:
        typer.echo(f"up failed: {exc}", err=True)
        raise typer.Exit(1) from None


def demo(
    api_port: Annotated[int, typer.Option(help="Port of the API and the web page.")] = 8000,
    commit_seconds: Annotated[int, typer.Option(help="The demo task's commit window.")] = 45,
    reveal_seconds: Annotated[int, typer.Option(help="The demo task's reveal window.")] = 20,
    eval_window: Annotated[
        int, typer.Option(help="The demo task's evaluation window (contract minimum 60).")
    ] = 60,
    timeout: Annotated[
        float, typer.Option(help="Give up if no payout after this many seconds.")
    ] = 600,
    exit_after_payout: Annotated[
        bool,
        typer.Option("--exit", envvar="DEMO_EXIT", help="Exit 0 after the payout (DEMO_EXIT=1)."),
    ] = False,
    quiet: Annotated[bool, typer.Option(help="Do not forward the services' logs.")] = False,
    solvers: Annotated[
        int,
        typer.Option(
            min=1, max=len(SOLVER_KEYS), help="Competing solvers (key, scheduler, workers each)."
        ),
    ] = 2,
    workers: Annotated[int, typer.Option(min=1, help="Celery workers per solver.")] = 1,
    run_dir: Annotated[
        Path, typer.Option(help="Where the local chain's data lives (wiped).")
    ] = Path(".edgemarket/demo"),
) -> None:
    """The whole marketplace, plus a sample cipher task driven to a verified payout."""
    code = 0
    with signals_stop(), contextlib.suppress(KeyboardInterrupt, Stopping):
        try:
            with running_stack(
                run_dir=run_dir,
                api_port=api_port,
                quiet=quiet,
                solvers=solvers,
                workers=workers,
                extra_env={"EDGEMARKET_COMMIT_MARGIN": "8", "EDGEMARKET_KEEPER_INTERVAL": "1"},
            ) as stack:
                stack.print_usage()
                task_id = create_demo_task(
                    stack,
                    commit_seconds=commit_seconds,
                    reveal_seconds=reveal_seconds,
                    eval_window=eval_window,
                )
                stack.supervisor.say(
                    "demo",
                    f"created task {task_id}; watch it live at {stack.api_url}/#/tasks/{task_id}",
                )
                task = wait_for_payout(stack, task_id, timeout)
                if not task.get("winner"):
                    raise StackError(f"task {task_id} finalized without a verified winner")
                withdrawn = wait_for_withdrawal(stack, task["winner"])
                print_leaderboard(stack, task)
                stack.supervisor.say(
                    "demo", f"the winner has withdrawn {withdrawn / 10**18} TFUEL in all"
                )
                if exit_after_payout:
                    return
                stack.supervisor.say("demo", "serving until Ctrl-C")
                serve_forever(stack)
        except StackError as exc:
            typer.echo(f"demo failed: {exc}", err=True)
            code = 1
    raise typer.Exit(code)
