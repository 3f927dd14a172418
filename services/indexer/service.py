"""Contract logs → the ordered stream `edgemarket:events`, checkpointed, reorg-safe, crash-safe.

Each round asks the node for the head (or the finalized block) and re-reads the checkpoint
block; if that block's hash changed, the chain reorganised: walk back over the recorded block
hashes to the newest one still canonical, publish `chain.reorged` and rewind. Otherwise fetch
the next block range (headers and `eth_getLogs` in one batch request), decode the logs,
and write the messages together with the new checkpoint in one MULTI/EXEC guarded by WATCH:
a crash never splits a block, a restart resumes exactly after the checkpoint, and a second
indexer on the same stream cannot interleave with the first.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from services.common.chain import (
    ChainError,
    Deployment,
    LogDecodeError,
    LogDecoder,
    RpcClient,
    RpcError,
    RpcUnavailableError,
    build_log_decoders,
    check_deployment,
    load_artifact,
)
from services.common.json_input import JsonObject
from services.common.logs import configure_logging, get_logger, redact_url
from services.common.messages import MESSAGE_SCHEMA, Kind, canonical_json
from services.common.process import MAX_WAIT, Backoff, run_loop, stop_event, wait
from services.common.settings import Settings

log = get_logger("edgemarket.indexer")

MAX_TX_MESSAGES = 5_000  # messages per MULTI/EXEC; a block is never split across two
TARGET_BATCH_LOGS = 5_000


class IndexerError(Exception):
    """The indexer cannot go on without an operator; the message says what to do."""


class ReorgTooDeepError(IndexerError):
    """No recorded block hash is canonical any more."""


class ChainMovedError(Exception):
    """The node's answers within one round disagree (a reorg in flight); retry the round."""


class CheckpointMovedError(Exception):
    """The checkpoint changed under us: another indexer writes to this stream."""


@dataclass
class Checkpoint:
    """The last block whose messages are on the stream, and recent block hashes (ascending)."""

    number: int
    hash: str | None
    hashes: list[tuple[int, str]] = field(default_factory=list)

    def to_json(self, chain_id: int, contract: str) -> bytes:
        return canonical_json(
            {
                "chain_id": chain_id,
                "contract": contract,
                "number": self.number,
                "hash": self.hash,
                "hashes": self.hashes,
            }
        )


@dataclass
class Round:
    """What one round did."""

    published: int = 0
    blocks: int = 0
    idle: bool = False


