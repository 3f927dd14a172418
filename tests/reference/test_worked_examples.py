"""The worked examples of docs/scorer.md, section 10, against the reference and the core."""

from __future__ import annotations

import bisuna
from tests.reference import scorer as ref

EVAL_SEED = bytes(range(32))
C = bisuna.Connection


def test_seeds_generator_and_random_words() -> None:
    assert [ref.derive_seed(EVAL_SEED, p) for p in ("cases", "alice", "bob", "agent")] == [
        0xE998A60D2A77B1D3,
        0x3DD374340E1F0A5C,
        0x1FC2CD2E7EC09CB2,
        0xD2522F5F76A484DD,
    ]
    assert [bisuna.derive_seed(EVAL_SEED, p) for p in ("cases", "agent")] == [
        0xE998A60D2A77B1D3,
        0xD2522F5F76A484DD,
    ]
    g = ref.Rng(0)
    assert [g.next() for _ in range(3)] == [
        0x99EC5F36CB75F2B4,
        0xBF6E1F784956452A,
        0x1A5F849D4933E6E0,
    ]
    g = ref.Rng(0xE998A60D2A77B1D3)
    assert g.s == [0x25E2C288B2062178, 0xADBCB74397D02CA4, 0x72B40B4F60BAED5E, 0xC9CCA0C58FC8C3B6]
    assert ref.Rng(0xE998A60D2A77B1D3).word() == 0x161B
    assert [g.below(200_001) for _ in range(3)] == [17_271, 121_969, 176_054]
    assert ref.random_word(0, 0, 0) == 0
    assert ref.random_word(0x0123456789ABCDEF, 7, 9) == 0x3864
    assert [ref.random_word(0xD2522F5F76A484DD, t, 5) for t in range(3)] == [0xC3FE, 0x83E0, 0xEE19]


def test_three_steps_of_one_network() -> None:
    net = bisuna.Network(
        2,
        1,
        (("threshold", 1), ("control", 1), ("roll", 7)),
        (
            C(0, 3, 0xFFFF),
            C(1, 3, 0x0F0F),
            C(3, 2, 0xFFFF),
            C(5, 2, 0x00FF),
            C(2, 5, 0xFFFF),
            C(1, 4, 0xFFFF),
            C(4, 3, 0, 1),
        ),
    )
    agent = bisuna.Agent.from_networks([net])
    assert agent.to_bytes().hex().endswith("02000500ffffffff55c8ee31")
    inputs = [[0xFFFF, 0xFFFF], [0xFFFF, 0], [0, 0xFFFF]]
    assert agent.run(inputs).tolist() == [[0x0000], [0xFFFF], [0xFF00]]
    py = ref.PyNet(ref.decode(agent.to_bytes())[0])
    assert [py.step(i) for i in inputs] == [[0x0000], [0xFFFF], [0xFF00]]
    assert py.prev == [0xFFFF, 0, 0x00FF, 0xFF00, 0xFFFF, 0x0601]


def test_cipher_boolean_and_mountain_car_scores() -> None:
    pad = bisuna.Network(1, 1, (), (C(0, 1),))
    cipher = bisuna.Agent.from_networks([pad, pad]).to_bytes()
    spec = {"env": {"name": "cipher", "params": {"payload_words": 1}}, "eval": {"samples": 8}}
    assert bisuna.score(cipher, spec, EVAL_SEED) == ref.score(cipher, spec, EVAL_SEED).score
    assert ref.score(cipher, spec, EVAL_SEED).score == 1_000_000
    nor = bisuna.Agent.from_networks([bisuna.Network(2, 1, (), (C(0, 2), C(1, 2)))]).to_bytes()
    spec = {"env": {"name": "parity-n", "params": {"n": 2}}}
    assert bisuna.score(nor, spec, EVAL_SEED) == ref.score(nor, spec, EVAL_SEED).score == 750_000
    car = bisuna.Agent.from_networks(
        [bisuna.Network(2, 1, (("identity", 1),), (C(1, 3), C(3, 2)))]
    ).to_bytes()
    spec = {"env": {"name": "mountain-car", "params": {"max_steps": 200}}, "eval": {"samples": 2}}
    assert bisuna.score(car, spec, EVAL_SEED) == ref.score(car, spec, EVAL_SEED).score == 357_500
