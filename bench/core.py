"""Benchmark of the BiSUNA core against neat-python 2.0.0, measured in the same run.

Figures:
- agent-steps/s on multiplexer-11 (every one of the 2,048 cases, one step each), measured
  over whole generations of a population of 100 (evaluation, selection, reproduction);
- neat-python activations/s of feed-forward networks of the same sizes (inputs, outputs,
  hidden neurons, connections) as that population's agents, on the same 2,048 cases;
- generations/s of the default cipher task (population 100, N = 3, 4,096 samples) and of
  the demo's smaller one (256 samples); mountain-car generations/s and agent-steps/s;
- evaluations to solve multiplexer-6 (median over seeds), next to neat-python's.

Timing is CPU time of this process (time.process_time: the core runs on the calling
thread), so other work on a shared machine does not distort the figures; the two sides of
the ratio are measured in interleaved rounds and each takes its best round.

Usage: .venv/bin/python bench/core.py [--quick]
Ends with one JSON line: {"bench": "core", ..., "ratio_vs": {"neat-python": ...}}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import neat
from neat.activations import sigmoid_activation
from neat.aggregations import sum_aggregation

import bisuna

MUX11_CASES = [[float((c >> j) & 1) for j in range(11)] for c in range(2048)]
MUX6_CASES = [
    ([float((c >> j) & 1) for j in range(6)], (c >> (2 + (c & 3))) & 1) for c in range(64)
]


def cipher_spec(samples: int) -> dict[str, Any]:
    return {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": {"name": "cipher", "params": {"payload_words": 3, "mix": "xor"}},
        "eval": {"samples": samples},
        "budget": {"population": 100},
    }


def generations_per_s(
    spec: dict[str, Any], generations: int, seed: int = 1
) -> tuple[float, bisuna.Population]:
    pop = bisuna.Population(spec, seed)
    pop.evolve(1)  # initial population built and evaluated once, outside the timing
    start = time.process_time()
    pop.evolve(generations)
    return generations / (time.process_time() - start), pop


# ---- neat-python networks of the same sizes ---------------------------------------------


def neat_network(n_in: int, n_hidden: int, n_conn: int, rng: random.Random) -> Any:
    """A feed-forward neat-python network with n_hidden hidden nodes and n_conn links."""
    inputs = [-(i + 1) for i in range(n_in)]
    order = [*range(1, n_hidden + 1), 0]  # hidden nodes, then the output (key 0)
    links: dict[int, list[tuple[int, float]]] = {node: [] for node in order}
    for _ in range(max(1, n_conn)):
        t = rng.randrange(len(order))
        links[order[t]].append((rng.choice(inputs + order[:t]), rng.uniform(-1.0, 1.0)))
    evals = [(node, sigmoid_activation, sum_aggregation, 0.0, 1.0, links[node]) for node in order]
    return neat.nn.FeedForwardNetwork(inputs, [0], evals)


def neat_activations_per_s(sizes: list[tuple[int, int]]) -> float:
    rng = random.Random(7)
    nets = [neat_network(11, h, c, rng) for h, c in sizes]
    start = time.process_time()
    for net in nets:
        for case in MUX11_CASES:
            net.activate(case)
    return len(nets) * len(MUX11_CASES) / (time.process_time() - start)


# ---- multiplexer-6: evaluations to solve --------------------------------------------------


def bisuna_mux6_evals(seed: int, max_generations: int) -> int | None:
    pop = bisuna.Population({"env": {"name": "multiplexer-6"}, "budget": {"population": 100}}, seed)
    while pop.generation < max_generations:
        pop.evolve(50)
        best = pop.history.best
        hits = (best == 1_000_000).nonzero()[0]
        if hits.size:
            return (int(hits[0]) + 1) * pop.size
    return None


NEAT_CONFIG = """
[NEAT]
fitness_criterion     = max
fitness_threshold     = 63.5
pop_size              = 150
reset_on_extinction   = True
no_fitness_termination = False

