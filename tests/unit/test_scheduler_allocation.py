"""Sharing islands among live tasks by expected value; nothing starves."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.scheduler.allocation import AllocationRule, TaskOutlook, allocate, weight

ETHER = 10**18


def t(
    task_id: int, bounty: int = ETHER, left: float = 100, best: int = 0, rivals: int = 0
) -> TaskOutlook:
    return TaskOutlook(task_id, bounty, left, best, rivals)


def test_weight_follows_the_written_rule() -> None:
    base = weight(t(1), horizon=300, gap_floor=0.05)
    assert weight(t(1, bounty=2 * ETHER), horizon=300, gap_floor=0.05) == 2 * base
    assert weight(t(1, best=500_000), horizon=300, gap_floor=0.05) == base / 2
    assert weight(t(1, rivals=3), horizon=300, gap_floor=0.05) == base / 4
    assert weight(t(1, left=600), horizon=300, gap_floor=0.05) == base / 2  # can wait
    solved = weight(t(1, best=1_000_000), horizon=300, gap_floor=0.05)
    assert solved == base * 0.05  # a solved task keeps looking for a smaller agent


def test_richer_and_less_solved_tasks_get_more_islands() -> None:
    share = allocate([t(1, bounty=3 * ETHER), t(2)], 10)
    assert share == {1: 7, 2: 3}
    share = allocate([t(1, best=1_000_000), t(2)], 10)
    assert share[2] > share[1] >= 1
    assert allocate([t(1, bounty=3 * ETHER), t(2)], 10, rule=AllocationRule.EQUAL) == {1: 5, 2: 5}
    assert allocate([], 4) == {}


@given(
    st.lists(
        st.tuples(st.integers(0, 10**20), st.floats(0, 10_000), st.integers(0, 1_000_000),
                  st.integers(0, 50)),
        min_size=1, max_size=40,
    ),
    st.integers(1, 64),
)  # fmt: skip
def test_every_live_task_gets_an_island_and_no_slot_is_wasted(
    tasks: list[tuple[int, float, int, int]], slots: int
) -> None:
    outlooks = [t(i, b, left, best, r) for i, (b, left, best, r) in enumerate(tasks)]
    share = allocate(outlooks, slots)
    assert set(share) == {o.task_id for o in outlooks}
    assert all(n >= 1 for n in share.values())
    assert sum(share.values()) == max(slots, len(outlooks))
