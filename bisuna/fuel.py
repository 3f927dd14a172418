"""Fuel: the deterministic operation budget of scorer `bisuna-core/2`, and scores that say
whether an agent ran out of it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from bisuna import bindings as _b
from bisuna.agent import Agent, running
from bisuna.errors import LimitError
from bisuna.population import _seeds, _within_limits

FUEL_PER_STEP: int = _b.FUEL_PER_STEP
FUEL_BOUND: int = _b.FUEL_BOUND


class ScoreDetail(NamedTuple):
    """A score with the fuel its evaluation used; out_of_fuel: it exceeded the ceiling (/2
    only) and the score is 0."""

    score: int
    fuel: int
    out_of_fuel: bool


def fuel_ceiling(spec: Mapping[str, Any]) -> int:
    """The spec's fuel ceiling: 4 x network steps x (max_neurons + max_connections), network
    steps being 2 x samples (cipher), 64 / 2048 (multiplexer-6 / -11), 2^n (parity-n) or
    samples x max_steps (mountain-car). Raises LimitError when it exceeds 2^32: a spec
    `bisuna-core/2` refuses."""
    spec = _b.spec_dict(spec)
    params = _b.params_from_spec(spec)
    ceiling = _b.fuel_ceiling(params)
    if ceiling is None:
        lim = spec.get("limits") or {}
        raise LimitError(
            f"spec too large for bisuna-core/2: its fuel ceiling, {FUEL_PER_STEP} x network "
            f"steps x (max_neurons + max_connections) with max_neurons="
            f"{params.limits.max_neurons}, max_connections={params.limits.max_connections}"
            f"{'' if lim else ' (defaults)'}, exceeds {FUEL_BOUND:,}; lower the limits, "
            "eval.samples or env.params.max_steps",
            _b.E_SPEC,
        )
    return ceiling


def score_detail(
    agent: Agent | bytes,
    spec: Mapping[str, Any],
    eval_seed: bytes,
    scorer: str = "bisuna-core/2",
) -> ScoreDetail:
    """score() with the fuel used and whether the agent ran out of it."""
    return score_many_detail([agent], spec, eval_seed, scorer)[0]


def score_many_detail(
    agents: Sequence[Agent | bytes],
    spec: Mapping[str, Any],
    eval_seed: bytes,
    scorer: str = "bisuna-core/2",
) -> list[ScoreDetail]:
    """score_detail() of each agent, in one call into the core."""
    sid = _b.scorer_id(scorer)
    spec = _b.spec_dict(spec)
    params = _b.params_from_spec(spec)
    if scorer == "bisuna-core/2":
        fuel_ceiling(spec)  # the clear error for a spec /2 refuses
    decoded = [_within_limits(a, spec.get("limits")) for a in agents]
    seeds = _seeds(spec, params, eval_seed)
    with running(decoded):
        rows = _b.score_batch_detail([a._cdata for a in decoded], params, sid, seeds)
    return [ScoreDetail(s, f, o) for s, f, o in rows]
