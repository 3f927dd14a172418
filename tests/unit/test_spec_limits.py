"""One set of limits: the spec schema takes the core's own ranges, and parse_spec never crashes.

Each case below was accepted by the schema before (issue 11, findings 1, 3 and 5) while the core
refused it, or crashed the parser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bisuna
from bisuna.bindings import param_range, params_from_spec
from services.common.spec import SpecError, TaskSpec, parse_spec


def _spec(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": {"name": "cipher", "params": {"payload_words": 3}},
        "eval": {"samples": 4096},
        "budget": {"population": 100},
        "limits": {"max_neurons": 256, "max_connections": 2048},
    }
    for key, value in over.items():
        doc[key] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_spec(budget={"population": 10_001}), "budget.population"),
        (_spec(budget={"population": 100_000}), "budget.population"),
        (_spec(limits={"max_neurons": 4097}), "limits.max_neurons"),
        (_spec(limits={"max_neurons": 65_535}), "limits.max_neurons"),
        (_spec(limits={"max_connections": 65_536}), "limits.max_connections"),
        (_spec(limits={"max_agent_bytes": 1}), "limits.max_agent_bytes"),
        (_spec(eval={"samples": 1}), "eval.samples must be in 8..1048576 for cipher"),
        (_spec(eval={"samples": 7}), "eval.samples"),
        (
            _spec(env={"name": "mountain-car", "params": {}}, eval={"samples": 4097}),
            "eval.samples must be in 1..4096 for mountain-car",
        ),
        (
            _spec(env={"name": "multiplexer-6", "params": {"payload_words": 3}}),
            "env.params.payload_words: the multiplexer-6 environment takes no parameters",
        ),
        (
            _spec(env={"name": "mountain-car", "params": {"junk": 1}}),
            "the mountain-car environment takes max_steps",
        ),
        (
            _spec(env={"name": "mountain-car", "params": {"max_steps": 100_001}}),
            "env.params.max_steps must be in 1..100000",
        ),
        (_spec(env={"name": "parity-n", "params": {"n": 17}}), "env.params.n must be in 2..16"),
        (_spec(env={"name": "parity-n", "params": {"n": "5"}}), "must be an integer"),
        (
            _spec(
                env={"name": "cipher", "params": {"payload_words": 16, "mix": "none"}},
                limits={"max_neurons": 40},
            ),
            "limits.max_neurons 40 cannot hold the cipher network's 48 inputs and outputs",
        ),
    ],
)
def test_specs_the_core_refuses_are_refused_with_the_reason(doc: Any, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(json.dumps(doc).encode())
    assert message in str(info.value)


def test_the_largest_legal_spec_is_accepted() -> None:
    hi = {k: param_range("cipher", k) for k in ("population", "max_neurons", "max_connections")}
    spec = parse_spec(
        _spec(
            budget={"population": hi["population"][1]},  # type: ignore[index]
            limits={
                "max_neurons": hi["max_neurons"][1],  # type: ignore[index]
                "max_connections": hi["max_connections"][1],  # type: ignore[index]
            },
        )
    )
    assert spec.budget.population == 10_000 and spec.limits.max_neurons == 4096
    params_from_spec(spec.to_dict())


def test_a_bisuna_core_2_spec_beyond_the_fuel_bound_is_refused() -> None:
    big = _spec(eval={"samples": 1_048_576}, limits={"max_neurons": 4096, "max_connections": 65_535})
    parse_spec(big)  # /1 has no fuel
    with pytest.raises(SpecError, match="fuel ceiling"):
        parse_spec({**big, "scorer": "bisuna-core/2"})


def test_ranges_come_from_the_core() -> None:
    assert param_range("cipher", "population") == (2, 10_000)
    assert param_range("mountain-car", "samples") == (1, 4096)
    assert param_range("cipher", "max_steps") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"schema":"edgemarket/task@1","schema":"edgemarket/task@1"}', "twice"),
        (json.dumps(_spec()).encode("utf-16"), "UTF-8"),
        (json.dumps(_spec()).encode("utf-16-le"), "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper"),
        (b'{"a":' * 40_000 + b"1" + b"}" * 40_000, "nests deeper"),
        (b'{"schema":"edgemarket/task@1","eval":{"samples":NaN}}', "NaN"),
    ],
)
def test_hostile_json_is_refused_not_crashed_on(raw: bytes, message: str) -> None:
    import web3  # noqa: F401  py_ecc raises the recursion limit, as in every service

    with pytest.raises(SpecError, match="not JSON") as info:
        parse_spec(raw)
    assert message in str(info.value)


def test_float_spelled_integers_store_as_integers() -> None:
    doc = json.dumps(_spec(eval={"samples": 4096.0})).encode()
    assert b"4096.0" in doc
    spec = parse_spec(doc)
    assert spec.to_bytes() == parse_spec(_spec()).to_bytes()
    assert b"4096.0" not in spec.to_bytes()


ENVS = ["cipher", "multiplexer-6", "multiplexer-11", "parity-n", "mountain-car"]
PARAM_VALUES = st.integers(-1, 200_000) | st.sampled_from([0, 1, 2, 8, 16, 17, 100_000, 100_001])


@st.composite
def spec_docs(draw: st.DrawFn) -> dict[str, Any]:
    """Spec documents around and across the core's edges (most are refused)."""
    env = draw(st.sampled_from(ENVS))
    params: dict[str, Any] = draw(
        st.dictionaries(
            st.sampled_from(["payload_words", "n", "max_steps"]), PARAM_VALUES, max_size=2
        )
    )
    if env == "cipher" and draw(st.booleans()):
        params["mix"] = draw(st.sampled_from(["xor", "none"]))
    doc = _spec(
        env={"name": env, "params": params},
        eval={"samples": draw(st.integers(0, 300) | st.sampled_from([1, 7, 8, 4096, 4097]))},
        budget={"population": draw(st.integers(0, 10_001) | st.sampled_from([2, 10_000]))},
        limits={
            "max_neurons": draw(st.integers(0, 4097) | st.sampled_from([2, 3, 12, 4096])),
            "max_connections": draw(st.integers(0, 70_000) | st.sampled_from([1, 65_535])),
        },
    )
    doc["scorer"] = draw(st.sampled_from(bisuna.SCORERS))
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=spec_docs(), seed=st.integers(0, 2**32))
def test_every_spec_the_schema_accepts_the_core_can_score(doc: dict[str, Any], seed: int) -> None:
    try:
        spec = TaskSpec.model_validate(doc)
    except ValueError:
        return
    d = spec.to_dict()
    params_from_spec(d)  # the core's own check
    agent = bisuna.Agent.random(d, seed, structural=4)
    assert 0 <= bisuna.score(agent, d, b"\x00" * 32, scorer=spec.scorer) <= bisuna.SCORE_MAX
