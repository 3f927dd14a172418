"""Fuel and scorer bisuna-core/2: the ceiling's formula and bound, agents that run out score
0 and say so, and every ordinary agent scores exactly as under bisuna-core/1."""

from __future__ import annotations

from typing import Any

import pytest

import bisuna
from bisuna import Connection, Network

DEMO: dict[str, Any] = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/2",
    "env": {"name": "cipher", "params": {"payload_words": 1, "mix": "xor"}},
    "eval": {"samples": 512},
    "budget": {"population": 24},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
}
MUX6: dict[str, Any] = {
    "scorer": "bisuna-core/2",
    "env": {"name": "multiplexer-6"},
    "limits": {"max_neurons": 1024, "max_connections": 4096, "max_agent_bytes": 1 << 20},
}


def hostile(inputs: int, length: int, hang: int) -> bisuna.Agent:
    """input 0 -> random -> `length` threshold neurons firing one pass after another -> the
    output; `hang` threshold neurons that run in every pass and never fire."""
    r, t0 = inputs + 1, inputs + 2
    h0 = t0 + length
    hidden = (("random", 1),) + (("threshold", 1),) * (length + hang)
    conns = [Connection(0, r), Connection(r, t0)]
    conns += [Connection(t0 + k - 1, t0 + k) for k in range(1, length)]
    conns.append(Connection(t0 + length - 1, inputs))
    for h in range(h0, h0 + hang):
        conns += [Connection(0, h, 1), Connection(t0 + length - 1, h, 1), Connection(h, inputs, 1)]
    return bisuna.Agent.from_networks([Network(inputs, 1, hidden, tuple(conns))])


def test_ceiling_formula() -> None:
    assert bisuna.fuel_ceiling(DEMO) == 4 * 2 * 512 * (256 + 2048)
    assert bisuna.fuel_ceiling(MUX6) == 4 * 64 * (1024 + 4096)
    car = {"scorer": "bisuna-core/2", "env": {"name": "mountain-car", "params": {"max_steps": 500}}}
    assert bisuna.fuel_ceiling(car) == 4 * 16 * 500 * (256 + 2048)


def test_spec_over_the_bound_is_refused_with_the_reason() -> None:
    big = {
        "scorer": "bisuna-core/2",
        "env": {"name": "mountain-car", "params": {"max_steps": 100_000}},
        "eval": {"samples": 4096},
        "limits": {"max_neurons": 4096, "max_connections": 65535},
    }
    with pytest.raises(bisuna.LimitError, match="exceeds 4,294,967,296"):
        bisuna.fuel_ceiling(big)
    agent = bisuna.Agent.random(big, 1)
    with pytest.raises(bisuna.LimitError, match="fuel ceiling"):
        bisuna.score_detail(agent, big, b"seed")
    # bisuna-core/1 has no ceiling: the same spec still scores there
    assert bisuna.score(agent, {**big, "eval": {"samples": 1}}, b"s", "bisuna-core/1") >= 0


def test_agent_that_runs_out_scores_zero_and_says_so() -> None:
    agent = hostile(6, 300, 400)
    old = bisuna.score_detail(agent, MUX6, b"seed", "bisuna-core/1")
    new = bisuna.score_detail(agent, MUX6, b"seed", "bisuna-core/2")
    assert not old.out_of_fuel and old.score > 0
    assert old.fuel > bisuna.fuel_ceiling(MUX6)
    assert new.out_of_fuel and new.score == 0
    assert bisuna.score(agent, MUX6, b"seed", "bisuna-core/2") == 0
    assert bisuna.score(agent, MUX6, b"seed", "bisuna-core/1") == old.score
    # deterministic: the same verdict and fuel every time
    assert bisuna.score_detail(agent, MUX6, b"seed", "bisuna-core/2") == new


def test_small_hostile_agent_stays_within_fuel() -> None:
    agent = hostile(6, 20, 20)
    detail = bisuna.score_detail(agent, MUX6, b"seed")
    assert not detail.out_of_fuel and 0 < detail.fuel <= bisuna.fuel_ceiling(MUX6)


def test_random_and_evolved_agents_score_the_same_under_1_and_2() -> None:
    agents = [bisuna.Agent.random(DEMO, s, structural=200 + 150 * (s % 8)) for s in range(60)]
    for seed in range(3):
        pop = bisuna.Population(DEMO, seed=seed)
        pop.evolve(15)
        agents.append(pop.best())
    one = bisuna.score_many(agents, DEMO, b"eval", "bisuna-core/1")
    two = bisuna.score_many_detail(agents, DEMO, b"eval", "bisuna-core/2")
    assert [d.score for d in two] == one
    assert not any(d.out_of_fuel for d in two)
    assert max(d.fuel for d in two) < bisuna.fuel_ceiling(DEMO)


@pytest.mark.parametrize(
    "env",
    [
        {"name": "multiplexer-6"},
        {"name": "multiplexer-11"},
        {"name": "parity-n", "params": {"n": 5}},
        {"name": "mountain-car", "params": {"max_steps": 200}},
    ],
)
def test_every_env_random_agents_agree(env: dict[str, Any]) -> None:
    spec: dict[str, Any] = {"scorer": "bisuna-core/2", "env": env}
    if env["name"] == "mountain-car":
        spec["eval"] = {"samples": 2}
    agents = [bisuna.Agent.random(spec, s, structural=300 + 100 * s) for s in range(20)]
    one = bisuna.score_many(agents, spec, b"x", "bisuna-core/1")
    two = bisuna.score_many_detail(agents, spec, b"x")
    assert [d.score for d in two] == one and not any(d.out_of_fuel for d in two)


def test_scorers_are_listed() -> None:
    assert bisuna.SCORERS == ("bisuna-core/1", "bisuna-core/2")
