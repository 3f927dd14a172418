"""How one solver shares its islands among the tasks it works on: by expected value."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from services.common.chain.protocol import MAX_SCORE


class AllocationRule(StrEnum):
    EXPECTED_VALUE = "expected-value"  # weight() below
    EQUAL = "equal"  # every live task the same share (the baseline the market bench compares)


@dataclass(frozen=True)
class TaskOutlook:
    """What the scheduler knows about a live task when it shares out islands."""

    task_id: int
    bounty: int  # wei
    seconds_left: float  # until this solver stops evolving it (commit deadline - margin)
    best_score: int  # our best validation score so far (0: nothing yet)
    rivals: int  # commitments other solvers have made on it


def weight(t: TaskOutlook, *, horizon: float, gap_floor: float) -> float:
    """The expected value of one more island on task t, up to a common factor:

        bounty x gap / (1 + rivals) x horizon / max(seconds_left, horizon)

    gap is how far our best is from perfect (at least gap_floor, so a solved task keeps an
    island looking for a smaller agent); every rival commitment makes a win less likely; and a
    task whose window closes within `horizon` seconds counts fully, one further away less (its
    islands can come later)."""
    gap = max(1.0 - max(t.best_score, 0) / MAX_SCORE, gap_floor)
    urgency = horizon / max(t.seconds_left, horizon)
    return float(t.bounty) * gap / (1 + max(t.rivals, 0)) * urgency


def allocate(
    outlooks: list[TaskOutlook],
    slots: int,
    *,
    rule: AllocationRule = AllocationRule.EXPECTED_VALUE,
    horizon: float = 300.0,
    gap_floor: float = 0.05,
) -> dict[int, int]:
    """Islands per task: every live task gets one (nothing starves, even when there are more
    tasks than slots), the slots left are shared in proportion to weight(), by largest
    remainder (ties to the lower task id)."""
    if not outlooks:
        return {}
    share = dict.fromkeys((t.task_id for t in outlooks), 1)
    spare = slots - len(outlooks)
    if spare <= 0:
        return share
    if rule is AllocationRule.EQUAL:
        weights = {t.task_id: 1.0 for t in outlooks}
    else:
        weights = {t.task_id: weight(t, horizon=horizon, gap_floor=gap_floor) for t in outlooks}
    total = sum(weights.values())
    if total <= 0:
        weights = {t.task_id: 1.0 for t in outlooks}
        total = float(len(outlooks))
    exact = {tid: spare * w / total for tid, w in weights.items()}
    for tid, x in exact.items():
        share[tid] += int(x)
    left = spare - sum(int(x) for x in exact.values())
    by_remainder = sorted(exact, key=lambda tid: (-(exact[tid] - int(exact[tid])), tid))
    for tid in by_remainder[:left]:
        share[tid] += 1
    return share
