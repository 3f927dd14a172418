"""Typed bindings for the EdgeMarketplace contract: artifact, deployment, calls, events, errors."""

from __future__ import annotations

import copy
import dataclasses
import enum
import hashlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar, cast

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError

from services.common.keys import check_chain

ROOT = Path(__file__).resolve().parents[2]
ARTIFACT_PATH = ROOT / "contracts" / "build" / "EdgeMarketplace.json"
DEPLOYMENTS_DIR = Path("deployments")

MAX_SCORE = 1_000_000
MAX_AGENT_BYTES = 24_576
MAX_EVALUATORS = 5
MAX_COMMITS_PER_SOLVER = 16
MIN_EVAL_WINDOW = 60
MAX_ATTEST_BATCH = 64  # most attestations one attestScores call takes
# Gas headroom per attestation: another evaluator's attestation mined between our estimate and
# ours can make ours the one that verifies and settles the bond (up to five forfeit shares).
SETTLE_GAS_HEADROOM = 160_000
NO_SOLUTION = 2**256 - 1  # TaskFinalized.solutionId when nobody won
ANVIL_CHAIN_ID = 31337

# A node-managed (unlocked) account is named by its address; anything else signs locally.
Signer = LocalAccount | str


# ---------------------------------------------------------------------------- errors


class ChainError(Exception):
    """Something about the chain or the deployment is wrong (not a contract revert)."""


class DeploymentError(ChainError):
    """The deployment file is missing, malformed, or does not match the chain or artifact."""


class ContractError(Exception):
    """A contract call reverted. Subclasses are named after the contract's custom errors."""

    help: ClassVar[str] = ""

    def __init__(self, name: str, fields: Mapping[str, Any] | None = None) -> None:
        self.name = name
        self.fields: dict[str, Any] = dict(fields or {})
        shown = ", ".join(f"{k}={_show(v)}" for k, v in self.fields.items())
        text = f"{name}({shown})"
        if self.help:
            text += f": {self.help}"
        super().__init__(text)


