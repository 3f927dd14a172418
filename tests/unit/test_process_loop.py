"""The service loop helper: it stops when told, backs off on transient errors, waits bounded."""

from __future__ import annotations

import logging
import threading

import pytest

from services.common.process import Backoff, Stopped, run_loop, wait

log = logging.getLogger("test.loop")


class Flaky(ConnectionError):
    pass


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    b = Backoff(first=0.5, cap=3.0)
    assert [b.failed() for _ in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    b.reset()
    assert b.failed() == 0.5
    with pytest.raises(ValueError, match="first <= cap"):
        Backoff(first=2.0, cap=1.0)


def test_loop_backs_off_on_transient_errors_then_recovers() -> None:
    waits: list[float] = []
    outcomes: list[object] = [Flaky("redis gone"), Flaky("still gone"), Flaky("gone"), 0.0, None]

    class Recorder(threading.Event):
        def wait(self, timeout: float | None = None) -> bool:
            waits.append(float(timeout or 0))
            return self.is_set()

    stop = Recorder()

    def step() -> float | None:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]

    run_loop(
        "t",
        step,
        stop,
        interval=5.0,
        retry_on=(ConnectionError,),
        log=log,
        backoff=Backoff(first=0.1, cap=0.3),
    )
    # three failures back off 0.1, 0.2, 0.3 (capped); a step asking for 0 s goes again at
    # once; the last step (None) waits the interval.
    assert waits == [0.1, 0.2, 0.3, 0.0, 5.0]


def test_loop_ends_on_stop_and_on_stopped_and_lets_other_errors_through() -> None:
    stop = threading.Event()
    calls = 0

    def step() -> None:
        nonlocal calls
        calls += 1
        stop.set()

    run_loop("t", step, stop, interval=3600.0, retry_on=(ConnectionError,), log=log)
    assert calls == 1  # the hour-long interval was not waited: the stop was already set

    def stopping() -> None:
        raise Stopped

    run_loop("t", stopping, threading.Event(), interval=1.0, retry_on=(), log=log)

    def broken() -> None:
        raise KeyError("a bug, not an outage")

    with pytest.raises(KeyError):
        run_loop("t", broken, threading.Event(), interval=1.0, retry_on=(ConnectionError,), log=log)


def test_wait_is_bounded_and_reports_a_stop() -> None:
    class Recorder(threading.Event):
        asked: float = -1.0

        def wait(self, timeout: float | None = None) -> bool:
            self.asked = float(timeout or 0)
            return self.is_set()

    ev = Recorder()
    assert wait(ev, 1e9, bound=2.5) is False and ev.asked == 2.5
    assert wait(ev, -3) is False and ev.asked == 0.0
    ev.set()
    assert wait(ev, 1.0) is True
