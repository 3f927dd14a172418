"""Island model: seeds of islands and epochs, epoch sizing, ranking, and when to commit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.common.chain.protocol import rank_key


@dataclass(frozen=True)
class Candidate:
    """An agent an island produced, with the training fitness its population measured."""

    agent: bytes
    fitness: int
    island: int


def island_seed(chain_id: int, contract: str, task_id: int, solver: str, island: int) -> bytes:
    """A 32-byte seed private to one solver's island of one task (others can't predict it...
    and needn't: the agent is only published at reveal)."""
    material = (
        f"edgemarket/island:{chain_id}:{contract.lower()}:{task_id}:{solver.lower()}:{island}"
    )
    return hashlib.sha256(material.encode()).digest()


def epoch_seed(seed: bytes, epoch: int) -> int:
    """The 64-bit seed of one island's epoch: first 8 bytes (big-endian) of sha256(seed ‖ epoch)."""
    return int.from_bytes(hashlib.sha256(seed + f"epoch/{epoch}".encode()).digest()[:8], "big")


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    """Best first, in the contract's order with the island in place of the solution id: higher
    fitness, then the smaller agent, then the lower island."""
    return sorted(candidates, key=lambda c: (*rank_key(c.fitness, len(c.agent), c.island), c.agent))


# An epoch is at most this many times the largest one the task has finished: a first
# generation of tiny agents runs far faster than later ones, so one measurement of it must
# not size a 30-second epoch in place of a 3-second one.
EPOCH_GROWTH = 8


def sized_epoch(
    seconds_per_generation: float | None,
    *,
    target_seconds: float,
    seconds_left: float,
    time_limit: float,
    largest: int = 0,
) -> int:
    """Generations of an island's next epoch, sized from measured speed: about
    `target_seconds` of work (at least one generation), but never past the solver's stop
    (`seconds_left`, counted from when the epoch is expected to start), never above half the
    workers' hard `time_limit`, and at most EPOCH_GROWTH times the `largest` epoch the task
    has finished so far. Unmeasured (None), a task's first epoch is one generation, which
    measures it. 0: no generation fits any more."""
    if seconds_per_generation is None:
        return 1 if seconds_left > 0 else 0
    per = max(seconds_per_generation, 1e-6)
    hard = int(min(seconds_left, time_limit / 2) / per)
    grown = EPOCH_GROWTH * max(largest, 1)
    return max(0, min(max(int(target_seconds / per), 1), hard, grown, 1_000_000))


def improves(candidate: Candidate, last: Candidate | None, margin: int, perfect: int) -> bool:
    """Whether a validated candidate is worth a new commitment after `last` (our best one so
    far): a positive score (a zero never wins) at least `margin` above it, or, once both are
    perfect, a smaller agent (the contract prefers it on equal scores)."""
    if candidate.fitness <= 0:
        return False
    if last is None:
        return True
    if candidate.fitness >= last.fitness + max(margin, 1):
        return True
    return candidate.fitness == last.fitness == perfect and len(candidate.agent) < len(last.agent)


# The default portfolio: the (1 + lambda) ES built to solve on island 0, BiSUNA's own on island
# 1 for diversity, and so on alternately.
DEFAULT_PORTFOLIO = ("es", "suna")


def core_strategies() -> list[str]:
    """The search strategies this core offers (`suna`, BiSUNA's own, and those built to solve)."""
    import bisuna

    return list(bisuna.strategies())
