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
from services.cli.up import demo as demo_command  # noqa: E402
from services.cli.up import up as up_command  # noqa: E402

app.command("up")(up_command)
app.command("demo")(demo_command)
from services.cli.run import app as run_app  # noqa: E402

app.add_typer(run_app, name="run")
from services.cli.agent import app as agent_app  # noqa: E402
from services.cli.audit import audit  # noqa: E402
from services.cli.content import app as content_app  # noqa: E402
from services.cli.evolve import evolve  # noqa: E402
from services.cli.score import score  # noqa: E402
from services.cli.task import app as task_app  # noqa: E402
from services.cli.worker import worker  # noqa: E402

app.add_typer(task_app, name="task")
app.add_typer(agent_app, name="agent")
app.add_typer(content_app, name="content")
app.command("evolve")(evolve)
app.command("score")(score)
app.command("audit")(audit)
app.command("worker")(worker)

if __name__ == "__main__":
    app()
