"""The contract's events as typed dataclasses, and the eth-abi decoder of its logs."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from eth_abi.abi import decode as abi_decode
from eth_utils.crypto import keccak
from hexbytes import HexBytes

from services.common.chain.abi import abi_type, normalize, signature, snake
from services.common.chain.errors import ChainError


@dataclass(frozen=True)
class TaskCreated:
    name: ClassVar[str] = "TaskCreated"
    task_id: int
    creator: str
    spec_digest: bytes
    bounty: int
    commit_deadline: int
    reveal_deadline: int
    eval_window: int
    evaluators: tuple[str, ...]
    quorum: int
    min_score: int
    commit_bond: int
    evaluator_fee: int


@dataclass(frozen=True)
class SolutionCommitted:
    name: ClassVar[str] = "SolutionCommitted"
    task_id: int
    solution_id: int
    solver: str
    commitment: bytes


@dataclass(frozen=True)
class SolutionRevealed:
    name: ClassVar[str] = "SolutionRevealed"
    task_id: int
    solution_id: int
    solver: str
    agent_digest: bytes
    claimed_score: int
    agent: bytes


@dataclass(frozen=True)
class SeedRequested:
    name: ClassVar[str] = "SeedRequested"
    task_id: int
    seed_block: int


@dataclass(frozen=True)
class EvaluationSeedSet:
    name: ClassVar[str] = "EvaluationSeedSet"
    task_id: int
    eval_seed: bytes


@dataclass(frozen=True)
class ScoreAttested:
    name: ClassVar[str] = "ScoreAttested"
    task_id: int
    solution_id: int
    evaluator: str
    score: int


@dataclass(frozen=True)
class SolutionVerified:
    name: ClassVar[str] = "SolutionVerified"
    task_id: int
    solution_id: int
    score: int
    best: bool


@dataclass(frozen=True)
class TaskFinalized:
    name: ClassVar[str] = "TaskFinalized"
    task_id: int
    winner: str  # the zero address when nobody won
    solution_id: int  # NO_SOLUTION when nobody won
    score: int
    payout: int  # the bounty: credited to the winner, or refunded to the creator


@dataclass(frozen=True)
class TaskCancelled:
    name: ClassVar[str] = "TaskCancelled"
    task_id: int
    refund: int


@dataclass(frozen=True)
class Withdrawn:
    name: ClassVar[str] = "Withdrawn"
    account: str
    amount: int


Event = (
    TaskCreated
    | SolutionCommitted
    | SolutionRevealed
    | SeedRequested
    | EvaluationSeedSet
    | ScoreAttested
    | SolutionVerified
    | TaskFinalized
    | TaskCancelled
    | Withdrawn
)
EVENT_CLASSES: tuple[type[Event], ...] = (
    TaskCreated,
    SolutionCommitted,
    SolutionRevealed,
    SeedRequested,
    EvaluationSeedSet,
    ScoreAttested,
    SolutionVerified,
    TaskFinalized,
    TaskCancelled,
    Withdrawn,
)
E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class LoggedEvent:
    """An event with where it sits on the chain."""

    event: Event
    block_number: int
    block_hash: bytes
    tx_hash: bytes
    log_index: int


@dataclass(frozen=True)
class _EventSpec:
    cls: type[Event]
    indexed: tuple[tuple[str, str], ...]  # (field, type)
    data: tuple[tuple[str, str], ...]


class EventDecoder:
    """Decodes the contract's logs into the event dataclasses above."""

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        classes = {cls.name: cls for cls in EVENT_CLASSES}
        self.topics: dict[str, bytes] = {}
        self._specs: dict[bytes, _EventSpec] = {}
        for item in abi:
            if item.get("type") != "event":
                continue
            cls = classes[item["name"]]
            topic = keccak(text=signature(item))
            self.topics[item["name"]] = topic
            fields = {f.name for f in dataclasses.fields(cls)}
            params = [(snake(p["name"]), abi_type(p), bool(p["indexed"])) for p in item["inputs"]]
            if {p[0] for p in params} != fields:
                raise ChainError(f"event {item['name']} in the ABI does not match {cls.__name__}")
            self._specs[topic] = _EventSpec(
                cls=cls,
                indexed=tuple((n, t) for n, t, ix in params if ix),
                data=tuple((n, t) for n, t, ix in params if not ix),
            )

    def decode(self, topics: Sequence[bytes], data: bytes) -> Event | None:
        """The event in one log, or None if the log is not one of the contract's events."""
        if not topics:
            return None
        spec = self._specs.get(bytes(topics[0]))
        if spec is None:
            return None
        values: dict[str, Any] = {}
        for (name, typ), topic in zip(spec.indexed, topics[1:], strict=True):
            (values[name],) = abi_decode([typ], bytes(topic))
            values[name] = normalize(typ, values[name])
        decoded = abi_decode([t for _, t in spec.data], bytes(data))
        for (name, typ), value in zip(spec.data, decoded, strict=True):
            values[name] = normalize(typ, value)
        return spec.cls(**values)

    def decode_log(self, log: Mapping[str, Any]) -> LoggedEvent | None:
        event = self.decode([HexBytes(t) for t in log["topics"]], HexBytes(log["data"]))
        if event is None:
            return None
        return LoggedEvent(
            event=event,
            block_number=int(log["blockNumber"]),
            block_hash=bytes(HexBytes(log["blockHash"])),
            tx_hash=bytes(HexBytes(log["transactionHash"])),
            log_index=int(log["logIndex"]),
        )
