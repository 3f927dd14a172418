"""A verified score in its environment's terms: cases right, steps to the goal, bits recovered.

Scores are integers in [0, 1_000_000]. Each environment's score formula (docs/scorer.md,
section 7) is inverted here as far as the score alone allows; where it cannot be exact the
sentence says "at least" or "on average".
"""

from __future__ import annotations

from typing import Any

SCALE = 1_000_000

# Defaults the core applies when a spec leaves a parameter out (docs/scorer.md, the spec table).
_DEFAULT_PAYLOAD_WORDS = 3
_DEFAULT_CIPHER_SAMPLES = 4096
_DEFAULT_EPISODES = 16
_DEFAULT_PARITY_BITS = 3
_DEFAULT_MAX_STEPS = 1000
_BOOLEAN_INPUTS = {"multiplexer-6": 6, "multiplexer-11": 11}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _int_param(params: dict[str, Any], key: str, default: int) -> int:
    value = params.get(key, default)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def explain_score(score: int, spec: dict[str, Any] | None) -> str | None:
    """One sentence saying what `score` means for the task `spec`; None if the spec is unknown.

    - boolean tasks (multiplexer-6, multiplexer-11, parity-n): score = floor(right·10⁶ / 2ⁿ),
      so right = ceil(score·2ⁿ / 10⁶) exactly (2ⁿ < 10⁶);
    - mountain-car: each episode scores 10⁶·(max_steps - steps)/max_steps (0 if the car never
      arrives) and the score is their mean: the mean steps to the goal, a miss counting max_steps;
    - cipher: score = correctness · (1 - the best attacker's advantage) ≤ correctness, and
      correctness = (2c - B)/B for c of B plaintext bits recovered: c ≥ B·(1 + score/10⁶)/2.
    """
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= SCALE:
        raise ValueError(f"a score is an integer in [0, {SCALE}], got {score!r}")
    if not isinstance(spec, dict):
        return None
    env = _object(spec.get("env"))
    name = env.get("name")
    params = _object(env.get("params"))
    evaluation = _object(spec.get("eval"))

    if name in _BOOLEAN_INPUTS or name == "parity-n":
        n = _BOOLEAN_INPUTS.get(name) or _int_param(params, "n", _DEFAULT_PARITY_BITS)
        cases = 2**n
        return f"{_ceil_div(score * cases, SCALE)} of {cases} cases right"

    if name == "mountain-car":
        max_steps = _int_param(params, "max_steps", _DEFAULT_MAX_STEPS)
        episodes = _int_param(evaluation, "samples", _DEFAULT_EPISODES)
        if score == 0:
            return (
                f"the car reached the goal in none of {episodes} episodes (limit {max_steps} steps)"
            )
        steps = max_steps * (SCALE - score) / SCALE
        return (
            f"{steps:.1f} steps to the goal on average over {episodes} episodes, of at most "
            f"{max_steps} (an episode that misses the goal counts {max_steps})"
        )

    if name == "cipher":
        words = _int_param(params, "payload_words", _DEFAULT_PAYLOAD_WORDS)
        samples = _int_param(evaluation, "samples", _DEFAULT_CIPHER_SAMPLES)
        bits = samples * 16 * words
        messages = f"{samples} messages of {words} words"
        if score == 0:
            return (
                f"no better than guessing: Bob recovers about half of {bits} plaintext bits "
                f"({messages}), or an attacker reads them"
            )
        if score == SCALE:
            return (
                f"Bob recovers all {bits} plaintext bits ({messages}) "
                f"and no attacker does better than guessing"
            )
        recovered = _ceil_div(bits * (SCALE + score), 2 * SCALE)
        return (
            f"Bob recovers at least {recovered} of {bits} plaintext bits "
            f"({100 * recovered / bits:.1f} %) over {messages}; the score is correctness "
            f"times secrecy, so the rest is bits lost or an attacker's advantage"
        )
    return None
