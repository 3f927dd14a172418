"""Every read endpoint against a real projection (SQLite and PostgreSQL) filled by the projector.

The projection is built by feeding real stream messages (the indexer's wire format) through
`services.projector.service.Projector`; agents are real core agents; previews run the C core.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import bisuna
from bisuna.agent import Connection, Network
from services.api.app import create_app
from services.common.content import LocalContentStore
from services.common.messages import Kind, Message
from services.common.settings import Settings
from services.common.streams import Delivery
from services.projector.service import Projector, make_engine, migrate

CONTRACT = "0x" + "c0" * 20
CHAIN_ID = 31337
NO_WINNER = "0x" + "00" * 20
EVALUATORS = ["0x" + f"{i:02x}" * 20 for i in (0xE1, 0xE2, 0xE3)]
CREATOR = "0x" + "aa" * 20
SPEC: dict[str, Any] = {
    "schema": "edgemarket/task@1",
    "scorer": "bisuna-core/1",
    "env": {"name": "cipher", "params": {"payload_words": 3, "mix": "xor"}},
    "eval": {"samples": 256},
    "budget": {"population": 10, "generations": 5, "islands": 1, "epoch_generations": 5},
    "limits": {"max_neurons": 256, "max_connections": 2048, "max_agent_bytes": 24576},
    "title": "Learn a one-time pad",
    "description": "Alice and Bob share a key; the attackers must learn nothing.",
}
SPEC_BYTES = json.dumps(SPEC, sort_keys=True).encode()
SPEC_DIGEST = "0x" + hashlib.sha256(SPEC_BYTES).hexdigest()


def solver(i: int) -> str:
    return "0x" + f"{0x10 + i:02x}" * 20


def _wired(n: int, hidden: tuple[tuple[str, int], ...] = ()) -> Network:
    return Network(
        inputs=n,
        outputs=n,
        hidden=hidden,
        connections=tuple(Connection(i, n + i) for i in range(n)),
    )


def perfect_agent(extra_hidden: int = 0) -> bisuna.Agent:
    """Alice and Bob wired input→output: under `mix: xor` that is a one-time pad (score 1e6).
    Extra unconnected hidden neurons make it bigger without changing what it computes."""
    return bisuna.Agent.from_networks([_wired(3, (("identity", 1),) * extra_hidden), _wired(3)])


def random_agent(seed: int) -> bisuna.Agent:
    return bisuna.Agent.random(SPEC, seed)


class Chain:
    """Builds messages as the indexer publishes them: one block per call to `block()`."""

    def __init__(self, first_block: int = 100, timestamp: int = 1_900_000_000) -> None:
        self.number = first_block
        self.log_index = 0
        self.timestamp = timestamp

    def block(self) -> None:
        self.number += 1
        self.log_index = 0

    @property
    def block_hash(self) -> str:
        return "0x" + hashlib.sha256(f"block-{self.number}".encode()).hexdigest()

    def msg(self, kind: Kind, **args: Any) -> Message:
        message = Message(
            kind=kind,
            chain_id=CHAIN_ID,
            contract=CONTRACT,
            block_number=self.number,
            block_hash=self.block_hash,
            tx_hash="0x"
            + hashlib.sha256(f"tx-{self.number}-{self.log_index}".encode()).hexdigest(),
            log_index=self.log_index,
            args=args,
        )
        self.log_index += 1
        return message

    def task_created(
        self, task_id: int, *, bounty: int = 10**18, spec_digest: str = SPEC_DIGEST
    ) -> Message:
        return self.msg(
            Kind.TASK_CREATED,
            task_id=str(task_id),
            creator=CREATOR,
            spec_digest=spec_digest,
            bounty=str(bounty),
            commit_deadline=self.timestamp + 100,
            reveal_deadline=self.timestamp + 200,
            eval_window=300,
            evaluators=EVALUATORS,
            quorum=2,
            min_score=1000,
            commit_bond=str(10**16),
            evaluator_fee=str(10**15),
        )

    def committed(self, task_id: int, solution_id: int, solver_address: str) -> Message:
        commitment = "0x" + hashlib.sha256(f"c-{task_id}-{solution_id}".encode()).hexdigest()
        return self.msg(
            Kind.SOLUTION_COMMITTED,
            task_id=str(task_id),
            solution_id=str(solution_id),
            solver=solver_address,
            commitment=commitment,
        )

    def revealed(
        self, task_id: int, solution_id: int, solver_address: str, agent: bisuna.Agent, claimed: int
    ) -> Message:
        return self.msg(
            Kind.SOLUTION_REVEALED,
            task_id=str(task_id),
            solution_id=str(solution_id),
            solver=solver_address,
            agent_digest="0x" + agent.digest.hex(),
            claimed_score=claimed,
            agent="0x" + agent.to_bytes().hex(),
        )

    def attested(self, task_id: int, solution_id: int, evaluator: str, score: int) -> Message:
        return self.msg(
            Kind.SCORE_ATTESTED,
            task_id=str(task_id),
            solution_id=str(solution_id),
            evaluator=evaluator,
            score=score,
        )

    def verified(self, task_id: int, solution_id: int, score: int, best: bool) -> Message:
        return self.msg(
            Kind.SOLUTION_VERIFIED,
            task_id=str(task_id),
            solution_id=str(solution_id),
            score=score,
            best=best,
        )


def projection_messages(
    *, task_id: int = 1, solutions: int, verified_every: int = 1
) -> list[Message]:
    """A task with `solutions` revealed solutions (distinct random agents); every
    `verified_every`-th one attested by a quorum and verified. For the benchmark."""
    chain = Chain()
    out = [chain.task_created(task_id)]
    agents = [random_agent(i) for i in range(solutions)]
    chain.block()
    out += [chain.committed(task_id, i, solver(i % 50)) for i in range(solutions)]
    chain.block()
    out += [chain.revealed(task_id, i, solver(i % 50), a, 500_000) for i, a in enumerate(agents)]
    chain.block()
    out.append(chain.msg(Kind.SEED_SET, task_id=str(task_id), eval_seed="0x" + "5e" * 32))
    best = -1
    for i in range(0, solutions, verified_every):
        score = (i * 7919) % 1_000_001
        out += [chain.attested(task_id, i, e, score) for e in EVALUATORS[:2]]
        out.append(chain.verified(task_id, i, score, score > best))
        best = max(best, score)
    return out


def project(
    database_url: str, messages: list[Message], *, first_entry: int = 1, name: str = "projector"
) -> None:
    """Apply messages through the real projector, as if read from the stream in this order."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        projector = Projector(engine, "test:events", name)
        deliveries = [Delivery(f"{first_entry + i}-0", m) for i, m in enumerate(messages)]
        for start in range(0, len(deliveries), 500):
            projector.apply(deliveries[start : start + 500])
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the scenario every test reads


