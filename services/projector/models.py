"""The read model: what the projector derives from the event stream, what the API reads.

Every row can be rebuilt from the chain: `ChainEvent` keeps each applied message, keyed by
its identity (block_hash, log_index), and the entity rows (`Task`, `Solution`, `Attestation`,
`Credit`, `Withdrawal`) are a pure function of those events. Amounts in wei and other uint256
values are stored as decimal strings (exact on SQLite and PostgreSQL alike); ids, deadlines
(unix seconds), scores (0..1_000_000) and block numbers are integers.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel


class TaskPhase(StrEnum):
    OPEN = "open"
    FINALIZED = "finalized"
    CANCELLED = "cancelled"


class SolutionStatus(StrEnum):
    COMMITTED = "committed"
    REVEALED = "revealed"
    VERIFIED = "verified"


def _big(primary_key: bool = False, index: bool = False, nullable: bool = False) -> Column[int]:
    return Column(
        BigInteger, primary_key=primary_key, index=index, nullable=nullable, autoincrement=False
    )


class ChainEvent(SQLModel, table=True):
    """One applied stream message (not chain.reorged), the source every other row comes from."""

    __tablename__ = "chain_event"

    block_hash: str = Field(primary_key=True, max_length=66)
    log_index: int = Field(primary_key=True)
    block_number: int = Field(sa_column=_big(index=True))
    tx_hash: str = Field(max_length=66)
    kind: str = Field(index=True, max_length=32)
    task_id: int | None = Field(default=None, sa_column=_big(index=True, nullable=True))
    args: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON
    stream_id: str = Field(max_length=40)


class _Origin(SQLModel):
    """The event that created the row (what a reorg undoes)."""

    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(max_length=66)
    log_index: int
    tx_hash: str = Field(max_length=66)


class TaskBase(SQLModel):
    task_id: int = Field(sa_type=BigInteger, primary_key=True)
    creator: str = Field(index=True, max_length=42)
    spec_digest: str = Field(max_length=66)
    spec_cid: str = Field(max_length=64)
    bounty: str = Field(max_length=78)
    commit_deadline: int = Field(sa_type=BigInteger)
    reveal_deadline: int = Field(sa_type=BigInteger)
    eval_window: int = Field(sa_type=BigInteger)
    evaluators: list[str] = Field(sa_type=JSON)
    quorum: int
    min_score: int
    commit_bond: str = Field(max_length=78)
    evaluator_fee: str = Field(max_length=78)
    state: str = Field(default=TaskPhase.OPEN.value, index=True, max_length=16)  # TaskPhase
    seed_block: int | None = Field(default=None, sa_type=BigInteger)
    eval_seed: str | None = Field(default=None, max_length=66)
    solution_count: int = 0
    revealed_count: int = 0
    verified_count: int = 0
    best_solution_id: int | None = Field(default=None, sa_type=BigInteger)
    best_score: int | None = None
    winner: str | None = Field(default=None, max_length=42)  # set at finalize; None: no winner
    payout: str | None = Field(default=None, max_length=78)  # bounty paid, or refund if no winner
    refund: str | None = Field(default=None, max_length=78)  # at cancel
    created_block: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class Task(TaskBase, table=True):
    """A task as the chain has it now."""

    block_hash: str = Field(max_length=66)
    log_index: int
    tx_hash: str = Field(max_length=66)


class SolutionBase(SQLModel):
    task_id: int = Field(sa_type=BigInteger, primary_key=True)
    solution_id: int = Field(sa_type=BigInteger, primary_key=True)
    solver: str = Field(index=True, max_length=42)
    commitment: str = Field(max_length=66)
    status: str = Field(default=SolutionStatus.COMMITTED.value, max_length=16)  # SolutionStatus
    claimed_score: int | None = None
    agent_digest: str | None = Field(default=None, index=True, max_length=66)
    agent_cid: str | None = Field(default=None, max_length=64)
    agent_size: int | None = None
    verified_score: int | None = None
    best: bool = False  # the contract's best verified solution when it was verified
    attestation_count: int = 0
    committed_block: int = Field(sa_type=BigInteger)
    revealed_block: int | None = Field(default=None, sa_type=BigInteger)
    verified_block: int | None = Field(default=None, sa_type=BigInteger)


class Solution(SolutionBase, table=True):
    """A committed solution; revealed ones carry the agent's canonical bytes (≤ 24,576)."""

    agent: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    block_hash: str = Field(max_length=66)
    log_index: int
    tx_hash: str = Field(max_length=66)


class Attestation(_Origin, table=True):
    """One evaluator's score for one solution."""

    task_id: int = Field(sa_type=BigInteger, primary_key=True)
    solution_id: int = Field(sa_type=BigInteger, primary_key=True)
    evaluator: str = Field(primary_key=True, max_length=42)
    score: int


class Credit(_Origin, table=True):
    """Ether the contract credited at finalize (the bounty to the winner, or the refund to the
    creator) or at cancel, as the events tell it. Evaluator fees and forfeited bonds are
    credited too but carry no event of their own: ask the contract (`credits(account)`)."""

    block_hash: str = Field(primary_key=True, max_length=66)
    log_index: int = Field(primary_key=True)
    task_id: int = Field(sa_type=BigInteger, index=True)
    account: str = Field(index=True, max_length=42)
    amount: str = Field(max_length=78)
    reason: str = Field(max_length=16)  # bounty | refund | cancel


class Withdrawal(_Origin, table=True):
    """A `withdraw()` that paid an account its credits."""

    block_hash: str = Field(primary_key=True, max_length=66)
    log_index: int = Field(primary_key=True)
    account: str = Field(index=True, max_length=42)
    amount: str = Field(max_length=78)


class Checkpoint(SQLModel, table=True):
    """How far a projector got: the last stream entry applied and the block it came from."""

    name: str = Field(primary_key=True, max_length=64)
    stream: str = Field(max_length=200)
    stream_id: str = Field(max_length=40)
    block_number: int = Field(sa_type=BigInteger)
    block_hash: str = Field(max_length=66)
