"""GET /chain and POST /tx/create-task: where the contract is, and an unsigned createTask for the user's wallet."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, field_validator, model_validator

from services.api.deps import State
from services.api.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError
from services.common.json_input import JsonObject

router = APIRouter(tags=["chain"])

_PROBLEMS: dict[int | str, JsonObject] = {
    422: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
    503: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}},
}

Address = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{40}$")]
Bytes32 = Annotated[str, Field(pattern=r"^0x[0-9a-fA-F]{64}$")]
Wei = Annotated[str, Field(pattern=r"^[0-9]{1,78}$", description="an amount in wei, decimal")]
Uint64 = Annotated[int, Field(ge=0, lt=2**64)]


class ChainInfo(BaseModel):
    chain_id: int
    contract: str
    deploy_block: int


class CreateTaskRequest(BaseModel):
    """The arguments of `createTask`; the page fills them in, the user's wallet signs."""

    spec_digest: Bytes32 = Field(description="from POST /specs")
    bounty_wei: Wei
    commit_deadline: Uint64 = Field(description="unix seconds")
    reveal_deadline: Uint64 = Field(description="unix seconds, after commit_deadline")
    eval_window: Annotated[int, Field(ge=60, lt=2**64)] = 600
    evaluators: Annotated[list[Address], Field(min_length=1, max_length=5)]
    quorum: Annotated[int, Field(ge=1, le=5)]
    min_score: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    commit_bond_wei: Wei = "0"
    evaluator_fee_wei: Wei = "0"

    @field_validator("evaluators")
    @classmethod
    def _distinct_nonzero(cls, v: list[str]) -> list[str]:
        lowered = [a.lower() for a in v]
        if len(set(lowered)) != len(lowered):
            raise ValueError("evaluators must be distinct")
        if "0x" + "0" * 40 in lowered:
            raise ValueError("the zero address cannot evaluate")
        return v

    @model_validator(mode="after")
    def _rules(self) -> CreateTaskRequest:
        if self.reveal_deadline <= self.commit_deadline:
            raise ValueError("reveal_deadline must be after commit_deadline")
        if 2 * self.quorum <= len(self.evaluators) or self.quorum > len(self.evaluators):
            raise ValueError(
                f"quorum must be a strict majority of the {len(self.evaluators)} evaluators"
            )
        if int(self.bounty_wei) == 0:
            raise ValueError("bounty_wei must be positive")
        if int(self.bounty_wei) + int(self.evaluator_fee_wei) * len(self.evaluators) >= 2**256:
            raise ValueError("the total value does not fit in uint256")
        return self


class UnsignedTransaction(BaseModel):
    """An EIP-1193 `eth_sendTransaction` parameter, minus `from`: the wallet adds it and signs."""

    chain_id: int
    to: str
    data: str
    value: str = Field(description="0x-hex wei, as eth_sendTransaction expects")


def _deployment(state: State) -> tuple[int, Any]:  # Any: the Deployment, imported lazily (chain bindings load web3)
    from services.common.chain import ChainError, Deployment

    settings = state.settings
    chain_id = settings.chain_id
    try:
        if chain_id is None:
            from web3 import Web3

            chain_id = int(
                Web3(
                    Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": 3})
                ).eth.chain_id
            )
        return chain_id, Deployment.load(settings.deployment_path(chain_id))
    except ChainError as exc:
        raise ProblemError(503, "no-deployment", "Contract deployment unknown", str(exc)) from exc
    except Exception as exc:
        raise ProblemError(
            503,
            "chain-unavailable",
            "Chain unavailable",
            f"cannot learn the chain id from the RPC endpoint ({type(exc).__name__}); set EDGEMARKET_CHAIN_ID",
        ) from exc


@router.get("/chain", response_model=ChainInfo, responses=_PROBLEMS)
def chain_info(state: State) -> ChainInfo:
    """The chain and contract this API projects, for the page's wallet."""
    chain_id, deployment = _deployment(state)
    return ChainInfo(
        chain_id=chain_id, contract=deployment.address, deploy_block=deployment.block_number
    )


@router.post("/tx/create-task", response_model=UnsignedTransaction, responses=_PROBLEMS)
def prepare_create_task(body: CreateTaskRequest, state: State) -> UnsignedTransaction:
    """Encode `createTask` for the caller's own wallet to sign. The server never holds a user key."""
    from web3 import Web3

    from services.common.chain import Marketplace

    chain_id, deployment = _deployment(state)
    # Encoding needs no connection: the provider is never called here.
    market = Marketplace(Web3(Web3.HTTPProvider(state.settings.rpc_url)), deployment.address)
    evaluators = [Web3.to_checksum_address(a) for a in body.evaluators]
    data = market.calldata(
        "createTask",
        bytes.fromhex(body.spec_digest[2:]),
        body.commit_deadline,
        body.reveal_deadline,
        body.eval_window,
        evaluators,
        body.quorum,
        body.min_score,
        int(body.commit_bond_wei),
        int(body.evaluator_fee_wei),
    )
    value = int(body.bounty_wei) + int(body.evaluator_fee_wei) * len(evaluators)
    return UnsignedTransaction(
        chain_id=chain_id, to=deployment.address, data="0x" + data.hex(), value=hex(value)
    )
