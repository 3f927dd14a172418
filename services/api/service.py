"""`edgemarket run api`: serve the API and the web page with uvicorn."""

from __future__ import annotations

from services.common.settings import Settings


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted. One process: scale out with more processes behind a proxy.

    Request bodies are capped in the app (services.api.guard.MAX_REQUEST_BYTES); headers must
    arrive within HEADER_TIMEOUT_SECONDS and idle connections close after KEEP_ALIVE_SECONDS."""
    import uvicorn

    from services.api.app import create_app
    from services.api.guard import uvicorn_limits

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
        **uvicorn_limits(),  # header and keep-alive timeouts, a cap on connections
    )
