"""The event stream over Redis Streams: consumer groups, at-least-once, reclaiming the dead's work."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from services.common.logs import get_logger
from services.common.messages import Kind, Message, MessageError, decode_message
from services.common.process import Backoff, Stopped, run_loop

log = get_logger("edgemarket.streams")

Handler = Callable[[Message], None]


@dataclass(frozen=True)
class Delivery:
    """One stream entry handed to a consumer: its id and the decoded message (or the error)."""

    entry_id: str
    message: Message | None
    error: MessageError | None = None


def publish(client: redis.Redis, stream: str, messages: list[bytes]) -> list[str]:
    """Append encoded messages to the stream in one pipelined round trip; their entry ids."""
    pipe = client.pipeline(transaction=False)
    for data in messages:
        pipe.xadd(stream, {"data": data})
    return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]


class StreamConsumer:
    """One consumer in a group: reads its own pending entries first, then new ones, and claims
    entries other consumers left pending longer than `claim_idle_ms` (they are presumed dead).

    Delivery is at least once: an entry is acknowledged only after its handler returned, so a
    handler must be idempotent on the message identity. An entry that failed `max_deliveries`
    times is moved to `<stream>:dead:<group>` and acknowledged, so one poison message cannot
    stall the group.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        claim_idle_ms: int = 30_000,
        max_deliveries: int = 10,
    ) -> None:
        self.client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.max_deliveries = max_deliveries
        self.dead_letter = f"{stream}:dead:{group}"
        self._own_pending_done = False
        self._pending_cursor = "0"
        self._claim_cursor = "0-0"
        self._last_claim = 0.0

    def ensure_group(self) -> None:
        """Create the group (and the stream) if missing; a group starts at the stream's start."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _decode(self, entries: list[Any]) -> list[Delivery]:  # Any: redis-py returns untyped replies
        out = []
        for raw_id, fields in entries:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            if fields is None:  # trimmed away while pending
                out.append(Delivery(entry_id, None, MessageError("entry was deleted")))
                continue
            data = fields.get(b"data")
            if data is None:
                out.append(Delivery(entry_id, None, MessageError("entry has no `data` field")))
                continue
            try:
                out.append(Delivery(entry_id, decode_message(data)))
            except MessageError as e:
                out.append(Delivery(entry_id, None, e))
        return out

    def _read_group(self, start: str, count: int, block_ms: int | None) -> list[Delivery]:
        try:
            resp: Any = self.client.xreadgroup(  # Any: untyped redis-py reply
                self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
            )
        except redis.ResponseError as e:
            if "NOGROUP" not in str(e):
                raise
            # Redis lost the group (restart without persistence): recreate, start over.
            log.warning("consumer group missing, recreating", extra={"group": self.group})
            self.ensure_group()
            return []
        if not resp:
            return []
        # RESP2 answers [[stream, entries]], RESP3 {stream: entries}.
        entries = next(iter(resp.values())) if isinstance(resp, dict) else resp[0][1]
        return self._decode(entries)

    def claim_stale(self, count: int = 100) -> list[Delivery]:
        """Take over entries idle longer than claim_idle_ms, from any consumer of the group."""
        resp: Any = self.client.xautoclaim(  # Any: untyped redis-py reply
            self.stream, self.group, self.consumer, self.claim_idle_ms, self._claim_cursor, count
        )
        cursor, entries = resp[0], resp[1]
        self._claim_cursor = cursor.decode() if isinstance(cursor, bytes) else str(cursor)
        deleted = resp[2] if len(resp) > 2 else []
        deliveries = self._decode(entries)
        if deleted:
            # Entries trimmed from the stream while pending: nothing left to deliver.
            self.client.xack(self.stream, self.group, *deleted)
        if deliveries:
            log.info(
                "claimed stale entries",
                extra={"group": self.group, "consumer": self.consumer, "count": len(deliveries)},
            )
            deliveries = self._drop_poison(deliveries)
        return deliveries

    def _drop_poison(self, deliveries: list[Delivery]) -> list[Delivery]:
        keep = []
        for d in deliveries:
            info = self.client.xpending_range(
                self.stream, self.group, min=d.entry_id, max=d.entry_id, count=1
            )
            times = int(info[0]["times_delivered"]) if info else 1
            if times > self.max_deliveries:
                self.dead(d, f"failed {times - 1} times")
            else:
                keep.append(d)
        return keep

    def read(self, count: int = 500, block_ms: int | None = 1000) -> list[Delivery]:
        """The next entries: own pending ones (after a restart), stale ones, then new ones."""
        if not self._own_pending_done:
            # Walk our own pending entries once, by a cursor: one that keeps failing is left to
            # the stale-entry claim (which counts deliveries), not retried in a tight loop.
            own = self._read_group(self._pending_cursor, count, None)
            if own:
                self._pending_cursor = own[-1].entry_id
                return own
            self._own_pending_done = True
        now = time.monotonic()
        if now - self._last_claim >= self.claim_idle_ms / 2000:
            self._last_claim = now
            claimed = self.claim_stale(count)
            if claimed:
                return claimed
        return self._read_group(">", count, block_ms)

    def ack(self, entry_ids: list[str]) -> None:
        if entry_ids:
            self.client.xack(self.stream, self.group, *entry_ids)

    def dead(self, delivery: Delivery, reason: str) -> None:
        """Move an entry to the dead-letter stream and acknowledge it."""
        log.error(
            "entry moved to dead letters",
            extra={"group": self.group, "entry": delivery.entry_id, "reason": reason},
        )
        pipe = self.client.pipeline(transaction=True)
        data = delivery.message.to_json() if delivery.message else b""
        pipe.xadd(self.dead_letter, {"entry": delivery.entry_id, "reason": reason, "data": data})
        pipe.xack(self.stream, self.group, delivery.entry_id)
        pipe.execute()

    def handle(self, deliveries: list[Delivery], handlers: Mapping[Kind, Handler]) -> int:
        """Run each delivery's handler and ack it; a failing one stays pending for a retry, and a
        handler raising `Stopped` leaves its entry and the rest of the batch pending."""
        done: list[str] = []
        for d in deliveries:
            if d.message is None:
                self.dead(d, str(d.error))
                continue
            handler = handlers.get(d.message.kind)
            if handler is not None:
                try:
                    handler(d.message)
                except Stopped:
                    break  # stopping: this entry and the rest stay pending
                except Exception:
                    log.exception(
                        "handler failed; the entry stays pending and will be retried",
                        extra={"group": self.group, "entry": d.entry_id, "kind": d.message.kind},
                    )
                    continue
            done.append(d.entry_id)
        self.ack(done)
        return len(done)


def consume(
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    handlers: Mapping[Kind, Handler],
    *,
    stop: threading.Event | None = None,
    claim_idle_ms: int = 30_000,
    block_ms: int = 1000,
) -> None:
    """Handle the group's messages until `stop` is set; Redis outages are retried with backoff."""
    c = StreamConsumer(client, stream, group, consumer, claim_idle_ms=claim_idle_ms)
    stop = stop or threading.Event()
    group_ready = False

    def one_batch() -> float:
        nonlocal group_ready
        try:
            if not group_ready:
                c.ensure_group()
                group_ready = True
            c.handle(c.read(block_ms=block_ms), handlers)
        except (redis.ConnectionError, redis.TimeoutError):
            group_ready = False  # a restarted Redis may have lost the group
            raise
        return 0.0  # the read already blocked for new entries

    run_loop(
        f"consumer {group}",
        one_batch,
        stop,
        interval=0.0,
        retry_on=(redis.ConnectionError, redis.TimeoutError),
        log=log,
        backoff=Backoff(first=0.1, cap=5.0),
    )
