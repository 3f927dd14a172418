"""`edgemarket content serve`: the project's Kubo client against the content server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.common.content import (
    MAX_ARTIFACT_BYTES,
    ContentNotFoundError,
    ContentStoreUnavailableError,
    ContentTooLargeError,
    KuboContentStore,
    cid_of,
)
from services.common.content_server import ContentServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ContentServer]:
    srv = ContentServer(tmp_path / "content", "127.0.0.1", 0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_put_get_pin_through_the_kubo_client(server: ContentServer, tmp_path: Path) -> None:
    store = KuboContentStore(server.url)
    data = b"\x00agent bytes\xff" * 100
    cid = store.put(data)
    assert cid == cid_of(data)
    assert store.get(cid) == data
    store.pin(cid)
    assert (tmp_path / "content" / cid).read_bytes() == data  # the same layout as file:<dir>
    store.close()


def test_missing_oversized_and_unknown_calls_say_what_is_wrong(server: ContentServer) -> None:
    store = KuboContentStore(server.url)
    with pytest.raises(ContentNotFoundError):
        store.get(cid_of(b"never stored"))
    with pytest.raises(ContentNotFoundError):
        store.pin(cid_of(b"never stored"))
    with pytest.raises(ContentTooLargeError):
        store.put(b"x" * (MAX_ARTIFACT_BYTES + 1))  # refused by the client before sending
    big = httpx.post(
        f"{server.url}/api/v0/add", files={"file": ("a", b"x" * (MAX_ARTIFACT_BYTES + 1))}
    )
    assert big.status_code == 413 and "the limit is" in big.json()["Message"]
    assert httpx.post(f"{server.url}/api/v0/cat?arg=nonsense").status_code == 400
    assert httpx.post(f"{server.url}/api/v0/cat").json()["Message"].startswith("expected exactly")
    assert httpx.post(f"{server.url}/api/v0/repo/gc").status_code == 404
    assert httpx.get(f"{server.url}/api/v0/cat").status_code == 405
    not_multipart = httpx.post(f"{server.url}/api/v0/add", content=b"raw")
    assert not_multipart.status_code == 400 and "multipart" in not_multipart.json()["Message"]
    store.close()


def test_a_server_that_is_gone_is_reported_as_unavailable(tmp_path: Path) -> None:
    srv = ContentServer(tmp_path / "c", "127.0.0.1", 0)
    url = srv.url
    srv.server_close()
    store = KuboContentStore(url, timeout=2)
    with pytest.raises(ContentStoreUnavailableError, match="cannot reach"):
        store.get(cid_of(b"x"))
