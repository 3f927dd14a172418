"""`edgemarket evolve`: evolve a spec's agent locally, with a progress bar and the fitness curve."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from services.cli.inputs import load_spec_file, neuron_summary

SPARKS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[int], width: int = 60) -> str:
    """A one-line plot of `values` (0..1e6 fitness), resampled to at most `width` columns."""
    if not values:
        return ""
    step = max(1, -(-len(values) // width))
    cols = [max(values[i : i + step]) for i in range(0, len(values), step)]
    lo, hi = min(cols), max(cols)
    span = (hi - lo) or 1
    return "".join(SPARKS[1 + (v - lo) * (len(SPARKS) - 2) // span] for v in cols)


def evolve(
    spec: Annotated[Path, typer.Option("--spec", help="A task spec (edgemarket/task@1 JSON).")],
    seed: Annotated[int, typer.Option(help="Population seed (64-bit).")] = 1,
    generations: Annotated[
        int | None, typer.Option(help="Generations (default: the spec's budget).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Write the best agent's bytes here.")] = None,
    strategy: Annotated[
        str, typer.Option(help="Search strategy: suna (the published BiSUNA) or es.")
    ] = "suna",
) -> None:
    """Evolve an agent for a spec on this machine (no chain, no workers)."""
    import bisuna

    task_spec = load_spec_file(spec, runnable=True)
    gens = generations if generations is not None else task_spec.budget.generations
    if gens < 1:
        raise typer.BadParameter("--generations must be at least 1")
    console = Console()
    if strategy not in bisuna.strategies():
        raise typer.BadParameter(
            f"unknown strategy {strategy!r}; known: {', '.join(bisuna.strategies())}",
            param_hint="--strategy",
        )
    population = bisuna.Population(task_spec.to_dict(), seed, strategy=strategy)
    with Progress(
        TextColumn("[bold]evolving"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]:>7}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        job = bar.add_task("evolve", total=gens, best=0)

        def progress(gen: int, best: int) -> None:
            bar.update(job, completed=gen, best=best)

        population.evolve(gens, on_progress=progress)
        bar.update(job, completed=gens, best=int(population.best_fitness))
    best = population.best()
    history = [int(v) for v in population.history.best]
    console.print(
        f"fitness  {sparkline(history)}  {history[0] if history else 0} → "
        f"{int(population.best_fitness)}"
    )
    console.print(
        f"best agent: {len(best.to_bytes())} bytes, {neuron_summary(best.describe())}, "
        f"{best.connection_count} connections, sha256 0x{best.digest.hex()}"
    )
    if out is not None:
        out.write_bytes(best.to_bytes())
        console.print(f"written to {out}")