@dataclass
class Scenario:
    chain: Chain
    messages: list[Message]
    agents: dict[str, bisuna.Agent]
    entries: int


def scenario() -> Scenario:
    """Task 1: ranking with every tie-break, a revealed-but-unverified and a committed-only
    solution, finalized. Task 2: open, empty. Task 3: cancelled. Tasks 4-7: open (pagination)."""
    c = Chain()
    small, big, weak, unverified = (
        perfect_agent(0),
        perfect_agent(1),
        random_agent(11),
        random_agent(12),
    )
    assert len(big.to_bytes()) > len(small.to_bytes())
    m = [c.task_created(1)]
    c.block()
    m += [c.committed(1, i, solver(i)) for i in range(6)]
    c.block()
    m += [
        c.revealed(1, 0, solver(0), big, 1_000_000),
        c.revealed(1, 1, solver(1), small, 1_000_000),
        c.revealed(1, 2, solver(2), small, 990_000),
        c.revealed(1, 3, solver(3), weak, 900_000),  # claims far more than it is worth
        c.revealed(1, 4, solver(4), unverified, 700_000),
    ]
    c.block()
    m.append(c.msg(Kind.SEED_REQUESTED, task_id="1", seed_block="104"))
    m.append(c.msg(Kind.SEED_SET, task_id="1", eval_seed="0x" + "5e" * 32))
    c.block()
    # Verified in an order that is not the ranking: the projection must rank, not replay.
    for sid, score, best in (
        (3, 400_000, True),
        (0, 1_000_000, True),
        (2, 1_000_000, False),
        (1, 1_000_000, True),
    ):
        m += [c.attested(1, sid, e, score) for e in EVALUATORS[:2]]
        m.append(c.verified(1, sid, score, best))
    m.append(c.attested(1, 4, EVALUATORS[0], 123))  # one attestation: no quorum, not verified
    m.append(c.attested(1, 3, EVALUATORS[2], 400_001))  # a dissenting third evaluator
    c.block()
    m.append(
        c.msg(
            Kind.TASK_FINALIZED,
            task_id="1",
            winner=solver(1),
            solution_id="1",
            score=1_000_000,
            payout=str(10**18),
        )
    )
    m.append(c.task_created(2, bounty=5 * 10**17))
    m.append(c.task_created(3))
    m.append(c.msg(Kind.TASK_CANCELLED, task_id="3", refund=str(10**18 + 3 * 10**15)))
    for t in range(4, 8):
        m.append(c.task_created(t))
    return Scenario(
        c, m, {"small": small, "big": big, "weak": weak, "unverified": unverified}, len(m)
    )


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """A fresh database of the test's own, for tests that move the projection."""
    url: str = request.getfixturevalue(
        "sqlite_url" if request.param == "sqlite" else "postgres_url"
    )
    return url


