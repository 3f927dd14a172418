"""Known answers: hand-built agents against values worked out step by step from docs/bisuna.md and docs/scorer.md.

Reminders used throughout: a neuron's state is ~out & beta (beta 0xFFFF, 0x07FF, 0x003F for
rates 1, 7, 49); a connection carries its source's state; an input's out is its observation,
so a wire input -> output with weight 0xFFFF yields ~input."""

from __future__ import annotations

import numpy as np
import pytest

import bisuna
from bisuna import Agent, Connection, Network

M = 0xFFFF


def run1(net: Network, rows: list[list[int]], seed: int = 0) -> list[int]:
    out = Agent.from_networks([net]).run(np.array(rows, dtype=np.uint16), seed=seed)
    return [int(v) for v in out[:, 0]]


# ---- single neurons ---------------------------------------------------------------------


def test_wire_complements_and_masks_its_input() -> None:
    assert run1(Network(1, 1, (), (Connection(0, 1, M),)), [[0x1234], [0]]) == [0xEDCB, 0xFFFF]
    assert run1(Network(1, 1, (), (Connection(0, 1, 0x00FF),)), [[0x1234]]) == [0x00CB]
    assert run1(Network(1, 1, (), ()), [[0x1234]]) == [0]  # no connection: acc 0


@pytest.mark.parametrize(("rate", "beta"), [(1, 0xFFFF), (7, 0x07FF), (49, 0x003F)])
def test_identity_hidden_neuron_at_every_firing_rate(rate: int, beta: int) -> None:
    # in(0) -> h(2) -> out(1): h.out = ~x, h.state = ~~x & beta = x & beta.
    net = Network(1, 1, (("identity", rate),), (Connection(0, 2), Connection(2, 1)))
    x = 0x1234
    assert run1(net, [[x], [x]]) == [x & beta, x & beta]


def test_a_neuron_that_does_not_reach_15_does_not_fire_and_is_read_a_step_late() -> None:
    # x = 0xFFF5: h.out = ~x = 10 < 15, so h does not fire; the output runs last (step 5) and
    # reads h's previous state: 0 in step 1, then x in step 2 (h wrote state x in step 1).
    # x = 0x1234: h fires in pass 1, the output runs in pass 2 and reads the new state.
    net = Network(1, 1, (("identity", 1),), (Connection(0, 2), Connection(2, 1)))
    assert run1(net, [[0xFFF5], [0xFFF5], [0x1234]]) == [0, 0xFFF5, 0x1234]


def test_activation_neuron_counts_bits() -> None:
    # acc = ~x, out = popcount(~x) (< 15 unless x has at most one bit), state = ~out.
    # The output reads the previous state (it did not fire): 0, then ~popcount(~x1).
    net = Network(1, 1, (("activation", 1),), (Connection(0, 2), Connection(2, 1)))
    x1, x2 = 0x00FF, 0x0F0F
    # x = 0: popcount(0xFFFF) = 16 >= 15, fires at once: output reads the new state ~16.
    assert run1(net, [[x1], [x2], [0]]) == [0, M ^ 8, M ^ 16]
    assert run1(net, [[0]]) == [M ^ 16]


def test_threshold_neuron() -> None:
    net = Network(1, 1, (("threshold", 1),), (Connection(0, 2), Connection(2, 1)))
    # x = 0: acc 0xFFFF has >= 4 bits: out 255, fires, state 0xFF00; the output runs in
    # pass 2 and marks its connection feed-forward.
    # x = 0xFFF8: acc = 7, 3 bits: out 0, does not fire. The output runs in step 5; its
    # connection from the threshold neuron was feed-forward in the previous step and the
    # source has not fired, so it is skipped: acc 0, output 0.
    assert run1(net, [[0], [0xFFF8], [0]]) == [0xFF00, 0, 0xFF00]
    # Starting with 0xFFF8 the connection was not feed-forward: the previous state is read.
    assert run1(net, [[0xFFF8], [0xFFF8]]) == [0, 0xFFFF]


def test_roll_neuron_rotates_left() -> None:
    net = Network(1, 1, (("roll", 1),), (Connection(0, 2), Connection(2, 1)))
    # acc = ~x; out = rotl(~x) = ~rotl(x); state = rotl(x).
    assert run1(net, [[0x0001], [0x8001]]) == [0x0002, 0x0003]


def random_word(seed: int, t: int, neuron: int) -> int:
    """Reference of a random neuron's word: a counter-based hash of the network's seed, the
    step index since the reset and the neuron id (the same however often it runs in a step)."""
    m32 = 0xFFFFFFFF
    h = (seed & m32) ^ ((t * 0x9E3779B9) & m32)
    h ^= (neuron * 0x85EBCA6B) & m32
    h ^= seed >> 32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & m32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & m32
    h ^= h >> 16
    return h >> 16


