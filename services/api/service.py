"""`edgemarket run api`: serve the API and the web page with uvicorn."""

from __future__ import annotations

from services.common.settings import Settings


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve until interrupted. One process: scale out with more processes behind a proxy."""
    import uvicorn

    from services.api.app import create_app

    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
    )
