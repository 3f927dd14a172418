"""The deployed contract as a typed facade: one method per function, view and event query."""

from __future__ import annotations

import copy
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address
from hexbytes import HexBytes

from services.common.chain.abi import (
    Artifact,
    ErrorDecoder,
    abi_type,
    load_artifact,
    normalize,
    snake,
)
from services.common.chain.deployment import Deployment, check_deployment
from services.common.chain.errors import ChainError, DeploymentError, RpcError
from services.common.chain.events import E, Event, EventDecoder, LoggedEvent
from services.common.chain.protocol import agent_digest, commitment
from services.common.chain.transport import Signer, contract_error, send_transaction, signer_address

if TYPE_CHECKING:
    from web3 import Web3


class OnChainTaskState(enum.IntEnum):
    """A task's state as the contract stores it."""

    NONE = 0
    OPEN = 1
    FINALIZED = 2
    CANCELLED = 3


@dataclass(frozen=True)
class TaskInfo:
    """getTask(taskId): a task as the contract stores it."""

    creator: str
    commit_deadline: int
    min_score: int
    reveal_deadline: int
    eval_window: int
    quorum: int
    state: OnChainTaskState
    seed_sealed: bool
    has_best: bool
    best_score: int
    best_agent_size: int
    bounty: int
    commit_bond: int
    evaluator_fee: int
    spec_digest: bytes
    seed_block: int  # 0 until requestSeed
    salt_xor: bytes
    eval_seed: bytes  # zero until sealSeed
    solution_count: int
    revealed_count: int
    held_bonds: int
    best_solution_id: int  # meaningful only when has_best
    evaluators: tuple[str, ...]

    @property
    def eval_deadline(self) -> int:
        return self.reveal_deadline + self.eval_window


@dataclass(frozen=True)
class SolutionInfo:
    """getSolution(taskId, solutionId)."""

    solver: str
    claimed_score: int
    agent_size: int
    score: int  # the verified score, when verified
    revealed: bool
    verified: bool
    commitment: bytes
    agent_digest: bytes


@dataclass(frozen=True)
class TxResult:
    """A mined transaction that succeeded, with the contract events it emitted."""

    tx_hash: bytes
    block_number: int
    gas_used: int
    gas_price: int  # effective price per gas paid
    events: tuple[Event, ...]

    @property
    def fee(self) -> int:
        """What the sender paid for gas, in wei."""
        return self.gas_used * self.gas_price

    def event(self, cls: type[E]) -> E:
        """The single event of type `cls` this transaction emitted."""
        found = [e for e in self.events if isinstance(e, cls)]
        if len(found) != 1:
            raise ChainError(f"expected one {cls.__name__} event, got {len(found)}")
        return found[0]