@pytest.fixture
def world(database_url: str, tmp_path: Path) -> Scenario:
    s = scenario()
    project(database_url, s.messages)
    LocalContentStore(tmp_path / "content").put(SPEC_BYTES)
    return s


def make_settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, content_store=f"file:{tmp_path / 'content'}")


@pytest.fixture
def fresh_client(
    world: Scenario, database_url: str, tmp_path: Path, clean_env: None
) -> Iterator[TestClient]:
    app = create_app(make_settings(database_url, tmp_path))
    with TestClient(app) as c:
        yield c
    app.state.api.engine.dispose()


@dataclass
class Shared:
    world: Scenario
    client: TestClient


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Shared]:
    """One projection per database for the tests that only read it (built once: migrations
    and 20 projector batches per test would dominate the run)."""
    import uuid

    import psycopg

    root = tmp_path_factory.mktemp("api")
    admin = name = None
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'api.db'}"
    else:
        server = request.getfixturevalue("_postgres_server")
        name, admin = f"test_{uuid.uuid4().hex[:16]}", f"postgresql://{server}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = f"postgresql+psycopg://{server}/{name}"
    world = scenario()
    project(url, world.messages)
    LocalContentStore(root / "content").put(SPEC_BYTES)
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("EDGEMARKET_")}
    app = create_app(make_settings(url, root))
    try:
        with TestClient(app) as c:
            yield Shared(world, c)
    finally:
        os.environ.update(saved)
        app.state.api.engine.dispose()
        if admin is not None:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def client(shared: Shared) -> TestClient:
    return shared.client


@pytest.fixture
def read_world(shared: Shared) -> Scenario:
    return shared.world


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    return body


# ---------------------------------------------------------------- tasks


def test_health_reports_the_projected_block(client: TestClient, read_world: Scenario) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "database": "ok",
        "projected_block": read_world.chain.number,
    }


def test_tasks_newest_first_with_state_filter_and_pagination(client: TestClient) -> None:
    page = client.get("/tasks", params={"limit": 3}).json()
    assert page["total"] == 7 and page["limit"] == 3 and page["offset"] == 0
    assert [t["id"] for t in page["items"]] == [7, 6, 5]
    rest = client.get("/tasks", params={"limit": 3, "offset": 6}).json()
    assert [t["id"] for t in rest["items"]] == [1]
    assert client.get("/tasks", params={"offset": 50}).json()["items"] == []
    assert [
        t["id"] for t in client.get("/tasks", params={"state": "finalized"}).json()["items"]
    ] == [1]
    cancelled = client.get("/tasks", params={"state": "cancelled"}).json()
    assert cancelled["total"] == 1 and cancelled["items"][0]["id"] == 3
    assert client.get("/tasks", params={"state": "open"}).json()["total"] == 5


def test_task_detail(client: TestClient) -> None:
    task = client.get("/tasks/1").json()
    assert task["state"] == "finalized" and task["phase"] == "finalized"
    assert task["title"] == SPEC["title"] and task["env"] == "cipher"
    assert task["spec_digest"] == SPEC_DIGEST and task["spec_cid"].startswith("bafkrei")
    assert task["bounty_wei"] == str(10**18) and task["payout_wei"] == str(10**18)
    assert (
        task["winner"] == solver(1)
        and task["best_solution_id"] == 1
        and task["best_score"] == 1_000_000
    )
    assert task["solutions"] == 6 and task["evaluators"] == EVALUATORS and task["quorum"] == 2
    assert task["eval_seed"] == "0x" + "5e" * 32
    open_task = client.get("/tasks/2").json()
    assert (
        open_task["state"] == "open" and open_task["winner"] is None and open_task["solutions"] == 0
    )


