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
MAX_LIMITS = {"max_neurons": 4096, "max_connections": 65535, "max_agent_bytes": 1 << 24}
HIDDEN_KINDS = ("identity", "activation", "threshold", "random", "control", "roll")


class CoreNet:
    """Network k of a core agent, stepped by the core (the `Stepper` of scorer.py)."""

    def __init__(self, agent: bisuna.Agent, k: int) -> None:
        self.agent, self.k = agent, k
        net = agent.network(k)
        self.n_in, self.n_out = net.inputs, net.outputs
        self.last_fuel = 0  # not counted here: the core's fuel comes from bisuna.score_detail

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
    cases += fuel_cases(cases, random.Random(seed + 2))
    return {
        "format": FORMAT,
        "description": (
            "Known answers for docs/scorer.md: each case's agent (canonical bytes, hex) scored "
            "under `scorer` on `spec` (env, eval, limits of an edgemarket/task@1 spec) with the "
            "32-byte evaluation seed `eval_seed` (hex). `score` is the expected score; per "
            "network, `steps` counts its steps and `outputs_sha256` is the sha256 of every "
            "output word it produced, in order, as u16 little-endian (docs/scorer.md, section 9). "
            "`bisuna-core/2` cases also give `fuel` (the complete evaluation's fuel), "
            "`fuel_ceiling` and `out_of_fuel` (fuel > fuel_ceiling: score 0), section 11."
        ),
        "generator": "tests/reference/make_vectors.py",
        "cases": cases,
    }


# ---- bisuna-core/2 (docs/scorer.md, section 11) ---------------------------------------------

SCORER_2 = "bisuna-core/2"
SMALL_LIMITS = {"max_neurons": 64, "max_connections": 160, "max_agent_bytes": 24576}
# (label, env, samples) of the hostile agents' specs, every environment
HOSTILE_SETTINGS: list[tuple[str, dict[str, Any], int | None]] = [
    ("cipher-xor-1", {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}}, 8),
    ("cipher-none-2", {"name": "cipher", "params": {"payload_words": 2, "mix": "none"}}, 16),
    ("multiplexer-6", {"name": "multiplexer-6", "params": {}}, None),
    ("multiplexer-11", {"name": "multiplexer-11", "params": {}}, None),
    ("parity-3", {"name": "parity-n", "params": {"n": 3}}, None),
    ("mountain-car-30", {"name": "mountain-car", "params": {"max_steps": 30}}, 2),
]
# (label, env, samples) of the specs whose ceiling lands one above, on and one below an
# agent's fuel
CEILING_SETTINGS: list[tuple[str, dict[str, Any], int | None]] = [
    ("mountain-car-1", {"name": "mountain-car", "params": {"max_steps": 1}}, 1),
    ("mountain-car-3", {"name": "mountain-car", "params": {"max_steps": 3}}, 2),
    ("parity-2", {"name": "parity-n", "params": {"n": 2}}, None),
    ("multiplexer-6", {"name": "multiplexer-6", "params": {}}, None),
    ("cipher-xor-1", {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}}, 8),
]


def chain_network(n_in: int, n_out: int, length: int, hang: int, dead: int) -> bisuna.Network:
    """Built to burn fuel (bench/hostile.py's threshold chain): input 0 -> a random neuron -> a
    chain of `length` threshold neurons, each firing one pass after the one before, -> every
    output; `hang` threshold neurons listen to input 0 and the chain's end, never fire and so
    execute in every pass; `dead` unconnected identity neurons cost only their share of N."""
    r, t0 = n_in + n_out, n_in + n_out + 1
    h0 = t0 + length
    C = bisuna.Connection
    conns = [C(0, r), C(r, t0)]
    conns += [C(t0 + k - 1, t0 + k) for k in range(1, length)]
    conns += [C(t0 + length - 1, o) for o in range(n_in, n_in + n_out)]
    for h in range(h0, h0 + hang):
        conns += [C(0, h, 1), C(t0 + length - 1, h, 1), C(h, n_in, 1)]
    hidden = (("random", 1),) + (("threshold", 1),) * (length + hang) + (("identity", 1),) * dead
    return bisuna.Network(n_in, n_out, hidden, tuple(conns))


def chain_agent(env: bisuna.Environment, length: int, hang: int, dead: int) -> bisuna.Agent:
    return bisuna.Agent.from_networks(
        chain_network(env.inputs[k], env.outputs[k], length, hang, dead)
        for k in range(env.networks)
    )


