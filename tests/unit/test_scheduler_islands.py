"""Island seeding, epoch sizing, ranking and the commit rule."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.scheduler.islands import (
    Candidate,
    epoch_seed,
    improves,
    island_seed,
    ranked,
    sized_epoch,
)


def test_seeds_are_distinct_per_island_solver_and_epoch() -> None:
    a = island_seed(31337, "0xAbC", 1, "0x01", 0)
    assert a == island_seed(31337, "0xabc", 1, "0x01", 0)  # address case does not matter
    others = {
        island_seed(31337, "0xabc", 1, "0x01", 1),
        island_seed(31337, "0xabc", 2, "0x01", 0),
        island_seed(31337, "0xabc", 1, "0x02", 0),
        island_seed(1, "0xabc", 1, "0x01", 0),
    }
    assert a not in others and len(others) == 4
    assert epoch_seed(a, 0) != epoch_seed(a, 1)
    assert 0 <= epoch_seed(a, 3) < 2**64


def test_ranking_breaks_ties_like_the_contract() -> None:
    big = Candidate(b"x" * 10, 500, 0)
    small = Candidate(b"y" * 5, 500, 1)
    best = Candidate(b"z" * 50, 900, 2)
    assert ranked([big, small, best]) == [best, small, big]


def test_epochs_are_sized_from_measured_speed() -> None:
    kw = {"target_seconds": 10.0, "time_limit": 600.0, "largest": 10**6}
    assert sized_epoch(None, seconds_left=100, **kw) == 1  # unmeasured: one generation probes
    assert sized_epoch(None, seconds_left=0, **kw) == 0
    assert sized_epoch(0.01, seconds_left=100, **kw) == 1000
    assert sized_epoch(0.01, seconds_left=2.5, **kw) == 250  # never past the stop
    assert sized_epoch(20.0, seconds_left=100, **kw) == 1  # slow: one generation, not none
    assert sized_epoch(20.0, seconds_left=19, **kw) == 0  # not even one fits before the stop
    assert sized_epoch(20.0, seconds_left=100, target_seconds=60, time_limit=600, largest=3) == 3
    # never more than half the workers' hard time limit
    assert sized_epoch(1.0, seconds_left=1e6, target_seconds=1e6, time_limit=600, largest=300) == 300


def test_epochs_grow_from_the_probe_by_at_most_eight_times() -> None:
    # A first generation of tiny agents measured 30 us: 10 s of it would be 333,333
    # generations, where later (bigger) agents take 100x longer each. The next epoch is
    # at most 8x the largest finished one, so sizes climb 1, 8, 64, 512 as speed is learnt.
    kw = {"target_seconds": 10.0, "time_limit": 600.0, "seconds_left": 100.0}
    assert sized_epoch(3e-5, largest=1, **kw) == 8
    assert sized_epoch(3e-5, largest=8, **kw) == 64
    assert sized_epoch(3e-3, largest=512, **kw) == 3333  # the target, once it is the limit
    assert sized_epoch(3e-5, largest=0, **kw) == 8


@given(st.floats(1e-4, 100), st.floats(0, 5000), st.floats(0.1, 600), st.floats(1, 3600))
def test_an_epoch_never_outlives_its_limits(
    per: float, left: float, target: float, limit: float
) -> None:
    g = sized_epoch(per, seconds_left=left, target_seconds=target, time_limit=limit, largest=10**6)
    assert g * per <= min(left, limit / 2) + 1e-9
    assert g * per <= max(target, per) + 1e-9


def test_a_commitment_needs_a_real_improvement() -> None:
    def c(score: int, size: int) -> Candidate:
        return Candidate(b"a" * size, score, 0)

    assert not improves(c(0, 5), None, 100, 1000)  # a zero never wins: not worth a bond
    assert improves(c(1, 5), None, 100, 1000)
    assert not improves(c(599, 5), c(500, 5), 100, 1000)
    assert improves(c(600, 5), c(500, 5), 100, 1000)
    assert not improves(c(900, 4), c(900, 5), 100, 1000)  # smaller only counts once perfect
    assert improves(c(1000, 4), c(1000, 5), 100, 1000)
    assert not improves(c(1000, 5), c(1000, 5), 100, 1000)
