"""Settings of the solver side (scheduler, keeper, workers): the common ones plus tuning."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator, model_validator

from services.common.chain.protocol import MAX_COMMITS_PER_SOLVER
from services.common.settings import KeeperSettings
from services.scheduler.allocation import AllocationRule
from services.scheduler.islands import DEFAULT_PORTFOLIO, core_strategies


class SolverSettings(KeeperSettings):
    """Common and keeper settings plus the solver's Celery and timing knobs (all EDGEMARKET_*);
    the solver settles its own tasks, so it carries the keeper's polling period."""

    # Celery: the queue the scheduler feeds and its workers drain.
    queue: str = "edgemarket.evolve"
    # Redis redelivers an unacknowledged epoch after this long; well above any epoch.
    visibility_timeout: Annotated[int, Field(ge=60)] = 3600
    # Hard limit of one epoch task on a worker (the soft limit is 90 % of it).
    epoch_time_limit: Annotated[float, Field(gt=0)] = 600.0
    # The scheduler re-dispatches an epoch whose result has not come back after this long
    # (epochs are deterministic, so a duplicate gives the same answer).
    epoch_timeout: Annotated[float, Field(gt=0)] = 900.0
    # Stop evolving this many seconds before the commit deadline and commit what we have.
    commit_margin: Annotated[float, Field(ge=0)] = 30.0
    # An island carries its whole population from epoch to epoch (through the private store)
    # and receives this many champions of its ring neighbour (the task's island i-1).
    migrants: Annotated[int, Field(ge=0, le=32)] = 2
    # Epochs in flight at once over all tasks: the workers' total concurrency plus one queued
    # epoch per worker (twice the concurrency); live tasks beyond it take turns.
    islands: Annotated[int, Field(ge=1, le=4096)] = 4
    # Wall time an epoch aims at, sized from the task's measured seconds per generation.
    epoch_seconds: Annotated[float, Field(gt=0)] = 10.0
    # How islands are shared among live tasks (see README, "How the solver works").
    allocation: AllocationRule = AllocationRule.EXPECTED_VALUE
    value_horizon: Annotated[float, Field(gt=0)] = 300.0
    value_gap_floor: Annotated[float, Field(ge=0, le=1)] = 0.05
    # A new commitment needs a validation score this much above our last one (1e6 = perfect),
    # at most max_commits per task (the contract allows 16), and the bonds of our commitments
    # on unsettled tasks within bond_budget (wei).
    improvement_margin: Annotated[int, Field(ge=1, le=1_000_000)] = 10_000
    max_commits: Annotated[int, Field(ge=1, le=MAX_COMMITS_PER_SOLVER)] = 8
    bond_budget: Annotated[int, Field(ge=0)] = 10 * 10**18
    # Never a commitment that some reveal of ours could then not make in time, at this many
    # seconds each (one transaction mined, with room for the other transactions).
    seconds_per_reveal: Annotated[float, Field(gt=0)] = 3.0
    # Once a task has a perfect agent, seconds spent pruning it to a smaller perfect one.
    shrink_seconds: Annotated[float, Field(ge=0)] = 2.0
    # Search strategies of the core, island i runs strategies[i % len]: a portfolio.
    strategies: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_PORTFOLIO)
    )
    # Which tasks this solver works on: requesters name the evaluators, so a solver may insist
    # on ones it trusts (JSON list of addresses; empty: any) and on a least bounty (wei).
    trusted_evaluators: list[str] = Field(default_factory=list)
    min_bounty: Annotated[int, Field(ge=0)] = 0
    # Private agent store (Redis) key prefix and lifetime.
    private_prefix: str = "edgemarket:private"
    private_ttl: Annotated[int, Field(ge=60)] = 7 * 24 * 3600

    @field_validator("strategies")
    @classmethod
    def _strategies_of_this_core(cls, names: list[str]) -> list[str]:
        known = core_strategies()
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(
                f"{', '.join(map(repr, unknown))} not a search strategy of this core "
                f"(it has {', '.join(known)})"
            )
        return names

    @model_validator(mode="after")
    def _redelivery_after_the_time_limit(self) -> SolverSettings:
        # Redis would hand a running epoch to a second worker if this were shorter.
        if self.visibility_timeout < 2 * self.epoch_time_limit:
            raise ValueError(
                f"visibility_timeout ({self.visibility_timeout} s) must be at least twice "
                f"epoch_time_limit ({self.epoch_time_limit} s)"
            )
        return self


@lru_cache(maxsize=1)
def get_solver_settings() -> SolverSettings:
    return SolverSettings()
