"""A live market: one anvil (1 s blocks), Redis, 3 solvers (one worker each, concurrency 1,
sharing this machine's cores), 3 evaluators (quorum 2), one keeper and a requester script
creating M tasks at staggered times with mixed environments and deadlines (some no budget
solves: multiplexer-11, cipher mix none with payload 8). It reports throughput, payout
latency, worker utilisation while any commit window is open, commitments and reveals, bonds
lost, `edgemarket audit` on every task, and whether the money adds up to the wei.

The peer, `one-at-a-time`: the same tasks as the scheduler worked before (one task at a time,
the spec's budget spent once: `budget.islands` populations of `budget.generations`, the best
on a private validation draw committed once), scored on each task's own evaluation seed from
the market run. Queueing is ignored in its favour (every task gets its whole budget).

`utilisation`: the workers' time inside epoch tasks (from the worker's start to its finish of
each epoch whose result the scheduler used, as it logs them) over workers x the seconds
during which any commit window was open; `evolve_utilisation` counts only the evolution inside
them (not loading and storing the island's population). This machine is shared, so
`cpu_utilisation` (the workers' CPU seconds over min(workers, cores) x those seconds) also
shows what other processes took from them: it says how loaded the machine was, not how well
the scheduler kept its workers busy.

`p95_payout_s`: seconds from the end of the reveal phase to the payout (finalize), 95th
percentile; the target is the evaluation window plus 30 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from web3 import Web3  # noqa: E402

from services.common import chain as c  # noqa: E402
from services.common.chain import Deployment, Marketplace, deploy, load_artifact  # noqa: E402
from services.common.content import LocalContentStore  # noqa: E402
from services.common.node import Node  # noqa: E402
from services.common.spec import TaskSpec, parse_spec  # noqa: E402
from services.requester import create_task  # noqa: E402
from tests.fixtures.chain import FUNDING, Chain, funded_keys, start_anvil  # noqa: E402
from tests.fixtures.services import PrivateRedis  # noqa: E402

ETHER = 10**18
BOND = ETHER // 100
FEE = ETHER // 1000
EVAL_WINDOW = 60  # the contract's minimum


def spec(env: dict[str, Any], samples: int, population: int, generations: int) -> TaskSpec:
    return parse_spec(
        json.dumps(
            {
                "schema": "edgemarket/task@1",
                "scorer": "bisuna-core/1",
                "env": env,
                "eval": {"samples": samples},
                "budget": {
                    "population": population,
                    "generations": generations,
                    "islands": 2,
                    "epoch_generations": max(1, generations // 4),
                },
                "title": f"market bench: {env['name']}",
            }
        )
    )


def workload(m: int, scale: float = 1.0) -> list[tuple[TaskSpec, int]]:
    """(spec, commit window in seconds, times `scale`) of M tasks, cycling through a mix of
    environments."""
    mix = [
        (spec({"name": "multiplexer-6"}, 64, 48, 60), 30),
        (spec({"name": "cipher", "params": {"payload_words": 3, "mix": "none"}}, 256, 48, 40), 40),
        (spec({"name": "multiplexer-11"}, 256, 48, 30), 45),
        (spec({"name": "parity-n", "params": {"n": 3}}, 16, 48, 60), 30),
        (spec({"name": "cipher", "params": {"payload_words": 8, "mix": "none"}}, 128, 32, 20), 45),
        (spec({"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}}, 128, 24, 40), 25),
    ]
    return [(s, round(w * scale)) for s, w in (mix[i % len(mix)] for i in range(m))]


class Stack:
    """The market's processes, each in its own session, logs in one directory."""

    def __init__(self, logs: Path, env: dict[str, str]) -> None:
        self.logs, self.env = logs, env
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str, **env: str) -> subprocess.Popen[bytes]:
        out = (self.logs / f"{name}.log").open("ab")
        p = subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", *args],
            env={**self.env, **env},
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = p
        return p

    def stop(self) -> None:
        import signal

        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children, living or reaped."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    pids.append(int(entry))
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(x) for x in fields[11:15]) / ticks
        except OSError:
            continue
    return total


