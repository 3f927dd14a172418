"""Settings of the solver side (scheduler, keeper, workers): the common ones plus tuning."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from pydantic import Field, model_validator

from services.common.settings import KeeperSettings


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
    # Agents kept per island between epochs, and sent to the next island.
    elite: Annotated[int, Field(ge=1, le=32)] = 4
    migrants: Annotated[int, Field(ge=0, le=32)] = 2
    # Which tasks this solver works on: requesters name the evaluators, so a solver may insist
    # on ones it trusts (JSON list of addresses; empty: any) and on a least bounty (wei).
    trusted_evaluators: list[str] = Field(default_factory=list)
    min_bounty: Annotated[int, Field(ge=0)] = 0
    # Private agent store (Redis) key prefix and lifetime.
    private_prefix: str = "edgemarket:private"
    private_ttl: Annotated[int, Field(ge=60)] = 7 * 24 * 3600

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