def _show(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


class Panic(ContractError):
    help = "the contract panicked (arithmetic overflow or similar)"


class UnknownTask(ContractError):
    help = "no task has this id"


class UnknownSolution(ContractError):
    help = "the task has no solution with this id"


class TaskNotOpen(ContractError):
    help = "the task is already finalized or cancelled"


class ZeroBounty(ContractError):
    help = "send more than evaluatorFee x evaluators: the rest is the bounty"


class InsufficientValue(ContractError):
    help = "msg.value must cover evaluatorFee x evaluators plus a non-zero bounty"


class BadDeadlines(ContractError):
    help = "need now < commitDeadline < revealDeadline"


class EvalWindowTooShort(ContractError):
    help = f"the evaluation window must be at least {MIN_EVAL_WINDOW} s"


class BadEvaluatorCount(ContractError):
    help = f"name 1..{MAX_EVALUATORS} evaluators"


class ZeroEvaluator(ContractError):
    help = "an evaluator address is zero"


class DuplicateEvaluator(ContractError):
    help = "evaluators must be distinct"


class CreatorIsEvaluator(ContractError):
    help = "the creator cannot evaluate its own task"


class QuorumNotMajority(ContractError):
    help = "the quorum must be a strict majority of the evaluators (2 x quorum > evaluators)"


class ScoreOutOfRange(ContractError):
    help = f"scores are integers in [0, {MAX_SCORE}]"


class CommitPhaseOver(ContractError):
    help = "commits closed at the task's commit deadline"


class WrongBond(ContractError):
    help = "send exactly the task's commit bond with a commit"


class TooManyCommits(ContractError):
    help = f"at most {MAX_COMMITS_PER_SOLVER} commits per solver per task"


class NotRevealPhase(ContractError):
    help = "reveals are accepted from the commit deadline until the reveal deadline"


class NotSolver(ContractError):
    help = "only the solver who committed a solution can reveal it"


class AlreadyRevealed(ContractError):
    help = "this solution is already revealed"


class AgentTooLarge(ContractError):
    help = f"an agent is at most {MAX_AGENT_BYTES} bytes"


class CommitmentMismatch(ContractError):
    help = "agent, claimed score, salt or solver do not match the commitment"


class RevealNotOver(ContractError):
    help = "the seed can be requested only after the reveal deadline"


class SeedAlreadyRequested(ContractError):
    help = "a seed block is recorded and its hash has not aged out yet: call sealSeed"


class SeedNotRequested(ContractError):
    help = "call requestSeed first"


class SeedBlockNotMined(ContractError):
    help = "the seed block is not mined yet: wait one block"


class SeedBlockExpired(ContractError):
    help = "the seed block's hash aged out (> 256 blocks): call requestSeed again"


class SeedAlreadySealed(ContractError):
    help = "the evaluation seed is sealed once and never changes"


class SeedNotSealed(ContractError):
    help = "attestations open once the evaluation seed is sealed"


class EvaluationClosed(ContractError):
    help = "the evaluation window is over"


class NotEvaluator(ContractError):
    help = "only the task's named evaluators can attest"


class NotRevealed(ContractError):
    help = "only revealed solutions can be attested"


class AlreadyAttested(ContractError):
    help = "an evaluator attests each solution once"


class TooEarlyToFinalize(ContractError):
    help = "finalize opens at revealDeadline + evalWindow"


class NotCreator(ContractError):
    help = "only the task's creator can cancel it"


class HasCommits(ContractError):
    help = "a task cannot be cancelled once someone has committed"


class NothingToWithdraw(ContractError):
    help = "this account has no credits"


class TransferFailed(ContractError):
    help = "the recipient refused the ether"


class BadBatchSize(ContractError):
    help = f"attestScores takes 1 to {MAX_ATTEST_BATCH} attestations"


class BatchLengthMismatch(ContractError):
    help = "attestScores needs one score per solution id"


class TaskNotFinalized(ContractError):
    help = "bonds of never-verified solutions are reclaimable once the task is finalized"


class NoBondsHeld(ContractError):
    help = "the task holds no bond of a revealed, never-verified solution of this solver"


_ERROR_CLASSES: dict[str, type[ContractError]] = {
    cls.__name__: cls for cls in ContractError.__subclasses__() if cls is not Panic
}


# ---------------------------------------------------------------------------- ABI plumbing


def _abi_type(param: Mapping[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ[len('tuple') :]}"
    return typ


def _signature(item: Mapping[str, Any]) -> str:
    return f"{item['name']}({','.join(_abi_type(p) for p in item['inputs'])})"


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """The Python name of an ABI name: `commitDeadline` -> `commit_deadline`."""
    return _CAMEL.sub(r"_\1", name).lower()


def _normalize(typ: str, value: Any) -> Any:
    if typ == "address":
        return to_checksum_address(value)
    if typ.endswith("[]"):
        return tuple(_normalize(typ[:-2], v) for v in value)
    return value


@dataclass(frozen=True)
class _Function:
    name: str
    selector: bytes
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    payable: bool


@dataclass(frozen=True)
class Artifact:
    """The committed compiler output: ABI, bytecode and how they were built."""

    abi: tuple[Mapping[str, Any], ...]
    bytecode: bytes
    deployed_bytecode: bytes
    compiler: str
    settings: Mapping[str, Any]
    source_hashes: Mapping[str, str]
    hash: str  # "0x" + sha256 of the artifact file's bytes

    def functions(self) -> dict[str, _Function]:
        out: dict[str, _Function] = {}
        for item in self.abi:
            if item.get("type") != "function":
                continue
            out[item["name"]] = _Function(
                name=item["name"],
                selector=keccak(text=_signature(item))[:4],
                inputs=tuple(_abi_type(p) for p in item["inputs"]),
                outputs=tuple(_abi_type(p) for p in item["outputs"]),
                payable=item.get("stateMutability") == "payable",
            )
        return out


def load_artifact(path: Path | str = ARTIFACT_PATH) -> Artifact:
    """Read a compiled artifact written by contracts/compile.py."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ChainError(f"contract artifact {path} is missing: run `make contracts`") from None
    data = json.loads(raw)
    return Artifact(
        abi=tuple(data["abi"]),
        bytecode=bytes.fromhex(data["bytecode"][2:]),
        deployed_bytecode=bytes.fromhex(data["deployedBytecode"][2:]),
        compiler=data["compiler"],
        settings=data["settings"],
        source_hashes=data["sourceHashes"],
        hash="0x" + hashlib.sha256(raw).hexdigest(),
    )


def revert_bytes(data: Any) -> bytes | None:
    """The revert data in a JSON-RPC error's `data` (a hex string, or nested one level)."""
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return bytes.fromhex(data[2:])
    return None


class ErrorDecoder:
    """Maps revert data (selector + ABI-encoded arguments) to a ContractError subclass."""

    PANIC_SELECTOR = keccak(text="Panic(uint256)")[:4]

    def __init__(self, abi: Sequence[Mapping[str, Any]]) -> None:
        self._errors: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
        for item in abi:
            if item.get("type") == "error":
                self._errors[keccak(text=_signature(item))[:4]] = (
                    item["name"],
                    tuple(snake(p["name"]) for p in item["inputs"]),
                    tuple(_abi_type(p) for p in item["inputs"]),
                )

    def decode(self, data: bytes) -> ContractError:
        selector, body = data[:4], data[4:]
        if selector == self.PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], body)
            return Panic("Panic", {"code": code})
        known = self._errors.get(selector)
        if known is None:
            return ContractError("revert", {"data": data})
        name, names, types = known
        values = abi_decode(list(types), body)
        fields = {n: _normalize(t, v) for n, t, v in zip(names, types, values, strict=True)}
        return _ERROR_CLASSES.get(name, ContractError)(name, fields)

    def from_web3(self, exc: ContractLogicError) -> ContractError:
        """The ContractError inside a web3.py revert exception (for calls made through web3)."""
        data = revert_bytes(exc.data)
        if data is not None:
            return self.decode(data)
        return ContractError("revert", {"message": exc.message or str(exc)})


