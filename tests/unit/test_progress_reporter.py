"""Progress reports of an epoch never stall the evolution, and never land after its result."""

from __future__ import annotations

import threading

from services.common.json_input import JsonObject
from services.scheduler.tasks import ProgressReporter


def test_a_slow_backend_does_not_hold_the_evolution() -> None:
    release = threading.Event()
    sending = threading.Event()
    sent: list[JsonObject] = []

    def send(meta: JsonObject) -> None:  # a report stuck on a far, lossy link
        sending.set()
        release.wait(30)
        sent.append(meta)

    reporter = ProgressReporter(send)
    reporter.offer({"generation": 1})
    assert sending.wait(30)
    # while that report is in flight the evolution goes on: offers return at once, and only
    # the latest one waits to be sent
    reporter.offer({"generation": 2})
    reporter.offer({"generation": 3})
    assert not release.is_set() and sent == []
    release.set()
    reporter.close()
    assert sent[0] == {"generation": 1}
    assert {"generation": 2} not in sent


def test_nothing_is_sent_after_close() -> None:
    calls: list[JsonObject] = []
    in_flight = threading.Event()
    release = threading.Event()

    def send(meta: JsonObject) -> None:
        in_flight.set()
        release.wait(30)
        calls.append(meta)

    reporter = ProgressReporter(send)
    reporter.offer({"generation": 1})
    assert in_flight.wait(30)
    reporter.offer({"generation": 2})  # pending when the epoch ends: dropped
    closer = threading.Thread(target=reporter.close)
    closer.start()
    closer.join(0.2)
    assert closer.is_alive(), "close() returned while a report was still in flight"
    release.set()
    closer.join(30)
    assert calls == [{"generation": 1}]
    reporter.offer({"generation": 3})
    assert calls == [{"generation": 1}]


def test_a_failed_report_is_only_logged() -> None:
    attempts: list[int] = []
    done = threading.Event()

    def send(meta: JsonObject) -> None:
        attempts.append(1)
        done.set()
        raise ConnectionError("Redis is gone")

    reporter = ProgressReporter(send)
    reporter.offer({"generation": 1})
    assert done.wait(30)
    reporter.close()
    assert attempts == [1]
