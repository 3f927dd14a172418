"""An API that stays up: hostile bodies, hostile specs in the content store, slow clients and
many open event streams, against a real uvicorn (a SIGSEGV shows as a dead server)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.api.app import create_app
from services.common.content import LocalContentStore
from tests.fixtures.services import free_port
from tests.integration.test_api import (
    SPEC,
    SPEC_BYTES,
    Chain,
    make_settings,
    perfect_agent,
    project,
    scenario,
    solver,
)

NESTED = b"[" * 100_000 + b"]" * 100_000  # what overflows CPython's C JSON decoder with web3 loaded


@contextlib.contextmanager
def api_process(db_url: str, content: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`edgemarket run api` in its own process, as deployed (uvicorn limits included)."""
    port = free_port()
    env = {
        **os.environ,
        "EDGEMARKET_DATABASE_URL": db_url,
        "EDGEMARKET_CONTENT_STORE": f"file:{content}",
        "EDGEMARKET_RPC_URL": "http://127.0.0.1:9",  # nothing listens: GET /chain loads web3, then 503
    }
    env.pop("EDGEMARKET_CHAIN_ID", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "run", "api", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        proc.wait(20)


def _problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["detail"]
    return body


def test_hostile_json_never_kills_the_api(tmp_path: Path, clean_env: None) -> None:
    db = f"sqlite:///{tmp_path / 'api.db'}"
    content = tmp_path / "content"
    store = LocalContentStore(content)
    store.put(NESTED)  # a requester's spec, stored by bypassing our tools
    store.put(SPEC_BYTES)
    c = Chain()
    nested_digest = "0x" + hashlib.sha256(NESTED).hexdigest()
    project(db, [c.task_created(1, spec_digest=nested_digest), c.task_created(2)])
    with api_process(db, content) as (url, proc):
        _problem(httpx.get(f"{url}/chain", timeout=30), 503)  # web3 is loaded from here on
        json_headers = {"content-type": "application/json"}
        body = _problem(httpx.post(f"{url}/specs", content=NESTED, headers=json_headers), 422)
        assert "nests deeper" in body["detail"]
        body = _problem(
            httpx.post(f"{url}/tx/create-task", content=NESTED, headers=json_headers), 422
        )
        assert "nests deeper" in body["detail"]
        body = _problem(
            httpx.post(f"{url}/tx/create-task", content=b'{"a":1,"a":2}', headers=json_headers),
            422,
        )
        assert "twice" in body["detail"]
        r = httpx.get(f"{url}/tasks", timeout=30)  # reads both tasks' specs
        assert r.status_code == 200, r.text
        tasks = {t["id"]: t for t in r.json()["items"]}
        assert "nests deeper" in tasks[1]["spec_problem"] and tasks[1]["title"] is None
        assert tasks[2]["spec_problem"] is None and tasks[2]["env"] == "cipher"
        assert httpx.get(f"{url}/tasks/1", timeout=30).json()["spec_problem"]
        big = b'{"spec_digest":"' + b"0" * (300 * 1024) + b'"}'
        _problem(httpx.post(f"{url}/tx/create-task", content=big, headers=json_headers), 413)
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200
        assert proc.poll() is None


def test_an_oversized_bond_is_a_problem_not_a_500(tmp_path: Path, clean_env: None) -> None:
    from fastapi.testclient import TestClient

    settings = make_settings(f"sqlite:///{tmp_path / 'api.db'}", tmp_path)
    request = {
        "spec_digest": "0x" + "11" * 32,
        "bounty_wei": "1",
        "commit_deadline": 100,
        "reveal_deadline": 200,
        "evaluators": ["0x" + "22" * 20, "0x" + "33" * 20, "0x" + "44" * 20],
        "quorum": 2,
    }
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        for field in ("commit_bond_wei", "evaluator_fee_wei", "bounty_wei"):
            r = client.post("/tx/create-task", json={**request, field: "9" * 78})
            assert r.status_code == 422, r.text
            assert "uint256" in r.json()["detail"]


@contextlib.contextmanager
def threaded_server(app: Any, **limits: Any) -> Iterator[int]:
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", **limits)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)


def test_a_client_that_never_finishes_its_headers_is_cut_off(
    tmp_path: Path, clean_env: None
) -> None:
    from services.api.guard import uvicorn_limits

    app = create_app(make_settings(f"sqlite:///{tmp_path / 'api.db'}", tmp_path))
    with threaded_server(app, **uvicorn_limits(header_timeout=0.5)) as port:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
            assert s.recv(1024) == b""  # closed by the server (a timeout here raises)
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            # A complete request is answered, and the idle connection then closed.
            s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n")
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 404")


def test_open_event_streams_hold_no_database_connection(
    postgres_url: str, tmp_path: Path, clean_env: None
) -> None:
    """More open pages than the pool has connections (5 + 10 overflow): DB routes still answer."""
    project(postgres_url, scenario().messages)
    LocalContentStore(tmp_path / "content").put(SPEC_BYTES)
    app = create_app(make_settings(postgres_url, tmp_path), sse_poll_seconds=0.05)
    streams = 20
    with threaded_server(app) as port, contextlib.ExitStack() as stack:
        url = f"http://127.0.0.1:{port}"
        client = stack.enter_context(httpx.Client(timeout=20))
        for _ in range(streams):
            r = stack.enter_context(client.stream("GET", f"{url}/tasks/2/events"))
            assert r.status_code == 200
            first = next(r.iter_lines())
            assert first.startswith(("event:", "id:", "data:", ":"))
        with httpx.Client(timeout=10) as other:
            for path in ("/tasks/1", "/tasks", "/tasks/1/solutions/0", "/health"):
                assert other.get(f"{url}{path}").status_code == 200, path
            _problem(other.get(f"{url}/tasks/999/events"), 404)
    app.state.api.engine.dispose()


def test_task_list_reading_a_nested_spec_in_process(tmp_path: Path, clean_env: None) -> None:
    """The same as the subprocess test, where a failure shows its traceback."""
    import web3  # noqa: F401  py_ecc raises the recursion limit, as in the running API
    from fastapi.testclient import TestClient

    db = f"sqlite:///{tmp_path / 'api.db'}"
    store = LocalContentStore(tmp_path / "content")
    store.put(json.dumps({"schema": "edgemarket/task@1"}).encode())
    store.put(NESTED)
    project(db, [Chain().task_created(1, spec_digest="0x" + hashlib.sha256(NESTED).hexdigest())])
    with TestClient(create_app(make_settings(db, tmp_path))) as client:
        r = client.get("/tasks")
        assert r.status_code == 200
        assert "nests deeper" in r.json()["items"][0]["spec_problem"]


@pytest.mark.parametrize("db", ["sqlite_url", "postgres_url"])
def test_uint64_deadlines_past_int64_project_exactly(
    db: str, request: pytest.FixtureRequest, tmp_path: Path, clean_env: None
) -> None:
    """revealDeadline and evalWindow are uint64 on chain; past 2**63 - 1 they used to make the
    projector raise, and the task never appeared."""
    from fastapi.testclient import TestClient

    url: str = request.getfixturevalue(db)
    c = Chain()
    huge = c.task_created(1)
    huge.args.update(reveal_deadline=2**64 - 1, eval_window=2**63, commit_deadline=2**63 - 1)
    project(url, [huge, c.task_created(2)])
    with TestClient(create_app(make_settings(url, tmp_path))) as client:
        task = client.get("/tasks/1").json()
        assert (task["commit_deadline"], task["reveal_deadline"], task["eval_window"]) == (
            2**63 - 1,
            2**64 - 1,
            2**63,
        )
        assert task["phase"] == "commit"
        assert client.get("/tasks/2").json()["reveal_deadline"] == c.timestamp + 200
    client.app.state.api.engine.dispose()  # type: ignore[attr-defined]


def test_renders_are_single_flight_cached_and_bounded_by_the_spec(
    tmp_path: Path, clean_env: None
) -> None:
    """Eight concurrent previews of one agent cost one render; an agent beyond its task's
    limits is refused, not drawn; a second look costs nothing."""
    db = f"sqlite:///{tmp_path / 'api.db'}"
    store = LocalContentStore(tmp_path / "content")
    small = json.dumps({**SPEC, "limits": {"max_neurons": 8, "max_connections": 16}}).encode()
    store.put(SPEC_BYTES)
    store.put(small)
    c = Chain()
    good, big = perfect_agent(0), perfect_agent(4)  # 6 neurons; 10 neurons in Alice
    project(
        db,
        [
            c.task_created(1),
            c.task_created(2, spec_digest="0x" + hashlib.sha256(small).hexdigest()),
            c.committed(1, 0, solver(0)),
            c.committed(2, 0, solver(1)),
            c.revealed(1, 0, solver(0), good, 1_000_000),
            c.revealed(2, 0, solver(1), big, 1_000_000),
        ],
    )
    app = create_app(make_settings(db, tmp_path))
    renders = app.state.api.renders
    with threaded_server(app) as port:
        url = f"http://127.0.0.1:{port}/agents/0x{good.digest.hex()}/preview.png"
        replies: list[httpx.Response] = []

        def fetch() -> None:
            replies.append(httpx.get(url, timeout=60))

        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert [r.status_code for r in replies] == [200] * 8
        assert len({r.content for r in replies}) == 1
        assert renders.renders == 1
        assert httpx.get(url, timeout=60).status_code == 200 and renders.renders == 1
        svg = httpx.get(f"http://127.0.0.1:{port}/agents/0x{good.digest.hex()}/graph.svg")
        assert svg.status_code == 200 and renders.renders == 2
        for kind in ("graph.svg", "graph.dot", "preview.png"):
            r = httpx.get(f"http://127.0.0.1:{port}/agents/0x{big.digest.hex()}/{kind}")
            assert "beyond" in _problem(r, 422)["title"], kind
