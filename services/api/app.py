"""The API application: the read model over HTTP, the web page, problems for every error."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.telemetry import TelemetryConfig
from sqlalchemy.engine import Engine

from services.api.deps import ApiState, watch_projection
from services.api.problems import install_problem_handlers
from services.api.routes import agents, chain, events, health, specs, tasks

if TYPE_CHECKING:
    from services.common.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_app(
    settings: Settings, *, engine: Engine | None = None, sse_poll_seconds: float = 0.5
) -> FastAPI:
    """Build the app over the projection named by `settings.database_url` (or the given engine)."""
    from services.common.content import open_content_store

    if engine is None:
        engine = make_engine(settings.database_url)
    state = ApiState(
        settings=settings,
        engine=engine,
        content=open_content_store(settings),
        sse_poll_seconds=sse_poll_seconds,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = asyncio.create_task(watch_projection(state))
        try:
            yield
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    app = FastAPI(
        lifespan=lifespan,
        title="Edge Marketplace API",
        version="0.1.0",
        summary="Tasks, solutions, verified leaderboards and agents of the BiSUNA compute marketplace.",
        docs_url="/docs",
        redoc_url=None,
        telemetry=None if _telemetry_on(settings) else NO_TELEMETRY,
    )
    app.state.api = state
    install_problem_handlers(app)
    for router in (
        health.router,
        tasks.router,
        agents.router,
        specs.router,
        events.router,
        chain.router,
    ):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> RedirectResponse:
        return RedirectResponse("/static/index.html")

    return app


def _telemetry_on(settings: Settings) -> bool:
    """Only `ApiSettings` can turn it on; plain `Settings` (tests, embedding) leave it off."""
    from services.common.settings import ApiSettings

    return isinstance(settings, ApiSettings) and settings.api_telemetry


def make_engine(database_url: str) -> Engine:
    """The projector's engine recipe (SQLite: WAL and a busy timeout, so reads wait out writes)."""
    from services.common.database import make_engine as engine_of

    return engine_of(database_url)
