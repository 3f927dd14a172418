"""The agent page's score explanation: a score in its environment's terms."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from services.api.explain import explain_score


def spec(
    name: str, params: Mapping[str, object] | None = None, samples: int | None = None
) -> dict[str, object]:
    doc: dict[str, object] = {
        "scorer": "bisuna-core/1",
        "env": {"name": name, "params": dict(params or {})},
    }
    if samples is not None:
        doc["eval"] = {"samples": samples}
    return doc


def test_multiplexer_counts_cases_right() -> None:
    # The example: 0.953125 is 61 of 64 cases.
    assert explain_score(953_125, spec("multiplexer-6")) == "61 of 64 cases right"
    assert explain_score(1_000_000, spec("multiplexer-6")) == "64 of 64 cases right"
    assert explain_score(0, spec("multiplexer-6")) == "0 of 64 cases right"


def test_boolean_cases_invert_the_floor_exactly() -> None:
    # score = floor(right * 1e6 / 2^n): every count of right cases comes back exactly.
    for name, n, params in (
        ("multiplexer-11", 11, {}),
        ("parity-n", 5, {"n": 5}),
        ("parity-n", 3, {}),  # the default n
    ):
        for right in range(2**n + 1):
            s = right * 1_000_000 // 2**n
            assert explain_score(s, spec(name, params)) == f"{right} of {2**n} cases right"


def test_mountain_car_reads_as_steps_to_the_goal() -> None:
    # docs/scorer.md 10.5: max_steps 200, episodes of 153 and 104 steps score 357,500.
    text = explain_score(357_500, spec("mountain-car", {"max_steps": 200}, samples=2))
    assert text is not None and text.startswith(
        "128.5 steps to the goal on average over 2 episodes"
    )
    assert "at most 200" in text
    default = explain_score(900_000, spec("mountain-car"))
    assert default is not None and default.startswith("100.0 steps") and "16 episodes" in default
    never = explain_score(0, spec("mountain-car", {"max_steps": 50}, samples=4))
    assert never == "the car reached the goal in none of 4 episodes (limit 50 steps)"


def test_cipher_reads_as_bits_recovered() -> None:
    # 64 messages of 2 words: B = 2048 bits; score 0.5 needs c >= B * 1.5 / 2 = 1536.
    text = explain_score(500_000, spec("cipher", {"payload_words": 2}, samples=64))
    assert text is not None
    assert text.startswith("Bob recovers at least 1536 of 2048 plaintext bits (75.0 %)")
    perfect = explain_score(1_000_000, spec("cipher"))  # defaults: 3 words, 4096 samples
    assert perfect == (
        "Bob recovers all 196608 plaintext bits (4096 messages of 3 words) "
        "and no attacker does better than guessing"
    )
    assert "guessing" in (explain_score(0, spec("cipher")) or "")


def test_unknown_specs_explain_nothing() -> None:
    assert explain_score(10, None) is None
    assert explain_score(10, {"env": "cipher"}) is None
    assert explain_score(10, spec("chess")) is None


@pytest.mark.parametrize("bad", [-1, 1_000_001, 0.5, True])
def test_a_score_out_of_range_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="integer in"):
        explain_score(bad, spec("multiplexer-6"))  # type: ignore[arg-type]
