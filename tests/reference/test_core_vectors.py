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
        settings.setdefault(repr((case["scorer"], case["spec"])), []).append(case)
    for group in settings.values():
        scorer, spec = group[0]["scorer"], group[0]["spec"]
        seed = bytes.fromhex(group[0]["eval_seed"])
        agents = [bytes.fromhex(c["agent"]) for c in group]
        batch = bisuna.score_many(agents, spec, seed, scorer)
        assert batch[0] == group[0]["score"]
        assert batch == [bisuna.score(a, spec, seed, scorer) for a in agents]


FUEL_CASES = [c for c in CASES if c["scorer"] == "bisuna-core/2"]


def test_the_fuel_vectors_cover_every_environment_both_ways_and_the_ceiling() -> None:
    envs = {"cipher", "multiplexer-6", "multiplexer-11", "parity-n", "mountain-car"}
    for out in (True, False):
        assert {c["spec"]["env"]["name"] for c in FUEL_CASES if c["out_of_fuel"] is out} == envs
    # one below, on and one above the ceiling
    assert {c["fuel"] - c["fuel_ceiling"] for c in FUEL_CASES} >= {-1, 0, 1}
    for c in FUEL_CASES:
        assert c["out_of_fuel"] == (c["fuel"] > c["fuel_ceiling"])
        assert c["score"] == 0 or not c["out_of_fuel"]


def test_core_fuel_matches_every_fuel_vector() -> None:
    """Score, fuel and verdict under /2; an evaluation that runs out stops somewhere after the
    ceiling (the fuel it reports is above the ceiling, at most the complete evaluation's, which
    /1 counts without stopping); its ceiling from bisuna.fuel_ceiling."""
    wrong = []
    for case in FUEL_CASES:
        agent, seed = bytes.fromhex(case["agent"]), bytes.fromhex(case["eval_seed"])
        two = bisuna.score_detail(agent, case["spec"], seed, "bisuna-core/2")
        one = bisuna.score_detail(agent, case["spec"], seed, "bisuna-core/1")
        if case["out_of_fuel"]:
            ok = two.out_of_fuel and two.score == 0
            ok = ok and case["fuel_ceiling"] < two.fuel <= case["fuel"] == one.fuel
        else:
            ok = two == (case["score"], case["fuel"], False) and one.fuel == case["fuel"]
        if not ok or bisuna.fuel_ceiling(case["spec"]) != case["fuel_ceiling"]:
            wrong.append((case["id"], two, one.fuel))
    assert wrong == []


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
