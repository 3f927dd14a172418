"""The chain's exceptions: one root for chain and node trouble, one for contract reverts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from services.common.chain.protocol import (
    MAX_AGENT_BYTES,
    MAX_COMMITS_PER_SOLVER,
    MAX_EVALUATORS,
    MAX_SCORE,
    MIN_EVAL_WINDOW,
)


class ChainError(Exception):
    """Something about the chain or the deployment is wrong (not a contract revert)."""


class DeploymentError(ChainError):
    """The deployment file is missing, malformed, or does not match the chain or artifact."""


def revert_bytes(data: Any) -> bytes | None:
    """The revert data in a JSON-RPC error's `data` (a hex string, or nested one level)."""
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x") and len(data) >= 10:
        return bytes.fromhex(data[2:])
    return None


class RpcError(ChainError):
    """The node answered a JSON-RPC call with an error."""

    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.method = method
        self.code = error.get("code")
        self.data = error.get("data")
        self.message = str(error.get("message", ""))
        suffix = f" (code {self.code})" if self.code else ""
        super().__init__(f"{method} failed: {self.message}{suffix}")

    def revert_data(self) -> bytes | None:
        return revert_bytes(self.data)

    @property
    def range_too_large(self) -> bool:
        """Whether the node refuses the eth_getLogs range or result size (then shrink it)."""
        text = self.message.lower()
        return self.method == "eth_getLogs" and any(
            s in text for s in ("range", "too many", "limit", "exceed", "10000", "response size")
        )


class RpcUnavailableError(ChainError):
    """The node could not be reached, timed out, or answered something that is not JSON-RPC."""


class LogDecodeError(ChainError, ValueError):
    """A log with a known event signature whose topics or data do not fit its ABI."""


class UnsupportedAbiError(ChainError, ValueError):
    """The ABI uses a type the fast log decoders do not handle."""


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


ERROR_CLASSES: dict[str, type[ContractError]] = {
    cls.__name__: cls for cls in ContractError.__subclasses__() if cls is not Panic
}
