"""How a long-running service learns it should stop: SIGTERM/SIGINT set one threading.Event."""

from __future__ import annotations

import signal
import threading


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
