"""Scheduler dispatch stops at the commit deadline, whatever the epochs do (issue 11, finding 3):
epochs that never finish, or that all fail, no longer keep the scheduler past the deadline."""

from __future__ import annotations

import threading
from typing import Any

from services.common.spec import parse_spec
from services.scheduler.config import SolverSettings
from services.scheduler.service import EpochDispatcher, Scheduler

SPEC = parse_spec(
    {
        "schema": "edgemarket/task@1",
        "scorer": "bisuna-core/1",
        "env": {"name": "multiplexer-6"},
        "budget": {"population": 10, "generations": 1000, "islands": 2, "epoch_generations": 1},
    }
)


class NeverReady:
    """A Celery AsyncResult whose worker never answers (a spec the workers cannot run)."""

    def ready(self) -> bool:
        return False

    def get(self, timeout: float, propagate: bool) -> None:
        threading.Event().wait(min(timeout, 0.01))

    def forget(self) -> None:
        pass


class FakeCelery:
    def __init__(self) -> None:
        self.sent = 0

    def send_task(self, name: str, args: list[Any], queue: str) -> NeverReady:
        self.sent += 1
        return NeverReady()


class FakePrivate:
    def put_many(self, agents: list[bytes]) -> list[str]:
        return []


def test_an_epoch_that_never_finishes_is_given_up_at_the_deadline() -> None:
    import time

    celery = FakeCelery()
    dispatcher = EpochDispatcher(celery, FakePrivate(), queue="q", epoch_timeout=0.05)  # type: ignore[arg-type]
    outcomes = dispatcher.run(
        "bafk", [b"\x01" * 32] * 2, 0, 1, [[], []], 1, stop_at=time.monotonic() + 0.3
    )
    assert outcomes == [None, None]
    assert celery.sent >= 2  # it did try (and re-send) until the deadline


class Clock:
    def __init__(self, now: int) -> None:
        self.now = now

    def chain_now(self) -> int:
        return self.now


class CountingDispatcher:
    """Every epoch fails (no island answers); each one takes 10 s of chain time."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.epochs = 0

    def run(self, *args: Any, stop_at: float | None = None) -> list[None]:
        assert stop_at is not None
        self.epochs += 1
        self.clock.now += 10
        return [None, None]


def test_dispatch_stops_at_the_commit_deadline_when_every_epoch_fails() -> None:
    clock = Clock(1_000)
    scheduler = Scheduler.__new__(Scheduler)  # only what evolve() touches
    scheduler.settings = SolverSettings(commit_margin=30)
    scheduler.node = clock  # type: ignore[assignment]
    scheduler.market = type("M", (), {"chain_id": 31337, "address": "0x" + "11" * 20})()
    scheduler.me = "0x" + "22" * 20
    dispatcher = CountingDispatcher(clock)
    scheduler.dispatcher = dispatcher  # type: ignore[assignment]
    best = scheduler.evolve(1, "bafk", SPEC, commit_deadline=1_000 + 30 + 100)
    assert best is None
    # 100 s of budget before the margin, 10 s per epoch: 10 epochs of the 1,000 planned.
    assert dispatcher.epochs == 10
    assert clock.now <= 1_000 + 100