class Indexer:
    """Indexes one contract on one chain into one stream."""

    def __init__(
        self,
        *,
        rpc: RpcClient,
        client: redis.Redis,
        stream: str,
        chain_id: int,
        contract: str,
        start_block: int,
        decoders: Mapping[str, LogDecoder],
        confirmations: int = 0,
        reorg_depth: int = 64,
        finalized_only: bool = False,
        min_range: int = 1,
        max_range: int = 5_000,
    ) -> None:
        self.rpc = rpc
        self.redis = client
        self.stream = stream
        self.key = f"{stream}:checkpoint"
        self.chain_id = chain_id
        self.contract = contract.lower()
        self.start_block = start_block
        self.decoders = dict(decoders)
        self.confirmations = confirmations
        self.reorg_depth = reorg_depth
        self.finalized_only = finalized_only
        self.min_range, self.max_range = min_range, max_range
        self.range = min(max_range, max(min_range, 100))
        self._cp: Checkpoint | None = None
        self._cp_raw: bytes | None = None
        self._unknown: dict[str, int] = {}

    # -- checkpoint ---------------------------------------------------------------------

    def checkpoint(self) -> Checkpoint:
        """The checkpoint, read from Redis (or made from the deployment block) when unknown."""
        if self._cp is not None:
            return self._cp
        raw: Any = self.redis.get(self.key)  # Any: untyped redis-py reply
        if raw is None:
            number = self.start_block - 1
            block = (
                self.rpc.call("eth_getBlockByNumber", hex(number), False) if number >= 0 else None
            )
            h = block["hash"] if block else None
            self._cp = Checkpoint(number, h, [(number, h)] if h else [])
            self._cp_raw = None
            log.info(
                "no checkpoint, starting at the deployment block",
                extra={"stream": self.stream, "from_block": self.start_block},
            )
            return self._cp
        doc = json.loads(raw)
        if doc["chain_id"] != self.chain_id or doc["contract"] != self.contract:
            raise IndexerError(
                f"stream {self.stream} holds events of contract {doc['contract']} on chain "
                f"{doc['chain_id']}, but this indexer is set up for {self.contract} on chain "
                f"{self.chain_id}: use another EDGEMARKET_STREAM or the right deployment file"
            )
        self._cp = Checkpoint(doc["number"], doc["hash"], [(n, h) for n, h in doc["hashes"]])
        self._cp_raw = raw
        return self._cp

    def _commit(self, payloads: list[bytes], cp: Checkpoint) -> None:
        raw = cp.to_json(self.chain_id, self.contract)
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.watch(self.key)  # type: ignore[no-untyped-call]
            if pipe.get(self.key) != self._cp_raw:
                self._cp = None
                raise CheckpointMovedError(
                    f"the checkpoint of {self.stream} changed under this indexer: is another "
                    "indexer writing to the same stream?"
                )
            pipe.multi()
            for data in payloads:
                pipe.xadd(self.stream, {"data": data})
            pipe.set(self.key, raw)
            try:
                pipe.execute()
            except redis.WatchError:
                self._cp = None
                raise CheckpointMovedError(
                    f"the checkpoint of {self.stream} changed while this indexer wrote: is "
                    "another indexer writing to the same stream?"
                ) from None
        self._cp, self._cp_raw = cp, raw

    def forget_checkpoint(self) -> None:
        """Drop the cached checkpoint (after a Redis error: the write may or may not be there)."""
        self._cp = None
        self._cp_raw = None

    # -- one round ----------------------------------------------------------------------

    def _trim(self, hashes: dict[int, str], tip: int) -> list[tuple[int, str]]:
        return sorted((n, h) for n, h in hashes.items() if n > tip - self.reorg_depth)

    def step(self) -> Round:
        cp = self.checkpoint()
        calls: list[tuple[str, list[Any]]] = [  # Any: JSON-RPC params of mixed types
            ("eth_getBlockByNumber", ["finalized", False])
            if self.finalized_only
            else ("eth_blockNumber", [])
        ]
        if cp.hash is not None:
            calls.append(("eth_getBlockByNumber", [hex(cp.number), False]))
        res = self.rpc.batch(calls)
        if self.finalized_only:
            head = int(res[0]["number"], 16) if res[0] else -1
            target = head
        else:
            head = int(res[0], 16)
            target = head - self.confirmations
        if cp.hash is not None and (res[1] is None or res[1]["hash"] != cp.hash):
            return self._rewind(cp)
        if target <= cp.number:
            return Round(idle=True)

        first = cp.number + 1
        last = min(target, first + self.range - 1)
        near_head = not self.finalized_only and last > head - self.reorg_depth
        numbers = list(range(first, last + 1)) if near_head else sorted({first, last})
        calls = [("eth_getBlockByNumber", [hex(n), False]) for n in numbers]
        calls.append(
            (
                "eth_getLogs",
                [{"fromBlock": hex(first), "toBlock": hex(last), "address": self.contract}],
            )
        )
        started = time.monotonic()
        try:
            res = self.rpc.batch(calls)
        except RpcError as e:
            if e.range_too_large and self.range > self.min_range:
                # The node caps eth_getLogs: a smaller range is the fix, so retry at once.
                self.range = max(self.min_range, self.range // 2)
                log.warning(
                    "the node refused the block range, shrinking it",
                    extra={"error": str(e), "range": self.range},
                )
                return Round()
            raise
        except RpcUnavailableError:
            # A timeout may mean the answer is too big for the node: ask for less next time.
            self.range = max(self.min_range, self.range // 2)
            raise
        headers: dict[int, JsonObject] = {}
        for n, h in zip(numbers, res[:-1], strict=True):
            if h is None:
                raise ChainMovedError(f"block {n} vanished while fetching {first}..{last}")
            headers[n] = h
        if cp.hash is not None and headers[first]["parentHash"] != cp.hash:
            return self._rewind(cp)
        if near_head:
            for n in numbers[1:]:
                if headers[n]["parentHash"] != headers[n - 1]["hash"]:
                    raise ChainMovedError(f"blocks {n - 1} and {n} do not link")
        known = {n: h["hash"] for n, h in headers.items()}
        payloads, block_of = self._decode(res[-1], first, last, known)
        hashes = dict(cp.hashes)
        hashes.update(known)
        self._publish(payloads, block_of, hashes, last, known[last])
        elapsed = time.monotonic() - started
        self._adapt(len(payloads), elapsed)
        if payloads or last - first >= 1000:
            log.info(
                "indexed",
                extra={
                    "from_block": first,
                    "to_block": last,
                    "messages": len(payloads),
                    "ms": round(elapsed * 1000, 1),
                    "range": self.range,
                },
            )
        return Round(published=len(payloads), blocks=last - first + 1)

    def _decode(
        self, logs: list[JsonObject], first: int, last: int, known: dict[int, str]
    ) -> tuple[list[bytes], list[tuple[int, str]]]:
        """Messages in (block, log index) order, and the (number, hash) of each one's block."""
        rows: list[tuple[int, int, str, bytes]] = []
        in_order = True
        prev = (-1, -1)
        chain_id, contract, decoders = self.chain_id, self.contract, self.decoders
        for lg in logs:
            if lg.get("removed"):
                raise ChainMovedError("the node returned a removed log")
            bn = int(lg["blockNumber"], 16)
            bh = lg["blockHash"].lower()
            li = int(lg["logIndex"], 16)
            if not first <= bn <= last:
                raise RpcUnavailableError(
                    f"eth_getLogs returned block {bn} outside {first}..{last}"
                )
            seen = known.get(bn)
            if seen is None:
                known[bn] = bh
            elif seen != bh:
                raise ChainMovedError(f"logs of block {bn} come from another branch")
            if (bn, li) == prev:
                raise RpcUnavailableError(f"eth_getLogs returned log {bn}/{li} twice")
            if (bn, li) < prev:
                in_order = False
            prev = (bn, li)
            topics = lg["topics"]
            dec = decoders.get(topics[0]) if topics else None
            if dec is None:
                self._unknown_event(topics[0] if topics else "(anonymous)", bn, li)
                continue
            try:
                args = dec.decode(topics, lg["data"])
            except LogDecodeError as e:
                # Go block by block from now on, so every block before this one gets published.
                self.range = self.min_range
                raise LogDecodeError(
                    f"block {bn} log {li} (tx {lg['transactionHash']}): {e}; the indexer will not "
                    "skip it: check that contracts/build matches the deployed contract"
                ) from None
            rows.append(
                (
                    bn,
                    li,
                    bh,
                    canonical_json(
                        {
                            "schema": MESSAGE_SCHEMA,
                            "kind": dec.kind.value,
                            "chain_id": chain_id,
                            "contract": contract,
                            "block_number": bn,
                            "block_hash": bh,
                            "tx_hash": lg["transactionHash"].lower(),
                            "log_index": li,
                            "args": args,
                        }
                    ),
                )
            )
        if not in_order:
            rows.sort(key=lambda r: (r[0], r[1]))
            if len({(r[0], r[1]) for r in rows}) != len(rows):
                raise RpcUnavailableError("eth_getLogs returned a log twice")
        return [r[3] for r in rows], [(r[0], r[2]) for r in rows]

    def _unknown_event(self, topic0: str, bn: int, li: int) -> None:
        count = self._unknown.get(topic0, 0) + 1
        self._unknown[topic0] = count
        if count == 1 or count % 1000 == 0:
            log.warning(
                "skipping a log of an event the contract ABI does not know",
                extra={"topic0": topic0, "block": bn, "log_index": li, "seen": count},
            )

    def _publish(
        self,
        payloads: list[bytes],
        block_of: list[tuple[int, str]],
        hashes: dict[int, str],
        last: int,
        last_hash: str,
    ) -> None:
        start = 0
        while len(payloads) - start > MAX_TX_MESSAGES:
            # cut at a block boundary at or before MAX_TX_MESSAGES
            end = start + MAX_TX_MESSAGES
            cut_block = block_of[end][0]
            while end > start and block_of[end - 1][0] == cut_block:
                end -= 1
            if end == start:  # one block holds more than the limit: keep it whole
                end = start + MAX_TX_MESSAGES
                while end < len(payloads) and block_of[end][0] == cut_block:
                    end += 1
            tip, tip_hash = block_of[end - 1]
            self._commit(
                payloads[start:end],
                Checkpoint(
                    tip, tip_hash, self._trim({n: h for n, h in hashes.items() if n <= tip}, tip)
                ),
            )
            start = end
        self._commit(payloads[start:], Checkpoint(last, last_hash, self._trim(hashes, last)))

    def _adapt(self, logs: int, elapsed: float) -> None:
        if logs > TARGET_BATCH_LOGS and self.range > self.min_range:
            self.range = max(self.min_range, self.range // 2)
        elif logs < TARGET_BATCH_LOGS // 4 and elapsed < 1.0 and self.range < self.max_range:
            self.range = min(self.max_range, self.range * 2)

    def _rewind(self, cp: Checkpoint) -> Round:
        recorded = sorted(cp.hashes, reverse=True)
        blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n, _ in recorded])
        ancestor = next(
            (
                (n, h)
                for (n, h), b in zip(recorded, blocks, strict=True)
                if b is not None and b["hash"] == h
            ),
            None,
        )
        if ancestor is None:
            raise ReorgTooDeepError(
                f"none of the last {len(recorded)} recorded blocks (down to "
                f"{recorded[-1][0] if recorded else '?'}) is canonical any more: the reorg is "
                f"deeper than EDGEMARKET_REORG_DEPTH={self.reorg_depth}. Raise it and re-index "
                "into a fresh stream"
            )
        number, h = ancestor
        if number == cp.number:
            raise ChainMovedError("the checkpoint block is canonical again")
        orphaned = [oh for n, oh in recorded if n > number]
        message = canonical_json(
            {
                "schema": MESSAGE_SCHEMA,
                "kind": Kind.CHAIN_REORGED.value,
                "chain_id": self.chain_id,
                "contract": self.contract,
                "block_number": number,
                "block_hash": h,
                "tx_hash": None,
                "log_index": None,
                "args": {
                    "from_block": number + 1,
                    "to_block": cp.number,
                    "orphaned": orphaned[::-1],
                    "ancestor_number": number,
                    "ancestor_hash": h,
                },
            }
        )
        self._commit(
            [message], Checkpoint(number, h, [(n, x) for n, x in cp.hashes if n <= number])
        )
        log.warning(
            "chain reorganised: rewound to the common ancestor",
            extra={
                "from_block": number + 1,
                "to_block": cp.number,
                "orphaned_blocks": len(orphaned),
                "ancestor": number,
            },
        )
        return Round(published=1)

    # -- the loop -----------------------------------------------------------------------

    def run_forever(self, stop: threading.Event, poll_interval: float = 0.1) -> None:
        """Index until `stop` is set, on the service loop (`run_loop`); each kind of transient
        failure is logged and retried after its own backoff."""
        outage = Backoff(first=0.1, cap=10.0)  # the node or Redis lost
        bad_answer = Backoff(first=1.0, cap=60.0)  # an undecodable log, a reply of the wrong shape
        moved = Backoff(first=1.0, cap=MAX_WAIT)  # our checkpoint moved under us

        def one_round() -> float:
            try:
                r = self.step()
            except ChainMovedError as e:
                log.info("chain moved during a round, retrying", extra={"reason": str(e)})
                return poll_interval
            except CheckpointMovedError as e:
                log.error(str(e))
                return moved.failed()
            except (RpcError, RpcUnavailableError) as e:
                delay = outage.failed()
                log.warning("RPC failed, retrying", extra={"error": str(e), "retry_in_s": delay})
                return delay
            except (redis.ConnectionError, redis.TimeoutError) as e:
                self.forget_checkpoint()
                delay = outage.failed()
                log.warning(
                    "Redis unavailable, retrying", extra={"error": str(e), "retry_in_s": delay}
                )
                return delay
            except LogDecodeError as e:
                delay = bad_answer.failed()
                log.error("undecodable log, retrying", extra={"error": str(e), "retry_in_s": delay})
                return delay
            except IndexerError:
                raise
            except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
                # A reply of the wrong shape (a node bug, a proxy in the way): retry, loudly.
                delay = bad_answer.failed()
                log.error(
                    "unexpected RPC answer, retrying",
                    extra={"error": f"{type(e).__name__}: {e}", "retry_in_s": delay},
                )
                return delay
            for backoff in (outage, bad_answer, moved):
                backoff.reset()
            return poll_interval if r.idle else 0.0

        # The step maps every transient failure to its delay itself, so nothing is left to retry_on.
        run_loop("indexer", one_round, stop, interval=poll_interval, retry_on=(), log=log)


def build_indexer(settings: Settings, rpc: RpcClient, client: redis.Redis) -> Indexer:
    chain_id = settings.chain_id or int(rpc.call("eth_chainId"), 16)
    try:
        artifact = load_artifact()
        deployment = check_deployment(
            Deployment.load(settings.deployment_path(chain_id)), chain_id, artifact
        )
    except ChainError as e:
        raise IndexerError(str(e)) from None
    return Indexer(
        rpc=rpc,
        client=client,
        stream=settings.stream,
        chain_id=chain_id,
        contract=deployment.address.lower(),
        start_block=deployment.block_number,
        decoders=build_log_decoders(artifact.abi),
        confirmations=settings.confirmations,
        reorg_depth=settings.reorg_depth,
        finalized_only=settings.finalized_only,
        min_range=settings.index_min_range,
        max_range=settings.index_max_range,
    )


def run(settings: Settings, stop: threading.Event | None = None) -> None:
    """`edgemarket run indexer`: index until SIGTERM/SIGINT (or `stop`)."""
    configure_logging(settings.log_level)
    stop = stop_event(stop)
    rpc = RpcClient(settings.rpc_url, timeout=settings.rpc_timeout)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10, socket_connect_timeout=5)
    startup = Backoff(first=0.5, cap=10.0)
    while not stop.is_set():
        try:
            indexer = build_indexer(settings, rpc, client)
            break
        except (RpcError, RpcUnavailableError) as e:
            log.warning(
                "cannot ask the node its chain id, retrying",
                extra={"rpc": redact_url(settings.rpc_url), "error": str(e)},
            )
            wait(stop, startup.failed())
    else:
        return
    log.info(
        "indexer started",
        extra={
            "rpc": redact_url(settings.rpc_url),
            "redis": redact_url(settings.redis_url),
            "stream": settings.stream,
            "contract": indexer.contract,
            "chain_id": indexer.chain_id,
            "confirmations": settings.confirmations,
            "finalized_only": settings.finalized_only,
        },
    )
    try:
        indexer.run_forever(stop, settings.poll_interval)
    finally:
        rpc.close()
        client.close()
    log.info("indexer stopped")