def test_random_neuron_draws_from_its_seeded_stream() -> None:
    # in(0) -> r(2, random) -> out(1): r.out = word, fires (word >= 15), output = ~word.
    net = Network(1, 1, (("random", 1),), (Connection(0, 2), Connection(2, 1)))
    seed = 0x0123456789ABCDEF
    words = [random_word(seed, t, 2) for t in range(4)]
    assert all(w >= 15 for w in words)
    assert run1(net, [[0]] * 4, seed=seed) == [w ^ M for w in words]
    assert run1(net, [[0]] * 4, seed=seed + 1) != [w ^ M for w in words]


def test_random_neuron_in_boolean_tasks_draws_per_case() -> None:
    # multiplexer-6 with out = ~random word (top bit): case c draws random_word(seed, c, 7)
    # where seed = derive_seed(eval_seed, "agent"); compare the score with the reference.
    net = Network(6, 1, (("random", 1),), (Connection(0, 7), Connection(7, 6)))
    seed = bisuna.derive_seed(b"eval", "agent")
    right = 0
    for c in range(64):
        word = random_word(seed, c, 7)
        out = (word ^ M) if word >= 15 else 0  # did not fire: the output reads 0 in step 5
        want = (c >> (2 + (c & 3))) & 1
        right += (out >> 15) == want
    score = bisuna.score(Agent.from_networks([net]), {"env": {"name": "multiplexer-6"}}, b"eval")
    assert score == right * 1_000_000 // 64


def test_recurrent_self_loop_oscillates() -> None:
    # out = ~x | prev_state(out); with x = 0xFFFF: 0, then ~0 = 0xFFFF, then 0 ...
    net = Network(1, 1, (), (Connection(0, 1), Connection(1, 1)))
    assert run1(net, [[M]] * 4) == [0, M, 0, M]


def test_input_neuron_adds_its_observation() -> None:
    # in1 -> in0 (weight 0xFFFF): in0 reads in1's previous state (inputs are marked fired
    # only after all ran): out(in0) = (prev_state(in1) + x0) & 0xFFFF; the wire gives ~that.
    net = Network(2, 1, (), (Connection(1, 0), Connection(0, 2)))
    a = Agent.from_networks([net])
    out = a.run(np.array([[5, 0x00F0], [5, 0x00F0]], dtype=np.uint16))
    assert [int(v) for v in out[:, 0]] == [M ^ 5, M ^ ((0xFF0F + 5) & M)]


# ---- modulation and control -------------------------------------------------------------


def test_neuromodulated_connection_uses_the_modulator_state() -> None:
    # in0 -> out modulated by in1: w = state(in1) = ~x1, so out = ~x0 & ~x1 = ~(x0 | x1).
    net = Network(2, 1, (), (Connection(0, 2, modulator=1),))
    out = Agent.from_networks([net]).run(np.array([[0x00F0, 0x0F00]], dtype=np.uint16))
    assert int(out[0, 0]) == 0xF00F


def test_inhibited_modulator_gives_weight_zero() -> None:
    # hidden identity h(3) <- in1 modulates in0 -> out; a control primer (4) inhibits h.
    # Without the primer's connection: out = ~x0 & state(h) where state(h) = x1.
    base = (Connection(1, 3), Connection(0, 2, modulator=3))
    free = Network(2, 1, (("identity", 1), ("control", 1)), base)
    held = Network(2, 1, (("identity", 1), ("control", 1)), (*base, Connection(4, 3, 0xFF00)))
    rows = np.array([[0x0F0F, 0x3333]], dtype=np.uint16)
    # The output has no feed-forward input (a modulated connection is not one), so it runs
    # in step 5 after h fired: ~0x0F0F & 0x3333.
    assert int(Agent.from_networks([free]).run(rows)[0, 0]) == 0xF0F0 & 0x3333
    assert int(Agent.from_networks([held]).run(rows)[0, 0]) == 0


@pytest.mark.parametrize(
    ("rate", "weight", "inhibits"),
    [
        (1, 0xFF00, True),
        (1, 0x00FF, False),
        (7, 0x0100, True),
        (7, 0xF800, False),
        (49, 0xFFFF, False),
    ],
)
def test_control_primer_inhibition_depends_on_rate_and_weight(
    rate: int, weight: int, inhibits: bool
) -> None:
    # A primer with no input: out 0, state = beta; exc[h] |= w & beta; h inhibited iff >= 256.
    # in -> h(2, identity) -> out(1); inhibited h never runs, the output reads 0.
    net = Network(
        1,
        1,
        (("identity", 1), ("control", rate)),
        (Connection(0, 2), Connection(2, 1), Connection(3, 2, weight)),
    )
    x = 0x1234
    assert run1(net, [[x]]) == [0 if inhibits else x]