[DefaultGenome]
activation_default      = sigmoid
activation_mutate_rate  = 0.0
activation_options      = sigmoid
aggregation_default     = sum
aggregation_mutate_rate = 0.0
aggregation_options     = sum
bias_init_mean          = 0.0
bias_init_stdev         = 1.0
bias_max_value          = 30.0
bias_min_value          = -30.0
bias_mutate_power       = 0.5
bias_mutate_rate        = 0.7
bias_replace_rate       = 0.1
compatibility_disjoint_coefficient = 1.0
compatibility_weight_coefficient   = 0.5
conn_add_prob           = 0.5
conn_delete_prob        = 0.5
enabled_default         = True
enabled_mutate_rate     = 0.01
feed_forward            = True
initial_connection      = full_direct
node_add_prob           = 0.2
node_delete_prob        = 0.2
num_hidden              = 0
num_inputs              = 6
num_outputs             = 1
response_init_mean      = 1.0
response_init_stdev     = 0.0
response_max_value      = 30.0
response_min_value      = -30.0
response_mutate_power   = 0.0
response_mutate_rate    = 0.0
response_replace_rate   = 0.0
weight_init_mean        = 0.0
weight_init_stdev       = 1.0
weight_max_value        = 30
weight_min_value        = -30
weight_mutate_power     = 0.5
weight_mutate_rate      = 0.8
weight_replace_rate     = 0.1

[DefaultSpeciesSet]
compatibility_threshold = 3.0

[DefaultStagnation]
species_fitness_func = max
max_stagnation       = 20
species_elitism      = 2

