"""Island planning, seeding and migration."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.scheduler.islands import Candidate, epoch_seed, island_seed, migrate, plan, ranked


@given(st.integers(1, 5000), st.integers(1, 8), st.integers(1, 500))
def test_plan_spends_exactly_the_budget(gens: int, islands: int, per_epoch: int) -> None:
    p = plan(gens, islands, per_epoch)
    assert p.generations == gens
    assert all(0 < e <= per_epoch for e in p.epochs)
    assert p.islands == islands


def test_plan_refuses_empty_budget() -> None:
    with pytest.raises(ValueError, match="budget must be positive"):
        plan(0, 2, 10)


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


def test_migration_is_a_ring_without_duplicates() -> None:
    isl = [[b"a1", b"a2"], [b"b1", b"b2"], [b"c1", b"a1"]]
    assert migrate(isl, elite=1, migrants=1) == [[b"a1", b"c1"], [b"b1", b"a1"], [b"c1", b"b1"]]
    assert migrate(isl, elite=2, migrants=1) == [
        [b"a1", b"a2", b"c1"],
        [b"b1", b"b2", b"a1"],
        [b"c1", b"a1", b"b1"],
    ]
    # a duplicate is sent once; one island migrates to nobody
    assert migrate([[b"a"], [b"a"]], elite=2, migrants=2) == [[b"a"], [b"a"]]
    assert migrate([[b"s"]], elite=2, migrants=2) == [[b"s"]]
