"""The messages on the event stream: kinds, per-kind arguments (schema 1), canonical JSON."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.common.json_input import JsonObject

MESSAGE_SCHEMA = 1


class Kind(StrEnum):
    """What happened; one kind per contract event, plus chain.reorged from the indexer."""

    TASK_CREATED = "task.created"
    SOLUTION_COMMITTED = "solution.committed"
    SOLUTION_REVEALED = "solution.revealed"
    SEED_REQUESTED = "seed.requested"
    SEED_SET = "seed.set"
    SCORE_ATTESTED = "score.attested"
    SOLUTION_VERIFIED = "solution.verified"
    TASK_FINALIZED = "task.finalized"
    TASK_CANCELLED = "task.cancelled"
    CREDIT_WITHDRAWN = "credit.withdrawn"
    CHAIN_REORGED = "chain.reorged"


# The contract event each kind comes from (docs/interfaces.md fixes the signatures).
EVENT_KINDS: dict[str, Kind] = {
    "TaskCreated": Kind.TASK_CREATED,
    "SolutionCommitted": Kind.SOLUTION_COMMITTED,
    "SolutionRevealed": Kind.SOLUTION_REVEALED,
    "SeedRequested": Kind.SEED_REQUESTED,
    "EvaluationSeedSet": Kind.SEED_SET,
    "ScoreAttested": Kind.SCORE_ATTESTED,
    "SolutionVerified": Kind.SOLUTION_VERIFIED,
    "TaskFinalized": Kind.TASK_FINALIZED,
    "TaskCancelled": Kind.TASK_CANCELLED,
    "Withdrawn": Kind.CREDIT_WITHDRAWN,
}

Address = Annotated[str, Field(pattern=r"^0x[0-9a-f]{40}$")]
Bytes32 = Annotated[str, Field(pattern=r"^0x[0-9a-f]{64}$")]
HexBytes = Annotated[str, Field(pattern=r"^0x(?:[0-9a-f]{2})*$")]
# On the wire a uint256 is a decimal string; the typed view gives a Python int.
Uint256 = Annotated[int, Field(ge=0, lt=2**256)]
Uint64 = Annotated[int, Field(ge=0, lt=2**64)]
Uint32 = Annotated[int, Field(ge=0, lt=2**32)]
Uint8 = Annotated[int, Field(ge=0, lt=2**8)]


class MessageError(ValueError):
    """A stream entry is not a valid message; the message says what is wrong."""


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TaskCreatedArgs(_Args):
    task_id: Uint256
    creator: Address
    spec_digest: Bytes32
    bounty: Uint256
    commit_deadline: Uint64
    reveal_deadline: Uint64
    eval_window: Uint64
    evaluators: list[Address]
    quorum: Uint8
    min_score: Uint32
    commit_bond: Uint256
    evaluator_fee: Uint256


class SolutionCommittedArgs(_Args):
    task_id: Uint256
    solution_id: Uint256
    solver: Address
    commitment: Bytes32


class SolutionRevealedArgs(_Args):
    task_id: Uint256
    solution_id: Uint256
    solver: Address
    agent_digest: Bytes32
    claimed_score: Uint32
    agent: HexBytes

    def agent_bytes(self) -> bytes:
        return bytes.fromhex(self.agent[2:])


class SeedRequestedArgs(_Args):
    task_id: Uint256
    seed_block: Uint256


class SeedSetArgs(_Args):
    task_id: Uint256
    eval_seed: Bytes32


class ScoreAttestedArgs(_Args):
    task_id: Uint256
    solution_id: Uint256
    evaluator: Address
    score: Uint32


class SolutionVerifiedArgs(_Args):
    task_id: Uint256
    solution_id: Uint256
    score: Uint32
    best: bool


class TaskFinalizedArgs(_Args):
    task_id: Uint256
    winner: Address
    solution_id: Uint256
    score: Uint32
    payout: Uint256


class TaskCancelledArgs(_Args):
    task_id: Uint256
    refund: Uint256


class CreditWithdrawnArgs(_Args):
    account: Address
    amount: Uint256


class ChainReorgedArgs(_Args):
    """Blocks from_block..to_block (as the indexer had them) are no longer canonical.

    `orphaned` lists the hashes of every orphaned block that carried messages; undo what was
    derived from messages with those block hashes. The chain continues from the ancestor.
    """

    from_block: Uint64
    to_block: Uint64
    orphaned: list[Bytes32]
    ancestor_number: Uint64
    ancestor_hash: Bytes32


ARGS_MODELS: dict[Kind, type[_Args]] = {
    Kind.TASK_CREATED: TaskCreatedArgs,
    Kind.SOLUTION_COMMITTED: SolutionCommittedArgs,
    Kind.SOLUTION_REVEALED: SolutionRevealedArgs,
    Kind.SEED_REQUESTED: SeedRequestedArgs,
    Kind.SEED_SET: SeedSetArgs,
    Kind.SCORE_ATTESTED: ScoreAttestedArgs,
    Kind.SOLUTION_VERIFIED: SolutionVerifiedArgs,
    Kind.TASK_FINALIZED: TaskFinalizedArgs,
    Kind.TASK_CANCELLED: TaskCancelledArgs,
    Kind.CREDIT_WITHDRAWN: CreditWithdrawnArgs,
    Kind.CHAIN_REORGED: ChainReorgedArgs,
}


class Message(BaseModel):
    """One stream entry. Identity: (block_hash, log_index); chain.reorged has log_index None."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    schema_: Annotated[int, Field(alias="schema")] = MESSAGE_SCHEMA
    kind: Kind
    chain_id: Annotated[int, Field(ge=1)]
    contract: Address
    block_number: Annotated[int, Field(ge=0)]
    block_hash: Bytes32
    tx_hash: Bytes32 | None = None
    log_index: Annotated[int, Field(ge=0)] | None = None
    args: JsonObject

    @property
    def identity(self) -> tuple[str, int | None]:
        """What makes this message unique: the block hash and log index of its event."""
        return (self.block_hash, self.log_index)

    def typed_args(self) -> Any:
        """The arguments as the kind's pydantic model (uint256 as int); MessageError if bad."""
        try:
            return ARGS_MODELS[self.kind].model_validate(self.args)
        except ValidationError as e:
            raise MessageError(
                f"{self.kind} message has bad args: {e.errors()[0]['msg']}"
            ) from None

    def to_json(self) -> bytes:
        """Canonical JSON bytes of this message."""
        return canonical_json(self.model_dump(by_alias=True, mode="json"))


def canonical_json(obj: Any) -> bytes:  # Any: any JSON value
    """Sorted keys, no whitespace, UTF-8: equal values give equal bytes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode_message(data: bytes | str) -> Message:
    """Parse a stream entry's `data` field; MessageError says what is wrong."""
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise MessageError(f"message is not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise MessageError("message is not a JSON object")
    if doc.get("schema") != MESSAGE_SCHEMA:
        raise MessageError(
            f"message schema {doc.get('schema')!r} is not {MESSAGE_SCHEMA}; upgrade this service"
        )
    try:
        return Message.model_validate(doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise MessageError(f"message field `{where}`: {first['msg']}") from None