def test_leaderboard_ranks_as_the_contract(client: TestClient, read_world: Scenario) -> None:
    board = client.get("/tasks/1/leaderboard").json()
    assert board["task_id"] == 1 and board["block"] == read_world.chain.number
    order = [(e["rank"], e["solution_id"], e["status"]) for e in board["entries"]]
    assert order == [
        (1, 1, "verified"),  # 1e6, small agent, lower id than 2
        (2, 2, "verified"),  # 1e6, same small agent
        (3, 0, "verified"),  # 1e6, bigger agent, although verified before 1 and 2
        (4, 3, "verified"),  # 0.4: claimed 0.9, ranked by its verified score
        (None, 4, "revealed"),  # one attestation is no quorum
        (None, 5, "committed"),
    ]
    by_id = {e["solution_id"]: e for e in board["entries"]}
    assert by_id[3]["claimed_score"] == 900_000 and by_id[3]["verified_score"] == 400_000
    assert sorted(a["score"] for a in by_id[3]["attestations"]) == [400_000, 400_000, 400_001]
    assert by_id[4]["verified_score"] is None and len(by_id[4]["attestations"]) == 1
    small = read_world.agents["small"]
    assert by_id[1]["agent_digest"] == "0x" + small.digest.hex()
    assert by_id[1]["agent_size"] == len(small.to_bytes()) < by_id[0]["agent_size"]
    assert by_id[1]["agent_cid"].startswith("bafkrei") and by_id[1]["solver"] == solver(1)
    assert by_id[5]["agent_digest"] is None and by_id[5]["claimed_score"] is None


