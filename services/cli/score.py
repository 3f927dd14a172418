"""`edgemarket score`: score an agent for a spec on an evaluation seed, as evaluators do."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from services.cli.inputs import load_agent_arg, load_spec_file, read_hex


def score(
    agent: Annotated[str, typer.Argument(help="Agent: a file, 0x-hex bytes, or a digest/CID.")],
    spec: Annotated[Path, typer.Option("--spec", help="The task spec (JSON).")],
    seed: Annotated[str, typer.Option("--seed", help="Evaluation seed, 32 bytes of hex.")],
) -> None:
    """Print the agent's integer score (0..1000000) and, for a forced 0, why."""
    from services.common.scoring import CannotScore, score_agent

    task_spec = load_spec_file(spec, runnable=True)
    eval_seed = read_hex(seed, "--seed", 32)
    try:
        verdict = score_agent(load_agent_arg(agent), task_spec, eval_seed)
    except CannotScore as exc:
        typer.echo(f"cannot score: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(str(verdict.score))
    if verdict.reason:
        typer.echo(verdict.reason, err=True)
