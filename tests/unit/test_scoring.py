"""Scoring as evaluators and auditors do it: deterministic across processes, bad agents 0."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import bisuna
from services.common.scoring import CannotScore, score_agent
from services.common.spec import parse_spec

SPEC = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 1}},
    "eval": {"samples": 256},
    "budget": {"population": 16},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 4096},
}
SEED = bytes(range(32))


def agent() -> bytes:
    p = bisuna.Population(parse_spec(json.dumps(SPEC)).to_dict(), 5)
    p.evolve(10)
    return p.best().to_bytes()


def test_same_integer_in_another_process() -> None:
    spec = parse_spec(json.dumps(SPEC))
    data = agent()
    here = score_agent(data, spec, SEED)
    assert here.reason == "" and 0 < here.score <= 1_000_000
    code = (
        "import sys, json\n"
        "from services.common.spec import parse_spec\n"
        "from services.common.scoring import score_agent\n"
        f"spec = parse_spec({json.dumps(json.dumps(SPEC))})\n"
        f"print(score_agent(bytes.fromhex({data.hex()!r}), spec, bytes.fromhex({SEED.hex()!r})).score)\n"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(there.stdout) == here.score


def test_bad_agents_score_zero_with_a_reason() -> None:
    spec = parse_spec(json.dumps(SPEC))
    garbage = score_agent(b"garbage", spec, SEED)
    assert garbage.score == 0 and "does not decode" in garbage.reason
    huge = score_agent(b"\x00" * 5000, spec, SEED)
    assert huge.score == 0 and "over the spec's limit of 4096" in huge.reason
    truncated = score_agent(agent()[:-3], spec, SEED)
    assert truncated.score == 0 and truncated.reason


def test_agent_over_the_connection_limit_scores_zero() -> None:
    tight = parse_spec(json.dumps({**SPEC, "limits": {"max_neurons": 256, "max_connections": 4}}))
    verdict = score_agent(agent(), tight, SEED)
    assert verdict.score == 0 and "limit" in verdict.reason


def test_unusable_inputs_are_errors_not_scores() -> None:
    spec = parse_spec(json.dumps({**SPEC, "scorer": "bisuna-core/99"}))
    with pytest.raises(CannotScore, match="bisuna-core/99"):
        score_agent(agent(), spec, SEED)
    with pytest.raises(ValueError, match="32 bytes"):
        score_agent(agent(), parse_spec(json.dumps(SPEC)), b"short")


def test_an_agent_out_of_fuel_scores_0_and_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluator logs and attests 0 for an agent the core stopped at its fuel ceiling
    (scorer bisuna-core/2's ScoreDetail); until a core has score_detail, score() is used."""
    spec = parse_spec(json.dumps(SPEC))
    data = agent()
    plain = score_agent(data, spec, SEED)
    assert not plain.out_of_fuel

    def detail(a: object, s: object, seed: bytes, scorer: str) -> tuple[int, int, bool]:
        return (0, 4_096, True)

    monkeypatch.setattr(bisuna, "score_detail", detail, raising=False)
    verdict = score_agent(data, spec, SEED)
    assert verdict.score == 0 and verdict.out_of_fuel and "out of fuel" in verdict.reason

    monkeypatch.setattr(bisuna, "score_detail", lambda a, s, e, r: (plain.score, 10, False))
    assert score_agent(data, spec, SEED) == plain
