"""Benchmark of hostile agents against benign ones of the same size, for every environment.

For each environment, at the demo limits (256 neurons, 2,048 connections) and at the largest
legal limits (4,096 neurons, 65,535 connections, with samples or steps as large as the fuel
bound of bisuna-core/2 allows), build agents meant to be slow:
- `identity_chain`: inputs -> one long chain of identity neurons -> the outputs;
- `threshold_chain`: input -> random -> a chain of threshold neurons, each firing one pass
  after the other, with the rest of the neurons hanging off it: they run from the first pass,
  never fire, and listen to the chain's end (the old step rescanned them every pass);
- `dense_recurrence`: every connection between random hidden neurons, self-loops included;
- `modulators`: a firing chain whose neurons modulate every other connection;
- `max_io`: every input feeds every hidden neuron, every hidden neuron feeds every output.
Each is timed (CPU time of one evaluation, scorer bisuna-core/1, so nothing stops early)
against random agents with exactly its neuron and connection counts (the peer). The ratio
hostile / benign is per evaluation of the same spec, so it is measured with few samples or
steps; `worst_ratio` is the largest over all of them (target <= 10: the work is linear).
Per spec also: `fuel_ceiling` (bisuna.fuel_ceiling) and `max_eval_s`, the CPU-seconds one
evaluation at that ceiling takes here: the ceiling times the most seconds per fuel unit any
agent above needed.

Usage: .venv/bin/python bench/hostile.py [--quick]
Ends with one JSON line: {"bench": "hostile", ..., "ratio_vs": {"benign": worst_ratio}}.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from typing import Any

import bisuna
from bisuna import Connection, Network

KINDS = ("identity", "activation", "threshold", "random", "control", "roll")
DEMO_LIMITS = {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 1 << 24}
MAX_LIMITS = {"max_neurons": 4096, "max_connections": 65535, "max_agent_bytes": 1 << 24}


def specs() -> list[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    """(env, size, spec scored for the ratio, spec whose fuel ceiling is reported)."""
    out = []
    bound, per = bisuna.fuel.FUEL_BOUND, bisuna.fuel.FUEL_PER_STEP
    big = MAX_LIMITS["max_neurons"] + MAX_LIMITS["max_connections"]
    envs: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = [
        ({"name": "cipher", "params": {"payload_words": 3}}, {"samples": 64},
         {"samples": 512}),
        ({"name": "multiplexer-6"}, {}, {}),
        ({"name": "multiplexer-11"}, {}, {}),
        ({"name": "parity-n", "params": {"n": 8}}, {}, {}),
        ({"name": "mountain-car", "params": {"max_steps": 40}}, {"samples": 1},
         {"samples": 16}),
    ]
    for env, quick_eval, demo_eval in envs:
        name = env["name"]
        demo = {"scorer": "bisuna-core/2", "env": env, "limits": DEMO_LIMITS}
        full_demo = {**demo, "eval": demo_eval} if demo_eval else demo
        if name == "mountain-car":
            full_demo = {**full_demo, "env": {"name": name, "params": {"max_steps": 1000}}}
        out.append((name, "demo", {**demo, "eval": quick_eval} if quick_eval else demo, full_demo))
        large = {"scorer": "bisuna-core/2", "env": env, "limits": MAX_LIMITS}
        if name == "cipher":
            legal = {**large, "eval": {"samples": bound // (per * 2 * big)}}
        elif name == "mountain-car":
            steps = bound // (per * 16 * big)
            legal = {**large, "env": {"name": name, "params": {"max_steps": steps}},
                     "eval": {"samples": 16}}
        else:
            legal = large
        out.append((name, "largest", {**large, "eval": quick_eval} if quick_eval else large, legal))
    return out


def shape(spec: dict[str, Any]) -> list[tuple[int, int]]:
    env = bisuna.Environment(spec)
    return list(zip(env.inputs, env.outputs, strict=True))


def identity_chain(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    h0, hidden = ins + outs, n - ins - outs
    conns = [Connection(i, h0) for i in range(ins)]
    conns += [Connection(h0 + k - 1, h0 + k) for k in range(1, hidden)]
    conns += [Connection(h0 + hidden - 1, o) for o in range(ins, ins + outs)]
    return Network(ins, outs, (("identity", 1),) * hidden, tuple(conns[:c]))


def threshold_chain(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    r = ins + outs
    t0, hidden = r + 1, n - ins - outs - 1
    length = max(2, min(hidden // 2, (c - 2 * outs) // 2))
    hang = min(hidden - length, max(0, (c - length - 2 - outs) // 3))
    conns = [Connection(0, r), Connection(r, t0)]
    conns += [Connection(t0 + k - 1, t0 + k) for k in range(1, length)]
    conns += [Connection(t0 + length - 1, o) for o in range(ins, ins + outs)]
    for h in range(t0 + length, t0 + length + hang):
        conns += [Connection(0, h, 1), Connection(t0 + length - 1, h, 1), Connection(h, ins, 1)]
    hid = (("random", 1),) + (("threshold", 1),) * (length + hang)
    return Network(ins, outs, hid, tuple(conns[:c]))


def dense_recurrence(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    h0, hidden = ins + outs, n - ins - outs
    conns = {(i, h0 + i % hidden) for i in range(ins)}
    conns |= {(h0 + hidden - 1 - k % hidden, o) for k, o in enumerate(range(ins, ins + outs))}
    while len(conns) < c:
        conns.add((h0 + rng.randrange(hidden), h0 + rng.randrange(hidden)))
    kinds = tuple((rng.choice(("identity", "roll", "threshold")), 1) for _ in range(hidden))
    return Network(ins, outs, kinds, tuple(Connection(a, b) for a, b in sorted(conns)))


def modulators(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    h0, hidden = ins + outs, n - ins - outs
    chain = max(2, hidden // 2)
    conns = {(0, h0, None), (h0 + chain - 1, ins, None)}
    conns |= {(h0 + k - 1, h0 + k, None) for k in range(1, chain)}
    while len(conns) < c:
        a, b = h0 + rng.randrange(hidden), h0 + chain + rng.randrange(hidden - chain)
        conns.add((a, b, h0 + rng.randrange(chain)))
    kinds = (("threshold", 1),) * hidden
    return Network(ins, outs, kinds, tuple(
        Connection(a, b, 0 if m is not None else 0xFFFF, m) for a, b, m in sorted(conns, key=str)))


def max_io(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    h0, hidden = ins + outs, n - ins - outs
    conns = []
    for h in range(h0, h0 + hidden):
        conns += [Connection(i, h) for i in range(ins)]
        conns += [Connection(h, o) for o in range(ins, ins + outs)]
    return Network(ins, outs, (("identity", 1),) * hidden, tuple(conns[:c]))


def benign(ins: int, outs: int, n: int, c: int, rng: random.Random) -> Network:
    """A random network with exactly n neurons and c distinct connections."""
    hidden = n - ins - outs
    kinds = tuple((rng.choice(KINDS), rng.choice((1, 7, 49))) for _ in range(hidden))
    conns: set[tuple[int, int, int | None]] = set()
    while len(conns) < c:
        mod = rng.randrange(n) if rng.random() < 0.1 else None
        conns.add((rng.randrange(n), rng.randrange(n), mod))
    return Network(ins, outs, kinds, tuple(
        Connection(a, b, 0 if m is not None else rng.choice((0xFFFF, 1)), m)
        for a, b, m in sorted(conns, key=str)))


HOSTILE: dict[str, Callable[[int, int, int, int, random.Random], Network]] = {
    "identity_chain": identity_chain,
    "threshold_chain": threshold_chain,
    "dense_recurrence": dense_recurrence,
    "modulators": modulators,
    "max_io": max_io,
}


def build(make: Callable[..., Network], spec: dict[str, Any], seed: int) -> bisuna.Agent:
    rng = random.Random(seed)
    lim = spec["limits"]
    n, c = lim["max_neurons"], lim["max_connections"]
    return bisuna.Agent.from_networks([make(i, o, n, c, rng) for i, o in shape(spec)])


def timed(agent: bisuna.Agent, spec: dict[str, Any], rounds: int) -> tuple[float, int]:
    best, fuel = float("inf"), 0
    for _ in range(rounds):
        t0 = time.process_time()
        d = bisuna.score_detail(agent, spec, b"hostile", "bisuna-core/1")
        best = min(best, time.process_time() - t0)
        fuel = d.fuel
    return best, fuel


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small budgets, under 60 s")
    args = ap.parse_args()
    rounds = 1 if args.quick else 3
    peers = 1 if args.quick else 3
    rows, per_spec, worst = [], {}, 0.0
    print(f"{'env':16} {'size':8} {'agent':17} {'s/eval':>9} {'benign':>9} {'ratio':>7} {'fuel':>12}")
    for env, size, spec, legal in specs():
        if args.quick and size == "largest" and env in ("multiplexer-11", "parity-n"):
            pass
        ceiling = bisuna.fuel_ceiling(legal)
        s_per_fuel = 0.0
        for name, make in HOSTILE.items():
            agent = build(make, spec, 1)
            t_h, f_h = timed(agent, spec, rounds)
            counts = [(agent.network(k).neurons, len(agent.network(k).connections))
                      for k in range(agent.networks)]
            t_b, f_b = float("inf"), 0
            for p in range(peers):
                rng = random.Random(100 + p)
                peer = bisuna.Agent.from_networks(
                    [benign(i, o, n, c, rng) for (i, o), (n, c) in zip(shape(spec), counts, strict=True)])
                t, f = timed(peer, spec, rounds)
                if t < t_b:
                    t_b, f_b = t, f
            ratio = t_h / max(t_b, 1e-6)
            worst = max(worst, ratio)
            s_per_fuel = max(s_per_fuel, t_h / max(f_h, 1), t_b / max(f_b, 1))
            rows.append({"env": env, "size": size, "agent": name, "ratio": round(ratio, 2)})
            print(f"{env:16} {size:8} {name:17} {t_h:9.4f} {t_b:9.4f} {ratio:7.2f} {f_h:12,}")
        per_spec[f"{env}/{size}"] = {"fuel_ceiling": ceiling,
                                     "max_eval_s": round(ceiling * s_per_fuel, 1)}
        print(f"{env:16} {size:8} fuel ceiling {ceiling:,}, one evaluation at it ~"
              f"{ceiling * s_per_fuel:.1f} CPU-s")
    print(json.dumps({"bench": "hostile", "worst_ratio": round(worst, 2), "specs": per_spec,
                      "fuel_bound": bisuna.fuel.FUEL_BOUND, "ratio_vs": {"benign": round(worst, 2)}}))


if __name__ == "__main__":
    main()
