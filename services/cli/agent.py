"""`edgemarket agent show`: what an agent is made of."""

from __future__ import annotations

import hashlib
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.inputs import load_agent_arg
from services.common.json_input import JsonObject

app = typer.Typer(help="Inspect agents.", no_args_is_help=True)


@app.command("show")
def show(
    agent: Annotated[str, typer.Argument(help="A file, 0x-hex bytes, or a digest/CID.")],
    dot: Annotated[bool, typer.Option(help="Print Graphviz DOT instead of the table.")] = False,
) -> None:
    """Describe an agent: networks, neurons by kind, connections."""
    import bisuna

    data = load_agent_arg(agent)
    try:
        decoded = bisuna.Agent.from_bytes(data)
    except bisuna.BisunaError as exc:
        raise typer.BadParameter(f"not an agent: {exc}") from exc
    if dot:
        typer.echo(decoded.to_dot())
        return
    console = Console()
    console.print(
        f"agent sha256 0x{hashlib.sha256(data).hexdigest()}  {len(data)} bytes  "
        f"{decoded.networks} network(s)"
    )
    description: JsonObject = decoded.describe()
    table = Table("network", "inputs", "outputs", "hidden", "connections", "hidden by kind")
    for i, net in enumerate(description["networks"]):
        kinds = net["neurons_by_kind"]
        table.add_row(
            str(i),
            str(net["inputs"]),
            str(net["outputs"]),
            str(net["hidden"]),
            str(net["connections"]),
            ", ".join(f"{k} {v}" for k, v in kinds.items()) or "-",
        )
    console.print(table)