# ---------------------------------------------------------------------------- events


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


@dataclass(frozen=True)
class FeeCredited:
    name: ClassVar[str] = "FeeCredited"
    task_id: int
    evaluator: str
    amount: int


@dataclass(frozen=True)
class BondForfeited:
    name: ClassVar[str] = "BondForfeited"
    task_id: int
    solution_id: int
    solver: str
    amount: int  # the whole bond; ForfeitShareCredited events say who got it


@dataclass(frozen=True)
class ForfeitShareCredited:
    name: ClassVar[str] = "ForfeitShareCredited"
    task_id: int
    solution_id: int
    evaluator: str
    amount: int


@dataclass(frozen=True)
class BondReturned:
    name: ClassVar[str] = "BondReturned"
    task_id: int
    solver: str
    amount: int


@dataclass(frozen=True)
class RefundCredited:
    name: ClassVar[str] = "RefundCredited"
    task_id: int
    creator: str
    amount: int  # unrevealed bonds + unearned fees (+ the bounty when nobody won)


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
    | FeeCredited
    | BondForfeited
    | ForfeitShareCredited
    | BondReturned
    | RefundCredited
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
    FeeCredited,
    BondForfeited,
    ForfeitShareCredited,
    BondReturned,
    RefundCredited,
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
            topic = keccak(text=_signature(item))
            self.topics[item["name"]] = topic
            fields = {f.name for f in dataclasses.fields(cls)}
            params = [(snake(p["name"]), _abi_type(p), bool(p["indexed"])) for p in item["inputs"]]
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
            values[name] = _normalize(typ, values[name])
        decoded = abi_decode([t for _, t in spec.data], bytes(data))
        for (name, typ), value in zip(spec.data, decoded, strict=True):
            values[name] = _normalize(typ, value)
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


# ---------------------------------------------------------------------------- views


class TaskState(enum.IntEnum):
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
    state: TaskState
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


# ---------------------------------------------------------------------------- maths


def agent_digest(agent: bytes) -> bytes:
    """sha256 of the agent's canonical bytes, as the contract computes it on reveal."""
    return hashlib.sha256(agent).digest()


def commitment(
    *,
    chain_id: int,
    contract: str,
    task_id: int,
    solver: str,
    agent_digest: bytes,
    claimed_score: int,
    salt: bytes,
) -> bytes:
    """keccak256(abi.encode(chainid, contract, taskId, solver, agentDigest, uint32 claimedScore, salt))."""
    if len(agent_digest) != 32 or len(salt) != 32:
        raise ValueError("agent_digest and salt must be 32 bytes each")
    if not 0 <= claimed_score <= MAX_SCORE:
        raise ValueError(f"claimed_score must be in [0, {MAX_SCORE}], got {claimed_score}")
    encoded = abi_encode(
        ["uint256", "address", "uint256", "address", "bytes32", "uint32", "bytes32"],
        [
            chain_id,
            to_checksum_address(contract),
            task_id,
            to_checksum_address(solver),
            agent_digest,
            claimed_score,
            salt,
        ],
    )
    return keccak(encoded)


def xor_salts(salts: Sequence[bytes]) -> bytes:
    acc = 0
    for s in salts:
        acc ^= int.from_bytes(s, "big")
    return acc.to_bytes(32, "big")


def evaluation_seed(seed_block_hash: bytes, task_id: int, salt_xor: bytes) -> bytes:
    """keccak256(abi.encode(blockhash(seedBlock), taskId, XOR of revealed salts)): what sealSeed stores."""
    return keccak(
        abi_encode(["bytes32", "uint256", "bytes32"], [seed_block_hash, task_id, salt_xor])
    )