def ready(stack: Stack, workers: list[subprocess.Popen[bytes]], redis_url: str, n: int) -> None:
    """Every scheduler up and every worker answering before the first task is created."""
    from celery import Celery

    app = Celery(broker=redis_url, backend=redis_url)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        up = sum(
            "scheduler up" in (stack.logs / f"scheduler-{k}.log").read_text() for k in range(n)
        )
        if up == n and len(app.control.ping(timeout=1.0)) >= len(workers):
            return
        time.sleep(1)
    raise RuntimeError(f"the market did not come up: see {stack.logs}")


def audit(
    task_id: int, rpc_url: str, work: Path, contract: str, deployment: Deployment
) -> subprocess.Popen[bytes]:
    """`edgemarket audit` of one task, another process, as anyone would run it."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "services.cli.main", "audit", str(task_id),
            "--rpc-url", rpc_url,
            "--content-store", f"file:{work / 'content'}",
            "--contract", contract,
            "--from-block", str(deployment.block_number),
        ],
        env={k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def one_at_a_time(s: TaskSpec, eval_seed: bytes, seed: int) -> int:
    """The old scheduler's answer for a task: budget.islands populations of budget.generations,
    the best on a validation draw, scored on the task's evaluation seed."""
    import bisuna
    from services.common.scoring import score_agent

    finalists = []
    for i in range(s.budget.islands):
        pop = bisuna.Population(s.to_dict(), seed * 16 + i)
        pop.evolve(s.budget.generations)
        finalists.append(pop.best().to_bytes())
    validation = b"\x5a" * 32
    best = max(finalists, key=lambda a: (score_agent(a, s, validation).score, -len(a)))
    return score_agent(best, s, eval_seed).score


def gas_spent(w3: Web3, accounts: set[str], first_block: int) -> dict[str, int]:
    spent = dict.fromkeys(accounts, 0)
    for n in range(first_block, w3.eth.block_number + 1):
        block = w3.eth.get_block(n, full_transactions=True)
        for tx in block["transactions"]:
            sender = tx["from"]  # type: ignore[index]
            if sender in spent:
                r = w3.eth.get_transaction_receipt(tx["hash"])  # type: ignore[index]
                spent[sender] += int(r["gasUsed"]) * int(r["effectiveGasPrice"])
    return spent


