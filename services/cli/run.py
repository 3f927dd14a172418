"""`edgemarket run <service>`: one service in the foreground, as compose runs it."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.common.settings import Settings

app = typer.Typer(
    help="Run one service in the foreground (JSON logs on stderr).", no_args_is_help=True
)


def _settings() -> Settings:
    from pydantic import ValidationError

    from services.common.settings import Settings

    try:
        return Settings()
    except ValidationError as e:
        typer.echo(f"edgemarket: bad settings: {e}", err=True)
        raise typer.Exit(2) from None


@app.command()
def indexer() -> None:
    """Contract events → the Redis stream (EDGEMARKET_RPC_URL, _REDIS_URL, _STREAM, ...)."""
    from services.indexer.service import IndexerError, run

    try:
        run(_settings())
    except IndexerError as e:
        print(f"edgemarket indexer: {e}", file=sys.stderr)
        raise typer.Exit(1) from None


@app.command()
def projector() -> None:
    """Every stream message → the read model (EDGEMARKET_DATABASE_URL)."""
    from services.api.projector import ProjectorError, run

    try:
        run(_settings())
    except ProjectorError as e:
        print(f"edgemarket projector: {e}", file=sys.stderr)
        raise typer.Exit(1) from None


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
) -> None:
    """The REST API and the web page over the read model (EDGEMARKET_DATABASE_URL)."""
    from services.api.service import run

    run(_settings(), host=host, port=port)
