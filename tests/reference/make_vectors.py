"""Builds docs/scorer-vectors.json from the C core (docs/scorer.md, section 9).

    .venv/bin/python -m tests.reference.make_vectors [--out docs/scorer-vectors.json]

Every case is scored by the core (`bisuna.score`); its output hashes come from the core's own
step (`bsn_agent_reset` / `bsn_agent_step`) driven through the environments of
tests/reference/scorer.py, and the score that drive yields must equal the core's, so the
hashes are those of the sequences the core's scorer produced. Deterministic: the same core
writes the same file."""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import bisuna
from bisuna import bindings as _b
from tests.reference import scorer as ref

ROOT = Path(__file__).resolve().parents[2]
VECTORS = ROOT / "docs" / "scorer-vectors.json"
FORMAT = "edgemarket/scorer-vectors@1"
HIDDEN_KINDS = ("identity", "activation", "threshold", "random", "control", "roll")


class CoreNet:
    """Network k of a core agent, stepped by the core (the `Stepper` of scorer.py)."""

    def __init__(self, agent: bisuna.Agent, k: int) -> None:
        self.agent, self.k = agent, k
        net = agent.network(k)
        self.n_in, self.n_out = net.inputs, net.outputs

    def reset(self, seed: int, t: int) -> None:
        _b.agent_reset(self.agent._cdata, self.k, seed, t)

    def step(self, inputs: list[int]) -> list[int]:
        return _b.agent_step(self.agent._cdata, self.k, inputs, self.n_out)


def core_result(agent: bytes, spec: Mapping[str, Any], eval_seed: bytes) -> ref.Result:
    """The core's score, with the output hashes of the core's step; raises if the stepped
    run does not reproduce the core's score."""
    decoded = bisuna.Agent.from_bytes(agent, spec.get("limits"))
    value = bisuna.score(decoded, spec, eval_seed)
    traced = ref.score(agent, spec, eval_seed, stepper=lambda _a, k: CoreNet(decoded, k))
    if traced.score != value:
        raise AssertionError(f"stepped core run scores {traced.score}, bsn_score {value}")
    return traced


def spec_of(
    env: str,
    params: Mapping[str, Any] | None = None,
    samples: int | None = None,
    limits: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"env": {"name": env, "params": dict(params or {})}}
    if samples is not None:
        spec["eval"] = {"samples": samples}
    spec["limits"] = dict(
        limits or {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576}
    )
    return spec


# (label, spec, handmade, core-random, evolved) per environment setting
SETTINGS: list[tuple[str, dict[str, Any], int, int, int]] = [
    ("cipher-xor-1", spec_of("cipher", {"payload_words": 1, "mix": "xor"}, 8), 10, 2, 0),
    ("cipher-xor-1", spec_of("cipher", {"payload_words": 1, "mix": "xor"}, 64), 10, 2, 4),
    ("cipher-xor-3", spec_of("cipher", {"payload_words": 3, "mix": "xor"}, 128), 16, 3, 0),
    ("cipher-xor-4", spec_of("cipher", {"payload_words": 4, "mix": "xor"}, 96), 10, 2, 0),
    ("cipher-none-2", spec_of("cipher", {"payload_words": 2, "mix": "none"}, 100), 12, 3, 3),
    ("cipher-none-5", spec_of("cipher", {"payload_words": 5, "mix": "none"}, 64), 8, 2, 0),
    ("cipher-xor-16", spec_of("cipher", {"payload_words": 16, "mix": "xor"}, 40), 4, 1, 0),
    ("multiplexer-6", spec_of("multiplexer-6"), 30, 4, 6),
    ("multiplexer-11", spec_of("multiplexer-11"), 10, 2, 3),
    ("parity-2", spec_of("parity-n", {"n": 2}), 12, 2, 3),
    ("parity-3", spec_of("parity-n", {"n": 3}), 24, 3, 6),
    ("parity-5", spec_of("parity-n", {"n": 5}), 14, 2, 0),
    ("parity-8", spec_of("parity-n", {"n": 8}), 8, 2, 0),
    ("parity-12", spec_of("parity-n", {"n": 12}), 3, 1, 0),
    ("mountain-car-60", spec_of("mountain-car", {"max_steps": 60}, 3), 12, 2, 0),
    ("mountain-car-200", spec_of("mountain-car", {"max_steps": 200}, 2), 20, 3, 6),
    ("mountain-car-1000", spec_of("mountain-car", None, None), 4, 1, 3),
]

EVOLVE = {"population": 50, "generations": 80}


def random_network(rng: random.Random, n_in: int, n_out: int, profile: str) -> bisuna.Network:
    """A network exercising the step: every hidden kind and rate, modulation, control chains,
    self-loops and cycles; `profile` biases it (control-heavy, dense, sparse)."""
    hidden_count = rng.randint(0, 3) if profile == "sparse" else rng.randint(2, 14)
    hidden = []
    for _ in range(hidden_count):
        if profile == "control" and rng.random() < 0.5:
            kind = "control"
        else:
            kind = rng.choice(HIDDEN_KINDS)
        hidden.append((kind, rng.choice(bisuna.RATES)))
    n = n_in + n_out + len(hidden)
    per = {"sparse": 1, "dense": 5, "control": 3, "mixed": 3}[profile]
    conns = []
    for _ in range(rng.randint(n, per * n + 2)):
        src = rng.randrange(n)
        dst = rng.randrange(n) if rng.random() < 0.1 else rng.randrange(n_in, n)
        if rng.random() < 0.12:
            dst = src  # a self-loop
        mod = rng.randrange(n) if rng.random() < 0.2 else None
        weight = rng.choice((0xFFFF, 0xFFFF, 0x0001, 0x8000, 0xFF00, 0x00FF, rng.getrandbits(16)))
        conns.append(bisuna.Connection(src, dst, weight, mod))
    return bisuna.Network(n_in, n_out, tuple(hidden), tuple(conns))


