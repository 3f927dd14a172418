"""JSON-RPC to the node: web3's provider for transactions, a lean httpx client for reading."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import httpx
from eth_utils.address import to_checksum_address

from services.common.chain.abi import ErrorDecoder
from services.common.chain.errors import (
    ChainError,
    ContractError,
    RpcError,
    RpcUnavailableError,
)
from services.common.logs import get_logger, redact_url

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount
    from web3 import Web3

log = get_logger("edgemarket.chain.rpc")

# A node-managed (unlocked) account is named by its address; anything else signs locally.
Signer: TypeAlias = "LocalAccount | str"


def signer_address(signer: Signer) -> str:
    return to_checksum_address(signer if isinstance(signer, str) else signer.address)


def node_call(w3: Web3, method: str, params: list[Any]) -> Any:
    # Straight to the provider: web3's middleware costs more than anvil's answer, and asks
    # eth_chainId again for every transaction it validates.
    response = w3.provider.make_request(cast(Any, method), params)
    if "error" in response:
        raise RpcError(method, cast(Mapping[str, Any], response["error"]))
    return response.get("result")


def contract_error(err: RpcError, errors: ErrorDecoder) -> Exception:
    data = err.revert_data()
    if data is not None:
        return errors.decode(data)
    if "revert" in err.message.lower():
        return ContractError("revert", {"message": err.message})
    return err


def estimate_gas(w3: Web3, tx: dict[str, Any], errors: ErrorDecoder) -> int:
    # Against "pending", so block.number is the one the transaction will see (sealSeed needs
    # the seed block mined); a node that refuses the tag is asked for its default.
    try:
        return int(node_call(w3, "eth_estimateGas", [tx, "pending"]), 16)
    except RpcError as err:
        decoded = contract_error(err, errors)
        if decoded is not err:
            raise decoded from None
    try:
        return int(node_call(w3, "eth_estimateGas", [tx]), 16)
    except RpcError as err:
        raise contract_error(err, errors) from None


def wait_for_receipt(w3: Web3, tx_hash: str, timeout: float = 120.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.002
    while True:
        receipt = node_call(w3, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return cast(dict[str, Any], receipt)
        if time.monotonic() > deadline:
            raise ChainError(f"transaction {tx_hash} was not mined within {timeout:.0f} s")
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def send_transaction(
    w3: Web3,
    signer: Signer,
    *,
    to: str | None,
    data: bytes,
    value: int,
    errors: ErrorDecoder,
    chain_id: int | None = None,
    gas: int | None = None,
) -> dict[str, Any]:
    """Estimate (reverts surface here, decoded), sign or have the node sign, send, wait.

    Returns the raw receipt (hex quantities) of a transaction that succeeded.
    """
    sender = signer_address(signer)
    tx: dict[str, Any] = {"from": sender, "data": "0x" + data.hex(), "value": hex(value)}
    if to is not None:
        tx["to"] = to
    if gas is None:
        # Headroom over the estimate: state may move between estimate and inclusion.
        gas = estimate_gas(w3, tx, errors) * 6 // 5 + 10_000
    tx["gas"] = hex(gas)
    if isinstance(signer, str):
        tx_hash = str(node_call(w3, "eth_sendTransaction", [tx]))
    else:
        unsigned = {
            "to": to,
            "data": data,
            "value": value,
            "gas": gas,
            "nonce": int(node_call(w3, "eth_getTransactionCount", [sender, "pending"]), 16),
            "gasPrice": int(node_call(w3, "eth_gasPrice", []), 16),
            "chainId": chain_id
            if chain_id is not None
            else int(node_call(w3, "eth_chainId", []), 16),
        }
        if to is None:
            del unsigned["to"]
        signed = signer.sign_transaction(cast(Any, unsigned))
        tx_hash = str(
            node_call(w3, "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
        )
    receipt = wait_for_receipt(w3, tx_hash)
    if int(receipt["status"], 16) != 1:
        # Replay at the block before to learn why (the state moved since the estimate).
        replay = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            node_call(w3, "eth_call", [replay, hex(int(receipt["blockNumber"], 16) - 1)])
        except RpcError as err:
            raise contract_error(err, errors) from None
        raise ContractError("revert", {"tx": tx_hash})
    return receipt


class RpcClient:
    """JSON-RPC over HTTP with batching; one keep-alive connection."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url
        self._safe_url = redact_url(url)
        self._client = httpx.Client(timeout=timeout, headers={"Content-Type": "application/json"})
        self._id = 0
        self.batching = True

    def close(self) -> None:
        self._client.close()

    def _post(self, body: Any) -> Any:
        try:
            resp = self._client.post(self.url, content=json.dumps(body, separators=(",", ":")))
        except httpx.TimeoutException:
            raise RpcUnavailableError(f"RPC {self._safe_url} timed out") from None
        except httpx.TransportError as e:
            raise RpcUnavailableError(
                f"cannot reach RPC {self._safe_url}: {type(e).__name__}: {e}"
            ) from None
        if resp.status_code != 200:
            raise RpcUnavailableError(
                f"RPC {self._safe_url} answered HTTP {resp.status_code}: {resp.text[:200]!r}"
            )
        try:
            return json.loads(resp.content)
        except ValueError:
            raise RpcUnavailableError(
                f"RPC {self._safe_url} answered non-JSON: {resp.text[:200]!r}"
            ) from None

    @staticmethod
    def _result(method: str, doc: Any) -> Any:
        if not isinstance(doc, dict):
            raise RpcUnavailableError(f"{method}: malformed JSON-RPC reply {str(doc)[:200]!r}")
        if "error" in doc:
            err = doc["error"] if isinstance(doc["error"], dict) else {"message": doc["error"]}
            if "message" not in err:
                err = {**err, "message": str(err)}
            raise RpcError(method, err)
        if "result" not in doc:
            raise RpcUnavailableError(f"{method}: JSON-RPC reply without result")
        return doc["result"]

    def call(self, method: str, *params: Any) -> Any:
        self._id += 1
        doc = self._post(
            {"jsonrpc": "2.0", "id": self._id, "method": method, "params": list(params)}
        )
        return self._result(method, doc)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Several calls in one HTTP request; results in call order. Any error raises."""
        if not calls:
            return []
        if not self.batching:
            return [self.call(m, *p) for m, p in calls]
        base = self._id + 1
        self._id += len(calls)
        body = [
            {"jsonrpc": "2.0", "id": base + k, "method": m, "params": p}
            for k, (m, p) in enumerate(calls)
        ]
        docs = self._post(body)
        if not isinstance(docs, list):
            # Some RPC adaptors refuse batches with one error object: call one by one from now on.
            log.warning(
                "the RPC node refused a batch request; sending calls one by one",
                extra={"rpc": self._safe_url, "reply": str(docs)[:200]},
            )
            self.batching = False
            return [self.call(m, *p) for m, p in calls]
        by_id = {d.get("id"): d for d in docs if isinstance(d, dict)}
        out = []
        for k, (method, _) in enumerate(calls):
            doc = by_id.get(base + k)
            if doc is None:
                raise RpcUnavailableError(f"{method}: batch reply lacks id {base + k}")
            out.append(self._result(method, doc))
        return out
