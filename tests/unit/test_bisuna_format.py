"""The canonical agent format: round trips (hypothesis), strict decoding, bad input."""

from __future__ import annotations

import hashlib
import struct
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import bisuna
from bisuna import Agent, Connection, Network

HIDDEN_KINDS = ("identity", "activation", "threshold", "random", "control", "roll")


@st.composite
def networks(draw: st.DrawFn) -> Network:
    n_in = draw(st.integers(1, 6))
    n_out = draw(st.integers(1, 4))
    hidden = tuple(
        draw(
            st.lists(
                st.tuples(st.sampled_from(HIDDEN_KINDS), st.sampled_from((1, 7, 49))), max_size=8
            )
        )
    )
    n = n_in + n_out + len(hidden)
    ids = st.integers(0, n - 1)
    conns = draw(
        st.lists(
            st.builds(
                Connection,
                ids,
                ids,
                st.integers(0, 0xFFFF),
                st.one_of(st.none(), ids),
            ),
            max_size=24,
        )
    )
    return Network(n_in, n_out, hidden, tuple(conns))


def canonical(net: Network) -> Network:
    conns = sorted(
        (
            Connection(c.source, c.target, 0 if c.modulator is not None else c.weight, c.modulator)
            for c in net.connections
        ),
        key=lambda c: (
            c.target,
            c.source,
            0xFFFF if c.modulator is None else c.modulator,
            c.weight,
        ),
    )
    return Network(net.inputs, net.outputs, net.hidden, tuple(conns))


@given(st.lists(networks(), min_size=1, max_size=3))
@settings(max_examples=150, deadline=None)
def test_decode_encode_round_trip(nets: list[Network]) -> None:
    check_round_trip(nets)


def check_round_trip(nets: list[Network]) -> None:
    a = Agent.from_networks(nets)
    data = a.to_bytes()
    b = Agent.from_bytes(data)
    assert b == a and b.to_bytes() == data
    assert b.digest == hashlib.sha256(data).digest()
    assert b.networks == len(nets)
    assert [b.network(i) for i in range(len(nets))] == [canonical(n) for n in nets]
    assert b.neuron_count == sum(n.neurons for n in nets)
    assert b.connection_count == sum(len(n.connections) for n in nets)
    assert "digraph" in b.to_dot()


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_arbitrary_bytes_either_decode_canonically_or_raise_format_error(data: bytes) -> None:
    check_bytes(data)


def check_bytes(data: bytes) -> None:
    try:
        a = Agent.from_bytes(data)
    except bisuna.FormatError as exc:
        assert exc.code > 0
        return
    assert a.to_bytes() == data


SPECS = [
    {"env": {"name": "cipher", "params": {"payload_words": 3}}, "eval": {"samples": 64}},
    {
        "env": {"name": "cipher", "params": {"payload_words": 2, "mix": "none"}},
        "eval": {"samples": 64},
    },
    {"env": {"name": "multiplexer-6"}},
    {"env": {"name": "parity-n", "params": {"n": 4}}},
    {"env": {"name": "mountain-car", "params": {"max_steps": 50}}, "eval": {"samples": 1}},
]
LIMITS = {"max_neurons": 40, "max_connections": 60, "max_agent_bytes": 1200}


@given(st.sampled_from(range(len(SPECS))), st.integers(0, 2**64 - 1), st.integers(1, 12))
@settings(max_examples=60, deadline=None)
def test_every_mutation_keeps_the_agent_valid(spec_i: int, seed: int, rounds: int) -> None:
    check_mutations(spec_i, seed, rounds)


def check_mutations(spec_i: int, seed: int, rounds: int) -> None:
    spec = SPECS[spec_i]
    a = Agent.random(spec, seed, structural=200)
    for r in range(rounds):
        a = a.mutate(LIMITS, seed ^ r, structural=5 + r)
        again = Agent.from_bytes(a.to_bytes(), {"max_neurons": 40, "max_connections": 60})
        assert again == a
        for i in range(a.networks):
            net = a.network(i)
            assert net.neurons <= 40 and len(net.connections) <= 60
            # orphans were removed: every hidden neuron touches another neuron or modulates
            io = net.inputs + net.outputs
            for h in range(io, net.neurons):
                assert any(
                    (c.source != c.target and h in (c.source, c.target)) or c.modulator == h
                    for c in net.connections
                )
        assert 0 <= bisuna.score(a, spec, b"seed") <= 1_000_000


