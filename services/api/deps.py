"""What every route depends on: the read-model session, the content store, conditional responses."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request, Response
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.common.json_input import JsonObject

if TYPE_CHECKING:
    from services.api.renders import Renders
    from services.common.content import ContentStore
    from services.common.settings import Settings


@dataclass
class ApiState:
    """Everything the routes share, built once by `create_app` and kept on `app.state.api`."""

    settings: Settings
    engine: Engine
    content: ContentStore | None
    # Leaderboards are cached per (task, projected block): a block is the unit of change.
    leaderboard_cache: dict[tuple[int, str], Any] = field(default_factory=dict)  # Any: routes.tasks owns the value type; deps must not import the routes
    # The builds under way, per cache key: concurrent misses share one build (see
    # routes.tasks.leaderboard_or_404) instead of each running its own.
    leaderboard_builds: dict[tuple[int, str], asyncio.Future[Any]] = field(default_factory=dict)  # Any: as above
    # Task rows per (task, projection version): GET /tasks/{id} between two projected
    # messages costs no query and no thread (routes.tasks.get_task).
    task_rows: dict[tuple[int, str], Any] = field(default_factory=dict)  # Any: as above
    # Specs and previews are immutable: keyed by digest.
    spec_summaries: dict[str, JsonObject] = field(default_factory=dict)
    # Previews and graphs: rendered in a bounded pool, single-flight, cached by agent digest.
    renders: Renders = field(default_factory=lambda: _renders())
    sse_poll_seconds: float = 0.5
    # The projection's version (see read_model.projection_version), refreshed by
    # `watch_projection` while the app runs; None: ask the database per request.
    version: str | None = None
    version_poll_seconds: float = 0.1


def _renders() -> Renders:
    from services.api.renders import Renders

    return Renders()


def state_of(request: Request) -> ApiState:
    """The app's ApiState; hot routes call this directly rather than through Depends."""
    state: ApiState = request.app.state.api
    return state


async def version_now(state: ApiState) -> str:
    """The version `watch_projection` keeps, or (before its first read, or with the database
    away) one read now on a worker thread: the key of every per-version cache."""
    if state.version is not None:
        return state.version
    return await asyncio.to_thread(current_version, state)


async def api_state(request: Request) -> ApiState:
    # async: a plain function dependency would cost a thread-pool round trip per request.
    return state_of(request)


def current_version(state: ApiState) -> str:
    from services.api.routes.read_model import projection_version

    with state.engine.connect() as conn:
        return projection_version(conn)


async def watch_projection(state: ApiState) -> None:
    """Keep `state.version` current: one small query per period, whatever the request rate."""
    while True:
        try:
            state.version = await asyncio.to_thread(current_version, state)
        except Exception:
            state.version = None  # no tables yet, or the database is away: per-request reads
        await asyncio.sleep(state.version_poll_seconds)


def db_session(state: Annotated[ApiState, Depends(api_state)]) -> Iterator[Session]:
    with Session(state.engine) as session:
        yield session


State = Annotated[ApiState, Depends(api_state)]
DB = Annotated[Session, Depends(db_session)]


def etag_of(*parts: bytes | str) -> str:
    """A strong ETag over the given parts (the identity of an immutable resource)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\x00")
    return f'"{h.hexdigest()[:32]}"'


def not_modified(request: Request, etag: str) -> bool:
    """True when the client's If-None-Match already names this representation."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags


IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


def conditional(
    request: Request, response: Response, etag: str, cache_control: str
) -> Response | None:
    """Set ETag and Cache-Control; return a 304 response if the client is up to date."""
    response.headers["ETag"] = etag
    response.headers["Cache-Control"] = cache_control
    if not_modified(request, etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
    return None
