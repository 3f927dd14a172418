"""Quality bench of the search: how fast each solver finds a winning agent (issue 10).

For each task and seed, a solver runs until it has a solution or spends its CPU-second cap
(process time: the machine is shared, so wall time would measure the neighbours). Solvers:
- `es` and `suna`, the core's strategies (bisuna.Population(spec, seed, strategy=...));
- neat-python 2.0 (bench/core.py's feed-forward config, population 150) and DEAP 1.4 GP
  (AND/OR/NOT/IF, tournament 7, crossover 0.8 and mutation 0.1 as in DEAP's multiplexer
  example, population 300, height limit 17) on the boolean tasks.

Budget per seed (the full run, 10 seeds; CAPS below; --quick and --cap-scale scale them all):
- `es` (the strategy under test, or any core strategy not named below): the issue's caps,
  300 CPU-s on multiplexer-11 and 60 CPU-s on every other task.
- `suna` (the baseline): 6 CPU-s on every task.
- neat-python and DEAP: 10 CPU-s on multiplexer-6, parity-3 and parity-4, 30 CPU-s on
  multiplexer-11 (the boolean tasks only).
Each solver's summary also states its budget in evaluations: its measured evaluations per
CPU-second times its cap (`cap_evals`). An unsolved run counts as its own solver's cap. The
peers' caps are below ours, so they can only lower `ratio_vs`: where a peer solves nothing
within its cap, its ratio is a lower bound (cap / our median).

Solved means: for the core, the population's best agent scores 1,000,000 under bisuna.score
on 16 held-out evaluation seeds (4 for the cipher; mountain-car: a mean of at least 890,000,
gym's threshold of <= 110 steps, over 4 held-out seeds), so a winner that only got lucky with
its random neurons does not count; for the peers, a program right on every case. Evaluations
and CPU-seconds are counted up to the check that found the solution.

Every (task, solver, seed) run is one job; the jobs run longest cap first in --procs worker
processes (default 2), so on two free cores the full run takes about `cpu_s_total` / 2 (the
CPU-s its runs spent), at worst `cpu_s_worst_case` / 2 (every run to its cap) plus one cap.
--quick: multiplexer-6, parity-3 and parity-4, 2 seeds, every cap x 0.2.

Usage: .venv/bin/python bench/search.py [--quick] [--seeds N] [--tasks a,b] [--solvers a,b]
       [--cap-scale X] [--procs N] [--save part.json]; parts saved by separate runs are joined
       by bench/search.py --combine part1.json part2.json.
Ends with one JSON line: {"bench": "search", "solved": {...}, ..., "ratio_vs": {...}}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import operator
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import neat
from deap import algorithms, base, creator, gp, tools

import bisuna

MILLION = 1_000_000
BOOLEAN = ("multiplexer-6", "multiplexer-11", "parity-3", "parity-4")
TASKS = (*BOOLEAN, "cipher-none-3", "cipher-none-8", "mountain-car")
# CPU-seconds per seed (the full run); --quick and --cap-scale scale them. CAPS is the budget of
# the strategy under test (`es`, or any core strategy not in BASELINE_CAPS): the issue's.
CAPS = {
    "multiplexer-6": 60.0,
    "multiplexer-11": 300.0,
    "parity-3": 60.0,
    "parity-4": 60.0,
    "cipher-none-3": 60.0,
    "cipher-none-8": 60.0,
    "mountain-car": 60.0,
}
# The baselines get less, so that the full run fits 30 minutes on two cores: an unsolved run
# counts as its cap, so a smaller peer cap only lowers `ratio_vs` (conservative).
PEER_CAPS = {"multiplexer-6": 10.0, "multiplexer-11": 30.0, "parity-3": 10.0, "parity-4": 10.0}
BASELINE_CAPS = {
    "suna": dict.fromkeys(TASKS, 6.0),
    "neat-python": PEER_CAPS,
    "deap": PEER_CAPS,
}
PEERS = ("neat-python", "deap")
QUICK_SCALE = 0.2  # --quick: 2 s for the peers, 12 s for `es` on the small tasks


def spec_of(task: str) -> dict[str, Any]:
    env: dict[str, Any]
    extra: dict[str, Any] = {}
    if task.startswith("parity-"):
        env = {"name": "parity-n", "params": {"n": int(task.split("-")[1])}}
    elif task.startswith("cipher-none-"):
        env = {
            "name": "cipher",
            "params": {"payload_words": int(task.split("-")[2]), "mix": "none"},
        }
        # population 24, the demo's: `es` on the cipher solves fastest with few lineages
        # (README, "Search strategies"); `suna` gets the same population
        extra = {"eval": {"samples": 256}, "budget": {"population": 24}}
    else:
        env = {"name": task}
    return {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": env,
        "budget": {"population": 100},
        **extra,
    }


def cases_of(task: str) -> list[tuple[list[int], int]]:
    if task == "multiplexer-6":
        return [([(c >> j) & 1 for j in range(6)], (c >> (2 + (c & 3))) & 1) for c in range(64)]
    if task == "multiplexer-11":
        return [([(c >> j) & 1 for j in range(11)], (c >> (3 + (c & 7))) & 1) for c in range(2048)]
    n = int(task.split("-")[1])
    return [([(c >> j) & 1 for j in range(n)], bin(c).count("1") & 1) for c in range(1 << n)]


# ---- the core's strategies ---------------------------------------------------------------


def core_solved(task: str, spec: dict[str, Any], agent: bisuna.Agent, seed: int) -> bool:
    if task == "mountain-car":
        scores = [bisuna.score(agent, spec, bytes([k, seed % 256]) * 16) for k in range(4)]
        return sum(scores) / len(scores) >= 890_000
    n = 4 if task.startswith("cipher") else 16
    return all(
        bisuna.score(agent, spec, bytes([k, seed % 256, 7]) * 11) == MILLION for k in range(n)
    )


def run_core(task: str, strategy: str, seed: int, cap: float) -> tuple[bool, int, float]:
    spec = spec_of(task)
    pop = bisuna.Population(spec, seed, strategy=strategy)
    start = time.process_time()
    chunk, checked = 5, -1
    target = 890_000 if task == "mountain-car" else MILLION
    while True:
        t0 = time.process_time()
        pop.evolve(chunk)
        if time.process_time() - t0 < 0.02:  # short chunks: the solve is seen when it happens
            chunk *= 2
        used = time.process_time() - start
        if pop.best_fitness >= target:
            best = pop.best()
            digest = hash(best.to_bytes())
            if digest != checked and core_solved(task, spec, best, seed):
                return True, pop.evaluations, time.process_time() - start
            checked = digest
        if used >= cap:
            return False, pop.evaluations, used


# ---- neat-python ---------------------------------------------------------------------------


def neat_config(task: str, path: Path) -> Any:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from bench.core import NEAT_CONFIG

    cases = cases_of(task)
    text = NEAT_CONFIG.replace("num_inputs              = 6", f"num_inputs = {len(cases[0][0])}")
    text = text.replace("fitness_threshold     = 63.5", f"fitness_threshold = {len(cases) - 0.5}")
    path.write_text(text)
    return neat.Config(
        neat.DefaultGenome,
        neat.DefaultReproduction,
        neat.DefaultSpeciesSet,
        neat.DefaultStagnation,
        str(path),
    )


class _Done(Exception):
    pass


def run_neat(task: str, seed: int, cap: float, cfg_dir: Path) -> tuple[bool, int, float]:
    random.seed(seed)
    config = neat_config(task, cfg_dir / f"{task}.cfg")
    cases = [([float(v) for v in x], y) for x, y in cases_of(task)]
    pop = neat.Population(config)
    evaluations = 0
    start = time.process_time()

    def fitness(genomes: list[tuple[int, Any]], cfg: Any) -> None:
        nonlocal evaluations
        for _, genome in genomes:
            net = neat.nn.FeedForwardNetwork.create(genome, cfg)
            right = sum((net.activate(x)[0] > 0.5) == bool(y) for x, y in cases)
            genome.fitness = float(right)
            evaluations += 1
            if right == len(cases):
                raise _Done
            if time.process_time() - start >= cap:
                raise TimeoutError

    try:
        while True:
            try:
                pop.run(fitness, 1)
            except neat.CompleteExtinctionException:
                pop = neat.Population(config)
    except _Done:
        return True, evaluations, time.process_time() - start
    except TimeoutError:
        return False, evaluations, time.process_time() - start


# ---- DEAP genetic programming -------------------------------------------------------------


def _if(c: bool, a: bool, b: bool) -> bool:
    return a if c else b


def run_deap(task: str, seed: int, cap: float) -> tuple[bool, int, float]:
    random.seed(seed)
    cases = cases_of(task)
    n = len(cases[0][0])
    pset = gp.PrimitiveSet("MAIN", n, "x")
    pset.addPrimitive(operator.and_, 2)
    pset.addPrimitive(operator.or_, 2)
    pset.addPrimitive(operator.not_, 1)
    pset.addPrimitive(_if, 3)
    pset.addTerminal(1)
    pset.addTerminal(0)
    if not hasattr(creator, "BenchFit"):
        creator.create("BenchFit", base.Fitness, weights=(1.0,))
        creator.create("BenchTree", gp.PrimitiveTree, fitness=creator.BenchFit)
    tb = base.Toolbox()
    tb.register("expr", gp.genFull, pset=pset, min_=3, max_=5)
    tb.register("individual", tools.initIterate, creator.BenchTree, tb.expr)
    tb.register("population", tools.initRepeat, list, tb.individual)
    tb.register("select", tools.selTournament, tournsize=7)
    tb.register("mate", gp.cxOnePoint)
    tb.register("expr_mut", gp.genGrow, min_=0, max_=2)
    tb.register("mutate", gp.mutUniform, expr=tb.expr_mut, pset=pset)
    limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=17)
    tb.decorate("mate", limit)
    tb.decorate("mutate", limit)
    inputs = [[bool(v) for v in x] for x, _ in cases]
    wants = [bool(y) for _, y in cases]

    def evaluate(ind: Any) -> int:
        f: Callable[..., Any] = gp.compile(ind, pset)
        return sum(bool(f(*x)) == y for x, y in zip(inputs, wants, strict=True))

    start = time.process_time()
    evaluations = 0
    pop = tb.population(n=300)
    while True:
        for ind in pop:
            if not ind.fitness.valid:
                right = evaluate(ind)
                ind.fitness.values = (float(right),)
                evaluations += 1
                if right == len(cases):
                    return True, evaluations, time.process_time() - start
                if time.process_time() - start >= cap:
                    return False, evaluations, time.process_time() - start
        offspring = algorithms.varAnd(tb.select(pop, len(pop)), tb, 0.8, 0.1)
        pop = offspring


# ---- the run -------------------------------------------------------------------------------

Run = tuple[bool, int, float]  # solved, evaluations, CPU-seconds
Job = tuple[str, str, int, float]  # task, solver, seed, cap


def cap_of(solver: str, task: str, scale: float) -> float:
    return round(BASELINE_CAPS.get(solver, CAPS)[task] * scale, 3)


def plan(tasks: list[str], solvers: list[str], seeds: int, scale: float) -> list[Job]:
    """Every (task, solver, seed) run, longest cap first (ties in task, solver, seed order)."""
    jobs = [
        (task, solver, s, cap_of(solver, task, scale))
        for task in tasks
        for solver in solvers
        if not (solver in PEERS and task not in BOOLEAN)
        for s in range(1, seeds + 1)
    ]
    return sorted(jobs, key=lambda j: -j[3])  # sorted() is stable


def run_job(job: Job) -> tuple[Job, Run]:
    task, solver, seed, cap = job
    if solver == "neat-python":
        with tempfile.TemporaryDirectory() as tmp:
            return job, run_neat(task, seed, cap, Path(tmp))
    if solver == "deap":
        return job, run_deap(task, seed, cap)
    return job, run_core(task, solver, seed, cap)


def summarise(runs: list[Run], cap: float) -> dict[str, Any]:
    ok = [r for r in runs if r[0]]
    cpu = sum(r[2] for r in runs)
    rate = sum(r[1] for r in runs) / cpu if cpu else None
    return {
        "solved": f"{len(ok)}/{len(runs)}",
        "evals_median": statistics.median([r[1] for r in ok]) if ok else None,
        "cpu_s_median": round(statistics.median([r[2] for r in ok]), 4) if ok else None,
        # unsolved runs count as the cap (for the ratios)
        "cpu_s_median_capped": round(statistics.median([r[2] if r[0] else cap for r in runs]), 4),
        "cap_cpu_s": cap,
        # the budget in evaluations: this solver's measured evaluations per CPU-second x its cap
        "cap_evals": round(rate * cap) if rate else None,
        "cpu_s_spent": round(cpu, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, three tasks, caps x 0.2")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--tasks", default=None, help="comma-separated, default all")
    ap.add_argument("--solvers", default="es,suna,neat-python,deap")
    ap.add_argument("--cap-scale", type=float, default=1.0, help="multiplies every CPU cap")
    ap.add_argument("--procs", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--save", type=Path, help="also write the per-task results here (JSON)")
    ap.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        help="no runs: the JSON line of the results --save wrote (parts run apart; `run` sums them)",
    )
    args = ap.parse_args()
    if args.combine:
        parts = [json.loads(p.read_text()) for p in args.combine]
        merged: dict[str, dict[str, Any]] = {}
        names: list[str] = []
        for part in parts:
            names += [n for n in part["solvers"] if n not in names]
            for task, res in part["results"].items():
                merged.setdefault(task, {}).update(res)
        run_sum = {k: sum(p.get("run", {}).get(k, 0) for p in parts) for k in RUN_SUMS}
        print(json.dumps(summary_line(merged, names, parts[0]["seeds"], run_sum)))
        return
    if args.quick:
        tasks = ["multiplexer-6", "parity-3", "parity-4"]
        seeds, scale = args.seeds or 2, QUICK_SCALE * args.cap_scale
    else:
        tasks = list(TASKS)
        seeds, scale = args.seeds or 10, args.cap_scale
    if args.tasks:
        tasks = args.tasks.split(",")
    solvers = args.solvers.split(",")
    jobs = plan(tasks, solvers, seeds, scale)
    runs: dict[tuple[str, str], dict[int, Run]] = {}
    wall = time.perf_counter()
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(args.procs, maxtasksperchild=None) as pool:
        for (task, solver, seed, cap), run in pool.imap_unordered(run_job, jobs, chunksize=1):
            runs.setdefault((task, solver), {})[seed] = run
            print(
                f"{task:16} {solver:12} seed {seed:2}: "
                f"{'solved' if run[0] else 'unsolved'} {run[2]:.2f} CPU-s, {run[1]} evaluations"
                f" (cap {cap} s)",
                file=sys.stderr,
                flush=True,
            )
    results: dict[str, dict[str, Any]] = {}
    for task in tasks:
        results[task] = {"cap_cpu_s": cap_of(solvers[0], task, scale)}
        for solver in solvers:
            if (task, solver) in runs:
                per_seed = [runs[task, solver][s] for s in sorted(runs[task, solver])]
                results[task][solver] = summarise(per_seed, cap_of(solver, task, scale))
                print(f"{task:16} {solver:12} {json.dumps(results[task][solver])}", flush=True)
    run_info = {
        "wall_s": round(time.perf_counter() - wall, 1),
        "cpu_s_total": round(sum(r[2] for rs in runs.values() for r in rs.values()), 1),
        "cpu_s_worst_case": round(sum(j[3] for j in jobs), 1),
        "jobs": len(jobs),
        "procs": args.procs,
    }
    if args.save:
        args.save.write_text(
            json.dumps({"seeds": seeds, "solvers": solvers, "results": results, "run": run_info})
        )
    print(json.dumps(summary_line(results, solvers, seeds, run_info)))


RUN_SUMS = ("wall_s", "cpu_s_total", "cpu_s_worst_case", "jobs")


def summary_line(
    results: dict[str, dict[str, Any]],
    solvers: list[str],
    seeds: int,
    run: dict[str, Any] | None = None,
) -> dict[str, Any]:
    tasks = list(results)
    ours = solvers[0]
    ratio: dict[str, Any] = {}
    for peer in PEERS:
        per_task: dict[str, float | None] = {}
        solved_any: list[float] = []
        for task in tasks:
            if task in BOOLEAN and peer in results[task] and ours in results[task]:
                a = results[task][ours]["cpu_s_median_capped"]
                b = results[task][peer]["cpu_s_median_capped"]
                per_task[task] = round(b / a, 1) if a else None
                v = per_task[task]
                if v is not None and not results[task][peer]["solved"].startswith("0/"):
                    solved_any.append(v)
        # the smallest over the boolean tasks, an unsolved run counting as the peer's cap
        ratio[peer] = min((v for v in per_task.values() if v is not None), default=None)
        ratio[f"{peer}_per_task"] = per_task
        # the smallest over the tasks the peer solves at all (the 10x target)
        ratio[f"{peer}_where_it_solves"] = min(solved_any, default=None)
    ratio["basis"] = (
        "peer median CPU-s to solve / ours, per boolean task; an unsolved run counts as its "
        "solver's cap, and the peers' caps are below ours, so this can only understate our lead"
    )
    line = {
        "bench": "search",
        "strategy": ours,
        "seeds": seeds,
        "cap_cpu_s_per_seed": {
            t: results[t][ours]["cap_cpu_s"] if ours in results[t] else results[t]["cap_cpu_s"]
            for t in tasks
        },
        "caps_cpu_s": {
            s: {t: results[t][s]["cap_cpu_s"] for t in tasks if s in results[t]} for s in solvers
        },
        "solved": {t: results[t][ours]["solved"] for t in tasks if ours in results[t]},
        "evals_to_solve_median": {
            t: results[t][ours]["evals_median"] for t in tasks if ours in results[t]
        },
        "cpu_s_to_solve_median": {
            t: results[t][ours]["cpu_s_median"] for t in tasks if ours in results[t]
        },
        "peers": {
            t: {k: v for k, v in results[t].items() if k not in (ours, "cap_cpu_s")} for t in tasks
        },
        "ratio_vs": ratio,
        **({"run": run} if run else {}),
    }
    return line


if __name__ == "__main__":
    main()
