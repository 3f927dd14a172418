"""Scoring a revealed agent the one way every evaluator and auditor must: the C core under the
spec's scorer, on the chain's evaluation seed. Bad agents score 0 with a stated reason."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.spec import TaskSpec


class CannotScore(RuntimeError):
    """This machine cannot score the task at all (e.g. its core lacks the spec's scorer)."""


@dataclass(frozen=True)
class Verdict:
    """An integer score in [0, 1_000_000] and, for a zero forced by a bad agent, why."""

    score: int
    reason: str = ""


def score_agent(agent: bytes, spec: TaskSpec, eval_seed: bytes) -> Verdict:
    """Score `agent` bytes; never trusts anything the solver claimed."""
    import bisuna

    if len(eval_seed) != 32:
        raise ValueError(f"an evaluation seed is 32 bytes, got {len(eval_seed)}")
    if spec.scorer not in bisuna.SCORERS:
        raise CannotScore(
            f"scorer {spec.scorer!r} is not in this core ({', '.join(bisuna.SCORERS)}); "
            "upgrade edgemarket to evaluate this task"
        )
    spec_dict = spec.to_dict()
    limit = spec.limits.max_agent_bytes
    if len(agent) > limit:
        return Verdict(0, f"agent is {len(agent)} bytes, over the spec's limit of {limit}")
    try:
        decoded = bisuna.Agent.from_bytes(agent, limits=spec_dict["limits"])
    except bisuna.LimitError as exc:
        return Verdict(0, f"agent breaks the spec's limits: {exc}")
    except bisuna.BisunaError as exc:
        return Verdict(0, f"agent does not decode: {exc}")
    try:
        value = bisuna.score(decoded, spec_dict, eval_seed, scorer=spec.scorer)
    except bisuna.LimitError as exc:
        return Verdict(0, f"agent breaks the spec's limits: {exc}")
    except bisuna.ScorerError as exc:
        raise CannotScore(str(exc)) from exc
    except bisuna.FormatError as exc:
        return Verdict(0, f"agent does not fit the task's environment: {exc}")
    if not 0 <= value <= 1_000_000:
        raise CannotScore(f"the core returned {value}, outside [0, 1000000]")
    return Verdict(int(value))