def test_control_batches_primer_excites_or_inhibits_a_control_neuron() -> None:
    # primer(4) -> control(3) with weight w; control(3) -> h(2) with 0xFF00 inhibits h when
    # control(3) runs. w = 0x0100: control(3) inhibited, never runs, h runs: output x.
    # w = 0x0001: control(3) excited, runs in the first batch, inhibits h: output 0.
    def net(w: int) -> Network:
        return Network(
            1,
            1,
            (("identity", 1), ("control", 1), ("control", 1)),
            (Connection(0, 2), Connection(2, 1), Connection(3, 2, 0xFF00), Connection(4, 3, w)),
        )

    a = Agent.from_networks([net(0x0100)])
    assert a.describe()["networks"][0]["neurons_by_kind"] == {
        "identity": 1,
        "control": 1,
        "control_primer": 1,
    }
    assert run1(net(0x0100), [[0x1234]]) == [0x1234]
    assert run1(net(0x0001), [[0x1234]]) == [0]


def test_modulated_control_depends_on_the_input() -> None:
    # control primer(4) -> h(3) modulated by in1: exc[h] = state(in1) & 0xFFFF = ~x1.
    # in0 -> h -> out. h inhibited iff ~x1 >= 256.
    net = Network(
        2,
        1,
        (("identity", 1), ("control", 1)),
        (Connection(0, 3), Connection(3, 2), Connection(4, 3, modulator=1)),
    )
    x0 = 0x1234
    assert run1(net, [[x0, 0xFFFF]]) == [x0]
    assert run1(net, [[x0, 0x0000]]) == [0]


# ---- cipher -----------------------------------------------------------------------------


def cipher_spec(mix: str = "xor", words: int = 3, samples: int = 1024) -> dict[str, object]:
    return {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": {"name": "cipher", "params": {"payload_words": words, "mix": mix}},
        "eval": {"samples": samples},
    }


def wires(n: int) -> Network:
    return Network(n, n, (), tuple(Connection(i, n + i) for i in range(n)))


def identities(n: int) -> Network:
    # in_i -> h_i -> out_i: out = x
    hidden = tuple(("identity", 1) for _ in range(n))
    conns = [Connection(i, 2 * n + i) for i in range(n)]
    conns += [Connection(2 * n + i, n + i) for i in range(n)]
    return Network(n, n, hidden, tuple(conns))


SEED = bytes(range(32))


def test_wire_pair_is_a_perfect_one_time_pad_under_xor() -> None:
    # Alice: C = ~(K^P); Bob: P' = ~(K^C) = P. C is independent of P.
    agent = Agent.from_networks([wires(3), wires(3)])
    for seed in (SEED, b"other", b"\x00" * 32):
        assert bisuna.score(agent, cipher_spec(), seed) == 1_000_000


def test_alice_outputting_k_xor_p_uncomplemented_also_scores_about_full() -> None:
    # Through identity neurons: exact except when an identity's out (~word) is below 15, so it
    # does not fire and the output reads its previous state: about 2 * 15/65536 of the words.
    agent = Agent.from_networks([identities(3), identities(3)])
    assert 995_000 <= bisuna.score(agent, cipher_spec(), SEED) < 1_000_000
    # Mismatched pair: Bob recovers ~P, every bit wrong: correctness 0.
    bad = Agent.from_networks([identities(3), wires(3)])
    assert bisuna.score(bad, cipher_spec(), SEED) == 0


def test_leaking_pair_scores_zero() -> None:
    # mix none: Alice inputs P0..P2, K0..K2; C_i = ~P_i. Bob inputs C, K; P'_i = ~C_i = P_i.
    alice = Network(6, 3, (), tuple(Connection(i, 6 + i) for i in range(3)))
    agent = Agent.from_networks([alice, alice])
    assert bisuna.score(agent, cipher_spec("none"), SEED) == 0


