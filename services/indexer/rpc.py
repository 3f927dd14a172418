"""A lean Ethereum JSON-RPC client over httpx: single calls and batches, clear errors."""

from __future__ import annotations

import json
from typing import Any

import httpx

from services.common.logs import get_logger, redact_url

log = get_logger("edgemarket.indexer.rpc")


class RpcError(Exception):
    """The node answered a call with an error."""

    def __init__(self, method: str, code: int | None, message: str) -> None:
        self.method, self.code, self.message = method, code, message
        super().__init__(f"{method} failed: {message}" + (f" (code {code})" if code else ""))

    @property
    def range_too_large(self) -> bool:
        """Whether the node refuses the eth_getLogs range or result size (then shrink it)."""
        text = self.message.lower()
        return self.method == "eth_getLogs" and any(
            s in text for s in ("range", "too many", "limit", "exceed", "10000", "response size")
        )


class RpcUnavailableError(Exception):
    """The node could not be reached, timed out, or answered something that is not JSON-RPC."""


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
            raise RpcError(method, err.get("code"), str(err.get("message", err)))
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
