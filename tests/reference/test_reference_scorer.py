"""tests/reference/scorer.py (pure Python, written from docs/scorer.md alone) against the
known answers of docs/scorer-vectors.json: the score, the step counts and every output word's
hash. A subset: every case of at most 10,000 steps (all but the longest mountain-car runs)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.reference import scorer as ref
from tests.reference.vectors import load_cases

MAX_STEPS = 10_000
SUBSET = [c for c in load_cases() if sum(c["steps"]) <= MAX_STEPS]


def test_the_subset_spans_every_environment_and_origin() -> None:
    assert len(SUBSET) >= 300
    assert {c["spec"]["env"]["name"] for c in SUBSET} == {
        "cipher",
        "multiplexer-6",
        "multiplexer-11",
        "parity-n",
        "mountain-car",
    }
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
