"""Content store: CID maths, the local store and the Kubo client against a stand-in node."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.common.content import (
    MAX_ARTIFACT_BYTES,
    ContentMismatchError,
    ContentNotFoundError,
    ContentStore,
    ContentStoreUnavailableError,
    ContentTooLargeError,
    InvalidCidError,
    KuboContentStore,
    LocalContentStore,
    cid_of,
    cid_of_digest,
    digest_of_cid,
    open_content_store,
)
from services.common.settings import Settings
from tests.fixtures.services import free_port

# Known CIDv1 raw sha2-256 values (as `ipfs add --cid-version=1 --raw-leaves` prints them).
EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def test_known_cid() -> None:
    assert cid_of(b"") == EMPTY_CID
    assert digest_of_cid(EMPTY_CID) == hashlib.sha256(b"").digest()


@given(st.binary(max_size=512))
def test_cid_round_trip(data: bytes) -> None:
    cid = cid_of(data)
    assert cid.startswith("bafkrei") and len(cid) == 59
    assert digest_of_cid(cid) == hashlib.sha256(data).digest()
    assert cid_of_digest(digest_of_cid(cid)) == cid


@pytest.mark.parametrize(
    ("cid", "match"),
    [
        ("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", "CIDv0"),
        ("zb2rhe5P4gXftAwvA4eXQ5HJwsER2owDyS9sKaQRRVQPn93bA", "not base32 multibase"),
        ("bafkrei", "59"),
        ("b" + "1" * 58, "not valid base32"),
        # a valid CIDv1 of dag-pb, not raw
        ("bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi", "not CIDv1 raw"),
    ],
)
def test_bad_cids_are_clear_errors(cid: str, match: str) -> None:
    with pytest.raises(InvalidCidError, match=match):
        digest_of_cid(cid)


def test_digest_length_checked() -> None:
    with pytest.raises(InvalidCidError, match="32 bytes"):
        cid_of_digest(b"\x00" * 31)


class StandInKubo:
    """An in-process stand-in of Kubo's /api/v0/add, /cat and /pin/add (no daemon runs here)."""

    def __init__(self) -> None:
        self.blocks: dict[str, bytes] = {}
        self.pins: set[str] = set()
        self.lie = False  # answer /add with a wrong CID and /cat with other bytes
        self.fail = False  # answer every call with Kubo's error JSON
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, code: int, message: str) -> None:
                self._reply(
                    code, json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
                )

            def do_POST(self) -> None:
                url = urlparse(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if outer.fail:
                    return self._error(500, "blockstore: disk full")
                if url.path == "/api/v0/add":
                    if q.get("cid-version") != "1" or q.get("raw-leaves") != "true":
                        return self._error(400, "stand-in only does cid-version=1 raw-leaves")
                    boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
                    part = body.split(b"--" + boundary)[1]
                    data = part.split(b"\r\n\r\n", 1)[1].removesuffix(b"\r\n")
                    cid = cid_of(data + b"!" if outer.lie else data)
                    outer.blocks[cid] = data
                    if q.get("pin") == "true":
                        outer.pins.add(cid)
                    return self._reply(
                        200,
                        json.dumps(
                            {"Name": "artifact", "Hash": cid, "Size": str(len(data))}
                        ).encode(),
                    )
                cid = q.get("arg", "")
                if url.path == "/api/v0/cat":
                    if cid not in outer.blocks:
                        return self._error(500, f"block was not found locally (offline): {cid}")
                    data = outer.blocks[cid] + (b"tampered" if outer.lie else b"")
                    return self._reply(200, data[: int(q.get("length", len(data)))], "text/plain")
                if url.path == "/api/v0/pin/add":
                    if cid not in outer.blocks:
                        return self._error(
                            500, f"pin: block was not found locally (offline): {cid}"
                        )
                    outer.pins.add(cid)
                    return self._reply(200, json.dumps({"Pins": [cid]}).encode())
                return self._error(404, "404 page not found")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kubo() -> Iterator[StandInKubo]:
    node = StandInKubo()
    yield node
    node.close()


@pytest.fixture(params=["local", "kubo"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ContentStore]:
    if request.param == "local":
        yield LocalContentStore(tmp_path / "cas")
    else:
        node = StandInKubo()
        client = KuboContentStore(node.url)
        yield client
        client.close()
        node.close()


def test_put_get_pin(store: ContentStore) -> None:
    data = b"\x00agent bytes\xff" * 100
    cid = store.put(data)
    assert cid == cid_of(data)
    assert store.get(cid) == data
    store.pin(cid)
    assert store.put(data) == cid  # idempotent


def test_limits_and_missing(store: ContentStore) -> None:
    biggest = b"x" * MAX_ARTIFACT_BYTES
    assert store.get(store.put(biggest)) == biggest
    with pytest.raises(ContentTooLargeError, match="256 KiB"):
        store.put(biggest + b"x")
    missing = cid_of(b"never stored")
    with pytest.raises(ContentNotFoundError):
        store.get(missing)
    with pytest.raises(ContentNotFoundError):
        store.pin(missing)
    with pytest.raises(InvalidCidError):
        store.get("../../etc/passwd")


def test_local_store_detects_corruption(tmp_path: Path) -> None:
    store = LocalContentStore(tmp_path)
    cid = store.put(b"spec")
    (tmp_path / cid).write_bytes(b"spec, edited by hand")
    with pytest.raises(ContentMismatchError, match=cid):
        store.get(cid)


def test_kubo_pins_on_add(kubo: StandInKubo) -> None:
    client = KuboContentStore(kubo.url)
    cid = client.put(b"pinned")
    assert cid in kubo.pins


def test_kubo_mismatches_are_caught(kubo: StandInKubo) -> None:
    client = KuboContentStore(kubo.url)
    cid = client.put(b"honest")
    kubo.lie = True
    with pytest.raises(ContentMismatchError, match="hashes to"):
        client.get(cid)
    with pytest.raises(ContentMismatchError, match="but its CIDv1 raw sha2-256 is"):
        client.put(b"lied about")


def test_kubo_errors_are_clear(kubo: StandInKubo) -> None:
    client = KuboContentStore(kubo.url)
    kubo.fail = True
    with pytest.raises(ContentStoreUnavailableError, match="disk full"):
        client.put(b"x")
    down = KuboContentStore(f"http://127.0.0.1:{free_port()}", timeout=2)
    with pytest.raises(ContentStoreUnavailableError, match="cannot reach Kubo"):
        down.get(EMPTY_CID)


def test_open_from_settings(tmp_path: Path, kubo: StandInKubo) -> None:
    local = open_content_store(Settings(content_store=f"file:{tmp_path}"))
    assert isinstance(local, LocalContentStore)
    remote = open_content_store(Settings(content_store=f"kubo:{kubo.url}"))
    assert isinstance(remote, KuboContentStore)
    assert remote.put(b"same") == local.put(b"same")
    assert remote.get(cid_of(b"same")) == b"same"
