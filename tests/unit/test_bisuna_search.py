"""Search strategies: chosen by name, deterministic for a seed, valid canonical agents within
the spec's limits, the scores the evaluators give, populations carried across epochs, and
known answers (each strategy solves multiplexer-6 and parity-3 on fixed seeds within a small
budget), and the hand-built circuit the `es` motifs aim at."""

from __future__ import annotations

import pytest

import bisuna
from bisuna import bindings as _b
from bisuna.agent import Connection, Network

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
MCAR = spec("mountain-car")


def ranked(pop: bisuna.Population) -> list[tuple[bytes, int]]:
    return [_b.pop_ranked(pop._ptr, r) for r in range(pop.size)]


def test_strategies_are_listed_and_unknown_names_refused() -> None:
    assert bisuna.strategies()[:2] == ["suna", "es"]
    with pytest.raises(ValueError, match="unknown search strategy 'nope'; known: suna, es"):
        bisuna.Population(MUX11, 1, strategy="nope")
    with pytest.raises(ValueError, match="strategy must be a name"):
        bisuna.Population(MUX11, 1, strategy=3)  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["suna", "es"])
@pytest.mark.parametrize(
    "task", [MUX11, CIPHER, MCAR], ids=["multiplexer-11", "cipher", "mountain-car"]
)
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
    # An agent that scores the same under every seed on a boolean task (no random neurons, or
    # random neurons only in constant sources, as es keeps them) must have as its training
    # fitness what bisuna.score gives it.
    pop = bisuna.Population(spec("parity-n", n=4), 9, strategy=strategy)
    pop.evolve(40)
    checked = 0
    for raw, fitness in ranked(pop):
        agent = bisuna.Agent.from_bytes(raw)
        scores = {bisuna.score(agent, pop.spec, bytes([k]) * 32) for k in range(6)}
        if len(scores) > 1:
            continue  # luck-dependent: its fitness is one draw
        assert scores == {fitness}
        checked += 1
    assert checked > 0


@pytest.mark.parametrize("strategy", ["suna", "es"])
def test_population_carried_across_epochs(strategy: str) -> None:
    pop = bisuna.Population(MUX11, 3, strategy=strategy)
    pop.evolve(10)
    members = pop.export_population()
    # es: a lineage per 1 + 9 agents on the boolean tasks (1 + 4 elsewhere)
    assert len(members) == (pop.size if strategy == "suna" else pop.size // 10)
    nxt = bisuna.Population(MUX11, 4, strategy=strategy)
    nxt.load(members)
    assert nxt.export_population()[: len(members)] == members
    nxt.evolve(2)
    assert nxt.best_fitness > 0
    with pytest.raises(bisuna.LimitError, match="at most"):
        nxt.load(members + members)


def parity_by_terms(n: int) -> bisuna.Agent:
    """A parity-n agent built by hand from the motifs the `es` mutations insert: a constant
    source (a threshold neuron reading two random neurons), for each input x an identity
    neuron whose low byte is x (it reads the constant through 0xFF00 and x through 0x00FF),
    and one threshold neuron per odd minterm, reading its literals through groups of low bits
    that add up to 4; the output ORs the terms."""
    out, r1, r2, const = n, n + 1, n + 2, n + 3
    lit = [n + 4 + i for i in range(n)]
    minterms = [c for c in range(1 << n) if bin(c).count("1") % 2]
    hidden = [("random", 1), ("random", 1), ("threshold", 1)] + [("identity", 1)] * n
    hidden += [("threshold", 1)] * len(minterms)
    conns = [Connection(0, r1), Connection(0, r2), Connection(r1, const), Connection(r2, const)]
    for i in range(n):
        conns += [Connection(const, lit[i], 0xFF00), Connection(i, lit[i], 0x00FF)]
    widths = {3: [2, 1, 1], 4: [1, 1, 1, 1]}[n]
    for m, term in enumerate(minterms):
        t = n + 4 + n + m
        conns.append(Connection(t, out, 0xFF00))
        bit = 0
        for i in range(n):
            w = ((1 << widths[i]) - 1) << bit
            bit += widths[i]
            # x = 1: the literal neuron's low byte; x = 0: the input's own state (~x)
            conns.append(Connection(lit[i] if term >> i & 1 else i, t, w))
    return bisuna.Agent.from_networks([Network(n, 1, tuple(hidden), tuple(conns))])


@pytest.mark.parametrize("n", [3, 4])
def test_hand_built_parity_from_the_es_motifs_scores_perfectly(n: int) -> None:
    task = spec("parity-n", n=n)
    agent = parity_by_terms(n)
    assert [bisuna.score(agent, task, bytes([k]) * 32) for k in range(8)] == [1_000_000] * 8
    # without the constant source, the all-ones case (every input state 0) is lost
    net = agent.network(0)
    cut = [c for c in net.connections if c.target != n + 3]
    broken = bisuna.Agent.from_networks([Network(n, 1, net.hidden, tuple(cut))])
    assert bisuna.score(broken, task, b"\x01" * 32) < 1_000_000


def solve(task: dict[str, object], seed: int, strategy: str, generations: int) -> bisuna.Population:
    pop = bisuna.Population(task, seed, strategy=strategy)
    while pop.best_fitness < 1_000_000 if pop.generation else True:
        assert pop.generation < generations, f"{strategy} no longer solves it from seed {seed}"
        pop.evolve(10)
    return pop


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    "env",
    [{"name": "multiplexer-6"}, {"name": "parity-n", "params": {"n": 3}}],
    ids=["multiplexer-6", "parity-3"],
)
def test_es_solves_multiplexer_6_and_parity_3_and_the_winner_holds(
    env: dict[str, object], seed: int
) -> None:
    # Known answers: seeds 1-6 solve multiplexer-6 within 180 generations and parity-3 within
    # 10 (2026-12-02); the bound leaves room, a regression to the old es (parity-3 unsolved,
    # multiplexer-6 in ~2,500 generations) fails. The winner's random neurons sit only in
    # constant sources, so it scores perfectly on other evaluation seeds too.
    task = {"env": env, "budget": {"population": 100}}
    pop = solve(task, seed, "es", 600)
    best = pop.best()
    assert [bisuna.score(best, task, bytes([k]) * 32) for k in range(16)] == [1_000_000] * 16


