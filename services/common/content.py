"""Content-addressed artifacts: CIDv1 (raw, sha2-256) maths, a local store and a Kubo client."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx

if TYPE_CHECKING:
    from services.common.settings import Settings

MAX_ARTIFACT_BYTES = 256 * 1024
# CIDv1 = <version 1><codec raw 0x55><multihash sha2-256 0x12, length 0x20><32-byte digest>,
# written in multibase base32 lowercase ("b" prefix) without padding.
_CID_PREFIX = bytes([0x01, 0x55, 0x12, 0x20])
_CID_LEN = 59  # "b" + base32 of 36 bytes (58 characters, unpadded)


class ContentError(Exception):
    """Root of every content-store error."""


class InvalidCidError(ContentError, ValueError):
    """A string is not a CIDv1 raw sha2-256 CID."""


class ContentMismatchError(ContentError):
    """Bytes do not hash to the CID they were fetched or stored under."""


class ContentTooLargeError(ContentError, ValueError):
    """An artifact exceeds MAX_ARTIFACT_BYTES."""


class ContentNotFoundError(ContentError, LookupError):
    """The store does not hold the CID."""


class ContentStoreUnavailableError(ContentError):
    """The backing store (the Kubo node) cannot be reached or answered with an error."""


def cid_of_digest(digest: bytes) -> str:
    """The CIDv1 raw of a sha2-256 digest (32 bytes), e.g. a bytes32 from the contract."""
    if len(digest) != 32:
        raise InvalidCidError(f"a sha2-256 digest is 32 bytes, got {len(digest)}")
    return "b" + base64.b32encode(_CID_PREFIX + digest).decode("ascii").rstrip("=").lower()


def cid_of(data: bytes) -> str:
    """The CIDv1 raw (sha2-256) of `data`, computed locally."""
    return cid_of_digest(hashlib.sha256(data).digest())


def digest_of_cid(cid: str) -> bytes:
    """The 32-byte sha2-256 digest a CIDv1 raw names (what the contract stores as bytes32)."""
    if not isinstance(cid, str):
        raise InvalidCidError(f"a CID is a string, got {type(cid).__name__}")
    if cid.startswith(("Qm", "1")):
        raise InvalidCidError(
            f"{cid[:16]}… is a CIDv0/dag-pb CID; artifacts are CIDv1 raw (base32, starting 'bafkrei')"
        )
    if not cid.startswith("b"):
        raise InvalidCidError(f"{cid[:16]!r} is not base32 multibase (a CIDv1 starts with 'b')")
    if len(cid) != _CID_LEN:
        raise InvalidCidError(
            f"{cid[:16]!r}… has {len(cid)} characters; a CIDv1 raw sha2-256 has {_CID_LEN}"
        )
    body = cid[1:].upper()
    try:
        raw = base64.b32decode(body + "=" * (-len(body) % 8))
    except ValueError as e:
        raise InvalidCidError(f"{cid[:16]!r}… is not valid base32: {e}") from None
    if raw[:4] != _CID_PREFIX:
        raise InvalidCidError(
            f"{cid[:16]!r}… is not CIDv1 raw sha2-256 (prefix {raw[:4].hex()}, expected "
            f"{_CID_PREFIX.hex()})"
        )
    return raw[4:]


def _check_size(data: bytes) -> None:
    if len(data) > MAX_ARTIFACT_BYTES:
        raise ContentTooLargeError(
            f"artifact is {len(data)} bytes; the limit is {MAX_ARTIFACT_BYTES} (256 KiB)"
        )


def _verify(cid: str, data: bytes) -> bytes:
    digest = digest_of_cid(cid)
    got = hashlib.sha256(data).digest()
    if got != digest:
        raise ContentMismatchError(
            f"content for {cid} hashes to {cid_of_digest(got)}: the store returned other bytes"
        )
    return data


@runtime_checkable
class ContentStore(Protocol):
    """Where artifacts live: put returns the CID, get checks the bytes against it."""

    def put(self, data: bytes) -> str: ...

    def get(self, cid: str) -> bytes: ...

    def pin(self, cid: str) -> None: ...


class LocalContentStore:
    """A content-addressed directory: one file per CID, written atomically."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, cid: str) -> Path:
        digest_of_cid(cid)  # refuse anything that is not a CID before touching the disk
        return self.root / cid

    def put(self, data: bytes) -> str:
        _check_size(data)
        cid = cid_of(data)
        path = self._path(cid)
        if not path.exists():
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".put-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        return cid

    def get(self, cid: str) -> bytes:
        path = self._path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ContentNotFoundError(f"{cid} is not in the local store at {self.root}") from None
        return _verify(cid, data)

    def pin(self, cid: str) -> None:
        # Everything in a local store is kept; pinning only checks that it is there.
        if not self._path(cid).exists():
            raise ContentNotFoundError(f"cannot pin {cid}: not in the local store at {self.root}")


