"""How a long-running service runs and stops: one loop helper for every service.

SIGTERM/SIGINT set one threading.Event (`stop_event`); `run_loop` calls a service's step until
that event is set, backs off when Redis or the RPC node is lost, and never waits longer than a
bound, so a stop is noticed promptly whatever the configured intervals.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable

# No wait of a service loop outlasts this (seconds): a stop is seen at least this often.
MAX_WAIT = 30.0


class Stopped(Exception):
    """Raised inside a step when the stop event fires mid-wait: unwind, leaving the work undone
    (a stream entry stays pending, so it is handled after the restart)."""


def stop_event(stop: threading.Event | None = None) -> threading.Event:
    """The event a service loop watches; in the main thread, SIGTERM and SIGINT set it.

    Services finish the batch in hand (its checkpoint written with it) and return, so a stop
    never splits a block or leaves a half-applied batch.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    return stop


def free_port() -> int:
    """A local TCP port nobody listens on right now (for a child service to bind)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(stop: threading.Event, seconds: float, *, bound: float = MAX_WAIT) -> bool:
    """Sleep `seconds` (at most `bound`) unless `stop` fires first; True if it did."""
    return stop.wait(max(0.0, min(seconds, bound)))


class Backoff:
    """The delay before a retry: `first`, doubling on each failure up to `cap`; `reset` after a
    success starts again from `first`."""

    def __init__(self, first: float = 0.1, cap: float = 10.0) -> None:
        if first <= 0 or cap < first:
            raise ValueError(f"backoff needs 0 < first <= cap, got first={first}, cap={cap}")
        self.first = first
        self.cap = cap
        self._next = first

    def reset(self) -> None:
        self._next = self.first

    def failed(self) -> float:
        """The delay to wait after this failure (the next one waits twice as long)."""
        delay = self._next
        self._next = min(self._next * 2, self.cap)
        return delay


def run_loop(
    name: str,
    step: Callable[[], float | None],
    stop: threading.Event,
    *,
    interval: float,
    retry_on: tuple[type[BaseException], ...],
    log: logging.Logger,
    backoff: Backoff | None = None,
) -> None:
    """Call `step` until `stop` is set.

    After a step, wait what it returned (seconds; 0 to go again at once) or else `interval`.
    A `retry_on` error (Redis or the RPC node lost, a transaction failed) is logged and retried
    after a growing delay; anything else propagates. `Stopped` ends the loop quietly.
    """
    backoff = backoff or Backoff(first=min(max(interval, 0.1), 10.0), cap=max(interval, 10.0))
    while not stop.is_set():
        try:
            pause = step()
        except Stopped:
            return
        except retry_on as exc:
            delay = backoff.failed()
            log.warning(f"{name} failed, retrying", extra={"error": repr(exc), "retry_in_s": delay})
            wait(stop, delay)
            continue
        backoff.reset()
        wait(stop, interval if pause is None else pause)