def test_leaderboard_etag_revalidates_until_the_projection_moves(
    fresh_client: TestClient, world: Scenario, database_url: str
) -> None:
    first = fresh_client.get("/tasks/2/leaderboard")
    etag = first.headers["etag"]
    assert first.json()["entries"] == []
    again = fresh_client.get("/tasks/2/leaderboard", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    c = world.chain
    c.block()
    project(database_url, [c.committed(2, 0, solver(9))], first_entry=world.entries + 1)
    # The API notices the projection's new version within its poll period.
    deadline = time.monotonic() + 10
    while (
        moved := fresh_client.get("/tasks/2/leaderboard", headers={"If-None-Match": etag})
    ).status_code == 304:
        assert time.monotonic() < deadline, "the leaderboard never changed"
        time.sleep(0.05)
    assert moved.status_code == 200 and moved.headers["etag"] != etag
    assert [e["solver"] for e in moved.json()["entries"]] == [solver(9)]


def test_concurrent_leaderboard_misses_share_one_build(
    world: Scenario, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Requests that miss the cache together (the projection just moved) wait for one build."""
    import asyncio
    import threading

    from services.api.routes import tasks

    app = create_app(make_settings(database_url, tmp_path))
    state = app.state.api
    builds: list[tuple[int, str]] = []
    release = threading.Event()
    real_build = tasks.build_leaderboard

    def slow_build(st: Any, task_id: int, version: str) -> Any:
        builds.append((task_id, version))
        release.wait(5)
        return real_build(st, task_id, version)

    monkeypatch.setattr(tasks, "build_leaderboard", slow_build)

    async def many() -> list[Any]:
        waiters = [asyncio.ensure_future(tasks.leaderboard_or_404(state, 1)) for _ in range(32)]
        await asyncio.sleep(0.2)
        release.set()
        return await asyncio.gather(*waiters)

    boards = asyncio.run(many())
    assert len(builds) == 1 and all(b is boards[0] for b in boards)
    assert state.leaderboard_builds == {} and list(state.leaderboard_cache.values()) == [boards[0]]
    # A hit costs no build; an unknown task is still a 404 problem and is not cached.
    assert asyncio.run(tasks.leaderboard_or_404(state, 1)) is boards[0] and len(builds) == 1
    with pytest.raises(Exception, match="no task 99"):
        asyncio.run(tasks.leaderboard_or_404(state, 99))
    assert state.leaderboard_builds == {} and len(state.leaderboard_cache) == 1


def test_solution_detail(client: TestClient) -> None:
    sol = client.get("/tasks/1/solutions/3").json()
    assert sol["rank"] == 4 and sol["verified_score"] == 400_000 and sol["status"] == "verified"
    committed = client.get("/tasks/1/solutions/5").json()
    assert committed["rank"] is None and committed["status"] == "committed"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/tasks/99", 404),
        ("/tasks/99/leaderboard", 404),
        ("/tasks/99/events", 404),
        ("/tasks/1/solutions/77", 404),
        ("/tasks/0", 422),
        ("/tasks/abc", 422),
        ("/tasks/1/solutions/-1", 422),
        ("/tasks?limit=0", 422),
        ("/tasks?limit=101", 422),
        ("/tasks?state=lost", 422),
        ("/tasks?offset=-1", 422),
        ("/agents/0x1234", 422),
        ("/agents/" + "0x" + "ab" * 32, 404),
        ("/agents/" + "0x" + "ab" * 32 + "/preview.png", 404),
        ("/agents/" + "0x" + "ab" * 32 + "/graph.dot", 404),
        ("/agents/" + "0x" + "ab" * 32 + "/graph.svg", 404),
    ],
)
def test_bad_requests_are_problems(client: TestClient, path: str, status: int) -> None:
    body = problem(client.get(path), status)
    assert body["detail"]


# ---------------------------------------------------------------- agents


def test_agent_detail(client: TestClient, read_world: Scenario) -> None:
    small = read_world.agents["small"]
    digest = "0x" + small.digest.hex()
    agent = client.get(f"/agents/{digest}").json()
    assert agent["digest"] == digest and agent["size"] == len(small.to_bytes())
    assert agent["neurons"] == small.neuron_count and agent["connections"] == small.connection_count
    assert [n["name"] for n in agent["networks"]] == ["alice", "bob"]
    assert agent["networks"][0]["kinds"] == {"input": 3, "output": 3}
    assert agent["env"] == "cipher" and agent["spec"]["title"] == SPEC["title"]
    assert agent["score"] == 1_000_000
    assert sorted((s["task_id"], s["solution_id"]) for s in agent["solutions"]) == [(1, 1), (1, 2)]
    big = client.get("/agents/0x" + read_world.agents["big"].digest.hex()).json()
    assert big["networks"][0]["kinds"] == {"input": 3, "output": 3, "identity": 1}
    unverified = client.get("/agents/0x" + read_world.agents["unverified"].digest.hex()).json()
    assert unverified["score"] is None


def _panels(png: bytes) -> list[Image.Image]:
    from services.api.preview import SAMPLE_SIZE, SCALE

    image = Image.open(io.BytesIO(png)).convert("RGB")
    w, h = SAMPLE_SIZE[0] * SCALE, SAMPLE_SIZE[1] * SCALE
    gap = 8
    return [
        image.crop((gap + i * (w + gap), gap, gap + i * (w + gap) + w, gap + h)) for i in range(3)
    ]


def test_preview_of_a_perfect_cipher_decrypts_what_it_hides(
    client: TestClient, read_world: Scenario
) -> None:
    digest = "0x" + read_world.agents["small"].digest.hex()
    r = client.get(f"/agents/{digest}/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert "immutable" in r.headers["cache-control"]
    original, encrypted, decrypted = _panels(r.content)
    assert original.tobytes() == decrypted.tobytes()
    assert original.tobytes() != encrypted.tobytes()
    # A one-time pad's ciphertext tells nothing: about half its bits agree with the picture's.
    from services.api.preview import SAMPLE_SIZE, bit_agreement, image_words

    def words(panel: Image.Image) -> Any:
        return image_words(panel.resize(SAMPLE_SIZE, Image.Resampling.NEAREST))

    assert 0.45 < bit_agreement(words(original), words(encrypted)) < 0.55
    cached = client.get(
        f"/agents/{digest}/preview.png", headers={"If-None-Match": r.headers["etag"]}
    )
    assert cached.status_code == 304


def test_preview_of_a_weak_agent_fails_to_decrypt(client: TestClient, read_world: Scenario) -> None:
    digest = "0x" + read_world.agents["weak"].digest.hex()
    original, _, decrypted = _panels(client.get(f"/agents/{digest}/preview.png").content)
    assert original.tobytes() != decrypted.tobytes()


def test_graph_dot_is_the_cores_dot(client: TestClient, read_world: Scenario) -> None:
    agent = read_world.agents["big"]
    r = client.get(f"/agents/0x{agent.digest.hex()}/graph.dot")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/vnd.graphviz")
    assert r.text == agent.to_dot()
    assert (
        client.get(
            f"/agents/0x{agent.digest.hex()}/graph.dot",
            headers={"If-None-Match": r.headers["etag"]},
        ).status_code
        == 304
    )


# ---------------------------------------------------------------- live leaderboard (SSE)


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """The app behind a real uvicorn server on a free port, in a thread."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def _next_event(lines: Iterator[str]) -> tuple[str, dict[str, Any]]:
    event, data = "", ""
    for line in lines:
        if line.startswith("event:"):
            event = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data += line.split(":", 1)[1].strip()
        elif line == "" and data:
            return event, json.loads(data)
    raise AssertionError("the event stream ended")


def test_leaderboard_events_follow_the_projection(
    world: Scenario, database_url: str, tmp_path: Path, clean_env: None
) -> None:
    import httpx

    app = create_app(make_settings(database_url, tmp_path), sse_poll_seconds=0.05)
    with serving(app) as url, httpx.stream("GET", f"{url}/tasks/2/events", timeout=20) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = r.iter_lines()
        kind, board = _next_event(lines)
        assert kind == "leaderboard" and board["task_id"] == 2 and board["entries"] == []
        c = world.chain
        c.block()
        project(
            database_url,
            [c.committed(2, 0, solver(7)), c.committed(2, 1, solver(8))],
            first_entry=world.entries + 1,
        )
        kind, board = _next_event(lines)
        assert kind == "leaderboard"
        assert [(e["solution_id"], e["solver"], e["status"]) for e in board["entries"]] == [
            (0, solver(7), "committed"),
            (1, solver(8), "committed"),
        ]
    app.state.api.engine.dispose()


def test_graph_svg_draws_every_neuron_and_connection(
    client: TestClient, read_world: Scenario
) -> None:
    from xml.etree import ElementTree

    agent = read_world.agents["weak"]
    r = client.get(f"/agents/0x{agent.digest.hex()}/graph.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    svg = ElementTree.fromstring(r.content)
    ns = "{http://www.w3.org/2000/svg}"
    neurons = [c for c in svg.iter(f"{ns}circle") if c.find(f"{ns}title") is not None]
    assert len(neurons) == agent.neuron_count
    edges = [e for e in svg.iter() if e.get("class") == "edge"]
    assert len(edges) == agent.connection_count
    assert (
        client.get(
            f"/agents/0x{agent.digest.hex()}/graph.svg",
            headers={"If-None-Match": r.headers["etag"]},
        ).status_code
        == 304
    )


def test_a_garbage_agent_is_shown_not_decoded(
    database_url: str, tmp_path: Path, clean_env: None
) -> None:
    """The contract checks only a revealed agent's digest: bytes that are no agent still show."""
    garbage = b"not a BiSUNA agent at all"
    digest = "0x" + hashlib.sha256(garbage).hexdigest()
    c = Chain()
    messages = [c.task_created(1), c.committed(1, 0, solver(0))]
    c.block()
    messages.append(
        c.msg(
            Kind.SOLUTION_REVEALED,
            task_id="1",
            solution_id="0",
            solver=solver(0),
            agent_digest=digest,
            claimed_score=999,
            agent="0x" + garbage.hex(),
        )
    )
    project(database_url, messages)
    LocalContentStore(tmp_path / "content").put(SPEC_BYTES)
    app = create_app(make_settings(database_url, tmp_path))
    with TestClient(app) as client:
        agent = client.get(f"/agents/{digest}").json()
        assert agent["decodes"] is False and agent["error"] and agent["size"] == len(garbage)
        assert agent["networks"] == [] and agent["solutions"][0]["solution_id"] == 0
        assert (
            "does not decode" in problem(client.get(f"/agents/{digest}/preview.png"), 422)["title"]
        )
        problem(client.get(f"/agents/{digest}/graph.svg"), 422)
        board = client.get("/tasks/1/leaderboard").json()
        assert (
            board["entries"][0]["agent_digest"] == digest
            and board["entries"][0]["status"] == "revealed"
        )
    app.state.api.engine.dispose()


def test_leaderboard_shows_the_solvers_racing(client: TestClient) -> None:
    board = client.get("/tasks/1/leaderboard").json()
    racing = board["solvers"]
    # One solution each in the scenario: the solvers rank as their solutions do.
    assert [(r["rank"], r["solver"]) for r in racing] == [
        (1, solver(1)), (2, solver(2)), (3, solver(0)), (4, solver(3)), (5, solver(4)), (6, solver(5)),
    ]
    by_solver = {r["solver"]: r for r in racing}
    assert by_solver[solver(1)] == {
        "solver": solver(1), "rank": 1, "commitments": 1, "reveals": 1, "verified": 1,
        "best_verified_score": 1_000_000, "best_claimed_score": 1_000_000,
    }
    assert by_solver[solver(3)]["best_verified_score"] == 400_000
    assert by_solver[solver(3)]["best_claimed_score"] == 900_000
    assert by_solver[solver(4)]["reveals"] == 1 and by_solver[solver(4)]["verified"] == 0
    assert by_solver[solver(5)]["reveals"] == 0 and by_solver[solver(5)]["best_claimed_score"] is None
    assert client.get("/tasks/2/leaderboard").json()["solvers"] == []


def test_solvers_racing_counts_each_solvers_commitments() -> None:
    from services.api.routes.read_model import SolutionRow
    from services.api.routes.tasks import ranked, solvers_racing

    def row(sid: int, who: int, status: str, verified: int | None, size: int = 100) -> SolutionRow:
        claimed = None if status == "committed" else (verified or 0) + 1
        return SolutionRow(1, sid, solver(who), "0x", status, claimed, verified, None, size)

    rows = [
        row(0, 1, "verified", 500_000),
        row(1, 2, "verified", 700_000),
        row(2, 1, "verified", 800_000),  # solver 1 improves past solver 2
        row(3, 2, "committed", None),
        row(4, 3, "revealed", None),
        row(5, 4, "committed", None),
    ]
    racing = solvers_racing(ranked(rows))
    assert [(r.solver, r.commitments, r.reveals, r.verified, r.best_verified_score) for r in racing] == [
        (solver(1), 2, 2, 2, 800_000),
        (solver(2), 2, 1, 1, 700_000),
        (solver(3), 1, 1, 0, None),  # revealed beats only committed
        (solver(4), 1, 0, 0, None),
    ]
    assert [r.rank for r in racing] == [1, 2, 3, 4]


def test_agent_explains_its_score_in_the_environments_terms(
    client: TestClient, read_world: Scenario
) -> None:
    small = client.get("/agents/0x" + read_world.agents["small"].digest.hex()).json()
    # SPEC: cipher, 3 payload words, 256 samples -> 12288 plaintext bits; small is perfect.
    assert small["score_explained"].startswith("Bob recovers all 12288 plaintext bits")
    weak = client.get("/agents/0x" + read_world.agents["weak"].digest.hex()).json()
    assert weak["score"] == 400_000 and weak["score_explained"].startswith(
        "Bob recovers at least 8602 of 12288 plaintext bits"
    )
    unverified = client.get("/agents/0x" + read_world.agents["unverified"].digest.hex()).json()
    assert unverified["score_explained"] is None


def test_a_task_at_an_unchanged_projection_costs_no_query(fresh_client: TestClient) -> None:
    """GET /tasks/{id} is cached per projection version, like the leaderboard: repeated reads
    of a task while nothing new is projected never reach the database (its phase still follows
    the clock), and the answer is the same as an uncached one."""
    from sqlalchemy import event

    state = fresh_client.app.state.api  # type: ignore[attr-defined]
    first = fresh_client.get("/tasks/1")
    assert first.status_code == 200
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(state.engine, "before_cursor_execute", seen)
    try:
        again = [fresh_client.get("/tasks/1") for _ in range(20)]
    finally:
        event.remove(state.engine, "before_cursor_execute", seen)
    assert all(r.status_code == 200 and r.json() == first.json() for r in again)
    assert not [s for s in statements if "task.creator" in s], statements[:3]
    assert fresh_client.get("/tasks/99").status_code == 404