def xnor_network(low_leak: bool) -> Network:
    """mix none, N = 1: inputs a(0), k(1); output o(2). Hidden: ha(3) = id(a), hk(4) = id(k),
    h1(5) = id(a, k) with state a&k, h3(6) = id(ha, hk) with state ~(a|k), primer(7)
    inhibiting o so it runs last, after every hidden neuron fired.
    o = (a&k | ~(a|k)) = XNOR(a, k) on the high byte (or all 16 bits), and ~a on the low
    byte when low_leak."""
    w = 0xFF00 if low_leak else 0xFFFF
    conns = [
        Connection(0, 3),
        Connection(1, 4),
        Connection(0, 5),
        Connection(1, 5),
        Connection(3, 6),
        Connection(4, 6),
        Connection(5, 2, w),
        Connection(6, 2, w),
        Connection(7, 2, 0xFF00),
    ]
    if low_leak:
        conns.append(Connection(0, 2, 0x00FF))
    hidden = (("identity", 1),) * 4 + (("control", 1),)
    return Network(2, 1, hidden, tuple(conns))


def test_xnor_network_computes_xnor() -> None:
    a = Agent.from_networks([xnor_network(False)])
    rows = np.array([[0x1234, 0xF0F0], [0xAAAA, 0x5555], [0x0F0F, 0x0F0F]], dtype=np.uint16)
    out = a.run(rows)
    assert [int(v) for v in out[:, 0]] == [M ^ (0x1234 ^ 0xF0F0), 0, M]


def test_nand_built_one_time_pad_scores_full_under_mix_none() -> None:
    agent = Agent.from_networks([xnor_network(False), xnor_network(False)])
    assert bisuna.score(agent, cipher_spec("none", 1, 4096), SEED) >= 990_000


def test_half_leak_scores_about_half() -> None:
    # Alice: high byte XNOR(P, K) (secret), low byte ~P (leaked); Bob: XNOR(C, K) high
    # byte = P, ~C low byte = P: recovers everything. Attacker (2) reads the low byte:
    # h ~ 3T/4, advantage ~ (T/2 - 4 sqrt T) / (T - 4 sqrt T) ~ 0.49.
    agent = Agent.from_networks([xnor_network(True), xnor_network(True)])
    score = bisuna.score(agent, cipher_spec("none", 1, 4096), SEED)
    assert 450_000 <= score <= 550_000


def test_bob_recovering_half_the_bits_scores_about_half() -> None:
    # Alice keeps only the high byte of ~(K^P); Bob recovers the high byte, guesses the low.
    alice = Network(1, 1, (), (Connection(0, 1, 0xFF00),))
    agent = Agent.from_networks([alice, wires(1)])
    score = bisuna.score(agent, cipher_spec("xor", 1, 4096), SEED)
    assert 450_000 <= score <= 550_000


def test_cipher_preview_round_trips_through_a_perfect_pair() -> None:
    agent = Agent.from_networks([wires(3), wires(3)])
    img = np.arange(100, dtype=np.uint16).reshape(10, 10) * 601
    orig, enc, dec = bisuna.cipher_preview(agent, img, seed=7)
    assert orig.shape == enc.shape == dec.shape == (10, 10)
    assert np.array_equal(orig, img) and np.array_equal(dec, img)
    assert not np.array_equal(enc, img)
    _, enc2, _ = bisuna.cipher_preview(agent, img, seed=8)
    assert not np.array_equal(enc, enc2)


# ---- boolean tasks and mountain car -----------------------------------------------------


def test_multiplexer_6_hand_solution_scores_full() -> None:
    # Not evolved: a constant-0 output is right on exactly half the cases of a multiplexer.
    agent = Agent.from_networks([Network(6, 1, (), ())])
    assert bisuna.score(agent, {"env": {"name": "multiplexer-6"}}, SEED) == 500_000


def test_parity_of_one_bit_copies_in_the_top_bit() -> None:
    # parity-n with n = 2: output = ~in0 (wire) is right when in1 = 1 xor... count exactly:
    # cases (in0, in1): output bit = not in0; parity = in0 ^ in1: right iff in1 = 1: 2 of 4.
    agent = Agent.from_networks([Network(2, 1, (), (Connection(0, 2),))])
    assert bisuna.score(agent, {"env": {"name": "parity-n", "params": {"n": 2}}}, SEED) == 500_000


def test_mountain_car_scores_a_push_with_the_velocity_policy() -> None:
    # The classic policy "push in the direction of velocity". The action is the output's top
    # bit (1: push right, 0: push left); the velocity word has its top bit set iff v > 0.
    # A wire outputs its complement, so route it through an identity neuron.
    net = Network(2, 1, (("identity", 1),), (Connection(1, 3), Connection(3, 2)))
    spec = {"env": {"name": "mountain-car", "params": {"max_steps": 1000}}, "eval": {"samples": 4}}
    score = bisuna.score(Agent.from_networks([net]), spec, SEED)
    assert score > 0
    idle = Agent.from_networks([Network(2, 1, (), ())])  # action 0 forever: never arrives
    assert bisuna.score(idle, spec, SEED) == 0