def test_suna_solves_parity_3() -> None:
    # Known answer for the baseline: seed 6 reaches a perfect training fitness in about 3,060
    # generations.
    solve(
        {"env": {"name": "parity-n", "params": {"n": 3}}, "budget": {"population": 100}},
        6,
        "suna",
        4_000,
    )


def test_suna_solves_multiplexer_6() -> None:
    # Known answer for the baseline: seed 3 reaches a perfect training fitness.
    task = {"env": {"name": "multiplexer-6"}, "budget": {"population": 100}}
    pop = bisuna.Population(task, 3, strategy="suna")
    while pop.best_fitness < 1_000_000 if pop.generation else True:
        assert pop.generation < 8_000, "suna no longer solves multiplexer-6 from seed 3"
        pop.evolve(100)


def test_es_solves_multiplexer_11_with_lexicase_parents_and_the_winner_holds() -> None:
    # Known answer: with lexicase parents (tasks of 128 cases or more), seed 7 solves
    # multiplexer-11 in 150 generations (18.7 k evaluations, 2026-12-02); the es before them
    # stood at 945,312 after 600 generations from this seed, so a regression fails.
    task = {"env": {"name": "multiplexer-11"}, "budget": {"population": 100}}
    pop = solve(task, 7, "es", 300)
    best = pop.best()
    assert [bisuna.score(best, task, bytes([k]) * 32) for k in range(4)] == [1_000_000] * 4


def cipher_task(words: int, samples: int = 256) -> dict[str, object]:
    return {
        "env": {"name": "cipher", "params": {"payload_words": words, "mix": "none"}},
        "eval": {"samples": samples},
        "budget": {"population": 100},
    }


def previous_key_cipher(words: int, keyed: bool = True) -> bisuna.Agent:
    """Alice and Bob alike: input i (P or C) also reads key input i, so it holds the word plus
    the complement of the previous sample's key (inputs run first, so a wire into an input
    reads the last step's state); output i reads it, complemented again. Alice writes
    C = K' - P, Bob P = K' - C."""
    conns = [Connection(i, 2 * words + i) for i in range(words)]
    if keyed:
        conns += [Connection(words + i, i) for i in range(words)]
    net = Network(2 * words, words, (), tuple(conns))
    return bisuna.Agent.from_networks([net, net])