class Marketplace:
    """The deployed contract: one typed method per function, view and event query."""

    def __init__(
        self,
        w3: Web3,
        address: str,
        signer: Signer | None = None,
        artifact: Artifact | None = None,
    ) -> None:
        self.w3 = w3
        self.address = to_checksum_address(address)
        self.signer = signer
        self.artifact = artifact or load_artifact()
        self._functions = self.artifact.functions()
        self.errors = ErrorDecoder(self.artifact.abi)
        self.events = EventDecoder(self.artifact.abi)
        self._chain_id: int | None = None

    @classmethod
    def from_deployment(
        cls,
        w3: Web3,
        deployment: Deployment,
        signer: Signer | None = None,
        artifact: Artifact | None = None,
    ) -> Marketplace:
        """Bind to a deployment after checking it is on this chain and built from this artifact."""
        artifact = artifact or load_artifact()
        chain_id = w3.eth.chain_id
        check_deployment(deployment, chain_id, artifact)
        if not w3.eth.get_code(to_checksum_address(deployment.address)):
            raise DeploymentError(f"no contract code at {deployment.address} on chain {chain_id}")
        return cls(w3, deployment.address, signer, artifact)

    def with_signer(self, signer: Signer) -> Marketplace:
        """The same binding (decoders shared, not rebuilt), signing as `signer`."""
        other = copy.copy(self)
        other.signer = signer
        return other

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    # -- plumbing

    def calldata(self, function: str, *args: Any) -> bytes:
        fn = self._functions[function]
        return fn.selector + abi_encode(list(fn.inputs), list(args))

    def _call(self, function: str, *args: Any) -> tuple[Any, ...]:
        return self.views([(function, args)])[0]

    def views(
        self, calls: Sequence[tuple[str, Sequence[Any]]], block: str = "latest"
    ) -> list[tuple[Any, ...]]:
        """Several view calls in one JSON-RPC batch, all against the same block tag."""
        requests = [
            (
                "eth_call",
                [{"to": self.address, "data": "0x" + self.calldata(name, *args).hex()}, block],
            )
            for name, args in calls
        ]
        responses: list[Any] | None = None
        if len(requests) > 1:
            try:
                batch = self.w3.provider.make_batch_request(requests)  # type: ignore[attr-defined]
            except Exception:  # nodes that refuse batches (Theta's adaptor may) get one call each
                batch = None
            if isinstance(batch, list) and len(batch) == len(requests):
                responses = batch
        if responses is None:
            responses = [self.w3.provider.make_request(*r) for r in requests]  # type: ignore[arg-type]
        out: list[tuple[Any, ...]] = []
        for (name, _), response in zip(calls, responses, strict=True):
            if "error" in response:
                raise self._call_error(response["error"])
            raw = bytes.fromhex(str(response["result"])[2:])
            out.append(tuple(abi_decode(list(self._functions[name].outputs), raw)))
        return out

    def _call_error(self, error: Mapping[str, Any]) -> Exception:
        return contract_error(RpcError("eth_call", error), self.errors)

    def _transact(self, function: str, *args: Any, value: int = 0) -> TxResult:
        if self.signer is None:
            raise ChainError("this Marketplace has no signer: use with_signer(account)")
        receipt = send_transaction(
            self.w3,
            self.signer,
            to=self.address,
            data=self.calldata(function, *args),
            value=value,
            errors=self.errors,
            chain_id=self.chain_id,
        )
        events: list[Event] = []
        for log in receipt["logs"]:
            if to_checksum_address(log["address"]) != self.address:
                continue
            event = self.events.decode([HexBytes(t) for t in log["topics"]], HexBytes(log["data"]))
            if event is not None:
                events.append(event)
        return TxResult(
            tx_hash=bytes(HexBytes(receipt["transactionHash"])),
            block_number=int(receipt["blockNumber"], 16),
            gas_used=int(receipt["gasUsed"], 16),
            gas_price=int(receipt.get("effectiveGasPrice") or "0x0", 16),
            events=tuple(events),
        )

    # -- transactions

    def create_task(
        self,
        *,
        spec_digest: bytes,
        commit_deadline: int,
        reveal_deadline: int,
        eval_window: int,
        evaluators: Sequence[str],
        quorum: int,
        min_score: int,
        commit_bond: int,
        evaluator_fee: int,
        bounty: int,
    ) -> TxResult:
        """Escrow `bounty` plus evaluator_fee per evaluator; the result's TaskCreated has the id."""
        value = bounty + evaluator_fee * len(evaluators)
        return self._transact(
            "createTask",
            spec_digest,
            commit_deadline,
            reveal_deadline,
            eval_window,
            [to_checksum_address(e) for e in evaluators],
            quorum,
            min_score,
            commit_bond,
            evaluator_fee,
            value=value,
        )

    def commit_solution(
        self, task_id: int, commitment: bytes, *, bond: int | None = None
    ) -> TxResult:
        """Commit with the task's bond (read from the chain unless given)."""
        if bond is None:
            bond = self.get_task(task_id).commit_bond
        return self._transact("commitSolution", task_id, commitment, value=bond)

    def reveal_solution(
        self, task_id: int, solution_id: int, agent: bytes, claimed_score: int, salt: bytes
    ) -> TxResult:
        return self._transact("revealSolution", task_id, solution_id, agent, claimed_score, salt)

    def request_seed(self, task_id: int) -> TxResult:
        return self._transact("requestSeed", task_id)

    def seal_seed(self, task_id: int) -> TxResult:
        return self._transact("sealSeed", task_id)

    def attest_score(self, task_id: int, solution_id: int, score: int) -> TxResult:
        return self._transact("attestScore", task_id, solution_id, score)

    def finalize(self, task_id: int) -> TxResult:
        return self._transact("finalize", task_id)

    def cancel_task(self, task_id: int) -> TxResult:
        return self._transact("cancelTask", task_id)

    def withdraw(self) -> TxResult:
        return self._transact("withdraw")

    # -- views

    def task_count(self) -> int:
        return int(self._call("taskCount")[0])

    def total_owed(self) -> int:
        """Open escrows + held bonds + unwithdrawn credits, as the contract accounts them."""
        return int(self._call("totalOwed")[0])

    def credits(self, account: str) -> int:
        return int(self._call("credits", to_checksum_address(account))[0])

    def get_task(self, task_id: int) -> TaskInfo:
        (raw,) = self._call("getTask", task_id)
        return _struct(TaskInfo, self._components("getTask"), raw)

    def get_solution(self, task_id: int, solution_id: int) -> SolutionInfo:
        (raw,) = self._call("getSolution", task_id, solution_id)
        return _struct(SolutionInfo, self._components("getSolution"), raw)

    def solution_count(self, task_id: int) -> int:
        return int(self._call("solutionCount", task_id)[0])

    def commit_count(self, task_id: int, solver: str) -> int:
        return int(self._call("commitCount", task_id, to_checksum_address(solver))[0])

    def attestation_count(self, task_id: int, evaluator: str) -> int:
        return int(self._call("attestationCount", task_id, to_checksum_address(evaluator))[0])

    def has_attested(self, task_id: int, solution_id: int, evaluator: str) -> bool:
        return bool(
            self._call("hasAttested", task_id, solution_id, to_checksum_address(evaluator))[0]
        )

    def attestation(self, task_id: int, solution_id: int, evaluator: str) -> int | None:
        """The score `evaluator` attested for the solution, or None if it has not."""
        attested, score = self._call(
            "attestation", task_id, solution_id, to_checksum_address(evaluator)
        )
        return int(score) if attested else None

    def escrow_of(self, task_id: int) -> int:
        """Ether held for an open task: bounty, evaluator fees and unrevealed bonds."""
        return int(self._call("escrowOf", task_id)[0])

    def commitment_for(
        self, task_id: int, agent: bytes, claimed_score: int, salt: bytes, solver: str | None = None
    ) -> bytes:
        """The commitment for this contract and chain; solver defaults to the signer."""
        if solver is None:
            if self.signer is None:
                raise ChainError("give solver= or bind a signer")
            solver = signer_address(self.signer)
        return commitment(
            chain_id=self.chain_id,
            contract=self.address,
            task_id=task_id,
            solver=solver,
            agent_digest=agent_digest(agent),
            claimed_score=claimed_score,
            salt=salt,
        )

    # -- events

    def get_events(self, from_block: int, to_block: int | str = "latest") -> list[LoggedEvent]:
        """The contract's events in [from_block, to_block], in (block, log index) order."""
        logs = self.w3.eth.get_logs(
            {"address": self.address, "fromBlock": from_block, "toBlock": cast(Any, to_block)}
        )
        out: list[LoggedEvent] = []
        for log in logs:
            decoded = self.events.decode_log(cast(Mapping[str, Any], log))
            if decoded is not None:
                out.append(decoded)
        return out

    def _components(self, function: str) -> list[Mapping[str, Any]]:
        for item in self.artifact.abi:
            if item.get("type") == "function" and item["name"] == function:
                return list(item["outputs"][0]["components"])
        raise ChainError(f"{function} is not in the ABI")


T = TypeVar("T", TaskInfo, SolutionInfo)


def _struct(cls: type[T], components: Sequence[Mapping[str, Any]], raw: Sequence[Any]) -> T:
    values = {
        snake(c["name"]): normalize(abi_type(c), v) for c, v in zip(components, raw, strict=True)
    }
    if "state" in values:
        values["state"] = OnChainTaskState(values["state"])
    return cls(**values)
