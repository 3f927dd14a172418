"""Quality bench of the search: how fast each solver finds a winning agent (issue 10).

For each task and seed, a solver runs until it has a solution or spends its CPU-second cap
(process time: the machine is shared, so wall time would measure the neighbours). Solvers:
- `es` and `suna`, the core's strategies (bisuna.Population(spec, seed, strategy=...));
- neat-python 2.0 (bench/core.py's feed-forward config, population 150) and DEAP 1.4 GP
  (AND/OR/NOT/IF, tournament 7, crossover 0.8 and mutation 0.1 as in DEAP's multiplexer
  example, population 300, height limit 17) on the boolean tasks.

Solved means: for the core, the population's best agent scores 1,000,000 under bisuna.score
on 16 held-out evaluation seeds (4 for the cipher; mountain-car: a mean of at least 890,000,
gym's threshold of <= 110 steps, over 4 held-out seeds), so a winner that only got lucky with
its random neurons does not count; for the peers, a program right on every case. Evaluations
and CPU-seconds are counted up to the check that found the solution.

Usage: .venv/bin/python bench/search.py [--quick] [--seeds N] [--tasks a,b] [--solvers a,b]
       [--cap-scale X] [--save part.json]; tasks run in parallel processes (each with --save)
       are joined by bench/search.py --combine part1.json part2.json.
Ends with one JSON line: {"bench": "search", "solved": {...}, ..., "ratio_vs": {...}}.
"""

from __future__ import annotations

import argparse
import json
import operator
import random
import statistics
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
# CPU-seconds per seed and solver (the full run); --quick and --cap-scale scale them.
CAPS = {
    "multiplexer-6": 60.0,
    "multiplexer-11": 300.0,
    "parity-3": 60.0,
    "parity-4": 60.0,
    "cipher-none-3": 60.0,
    "cipher-none-8": 60.0,
    "mountain-car": 60.0,
}


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
        extra = {"eval": {"samples": 256}}
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


def summarise(runs: list[tuple[bool, int, float]], cap: float) -> dict[str, Any]:
    ok = [r for r in runs if r[0]]
    return {
        "solved": f"{len(ok)}/{len(runs)}",
        "evals_median": statistics.median([r[1] for r in ok]) if ok else None,
        "cpu_s_median": round(statistics.median([r[2] for r in ok]), 2) if ok else None,
        # unsolved runs count as the cap (for the ratios)
        "cpu_s_median_capped": round(statistics.median([r[2] if r[0] else cap for r in runs]), 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 seeds, three tasks, small caps")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--tasks", default=None, help="comma-separated, default all")
    ap.add_argument("--solvers", default="es,suna,neat-python,deap")
    ap.add_argument("--cap-scale", type=float, default=1.0, help="multiplies every CPU cap")
    ap.add_argument("--save", type=Path, help="also write the per-task results here (JSON)")
    ap.add_argument(
        "--combine",
        type=Path,
        nargs="+",
        help="no runs: the JSON line of the results --save wrote (tasks run in parallel)",
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
        print(json.dumps(summary_line(merged, names, parts[0]["seeds"])))
        return
    if args.quick:
        tasks = ["multiplexer-6", "parity-3", "parity-4"]
        seeds, scale = args.seeds or 2, 0.04 * args.cap_scale
    else:
        tasks = list(TASKS)
        seeds, scale = args.seeds or 10, args.cap_scale
    if args.tasks:
        tasks = args.tasks.split(",")
    solvers = args.solvers.split(",")
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for task in tasks:
            cap = CAPS[task] * scale
            results[task] = {"cap_cpu_s": cap}
            for solver in solvers:
                if solver in ("neat-python", "deap") and task not in BOOLEAN:
                    continue
                runs = []
                for s in range(1, seeds + 1):
                    if solver == "neat-python":
                        runs.append(run_neat(task, s, cap, Path(tmp)))
                    elif solver == "deap":
                        runs.append(run_deap(task, s, cap))
                    else:
                        runs.append(run_core(task, solver, s, cap))
                results[task][solver] = summarise(runs, cap)
                print(f"{task:16} {solver:12} {json.dumps(results[task][solver])}", flush=True)
    if args.save:
        args.save.write_text(json.dumps({"seeds": seeds, "solvers": solvers, "results": results}))
    print(json.dumps(summary_line(results, solvers, seeds)))


def summary_line(
    results: dict[str, dict[str, Any]], solvers: list[str], seeds: int
) -> dict[str, Any]:
    tasks = list(results)
    ours = solvers[0]
    ratio: dict[str, Any] = {}
    for peer in ("neat-python", "deap"):
        per_task = {}
        for task in tasks:
            if task in BOOLEAN and peer in results[task] and ours in results[task]:
                a = results[task][ours]["cpu_s_median_capped"]
                b = results[task][peer]["cpu_s_median_capped"]
                per_task[task] = round(b / a, 1) if a else None
        ratio[peer] = min((v for v in per_task.values() if v is not None), default=None)
        ratio[f"{peer}_per_task"] = per_task
    line = {
        "bench": "search",
        "strategy": ours,
        "seeds": seeds,
        "cap_cpu_s_per_seed": {t: results[t]["cap_cpu_s"] for t in tasks},
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
    }
    return line


if __name__ == "__main__":
    main()