def fuel_case(
    case_id: str, origin: str, spec: dict[str, Any], agent: bytes, eval_seed: bytes
) -> dict[str, Any]:
    """A `bisuna-core/2` case: the /2 verdict, with the complete evaluation's fuel (the /1
    count, which never stops) and output hashes."""
    two = bisuna.score_detail(agent, spec, eval_seed, SCORER_2)
    one = bisuna.score_detail(agent, spec, eval_seed, "bisuna-core/1")
    ceiling = bisuna.fuel_ceiling(spec)
    if two.out_of_fuel != (one.fuel > ceiling) or (not two.out_of_fuel and two != one):
        raise AssertionError(f"{case_id}: /2 {two} disagrees with /1 {one}, ceiling {ceiling}")
    traced = core_result(agent, spec, eval_seed)
    return {
        "id": case_id,
        "scorer": SCORER_2,
        "spec": spec,
        "eval_seed": eval_seed.hex(),
        "agent": agent.hex(),
        "origin": origin,
        "score": two.score,
        "steps": traced.steps,
        "outputs_sha256": traced.outputs_sha256,
        "fuel": one.fuel,
        "fuel_ceiling": ceiling,
        "out_of_fuel": two.out_of_fuel,
    }


def fuel_cases(cases: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The /2 cases: every third /1 case again (same agent, spec and seed), hostile agents
    that run out and that do not in every environment, and agents whose fuel is one below,
    equal to and one above their spec's ceiling."""
    out: list[dict[str, Any]] = []

    def next_id(label: str, origin: str) -> str:
        return f"{label}/{origin}/{len(cases) + len(out):03d}"

    for case in cases[::3]:
        label = case["id"].split("/")[0]
        out.append(
            fuel_case(
                next_id(label, case["origin"]),
                case["origin"],
                case["spec"],
                bytes.fromhex(case["agent"]),
                bytes.fromhex(case["eval_seed"]),
            )
        )
    for label, env_spec, samples in HOSTILE_SETTINGS:
        spec = spec_of(env_spec["name"], env_spec["params"], samples, SMALL_LIMITS)
        env = bisuna.Environment(spec)
        for length, hang in ((20, 30), (12, 36), (3, 2), (6, 4)):
            agent = chain_agent(env, length, hang, 0).to_bytes()
            seed = rng.getrandbits(256).to_bytes(32, "big")
            out.append(fuel_case(next_id(label, "hostile"), "hostile", spec, agent, seed))
    for label, env_spec, samples in CEILING_SETTINGS:
        for case in ceiling_cases(label, env_spec, samples, rng):
            case["id"] = next_id(label, "ceiling")
            out.append(case)
    return out


def ceiling_cases(
    label: str, env_spec: dict[str, Any], samples: int | None, rng: random.Random
) -> list[dict[str, Any]]:
    """Up to three agents' cases: the spec's ceiling one above the agent's fuel, equal to it
    (neither runs out) and one below (out of fuel). The limits put the ceiling there (it is a multiple
    of 4 x network steps); the search varies the chain, the hanging neurons and dead padding
    until the fuel has the residue each needs."""
    big = spec_of(env_spec["name"], env_spec["params"], samples, MAX_LIMITS)
    env = bisuna.Environment(big)
    seed = rng.getrandbits(256).to_bytes(32, "big")
    per = bisuna.fuel_ceiling(big) // (MAX_LIMITS["max_neurons"] + MAX_LIMITS["max_connections"])
    found: dict[int, dict[str, Any]] = {}
    for length in range(4, 16):
        for hang in range(2, 12):
            for dead in range(0, 8):
                agent = chain_agent(env, length, hang, dead)
                fuel = bisuna.score_detail(agent, big, seed, "bisuna-core/1").fuel
                nets = [agent.network(k) for k in range(env.networks)]
                n = max(len(net.hidden) + net.inputs + net.outputs for net in nets)
                c = max(len(net.connections) for net in nets)
                for offset in (1, 0, -1):
                    if offset in found or (fuel + offset) % per:
                        continue
                    max_c = (fuel + offset) // per - n
                    if not c <= max_c <= 65535:
                        continue
                    limits = {"max_neurons": n, "max_connections": max_c, "max_agent_bytes": 24576}
                    spec = spec_of(env_spec["name"], env_spec["params"], samples, limits)
                    found[offset] = fuel_case(label, "ceiling", spec, agent.to_bytes(), seed)
                if len(found) == 3:
                    return [found[1], found[0], found[-1]]
    if 0 not in found:
        raise AssertionError(f"{label}: no agent lands on its ceiling")
    # where every network step of the evaluation costs the same, the fuel is a multiple of
    # the network steps and only "exactly at the ceiling" exists
    return [found[k] for k in (1, 0, -1) if k in found]


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
    print(json.dumps({"cases": len(doc["cases"]), "coverage": seen}, sort_keys=True))  # noqa: T201


if __name__ == "__main__":
    main()
