"""The C core against every known answer of docs/scorer-vectors.json: the score through the
public scoring entry points, and every output word through the core's own step."""

from __future__ import annotations

from typing import Any

import pytest

import bisuna
from bisuna import bindings as _b
from tests.reference import make_vectors
from tests.reference.vectors import load_cases

CASES = load_cases()


def test_the_vectors_cover_what_docs_scorer_md_promises() -> None:
    assert len(CASES) >= 300
    seen = make_vectors.coverage(CASES)
    wanted = [f"kind:{k}/rate:{r}" for k in range(2, 8) for r in range(3)]
    wanted += [
        f"env:{e}"
        for e in ("cipher", "multiplexer-6", "multiplexer-11", "parity-n", "mountain-car")
    ]
    wanted += [
        "control:primer",
        "control:chained",
        "modulated",
        "self-loop",
        "back-edge",
        "origin:evolved",
        "origin:handmade",
    ]
    assert [k for k in wanted if k not in seen] == []
    assert len({c["id"] for c in CASES}) == len(CASES)
    # scores that say something: not only zeros and halves
    assert len({c["score"] for c in CASES}) > 40


def test_core_scores_every_vector() -> None:
    wrong = []
    for case in CASES:
        got = bisuna.score(
            bytes.fromhex(case["agent"]),
            case["spec"],
            bytes.fromhex(case["eval_seed"]),
            scorer=case["scorer"],
        )
        if got != case["score"]:
            wrong.append((case["id"], got, case["score"]))
    assert wrong == []


def test_core_score_many_agrees_with_the_vectors() -> None:
    """The batch entry point: every agent of a setting, under the seed of its first case."""
    settings: dict[str, list[dict[str, Any]]] = {}
    for case in CASES:
        settings.setdefault(repr(case["spec"]), []).append(case)
    for group in settings.values():
        spec, seed = group[0]["spec"], bytes.fromhex(group[0]["eval_seed"])
        agents = [bytes.fromhex(c["agent"]) for c in group]
        batch = bisuna.score_many(agents, spec, seed)
        assert batch[0] == group[0]["score"]
        assert batch == [bisuna.score(a, spec, seed) for a in agents]


def test_core_outputs_match_every_vector() -> None:
    wrong = []
    for case in CASES:
        got = make_vectors.core_result(
            bytes.fromhex(case["agent"]), case["spec"], bytes.fromhex(case["eval_seed"])
        )
        if (got.steps, got.outputs_sha256) != (case["steps"], case["outputs_sha256"]):
            wrong.append(case["id"])
    assert wrong == []


def test_stepping_refuses_the_wrong_number_of_words() -> None:
    agent = bisuna.Agent.from_networks([bisuna.Network(2, 1)])
    with pytest.raises(bisuna.BisunaError, match="takes its own number of inputs"):
        _b.agent_step(agent._cdata, 0, [1], 1)
    with pytest.raises(bisuna.BisunaError, match="invalid argument"):
        _b.agent_reset(agent._cdata, 1, 0, 0)
    _b.agent_reset(agent._cdata, 0, 0, 0)
    assert _b.agent_step(agent._cdata, 0, [1, 2], 1) == [0]
