"""`edgemarket keys`: create or import an encrypted keystore."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from services.common import keys

app = typer.Typer(
    help="Encrypted keystores for solvers, evaluators and requesters.", no_args_is_help=True
)

PASSWORD_ENV = "EDGEMARKET_KEYSTORE_PASSWORD"
PRIVATE_KEY_ENV = "EDGEMARKET_PRIVATE_KEY"


def _password() -> str:
    # The password comes from the environment (services, scripts) or a hidden prompt, never argv.
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    value: str = typer.prompt("Keystore password", hide_input=True, confirmation_prompt=True)
    return value


@app.command("new")
def new(
    path: Annotated[Path, typer.Argument(help="Where to write the keystore (JSON, mode 0600).")],
) -> None:
    """Create a fresh key and store it encrypted."""
    try:
        account = keys.new_keystore(path, _password())
    except keys.KeystoreError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"{account.address} -> {path}")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Where to write the keystore (JSON, mode 0600).")],
    chain_id: Annotated[
        int, typer.Option("--chain-id", help="Chain the key is for (dev keys only on 31337).")
    ],
) -> None:
    """Encrypt an existing private key, read from EDGEMARKET_PRIVATE_KEY or a hidden prompt."""
    private_key = os.environ.get(PRIVATE_KEY_ENV) or typer.prompt("Private key", hide_input=True)
    try:
        account = keys.import_keystore(path, private_key, _password(), chain_id=chain_id)
    except keys.KeystoreError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"{account.address} -> {path}")


@app.command("show")
def show(path: Annotated[Path, typer.Argument(help="A keystore file.")]) -> None:
    """Print a keystore's address (no password needed)."""
    import json

    try:
        address = json.loads(path.read_text())["address"]
    except (OSError, ValueError, KeyError) as exc:
        raise typer.BadParameter(f"{path} is not a keystore: {exc}") from exc
    typer.echo("0x" + str(address).removeprefix("0x"))