# ---- bad input ---------------------------------------------------------------------------


def wires() -> bytes:
    net = Network(2, 2, (), (Connection(0, 2), Connection(1, 3)))
    return Agent.from_networks([net, net]).to_bytes()


def with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def code_of(data: bytes, limits: dict[str, int] | None = None) -> str:
    with pytest.raises(bisuna.FormatError) as info:
        Agent.from_bytes(data, limits)
    return bisuna.bindings.error_name(info.value.code)


def test_each_malformation_has_its_own_error() -> None:
    good = wires()
    assert code_of(good[:3]) == "truncated"
    assert code_of(good[:-1]) == "truncated"
    assert code_of(b"XSNA" + good[4:]) == "magic"
    assert code_of(with_crc(good[:4] + b"\x02\x00" + good[6:-4])) == "version"
    assert code_of(good + b"\x00") == "trailing"
    assert code_of(good[:-1] + bytes([good[-1] ^ 1])) == "checksum"
    body = bytearray(good[:-4])
    body[6] = 0  # zero networks
    assert code_of(with_crc(bytes(body))) == "range"
    body = bytearray(good[:-4])
    body[16] = 7  # first connection's source id beyond the 4 neurons
    assert code_of(with_crc(bytes(body))) == "range"
    body = bytearray(good[:-4])
    body[20:22] = b"\x00\x00"  # modulated by neuron 0 while its weight is 0xFFFF
    assert code_of(with_crc(bytes(body))) == "noncanonical"
    body = bytearray(good[:-4])
    body[16:24], body[24:32] = body[24:32], body[16:24]  # connections out of order
    assert code_of(with_crc(bytes(body))) == "noncanonical"
    with pytest.raises(bisuna.FormatError, match="checksum"):
        Agent.from_bytes(good[:-1] + b"\x00")


def test_limits_are_enforced_with_limit_error() -> None:
    good = wires()
    with pytest.raises(bisuna.LimitError):
        Agent.from_bytes(good, {"max_neurons": 3})
    with pytest.raises(bisuna.LimitError):
        Agent.from_bytes(good, {"max_connections": 1})
    with pytest.raises(bisuna.LimitError):
        Agent.from_bytes(good, {"max_agent_bytes": len(good) - 1})
    assert Agent.from_bytes(good, {"max_agent_bytes": len(good)}).to_bytes() == good
    spec = {"env": {"name": "cipher", "params": {"payload_words": 2}}}
    tight = {**spec, "limits": {"max_neurons": 4, "max_connections": 1}}
    with pytest.raises(bisuna.LimitError):
        bisuna.score(good, tight, b"s")
    with pytest.raises(bisuna.LimitError):  # an Agent decoded without limits is checked too
        bisuna.score(Agent.from_bytes(good), tight, b"s")
    with pytest.raises(bisuna.LimitError):
        bisuna.score_many([Agent.from_bytes(good)], tight, b"s")
    assert bisuna.score(Agent.from_bytes(good), spec, b"s") == 1_000_000


def test_bad_types_and_specs_say_what_is_wrong() -> None:
    with pytest.raises(TypeError):
        Agent.from_bytes("BSNA")  # type: ignore[arg-type]
    agent = Agent.from_bytes(wires())
    cipher = {"env": {"name": "cipher", "params": {"payload_words": 2}}}
    with pytest.raises(bisuna.SpecError, match="`env`"):
        bisuna.score(agent, {"eval": {}}, b"s")
    with pytest.raises(bisuna.SpecError, match=r"env\.name"):
        bisuna.score(agent, {"env": {"name": "chess"}}, b"s")
    with pytest.raises(bisuna.SpecError, match="payload_words"):
        bisuna.score(agent, {"env": {"name": "cipher", "params": {"payload_words": "3"}}}, b"s")
    with pytest.raises(bisuna.SpecError, match="not a cipher parameter"):
        bisuna.score(agent, {"env": {"name": "cipher", "params": {"rounds": 3}}}, b"s")
    with pytest.raises(bisuna.SpecError, match="mix"):
        bisuna.score(agent, {"env": {"name": "cipher", "params": {"mix": "aes"}}}, b"s")
    with pytest.raises(bisuna.SpecError):
        bisuna.score(agent, {**cipher, "eval": {"samples": 2}}, b"s")
    with pytest.raises(bisuna.SpecError):
        bisuna.Population({**cipher, "budget": {"population": 1}}, 1)
    with pytest.raises(bisuna.ScorerError, match="bisuna-core/1"):
        bisuna.score(agent, cipher, b"s", scorer="bisuna-core/0")
    with pytest.raises(bisuna.ShapeError):
        bisuna.score(agent, {"env": {"name": "multiplexer-6"}}, b"s")
    with pytest.raises(bisuna.ShapeError):
        bisuna.score(agent, {"env": {"name": "cipher", "params": {"payload_words": 3}}}, b"s")
    with pytest.raises(TypeError):
        bisuna.score(agent, cipher, "0x00")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="inputs"):
        agent.run([[1, 2, 3]])
    with pytest.raises(IndexError):
        agent.run([[1, 2]], network=2)