@pytest.mark.parametrize("words", [3, 8])
def test_a_wire_from_each_key_into_its_word_is_a_perfect_cipher(words: int) -> None:
    # What es finds on the cipher (mix none): the model's one arithmetic is an input adding its
    # observation to what its wires carry, and those carry the previous step's states.
    task = cipher_task(words, 4096)
    assert [bisuna.score(previous_key_cipher(words), task, bytes([k]) * 32) for k in range(4)] == [
        1_000_000
    ] * 4
    # without the key wires C = ~P: Bob still decrypts, but every attacker reads it
    assert bisuna.score(previous_key_cipher(words, keyed=False), task, b"\x01" * 32) == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_es_solves_the_cipher_without_mixing_and_the_winner_holds(seed: int) -> None:
    # Known answers (2026-12-02): payload 3, 256 samples, seeds 1-6 reach a perfect training
    # fitness (confirmed on 16,384 samples) within 250 generations, 0.4-2.1 CPU-s. Before
    # connections into inputs and Alice and Bob mutating alike, es reached about 0.8 M.
    task = cipher_task(3)
    pop = solve(task, seed, "es", 1_000)
    best = pop.best()
    assert [bisuna.score(best, task, bytes([k, 3]) * 16) for k in range(8)] == [1_000_000] * 8
    # Alice and Bob are one network: they start alike and every mutation changes both
    assert best.network(0) == best.network(1)


# ---- mountain-car ----------------------------------------------------------------------------

MOUNTAIN_CAR = {"env": {"name": "mountain-car"}, "budget": {"population": 100}}


def held_out(agent: bisuna.Agent, seeds: range, tag: int = 1) -> float:
    """Mean score over held-out evaluation seeds (16 episodes each), as bench/search.py
    checks a mountain-car winner (a mean of at least 890,000: gym's <= 110 steps)."""
    scores = [bisuna.score(agent, MOUNTAIN_CAR, bytes([k, tag]) * 16) for k in seeds]
    return sum(scores) / len(scores)


def two_shift_policy(c: int, b: int) -> bisuna.Agent:
    """Push right iff v > θ(x), θ one level left of a point and another right of it, built
    as the es's mountain-car template is (search.c, mc_template): the constant source K adds
    c to the position input X and b to the velocity input V from the second step on; the
    identity HV holds V's sum, two rolls and an identity I bring its bits 14 and 13 to the top,
    and the output ANDs HV's top bit with (bit 14 or bit 13 or X's state's top bit, i.e. the
    position plus c below the middle word) through modulated connections."""
    x, v, o, hv, r1, r2, i, a, b_, k = range(10)
    hidden = (
        ("identity", 1), ("roll", 1), ("roll", 1), ("identity", 1),
        ("random", 1), ("random", 1), ("threshold", 1),
    )  # fmt: skip
    conns = (
        Connection(v, hv), Connection(v, r1), Connection(r1, r2), Connection(r2, i),
        Connection(x, a), Connection(x, b_), Connection(a, k), Connection(b_, k),
        Connection(k, x, c), Connection(k, v, b),
        Connection(hv, o, 0, r1), Connection(hv, o, 0, i), Connection(hv, o, 0, x),
    )  # fmt: skip
    return bisuna.Agent.from_networks([Network(2, 1, hidden, conns)])


def test_a_hand_built_mountain_car_policy_beats_gyms_threshold() -> None:
    # The target is reachable in this model: c = 0x1600, b = 0x300 average 102.6 steps in an
    # exact simulation (starts every 20 µ; about 897,400 here). Pushing with the velocity
    # alone (the shifts at 0) takes about 135 steps from the second step on, and the best
    # policy over at most two switches per start about 97.5 (exact simulation, 21 starts).
    good = two_shift_policy(0x1600, 0x0300)
    assert held_out(good, range(32)) >= 895_000
    for tag in range(1, 11):  # bench/search.py's check on each of its 10 seeds passes
        assert held_out(good, range(4), tag) >= 890_000
    assert held_out(two_shift_policy(0, 0), range(8)) < 870_000


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_es_solves_mountain_car_and_the_winner_holds(seed: int) -> None:
    # Known answers (2026-12-02): seeds 1-10 pass bench/search.py's check within 20
    # generations (0.4-1.8 CPU-s). Before the template, shifts and stratified starts, winners
    # passed that check by luck (about 110 steps, 889-891 k on 1,024 episodes), after 35-190
    # generations. The winner must also hold on 16 other seeds (256 episodes).
    pop = bisuna.Population(MOUNTAIN_CAR, seed, strategy="es")
    while True:
        assert pop.generation < 60, f"es no longer solves mountain-car from seed {seed}"
        pop.evolve(5)
        if pop.best_fitness >= 890_000 and held_out(pop.best(), range(4), seed) >= 890_000:
            break
    assert held_out(pop.best(), range(100, 116), seed) >= 890_000


def test_es_mountain_car_without_room_for_the_template() -> None:
    task = {**MOUNTAIN_CAR, "budget": {"population": 10}, "limits": {"max_neurons": 8}}
    pop = bisuna.Population(task, 1, strategy="es")
    pop.evolve(3)
    for raw in pop.export_population():
        assert bisuna.Agent.from_bytes(raw, {"max_neurons": 8}).neuron_count <= 8