class KuboContentStore:
    """A Kubo (go-ipfs) node over its HTTP RPC API: /api/v0/add, /cat, /pin/add."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.api_url + "/api/v0", timeout=timeout, transport=transport
        )

    def close(self) -> None:
        self._client.close()

    def _post(self, path: str, **kwargs: object) -> httpx.Response:
        try:
            resp = self._client.post(path, **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise ContentStoreUnavailableError(
                f"Kubo at {self.api_url} did not answer {path} in time"
            ) from None
        except httpx.TransportError as e:
            raise ContentStoreUnavailableError(
                f"cannot reach Kubo at {self.api_url} ({type(e).__name__}); is the daemon running "
                "and EDGEMARKET_CONTENT_STORE right?"
            ) from None
        if resp.status_code != 200:
            message = resp.text[:300]
            with contextlib.suppress(ValueError):
                message = str(resp.json().get("Message", message))
            if "not found" in message.lower() or "no link named" in message.lower():
                raise ContentNotFoundError(f"Kubo {path}: {message}")
            raise ContentStoreUnavailableError(
                f"Kubo {path} answered {resp.status_code}: {message}"
            )
        return resp

    def put(self, data: bytes) -> str:
        _check_size(data)
        cid = cid_of(data)
        resp = self._post(
            "/add",
            params={"cid-version": "1", "raw-leaves": "true", "pin": "true", "hash": "sha2-256"},
            files={"file": ("artifact", data, "application/octet-stream")},
        )
        try:
            got = str(resp.json()["Hash"])
        except (ValueError, KeyError, TypeError):
            raise ContentStoreUnavailableError(
                f"Kubo /add answered something that is not an add result: {resp.text[:200]!r}"
            ) from None
        if got != cid:
            raise ContentMismatchError(
                f"Kubo stored the artifact as {got}, but its CIDv1 raw sha2-256 is {cid}"
            )
        return cid

    def get(self, cid: str) -> bytes:
        digest_of_cid(cid)
        # Ask for one byte more than the limit so an oversized object is caught, not truncated.
        resp = self._post("/cat", params={"arg": cid, "length": str(MAX_ARTIFACT_BYTES + 1)})
        data = resp.content
        _check_size(data)
        return _verify(cid, data)

    def pin(self, cid: str) -> None:
        digest_of_cid(cid)
        self._post("/pin/add", params={"arg": cid})


def open_content_store(settings: Settings) -> ContentStore:
    """The content store that `settings.content_store` names (file:<dir> or kubo:<url>)."""
    spec = settings.content_store
    if spec.startswith("file:"):
        return LocalContentStore(spec.removeprefix("file:"))
    if spec.startswith("kubo:"):
        return KuboContentStore(spec.removeprefix("kubo:"))
    raise ValueError(f"unknown content store {spec!r}: use file:<directory> or kubo:<http url>")
