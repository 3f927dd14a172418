"""Search strategies: chosen by name, deterministic for a seed, valid canonical agents within
the spec's limits, the scores the evaluators give, populations carried across epochs, and
known answers (each strategy solves multiplexer-6 on a fixed seed within a small budget)."""

from __future__ import annotations

import pytest

import bisuna
from bisuna import bindings as _b

LIMITS = {"max_neurons": 40, "max_connections": 80, "max_agent_bytes": 1200}


def spec(env: str, **params: int | str) -> dict[str, object]:
    return {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": {"name": env, "params": params},
        "budget": {"population": 30},
        "limits": LIMITS,
    }


MUX11 = spec("multiplexer-11")
CIPHER = {**spec("cipher", payload_words=2, mix="none"), "eval": {"samples": 64}}


def ranked(pop: bisuna.Population) -> list[tuple[bytes, int]]:
    return [_b.pop_ranked(pop._ptr, r) for r in range(pop.size)]


def test_strategies_are_listed_and_unknown_names_refused() -> None:
    assert bisuna.strategies()[:2] == ["suna", "es"]
    with pytest.raises(ValueError, match="unknown search strategy 'nope'; known: suna, es"):
        bisuna.Population(MUX11, 1, strategy="nope")
    with pytest.raises(ValueError, match="strategy must be a name"):
        bisuna.Population(MUX11, 1, strategy=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["suna", "es"])
@pytest.mark.parametrize("task", [MUX11, CIPHER], ids=["multiplexer-11", "cipher"])
def test_deterministic_valid_agents_within_limits(strategy: str, task: dict[str, object]) -> None:
    a, b = (bisuna.Population(task, 5, strategy=strategy) for _ in range(2))
    a.evolve(12)
    b.evolve(12)
    ra, rb = ranked(a), ranked(b)
    assert ra == rb
    assert a.evaluations == b.evaluations >= 12 * 20
    for raw, _ in ra:
        agent = bisuna.Agent.from_bytes(raw, LIMITS)  # strict: canonical and within limits
        assert agent.to_bytes() == raw
        for net in agent.describe()["networks"]:
            assert net["inputs"] + net["outputs"] + net["hidden"] <= LIMITS["max_neurons"]
            assert net["connections"] <= LIMITS["max_connections"]


@pytest.mark.parametrize("strategy", ["suna", "es"])
def test_a_strategy_never_changes_a_score(strategy: str) -> None:
    # An agent without random neurons scores the same under every seed on a boolean task,
    # so its training fitness must be what bisuna.score gives it.
    pop = bisuna.Population(spec("parity-n", n=4), 9, strategy=strategy)
    pop.evolve(40)
    checked = 0
    for raw, fitness in ranked(pop):
        agent = bisuna.Agent.from_bytes(raw)
        if any("random" in net["neurons_by_kind"] for net in agent.describe()["networks"]):
            continue
        assert bisuna.score(agent, pop.spec, b"\x01" * 32) == fitness
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("strategy", ["suna", "es"])
def test_population_carried_across_epochs(strategy: str) -> None:
    pop = bisuna.Population(MUX11, 3, strategy=strategy)
    pop.evolve(10)
    members = pop.export_population()
    assert len(members) == (pop.size if strategy == "suna" else pop.size // 5)
    nxt = bisuna.Population(MUX11, 4, strategy=strategy)
    nxt.load(members)
    assert nxt.export_population()[: len(members)] == members
    nxt.evolve(2)
    assert nxt.best_fitness > 0
    with pytest.raises(bisuna.LimitError, match="at most"):
        nxt.load(members + members)


def test_es_solves_multiplexer_6_and_the_winner_scores_perfectly() -> None:
    # Known answer: seed 2 solves in about 2,500 generations (~200,000 evaluations).
    task = {"env": {"name": "multiplexer-6"}, "budget": {"population": 100}}
    pop = bisuna.Population(task, 2, strategy="es")
    while pop.best_fitness < 1_000_000 if pop.generation else True:
        assert pop.generation < 6_000, "es no longer solves multiplexer-6 from seed 2"
        pop.evolve(100)
    best = pop.best()
    assert [bisuna.score(best, task, bytes([k]) * 32) for k in range(4)] == [1_000_000] * 4


def test_suna_solves_multiplexer_6() -> None:
    # Known answer for the baseline: seed 3 reaches a perfect training fitness.
    task = {"env": {"name": "multiplexer-6"}, "budget": {"population": 100}}
    pop = bisuna.Population(task, 3, strategy="suna")
    while pop.best_fitness < 1_000_000 if pop.generation else True:
        assert pop.generation < 8_000, "suna no longer solves multiplexer-6 from seed 3"
        pop.evolve(100)
