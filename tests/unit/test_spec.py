"""The task spec: the model, its JSON Schema and clear errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.spec import SpecError, TaskSpec, parse_spec, task_spec_json_schema

SCHEMA_FILE = Path(__file__).parents[2] / "services/common/schemas/task@1.json"

EXAMPLE: dict[str, Any] = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 3, "mix": "xor"}},
    "eval": {"samples": 4096},
    "budget": {"population": 100, "generations": 2000, "islands": 4, "epoch_generations": 50},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
    "title": "Learn a one-time pad",
    "description": "...",
}


def test_design_example_parses_and_round_trips() -> None:
    spec = parse_spec(json.dumps(EXAMPLE).encode())
    assert spec.env.cipher_params().payload_words == 3
    assert spec.to_dict() == EXAMPLE
    assert parse_spec(spec.to_bytes()) == spec
    assert json.loads(spec.to_bytes()) == EXAMPLE


def test_canonical_bytes_ignore_key_order() -> None:
    shuffled = dict(reversed(list(EXAMPLE.items())))
    assert parse_spec(shuffled).to_bytes() == parse_spec(EXAMPLE).to_bytes()


def test_defaults_filled() -> None:
    spec = parse_spec(
        {
            "schema": "edgemarket/task@1",
            "scorer": "bisuna-core/1",
            "env": {"name": "parity-n", "params": {"bits": 5}},
        }
    )
    assert spec.eval.samples == 4096 and spec.limits.max_agent_bytes == 24576


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("env"), "field `env` missing"),
        (lambda d: d.update(schema="edgemarket/task@2"), "`schema` is 'edgemarket/task@2'"),
        (lambda d: d.update(colour="red"), "unknown field `colour`"),
        (lambda d: d["env"].update(name="chess"), "`env.name`"),
        (lambda d: d["env"]["params"].update(mix="rot13"), "params.mix"),
        (lambda d: d["limits"].update(max_agent_bytes=100_000), "limits.max_agent_bytes"),
        (lambda d: d["eval"].update(samples=0), "eval.samples"),
        (lambda d: d.update(scorer="Bisuna Core"), "`scorer`"),
    ],
)
def test_errors_say_what_and_where(mutate: Any, message: str) -> None:
    doc = json.loads(json.dumps(EXAMPLE))
    mutate(doc)
    with pytest.raises(SpecError, match="is not edgemarket/task@1") as info:
        parse_spec(json.dumps(doc).encode(), cid="bafkreiexample")
    assert message in str(info.value)
    assert "spec bafkreiexample" in str(info.value)


def test_not_json_or_too_big() -> None:
    with pytest.raises(SpecError, match="not JSON"):
        parse_spec(b"{nope")
    with pytest.raises(SpecError, match="expected a JSON object"):
        parse_spec(b"[1, 2]")
    with pytest.raises(SpecError, match="at most"):
        parse_spec(b" " * (256 * 1024 + 1))


def test_committed_schema_is_the_generated_one() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == task_spec_json_schema()


def test_schema_agrees_with_model() -> None:
    schema = task_spec_json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(EXAMPLE, schema)
    bad = dict(EXAMPLE, colour="red")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@given(
    words=st.integers(1, 16),
    mix=st.sampled_from(["xor", "none"]),
    samples=st.integers(1, 1 << 20),
    title=st.text(max_size=50),
)
def test_round_trip_property(words: int, mix: str, samples: int, title: str) -> None:
    doc = dict(
        EXAMPLE,
        title=title,
        eval={"samples": samples},
        env={"name": "cipher", "params": {"payload_words": words, "mix": mix}},
    )
    spec = TaskSpec.model_validate(doc)
    assert parse_spec(spec.to_bytes()) == spec
    jsonschema.validate(json.loads(spec.to_bytes()), task_spec_json_schema())
