"""`edgemarket content serve`: the content store directory over HTTP, for other machines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The content store (specs and revealed agents).", no_args_is_help=True)


@app.command()
def serve(
    directory: Annotated[
        Path, typer.Option("--dir", help="The store's directory (what file:<dir> names).")
    ] = Path(".edgemarket/content"),
    host: Annotated[
        str, typer.Option(help="Interface to listen on: a private network's address.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (Kubo's is 5001).")] = 5001,
) -> None:
    """Serve a content store directory to workers and evaluators on other machines; they set
    EDGEMARKET_CONTENT_STORE=kubo:http://HOST:PORT (it answers Kubo's add, cat and pin/add)."""
    from services.common.content_server import ContentServer
    from services.common.logs import configure_logging

    configure_logging("INFO")
    try:
        server = ContentServer(directory, host, port)
    except OSError as exc:
        typer.echo(f"edgemarket content serve: cannot listen on {host}:{port}: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"serving {directory} at {server.url} (kubo:{server.url})", err=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
