"""The `edgemarket` command: thin Typer subcommands over the services."""

import typer

app = typer.Typer(help="Edge Marketplace: evolve, verify and pay for BiSUNA agents.", no_args_is_help=True)


@app.callback()
def main() -> None:
    """Edge Marketplace command line."""


@app.command()
def version() -> None:
    """Print the versions of the marketplace and of the C core."""
    import bisuna

    typer.echo(f"edgemarket 0.1.0, bisuna-core {bisuna.__version__}")


from services.cli.keys import app as keys_app  # noqa: E402

app.add_typer(keys_app, name="keys")
from services.cli.contract import app as contract_app  # noqa: E402

app.add_typer(contract_app, name="contract")

if __name__ == "__main__":
    app()