[DefaultReproduction]
elitism            = 2
survival_threshold = 0.2
"""


def neat_mux6_evals(seed: int, max_generations: int, config_path: Path) -> int | None:
    random.seed(seed)
    config = neat.Config(
        neat.DefaultGenome,
        neat.DefaultReproduction,
        neat.DefaultSpeciesSet,
        neat.DefaultStagnation,
        str(config_path),
    )
    pop = neat.Population(config)
    evaluations = 0
    solved = False

    def fitness(genomes: list[tuple[int, Any]], cfg: Any) -> None:
        nonlocal evaluations, solved
        for _, genome in genomes:
            net = neat.nn.FeedForwardNetwork.create(genome, cfg)
            genome.fitness = float(
                sum((net.activate(x)[0] > 0.5) == bool(y) for x, y in MUX6_CASES)
            )
            evaluations += 1
            if genome.fitness >= 64 and not solved:
                solved = True
                solved_at.append(evaluations)

    solved_at: list[int] = []
    with contextlib.suppress(neat.CompleteExtinctionException):
        pop.run(fitness, max_generations)
    return solved_at[0] if solved_at else None


def median_or_none(values: list[int | None], cap: int) -> tuple[float | None, int]:
    """Median evaluations to solve, unsolved runs counted as more than the cap: None when
    most runs did not solve (the median is then only known to exceed the cap). Returns
    (median, solved count)."""
    solved = sum(v is not None for v in values)
    if not values or 2 * solved <= len(values):
        return None, solved
    return float(statistics.median(v if v is not None else cap + 1 for v in values)), solved


# ---- main ----------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small budgets, under 60 s")
    args = ap.parse_args()
    q = args.quick

    # multiplexer-11: agents of a population evolved for a while, frozen; the core scores them
    # all (every case) in one call, neat-python activates networks of the same sizes on the
    # same cases; interleaved rounds, best of each side.
    spec11 = {"env": {"name": "multiplexer-11"}, "budget": {"population": 100}}
    gps11, pop11 = generations_per_s(spec11, 30 if q else 100)
    evolve_steps_per_s = gps11 * pop11.size * 2048
    agents = pop11.export_best(100)
    sizes = []
    for a in agents:
        d = a.describe()["networks"][0]
        sizes.append((d["hidden"], d["connections"]))
    rounds, repeat = (3, 5) if q else (5, 20)
    steps_per_s, neat_aps = 0.0, 0.0
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            bisuna.score_many(agents, spec11, b"bench")
        elapsed = time.process_time() - start
        steps_per_s = max(steps_per_s, repeat * len(agents) * 2048 / elapsed)
        neat_aps = max(neat_aps, neat_activations_per_s(sizes if not q else sizes[::2]))
    ratio = steps_per_s / neat_aps
    mean_hidden = statistics.mean(h for h, _ in sizes)
    mean_conns = statistics.mean(c for _, c in sizes)

    # cipher
    cipher_gps, _ = generations_per_s(cipher_spec(4096), 4 if q else 20)
    demo_gps, _ = generations_per_s(cipher_spec(256), 40 if q else 200)

    # mountain car: one episode per agent, 1,000 steps at most
    mc_spec = {
        "env": {"name": "mountain-car", "params": {"max_steps": 1000}},
        "eval": {"samples": 1},
        "budget": {"population": 100},
    }
    mc_gens = 10 if q else 50
    mc_pop = bisuna.Population(mc_spec, 1)
    mc_pop.evolve(1)
    start = time.process_time()
    mc_pop.evolve(mc_gens)
    mc_time = time.process_time() - start
    mean_fit = mc_pop.history.mean[-mc_gens:]
    # steps per agent = max_steps * (1 - fitness / 1e6) (fitness 0: never arrived, max_steps)
    mc_steps = float(sum(100 * 1000 * (1_000_000 - int(m)) / 1_000_000 for m in mean_fit))
    mc_gps = mc_gens / mc_time
    mc_steps_per_s = mc_steps / mc_time

    # multiplexer-6: evaluations to solve
    seeds = 10
    cap_b = 2000 if q else 10000
    b_runs = [bisuna_mux6_evals(s, cap_b) for s in range(seeds)]
    b_median, b_solved = median_or_none(b_runs, cap_b * 100)
    n_seeds = 0 if q else 10
    cap_n = 300
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "neat.cfg"
        cfg.write_text(NEAT_CONFIG)
        n_runs = [neat_mux6_evals(s, cap_n, cfg) for s in range(n_seeds)]
    n_median, n_solved = median_or_none(n_runs, cap_n * 150)

    rows = [
        ("multiplexer-11 agent-steps/s (BiSUNA core, scoring 100 agents)", f"{steps_per_s:,.0f}"),
        ("multiplexer-11 activations/s (neat-python 2.0.0, same sizes)", f"{neat_aps:,.0f}"),
        ("  ratio", f"{ratio:,.1f}x"),
        (
            "  network sizes: mean hidden neurons / connections",
            f"{mean_hidden:.1f} / {mean_conns:.1f}",
        ),
        ("cipher generations/s (pop 100, N=3, 4096 samples)", f"{cipher_gps:,.2f}"),
        ("cipher generations/s (pop 100, N=3, 256 samples, demo)", f"{demo_gps:,.1f}"),
        ("mountain-car generations/s (pop 100, 1 episode, <=1000 steps)", f"{mc_gps:,.1f}"),
        ("mountain-car agent-steps/s", f"{mc_steps_per_s:,.0f}"),
        (
            f"multiplexer-6 evaluations to solve, BiSUNA (median of {seeds}; solved; cap)",
            f"{b_median} ({b_solved}/{seeds}; {cap_b * 100:,})",
        ),
        (
            f"multiplexer-6 evaluations to solve, neat-python (median of {n_seeds}; solved; cap)",
            f"{n_median} ({n_solved}/{n_seeds}; {cap_n * 150:,})",
        ),
    ]
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print(
        json.dumps(
            {
                "bench": "core",
                "quick": q,
                "agent_steps_per_s": round(steps_per_s),
                "evolve_agent_steps_per_s": round(evolve_steps_per_s),
                "mux11_mean_hidden": round(mean_hidden, 1),
                "mux11_mean_connections": round(mean_conns, 1),
                "neat_python_activations_per_s": round(neat_aps),
                "cipher_generations_per_s": round(cipher_gps, 2),
                "cipher_demo_generations_per_s": round(demo_gps, 1),
                "mountain_car_generations_per_s": round(mc_gps, 1),
                "mountain_car_agent_steps_per_s": round(mc_steps_per_s),
                "mux6_evals_to_solve_median": b_median,
                "mux6_solved": f"{b_solved}/{seeds}",
                "mux6_evaluation_cap": cap_b * 100,
                "neat_python_mux6_evals_to_solve_median": n_median,
                "neat_python_mux6_solved": f"{n_solved}/{n_seeds}",
                "neat_python_mux6_evaluation_cap": cap_n * 150,
                "ratio_vs": {"neat-python": round(ratio, 1)},
            }
        )
    )


if __name__ == "__main__":
    main()