def test_derive_seed_is_sha256_prefix_big_endian() -> None:
    seed = bytes(range(32))
    want = int.from_bytes(hashlib.sha256(seed + b"cases").digest()[:8], "big")
    assert bisuna.derive_seed(seed, "cases") == want
    assert bisuna.derive_seed(seed, "alice") != want


def test_score_accepts_bytes_and_is_repeatable() -> None:
    spec = {"env": {"name": "cipher", "params": {"payload_words": 2}}, "eval": {"samples": 256}}
    data = wires()
    s1 = bisuna.score(data, spec, b"e1")
    assert s1 == bisuna.score(Agent.from_bytes(data), spec, b"e1") == 1_000_000
    rnd = Agent.random(spec, 5, structural=400)
    scores = {bisuna.score(rnd, spec, b"e2") for _ in range(5)}
    assert len(scores) == 1


def test_score_many_equals_score_one_by_one() -> None:
    for spec in (
        {"env": {"name": "multiplexer-11"}},
        {"env": {"name": "cipher", "params": {"payload_words": 2}}, "eval": {"samples": 64}},
    ):
        agents = [Agent.random(spec, s, structural=300 + 50 * s) for s in range(12)]
        many = bisuna.score_many(agents, spec, b"eval seed")
        assert many == [bisuna.score(a, spec, b"eval seed") for a in agents]
        assert bisuna.score_many([], spec, b"eval seed") == []
    mux = [Agent.random({"env": {"name": "multiplexer-6"}}, 1)]
    with pytest.raises(bisuna.ShapeError, match="agent 1"):
        bisuna.score_many([agents[0], *mux], spec, b"eval seed")


# ---- soak: the same properties with many more examples (`make soak`) -----------------------


@pytest.mark.soak
@pytest.mark.timeout(3600)
@given(st.lists(networks(), min_size=1, max_size=4))
@settings(max_examples=5000, deadline=None)
def test_round_trip_soak(request: pytest.FixtureRequest, nets: list[Network]) -> None:
    check_round_trip(nets)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@given(st.binary(max_size=400))
@settings(max_examples=20000, deadline=None)
def test_arbitrary_bytes_soak(request: pytest.FixtureRequest, data: bytes) -> None:
    check_bytes(data)


@pytest.mark.soak
@pytest.mark.timeout(3600)
@given(st.sampled_from(range(len(SPECS))), st.integers(0, 2**64 - 1), st.integers(1, 30))
@settings(max_examples=2000, deadline=None)
def test_mutations_soak(
    request: pytest.FixtureRequest, spec_i: int, seed: int, rounds: int
) -> None:
    check_mutations(spec_i, seed, rounds)


def test_a_pydantic_spec_model_is_accepted_like_its_dict() -> None:
    from pydantic import BaseModel

    class Env(BaseModel):
        name: str
        params: dict[str, object]

    class Spec(BaseModel):
        env: Env
        eval: dict[str, int]
        limits: dict[str, int]

    d = {
        "env": {"name": "cipher", "params": {"payload_words": 2}},
        "eval": {"samples": 64},
        "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
    }
    model = Spec.model_validate(d)
    agent = Agent.from_bytes(wires())
    assert bisuna.score(agent, model, b"s") == bisuna.score(agent, d, b"s") == 1_000_000  # type: ignore[arg-type]
    assert bisuna.Environment(model).inputs == [2, 2]  # type: ignore[arg-type]
    pop = bisuna.Population(model, 1)  # type: ignore[arg-type]
    pop.evolve(2)
    assert pop.generation == 2
