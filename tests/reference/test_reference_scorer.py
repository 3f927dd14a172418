"""tests/reference/scorer.py (pure Python, written from docs/scorer.md alone) against the
known answers of docs/scorer-vectors.json: the score, the step counts and every output word's
hash, and for `bisuna-core/2` cases the fuel and whether it ran out (section 11). A subset:
every case of at most 10,000 steps (all but the longest mountain-car runs), and of the /2
cases those the reference can run in a moment."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reference import scorer as ref
from tests.reference.vectors import load_cases

MAX_STEPS = 10_000
SUBSET = [
    c for c in load_cases() if c["scorer"] == "bisuna-core/1" and sum(c["steps"]) <= MAX_STEPS
]
# bisuna-core/2: every case whose evaluation the reference runs up to this much fuel (one that
# runs out stops just past its ceiling)
MAX_FUEL = 2_000_000
FUEL_SUBSET = [
    c
    for c in load_cases()
    if c["scorer"] == "bisuna-core/2"
    and sum(c["steps"]) <= MAX_STEPS
    and min(c["fuel"], c["fuel_ceiling"]) <= MAX_FUEL
]


def test_the_subset_spans_every_environment_and_origin() -> None:
    assert len(SUBSET) >= 300
    assert {c["spec"]["env"]["name"] for c in SUBSET} == {
        "cipher",
        "multiplexer-6",
        "multiplexer-11",
        "parity-n",
        "mountain-car",
    }
    assert {c["origin"] for c in FUEL_SUBSET} >= {"hostile", "ceiling", "evolved"}
    assert {c["spec"]["env"]["name"] for c in FUEL_SUBSET if c["out_of_fuel"]} == {
        "cipher",
        "multiplexer-6",
        "multiplexer-11",
        "parity-n",
        "mountain-car",
    }
    assert {c["fuel"] - c["fuel_ceiling"] for c in FUEL_SUBSET} >= {-1, 0, 1}
    assert {c["origin"] for c in SUBSET} == {
        "designed",
        "handmade",
        "core-random",
        "mutated",
        "evolved",
    }


@pytest.mark.parametrize("case", SUBSET, ids=[c["id"] for c in SUBSET])
def test_reference_scorer_reproduces_the_vector(case: dict[str, Any]) -> None:
    got = ref.score(bytes.fromhex(case["agent"]), case["spec"], bytes.fromhex(case["eval_seed"]))
    assert got.score == case["score"]
    assert got.steps == case["steps"]
    assert got.outputs_sha256 == case["outputs_sha256"]


@pytest.mark.parametrize("case", FUEL_SUBSET, ids=[c["id"] for c in FUEL_SUBSET])
def test_reference_fuel_reproduces_the_vector(case: dict[str, Any]) -> None:
    """Section 11 alone: the /2 score and fuel; an evaluation that runs out stops after the
    sample, case or step that takes it past the ceiling."""
    agent, seed = bytes.fromhex(case["agent"]), bytes.fromhex(case["eval_seed"])
    got = ref.score(agent, case["spec"], seed, scorer="bisuna-core/2")
    assert ref.fuel_ceiling(ref.params(case["spec"])) == case["fuel_ceiling"]
    assert (got.score, got.out_of_fuel) == (case["score"], case["out_of_fuel"])
    if case["out_of_fuel"]:
        assert case["fuel_ceiling"] < got.fuel <= case["fuel"]
    else:
        assert got.fuel == case["fuel"]
        assert (got.steps, got.outputs_sha256) == (case["steps"], case["outputs_sha256"])


def test_reference_counts_the_complete_fuel_of_a_case_that_runs_out() -> None:
    """Under /1 nothing stops: the total is the vector's `fuel`, past the ceiling."""
    case = min((c for c in FUEL_SUBSET if c["out_of_fuel"]), key=lambda c: (c["fuel"], c["id"]))
    got = ref.score(bytes.fromhex(case["agent"]), case["spec"], bytes.fromhex(case["eval_seed"]))
    assert got.fuel == case["fuel"] > case["fuel_ceiling"]
    assert not got.out_of_fuel and got.outputs_sha256 == case["outputs_sha256"]