# ---------------------------------------------------------------------------- transactions


def _signer_address(signer: Signer) -> str:
    return to_checksum_address(signer if isinstance(signer, str) else signer.address)


class RpcError(ChainError):
    """The node answered a JSON-RPC call with an error."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.code = error.get("code")
        self.data = error.get("data")
        self.rpc_message = str(error.get("message", ""))
        super().__init__(f"{method} failed: {self.rpc_message}")

    def revert_data(self) -> bytes | None:
        return revert_bytes(self.data)


def _rpc(w3: Web3, method: str, params: list[Any]) -> Any:
    # Straight to the provider: web3's middleware costs more than anvil's answer, and asks
    # eth_chainId again for every transaction it validates.
    response = w3.provider.make_request(cast(Any, method), params)
    if "error" in response:
        raise RpcError(method, cast(Mapping[str, Any], response["error"]))
    return response.get("result")


def _contract_error(err: RpcError, errors: ErrorDecoder) -> Exception:
    data = err.revert_data()
    if data is not None:
        return errors.decode(data)
    if "revert" in err.rpc_message.lower():
        return ContractError("revert", {"message": err.rpc_message})
    return err


def _estimate(w3: Web3, tx: dict[str, Any], errors: ErrorDecoder) -> int:
    # Against "pending", so block.number is the one the transaction will see (sealSeed needs
    # the seed block mined); a node that refuses the tag is asked for its default.
    try:
        return int(_rpc(w3, "eth_estimateGas", [tx, "pending"]), 16)
    except RpcError as err:
        decoded = _contract_error(err, errors)
        if decoded is not err:
            raise decoded from None
    try:
        return int(_rpc(w3, "eth_estimateGas", [tx]), 16)
    except RpcError as err:
        raise _contract_error(err, errors) from None


def _wait_for_receipt(w3: Web3, tx_hash: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        receipt = _rpc(w3, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return cast(dict[str, Any], receipt)
        if time.monotonic() > deadline:
            raise ChainError(f"transaction {tx_hash} was not mined within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def _send(
    w3: Web3,
    signer: Signer,
    *,
    to: str | None,
    data: bytes,
    value: int,
    errors: ErrorDecoder,
    chain_id: int | None = None,
    gas: int | None = None,
    headroom: int = 0,
) -> dict[str, Any]:
    """Estimate (reverts surface here, decoded), sign or have the node sign, send, wait.

    Returns the raw receipt (hex quantities) of a transaction that succeeded.
    """
    sender = _signer_address(signer)
    tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
    if to is not None:
        tx["to"] = to
    if gas is None:
        # Headroom over the estimate: state may move between estimate and inclusion.
        gas = _estimate(w3, tx, errors) * 6 // 5 + 10_000 + headroom
    tx["gas"] = hex(gas)
    if isinstance(signer, str):
        tx_hash = str(_rpc(w3, "eth_sendTransaction", [tx]))
    else:
        unsigned = {
            "to": to,
            "data": data,
            "value": value,
            "gas": gas,
            "nonce": int(_rpc(w3, "eth_getTransactionCount", [sender, "pending"]), 16),
            "gasPrice": int(_rpc(w3, "eth_gasPrice", []), 16),
            "chainId": chain_id if chain_id is not None else int(_rpc(w3, "eth_chainId", []), 16),
        }
        if to is None:
            del unsigned["to"]
        signed = signer.sign_transaction(cast(Any, unsigned))
        tx_hash = str(
            _rpc(w3, "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
        )
    receipt = _wait_for_receipt(w3, tx_hash)
    if int(receipt["status"], 16) != 1:
        # Replay at the block before to learn why (the state moved since the estimate).
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            _rpc(w3, "eth_call", [replay, hex(int(receipt["blockNumber"], 16) - 1)])
        except RpcError as err:
            raise _contract_error(err, errors) from None
        raise ContractError("revert", {"tx": tx_hash})
    return receipt


@dataclass(frozen=True)
class Deployment:
    """Where the marketplace lives on one chain: `deployments/<chainId>.json`."""

    chain_id: int
    address: str
    block_number: int
    tx_hash: str
    artifact_hash: str

    def save(self, path: Path | str | None = None) -> Path:
        """Write the deployment file (default `deployments/<chainId>.json`) and return its path."""
        path = Path(path) if path is not None else DEPLOYMENTS_DIR / f"{self.chain_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True) + "\n")
        return path

    @classmethod
    def load(cls, path: Path | str) -> Deployment:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
            return cls(
                chain_id=int(data["chain_id"]),
                address=to_checksum_address(data["address"]),
                block_number=int(data["block_number"]),
                tx_hash=str(data["tx_hash"]),
                artifact_hash=str(data["artifact_hash"]),
            )
        except FileNotFoundError:
            raise DeploymentError(
                f"no deployment at {path}: run `edgemarket contract deploy` first"
            ) from None
        except (KeyError, ValueError, TypeError) as exc:
            raise DeploymentError(f"{path} is not a deployment file: {exc}") from None

    @classmethod
    def for_chain(cls, chain_id: int, directory: Path | str = DEPLOYMENTS_DIR) -> Deployment:
        return cls.load(Path(directory) / f"{chain_id}.json")


def deploy(w3: Web3, signer: Signer, artifact: Artifact | None = None) -> Deployment:
    """Deploy the marketplace and return its Deployment (not yet saved)."""
    artifact = artifact or load_artifact()
    chain_id = w3.eth.chain_id
    if not isinstance(signer, str):
        check_chain(signer, chain_id)
    errors = ErrorDecoder(artifact.abi)
    receipt = _send(
        w3, signer, to=None, data=artifact.bytecode, value=0, errors=errors, chain_id=chain_id
    )
    address = to_checksum_address(receipt["contractAddress"])
    if bytes(w3.eth.get_code(address)) != artifact.deployed_bytecode:
        raise DeploymentError(f"code at {address} differs from the artifact's deployed bytecode")
    return Deployment(
        chain_id=chain_id,
        address=address,
        block_number=int(receipt["blockNumber"], 16),
        tx_hash=str(receipt["transactionHash"]),
        artifact_hash=artifact.hash,
    )


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
        if deployment.chain_id != chain_id:
            raise DeploymentError(
                f"deployment is for chain {deployment.chain_id}, the node is on {chain_id}"
            )
        if deployment.artifact_hash != artifact.hash:
            raise DeploymentError(
                f"deployment at {deployment.address} was built from artifact {deployment.artifact_hash}, "
                f"this checkout has {artifact.hash}: redeploy or check out the matching version"
            )
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
        return _contract_error(RpcError("eth_call", error), self.errors)

    def _transact(self, function: str, *args: Any, value: int = 0, headroom: int = 0) -> TxResult:
        if self.signer is None:
            raise ChainError("this Marketplace has no signer: use with_signer(account)")
        receipt = _send(
            self.w3,
            self.signer,
            to=self.address,
            data=self.calldata(function, *args),
            value=value,
            errors=self.errors,
            chain_id=self.chain_id,
            headroom=headroom,
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
        return self._transact(
            "attestScore", task_id, solution_id, score, headroom=SETTLE_GAS_HEADROOM
        )

    def attest_scores(
        self, task_id: int, solution_ids: Sequence[int], scores: Sequence[int]
    ) -> TxResult:
        """attestScores: up to MAX_ATTEST_BATCH attestations in one transaction, all or none."""
        return self._transact(
            "attestScores",
            task_id,
            list(solution_ids),
            list(scores),
            headroom=SETTLE_GAS_HEADROOM * len(solution_ids),
        )

    def finalize(self, task_id: int) -> TxResult:
        return self._transact("finalize", task_id)

    def reclaim_bonds(self, task_id: int, solver: str) -> TxResult:
        """After finalize: credit `solver` the bonds of its revealed, never-verified solutions."""
        return self._transact("reclaimBonds", task_id, to_checksum_address(solver))

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
        """Ether held for a task: while open its bounty, fees and held bonds; once finalized the
        bonds of never-verified solutions not yet reclaimed."""
        return int(self._call("escrowOf", task_id)[0])

    def unverified_bonds(self, task_id: int, solver: str) -> int:
        """Bonds held for `solver`'s revealed solutions not (yet) verified."""
        return int(self._call("unverifiedBonds", task_id, to_checksum_address(solver))[0])

    def commitment_for(
        self, task_id: int, agent: bytes, claimed_score: int, salt: bytes, solver: str | None = None
    ) -> bytes:
        """The commitment for this contract and chain; solver defaults to the signer."""
        if solver is None:
            if self.signer is None:
                raise ChainError("give solver= or bind a signer")
            solver = _signer_address(self.signer)
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
        snake(c["name"]): _normalize(_abi_type(c), v) for c, v in zip(components, raw, strict=True)
    }
    if "state" in values:
        values["state"] = TaskState(values["state"])
    return cls(**values)