def main() -> int:  # one scenario, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="6 tasks (under 3 minutes)")
    parser.add_argument("--tasks", type=int, default=0, help="tasks to create (default 6 / 30)")
    parser.add_argument("--keep", type=Path, default=None, help="keep logs in this directory")
    args = parser.parse_args()
    begun = time.monotonic()
    m = args.tasks or (6 if args.quick else 30)
    # --quick: shorter windows, closer together (the evaluation window, 60 s, is the
    # contract's minimum and the longest part of a task's life either way)
    stagger = 3.0 if args.quick else 20.0

    import tempfile

    work = args.keep or Path(tempfile.mkdtemp(prefix="edgemarket-market-"))
    (work / "logs").mkdir(parents=True, exist_ok=True)
    anvil = start_anvil(("--block-time", "1"))
    redis = PrivateRedis()
    redis.start()
    stack: Stack | None = None
    try:
        w3 = Web3(Web3.HTTPProvider(anvil.url, request_kwargs={"timeout": 60}))
        ch = Chain(w3=w3, url=anvil.url, accounts=funded_keys(12))
        for a in ch.accounts:
            ch.rpc("anvil_setBalance", [a.address, hex(FUNDING)])
        deployer, requester, keeper = ch.accounts[0:3]
        solvers, evaluators = ch.accounts[3:6], ch.accounts[6:9]
        deployment: Deployment = deploy(w3, deployer, load_artifact())
        ch.mine(1)
        first_block = w3.eth.block_number + 1  # the deployment's gas is not the market's
        market = Marketplace.from_deployment(w3, deployment)
        watched = [a.address for a in ch.accounts[:9]]
        before = {a: w3.eth.get_balance(a) for a in watched}
        contract_before = w3.eth.get_balance(market.address)
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
        env.update(
            {
                "EDGEMARKET_RPC_URL": anvil.url,
                "EDGEMARKET_CHAIN_ID": "31337",
                "EDGEMARKET_REDIS_URL": redis.url,
                "EDGEMARKET_CONTENT_STORE": f"file:{work / 'content'}",
                "EDGEMARKET_STATE_DIR": str(work / "state"),
                "EDGEMARKET_DEPLOYMENT_FILE": str(deployment.save(work / "deployments")),
                "EDGEMARKET_KEEPER_INTERVAL": "1",
                "EDGEMARKET_COMMIT_MARGIN": "4",
                "EDGEMARKET_EPOCH_SECONDS": "3",
                "EDGEMARKET_LOG_LEVEL": "INFO",
                "PYTHONUNBUFFERED": "1",
            }
        )
        stack = Stack(work / "logs", env)
        stack.start("indexer", "run", "indexer")
        workers = []
        for k, key in enumerate(solvers):
            own = {
                "EDGEMARKET_QUEUE": f"edgemarket.solver{k}",
                "EDGEMARKET_PRIVATE_PREFIX": f"edgemarket:solver{k}",
                # one island more than workers: the next epoch waits in the queue, so the
                # worker never waits for the scheduler between epochs
                "EDGEMARKET_ISLANDS": "2",
            }
            workers.append(
                stack.start(
                    f"worker-{k}", "worker", "--concurrency", "1", "--loglevel", "WARNING", **own
                )
            )
            stack.start(
                f"scheduler-{k}", "run", "scheduler", EDGEMARKET_PRIVATE_KEY=key.key.hex(), **own
            )
        stack.start("keeper", "run", "keeper", EDGEMARKET_PRIVATE_KEY=keeper.key.hex())
        for k, key in enumerate(evaluators):
            stack.start(f"evaluator-{k}", "run", "evaluator", EDGEMARKET_PRIVATE_KEY=key.key.hex())
        ready(stack, workers, redis.url, len(solvers))
        setup_s = time.monotonic() - begun

        content = LocalContentStore(work / "content")
        node = Node(Marketplace.from_deployment(w3, deployment, requester), deployment, requester)
        load = workload(m, 0.8 if args.quick else 1.0)
        created: list[tuple[int, float, TaskSpec]] = []
        started = time.monotonic()
        windows: list[tuple[int, int]] = []  # chain time: (created, commit deadline)
        busy = 0.0
        open_seconds = 0.0
        last_cpu = sum(cpu_seconds(p.pid) for p in workers)
        last_tick = time.monotonic()
        next_at = started
        finalized_at: dict[int, int] = {}
        audits: dict[int, subprocess.Popen[bytes]] = {}
        deadline = started + (170 if args.quick else 1200) + 60
        while time.monotonic() < deadline:
            if len(created) < m and time.monotonic() >= next_at:
                s, commit_seconds = load[len(created)]
                t = create_task(
                    node, content, s, bounty=ETHER, evaluators=[e.address for e in evaluators],
                    quorum=2, commit_seconds=commit_seconds, reveal_seconds=10,
                    eval_window=EVAL_WINDOW, commit_bond=BOND, evaluator_fee=FEE,
                )  # fmt: skip
                created.append((t.task_id, time.monotonic(), s))
                windows.append((t.commit_deadline - commit_seconds, t.commit_deadline))
                next_at += stagger
            time.sleep(1.0)
            now_chain = int(w3.eth.get_block("latest")["timestamp"])
            cpu = sum(cpu_seconds(p.pid) for p in workers)
            tick = time.monotonic()
            if any(a <= now_chain < b for a, b in windows):
                busy += cpu - last_cpu
                open_seconds += tick - last_tick
            last_cpu, last_tick = cpu, tick
            for tid, _, _ in created:
                if tid not in finalized_at:
                    info = market.get_task(tid)
                    if info.state == c.OnChainTaskState.FINALIZED:
                        finalized_at[tid] = now_chain
                        # audited at once, while the other tasks are still running
                        audits[tid] = audit(tid, anvil.url, work, market.address, deployment)
            if len(finalized_at) == m:
                break
        wall = time.monotonic() - started
        epoch_seconds = evolve_seconds = 0.0
        for k in range(len(solvers)):
            for line in (work / "logs" / f"scheduler-{k}.log").read_text().splitlines():
                if '"epoch done"' in line:
                    done = json.loads(line)
                    # the worker's time in the epoch task: its population loaded, evolved
                    # (compute_seconds) and stored back for the island's next epoch
                    epoch_seconds += float(done["finished_at"]) - float(done["started_at"])
                    evolve_seconds += float(done.get("compute_seconds", 0.0))
        time.sleep(3)  # the last withdrawals
        stack.stop()
        stack = None

        per_task = []
        for tid, _, s in created:
            info = market.get_task(tid)
            sols = [market.get_solution(tid, i) for i in range(info.solution_count)]
            winner = sols[info.best_solution_id] if info.has_best else None
            per_task.append(
                {
                    "task": tid,
                    "env": s.env.name,
                    "finalized": tid in finalized_at,
                    "commitments": len(sols),
                    "reveals": sum(1 for x in sols if x.revealed),
                    "solvers": len({x.solver for x in sols}),
                    "winner_score": winner.score if winner else 0,
                    "payout_s": finalized_at[tid] - info.reveal_deadline
                    if tid in finalized_at
                    else None,
                    "eval_seed": info.eval_seed,
                    "spec": s,
                }
            )
        bonds_lost = sum((t["commitments"] - t["reveals"]) * BOND for t in per_task)
        audit_failures = sum(p.wait(timeout=300) != 0 for p in audits.values())
        audit_failures += m - len(audits)  # a task never finalized is never audited: a failure
        audits_done = time.monotonic()
        spent = gas_spent(w3, set(watched), first_block)
        delta = sum(w3.eth.get_balance(a) - before[a] + spent[a] for a in watched)
        delta += w3.eth.get_balance(market.address) - contract_before
        baseline = [
            one_at_a_time(t["spec"], t["eval_seed"], t["task"])
            if t["eval_seed"] != b"\x00" * 32
            else 0
            for t in per_task
        ]
        baseline_s = time.monotonic() - audits_done
    finally:
        if stack is not None:
            stack.stop()
        redis.stop()
        anvil.stop()

    ours = statistics.mean(t["winner_score"] for t in per_task) if per_task else 0.0
    theirs = statistics.mean(baseline) if baseline else 0.0
    payouts = [float(t["payout_s"]) for t in per_task if t["payout_s"] is not None]
    cores = min(len(workers), os.cpu_count() or 1)
    figures = {
        "tasks": m,
        "finalized": len(finalized_at),
        "tasks_per_hour": round(len(finalized_at) / wall * 3600, 1),
        "p50_payout_s": percentile(payouts, 0.5),
        "p95_payout_s": percentile(payouts, 0.95),
        "utilisation": round(epoch_seconds / (len(workers) * open_seconds), 3)
        if open_seconds
        else 0.0,
        "evolve_utilisation": round(evolve_seconds / (len(workers) * open_seconds), 3)
        if open_seconds
        else 0.0,
        "cpu_utilisation": round(busy / (cores * open_seconds), 3) if open_seconds else 0.0,
        "commitments_per_task": round(statistics.mean(t["commitments"] for t in per_task), 2),
        "reveals_per_task": round(statistics.mean(t["reveals"] for t in per_task), 2),
        "solvers_per_task": round(statistics.mean(t["solvers"] for t in per_task), 2),
        "bonds_lost": bonds_lost,
        "audit_failures": audit_failures,
        "money_delta_wei": delta,
        "mean_winner_score": round(ours),
        "mean_one_at_a_time_score": round(theirs),
        "wall_s": round(wall, 1),
        "setup_s": round(setup_s, 1),
        "baseline_s": round(baseline_s, 1),
        "total_s": round(time.monotonic() - begun, 1),
    }
    print(f"{'task':>5} {'env':<15} {'commits':>7} {'reveals':>7} {'solvers':>7} {'winner':>9} "
          f"{'one-at-a-time':>13} {'payout s':>8}")  # fmt: skip
    for t, b in zip(per_task, baseline, strict=True):
        print(f"{t['task']:>5} {t['env']:<15} {t['commitments']:>7} {t['reveals']:>7} "
              f"{t['solvers']:>7} {t['winner_score']:>9} {b:>13} {t['payout_s']!s:>8}")  # fmt: skip
    for k, v in figures.items():
        print(f"{k:<26} {v}")
    ratio = round(ours / theirs, 3) if theirs else 0.0
    print(json.dumps({"bench": "market", **figures, "ratio_vs": {"one-at-a-time": ratio}}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