def handmade(rng: random.Random, env: bisuna.Environment, i: int) -> bisuna.Agent:
    profile = ("mixed", "control", "dense", "sparse")[i % 4]
    return bisuna.Agent.from_networks(
        random_network(rng, env.inputs[k], env.outputs[k], profile) for k in range(env.networks)
    )


def designed(env: bisuna.Environment) -> bisuna.Agent | None:
    """A small agent that does well on purpose (None where there is none here): the cipher's
    one-time pad (a neuron publishes the complement of its output, so Alice's C = ~(K ^ P)
    and Bob's Q = P), and mountain-car's push-with-the-velocity."""
    C = bisuna.Connection
    if env.name == "cipher":  # with mix none, Alice's C = ~P: attacker 1 reads it
        n_in, n = env.inputs[0], env.outputs[0]
        pad = bisuna.Network(n_in, n, (), tuple(C(i, n_in + i) for i in range(n)))
        return bisuna.Agent.from_networks([pad, pad])
    if env.name == "mountain-car":
        # input 1 (velocity) -> identity 3 -> output 2: the output word is obs(v)
        return bisuna.Agent.from_networks(
            [bisuna.Network(2, 1, (("identity", 1),), (C(1, 3), C(3, 2)))]
        )
    return None


def build(seed: int = 12) -> dict[str, Any]:
    rng = random.Random(seed)
    cases: list[dict[str, Any]] = []

    def add(label: str, origin: str, spec: dict[str, Any], agent: bisuna.Agent) -> None:
        eval_seed = rng.getrandbits(256).to_bytes(32, "big")
        data = agent.to_bytes()
        result = core_result(data, spec, eval_seed)
        cases.append(
            {
                "id": f"{label}/{origin}/{len(cases):03d}",
                "scorer": "bisuna-core/1",
                "spec": spec,
                "eval_seed": eval_seed.hex(),
                "agent": data.hex(),
                "origin": origin,
                "score": result.score,
                "steps": result.steps,
                "outputs_sha256": result.outputs_sha256,
            }
        )

    for label, spec, n_hand, n_core, n_evolved in SETTINGS:
        env = bisuna.Environment(spec)
        good = designed(env)
        if good is not None:
            for _ in range(2):
                add(label, "designed", spec, good)
        for i in range(n_hand):
            add(label, "handmade", spec, handmade(rng, env, i))
        for i in range(n_core):
            agent = bisuna.Agent.random(spec, rng.getrandbits(64), structural=300 + 200 * i)
            add(label, "core-random", spec, agent)
            add(label, "mutated", spec, agent.mutate(spec["limits"], rng.getrandbits(64), 20))
        if n_evolved:
            pop_spec = dict(spec, budget={"population": EVOLVE["population"]})
            pop = bisuna.Population(pop_spec, rng.getrandbits(64))
            pop.evolve(EVOLVE["generations"])
            for agent in pop.export_best(n_evolved):
                add(label, "evolved", spec, agent)
    return {
        "format": FORMAT,
        "description": (
            "Known answers for docs/scorer.md: each case's agent (canonical bytes, hex) scored "
            "under `scorer` on `spec` (env, eval, limits of an edgemarket/task@1 spec) with the "
            "32-byte evaluation seed `eval_seed` (hex). `score` is the expected score; per "
            "network, `steps` counts its steps and `outputs_sha256` is the sha256 of every "
            "output word it produced, in order, as u16 little-endian (docs/scorer.md, section 9)."
        ),
        "generator": "tests/reference/make_vectors.py",
        "cases": cases,
    }


def coverage(cases: list[dict[str, Any]]) -> dict[str, int]:
    """What the cases exercise (make_vectors refuses to write a file missing any of it)."""
    seen: dict[str, int] = {}

    def bump(key: str) -> None:
        seen[key] = seen.get(key, 0) + 1

    for case in cases:
        bump("env:" + case["spec"]["env"]["name"])
        bump("origin:" + case["origin"])
        for net in ref.decode(bytes.fromhex(case["agent"])):
            py = ref.PyNet(net)
            for i in range(net.inputs + net.outputs, len(net.kind)):
                bump(f"kind:{net.kind[i]}/rate:{net.rate[i]}")
            if py.primers:
                bump("control:primer")
            if py.controls:
                bump("control:chained")
            for f, t, m, _ in net.conns:
                if m != ref.NONE:
                    bump("modulated")
                if f == t:
                    bump("self-loop")
                elif f >= t:
                    bump("back-edge")
    return seen


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=VECTORS)
    args = ap.parse_args()
    doc = build()
    seen = coverage(doc["cases"])
    needed = [f"kind:{k}/rate:{r}" for k in range(2, 8) for r in range(3)]
    needed += [
        f"env:{e}"
        for e in ("cipher", "multiplexer-6", "multiplexer-11", "parity-n", "mountain-car")
    ]
    needed += [
        "control:primer",
        "control:chained",
        "modulated",
        "self-loop",
        "back-edge",
        "origin:evolved",
    ]
    missing = [k for k in needed if k not in seen]
    if missing or len(doc["cases"]) < 300:
        raise SystemExit(f"vectors incomplete: {len(doc['cases'])} cases, missing {missing}")
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(json.dumps({"cases": len(doc["cases"]), "coverage": seen}, sort_keys=True))


if __name__ == "__main__":
    main()
