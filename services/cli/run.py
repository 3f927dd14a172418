"""`edgemarket run <service>`: one service in the foreground, as compose runs it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

if TYPE_CHECKING:
    from collections.abc import Callable

    from services.common.settings import Settings
    from services.scheduler.config import SolverSettings

S = TypeVar("S", bound="Settings")

app = typer.Typer(
    help="Run one service in the foreground (JSON logs on stderr).", no_args_is_help=True
)


def _settings() -> Settings:
    from services.common.settings import Settings

    return _settings_of(Settings)


def _settings_of(kind: type[S]) -> S:
    """The settings of one service read from the environment; bad ones exit 2 saying why."""
    from pydantic import ValidationError

    try:
        return kind()
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
        typer.echo(f"edgemarket indexer: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def projector() -> None:
    """Every stream message → the read model (EDGEMARKET_DATABASE_URL)."""
    from services.projector.service import ProjectorError, run

    try:
        run(_settings())
    except ProjectorError as e:
        typer.echo(f"edgemarket projector: {e}", err=True)
        raise typer.Exit(1) from None


@app.command()
def api(
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
) -> None:
    """The REST API and the web page over the read model (EDGEMARKET_DATABASE_URL)."""
    from services.api.service import run
    from services.common.settings import ApiSettings

    run(_settings_of(ApiSettings), host=host, port=port)


def _solver_settings() -> SolverSettings:
    from services.scheduler.config import SolverSettings

    return _settings_of(SolverSettings)


def _run_signed(name: str, start: Callable[[], None]) -> None:
    """Run a service that signs; configuration problems exit 1 with what to fix."""
    from services.common.chain import ChainError
    from services.common.keys import KeystoreError

    try:
        start()
    except (KeystoreError, ChainError) as e:
        typer.echo(f"edgemarket {name}: {e}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass


@app.command()
def scheduler() -> None:
    """The solver: task.created → Celery epochs → commit → reveal (EDGEMARKET_PRIVATE_KEY or _KEYSTORE)."""
    from services.scheduler.service import run

    settings = _solver_settings()
    _run_signed("scheduler", lambda: run(settings))


@app.command()
def keeper() -> None:
    """requestSeed, sealSeed and finalize for every task, then withdraw this key's credits."""
    from services.common.settings import KeeperSettings
    from services.keeper.service import run

    settings = _settings_of(KeeperSettings)
    _run_signed("keeper", lambda: run(settings))


@app.command()
def evaluator() -> None:
    """seed.set / solution.revealed → re-score in the C core → attestScore, once."""
    from services.evaluator.service import run

    settings = _settings()
    _run_signed("evaluator", lambda: run(settings))
