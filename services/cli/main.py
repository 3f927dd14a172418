"""The `edgemarket` command: thin Typer subcommands over the services."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Edge Marketplace: evolve, verify and pay for BiSUNA agents.", no_args_is_help=True)

_debug = False


@app.callback()
def main(
    ctx: typer.Context,
    stack: Annotated[
        Path | None,
        typer.Option(
            "--stack",
            envvar="EDGEMARKET_STACK",
            help="Use the stack `edgemarket up --run-dir RUN_DIR` runs: its chain, contract, "
            "content store and requester key.",
            metavar="RUN_DIR",
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the traceback of an error, not one line.")
    ] = False,
) -> None:
    """Edge Marketplace command line."""
    global _debug
    _debug = debug
    # `up` and `demo` start a stack (each with its own --run-dir); `run` and `worker` are the
    # stack's own services, configured by it: none of them takes --stack.
    if stack is not None and ctx.invoked_subcommand not in ("up", "demo", "run", "worker"):
        from services.cli.stack import use_stack

        use_stack(stack)


_GLOBAL_FLAGS = ("--debug",)
_GLOBAL_OPTIONS = ("--stack",)


def hoist_global_options(argv: list[str]) -> list[str]:
    """`--stack DIR` and `--debug` anywhere on the line, moved before the subcommand (where
    the app's callback reads them), so `edgemarket task create --stack DIR ...` works too."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg in _GLOBAL_FLAGS:
            front.append(arg)
        elif arg in _GLOBAL_OPTIONS and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        elif arg.startswith(tuple(o + "=" for o in _GLOBAL_OPTIONS)):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def run(argv: list[str] | None = None) -> None:
    """The `edgemarket` entry point: known failures print one line with the fix (exit 1)."""
    # Typer vendors its own click (typer._click): its exceptions are not the click package's.
    from typer._click import exceptions as click

    from services.cli.errors import explain

    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in args
    try:
        code = app(args, prog_name="edgemarket", standalone_mode=False)
    except click.NoArgsIsHelpError as exc:
        typer.echo(exc.format_message())
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        # A bad option or value: one line, naming the command's --help.
        where = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx else ""
        hint = f" (see `{where} --help`)" if where else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)
        raise SystemExit(exc.exit_code) from None
    except typer.Abort:
        typer.echo("aborted", err=True)
        raise SystemExit(1) from None
    except Exception as exc:
        line = None if _debug or debug else explain(exc)
        if line is None:
            raise
        typer.echo(f"error: {line}", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)


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
from services.cli.spec import app as spec_app  # noqa: E402
from services.cli.task import app as task_app  # noqa: E402
from services.cli.worker import worker  # noqa: E402

app.add_typer(spec_app, name="spec")
app.add_typer(task_app, name="task")
app.add_typer(agent_app, name="agent")
app.add_typer(content_app, name="content")
app.command("evolve")(evolve)
app.command("score")(score)
app.command("audit")(audit)
app.command("worker")(worker)

if __name__ == "__main__":
    run()
