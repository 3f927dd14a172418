"""`edgemarket task`: create a task from a spec, show it, finalize it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.inputs import load_spec_file

if TYPE_CHECKING:
    from services.common.node import Node

app = typer.Typer(help="Tasks: create, show, finalize.", no_args_is_help=True)

WEI = 10**18


def parse_amount(value: str, what: str) -> int:
    """An amount in the native token (TFUEL/ether, decimals allowed) or `<n>wei`, as wei."""
    text = value.strip().lower()
    try:
        if text.endswith("wei"):
            wei = int(text[:-3])
        else:
            exact = Decimal(text) * WEI
            if exact != exact.to_integral_value():
                raise typer.BadParameter(f"{what} {value} has more than 18 decimals")
            wei = int(exact)
    except (InvalidOperation, ValueError) as exc:
        raise typer.BadParameter(
            f"{what} must be a number of tokens (e.g. 1.5) or <n>wei, got {value!r}"
        ) from exc
    if wei < 0:
        raise typer.BadParameter(f"{what} must not be negative")
    return wei


def _node(signed: bool) -> Node:
    from services.common.node import connect
    from services.common.settings import get_settings

    return connect(get_settings(), signed=signed)


@app.command("create")
def create(
    spec: Annotated[Path, typer.Option("--spec", help="Task spec (edgemarket/task@1 JSON).")],
    bounty: Annotated[str, typer.Option("--bounty", help="Bounty in TFUEL/ether (or <n>wei).")],
    evaluator: Annotated[
        list[str], typer.Option("--evaluator", "-e", help="Evaluator address (1 to 5; repeat).")
    ],
    quorum: Annotated[
        int | None, typer.Option(help="Agreeing evaluators needed (default: majority).")
    ] = None,
    commit_seconds: Annotated[int, typer.Option(help="Commit phase length.")] = 600,
    reveal_seconds: Annotated[int, typer.Option(help="Reveal phase length.")] = 300,
    eval_window: Annotated[
        int, typer.Option(help="Evaluation window after reveals (≥ 60 s).")
    ] = 300,
    min_score: Annotated[int, typer.Option(help="Least verified score that earns the bounty.")] = 0,
    bond: Annotated[str, typer.Option(help="Commit bond per solution.")] = "0",
    fee: Annotated[str, typer.Option(help="Fee per evaluator.")] = "0",
) -> None:
    """Upload the spec to the content store and create the task (signed by your key)."""
    from services.common import chain
    from services.common.content import open_content_store
    from services.common.settings import get_settings
    from services.requester import create_task

    task_spec = load_spec_file(spec)
    node = _node(signed=True)
    try:
        created = create_task(
            node,
            open_content_store(get_settings()),
            task_spec,
            bounty=parse_amount(bounty, "--bounty"),
            evaluators=evaluator,
            quorum=quorum,
            commit_seconds=commit_seconds,
            reveal_seconds=reveal_seconds,
            eval_window=eval_window,
            min_score=min_score,
            commit_bond=parse_amount(bond, "--bond"),
            evaluator_fee=parse_amount(fee, "--fee"),
        )
    except chain.ContractError as exc:
        typer.echo(f"the contract refused the task: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"task {created.task_id} created; spec {created.spec_cid}")
    typer.echo(f"commits close at {created.commit_deadline}, reveals at {created.reveal_deadline}")


@app.command("show")
def show(task_id: Annotated[int, typer.Argument(help="Task id.")]) -> None:
    """The task and its solutions, as the chain has them."""
    from services.common import chain
    from services.common.content import cid_of_digest

    market = _node(signed=False).market
    try:
        t = market.get_task(task_id)
    except chain.UnknownTask as exc:
        raise typer.BadParameter(f"there is no task {task_id}") from exc
    console = Console()
    console.print(
        f"task {task_id}: {t.state.name.lower()}  bounty {Decimal(t.bounty) / WEI} "
        f" spec {cid_of_digest(t.spec_digest)}"
    )
    console.print(
        f"commit < {t.commit_deadline} ≤ reveal < {t.reveal_deadline}; evaluation until {t.eval_deadline}; "
        f"quorum {t.quorum} of {len(t.evaluators)}; min score {t.min_score}"
    )
    if t.seed_sealed:
        console.print(f"evaluation seed 0x{t.eval_seed.hex()} (block {t.seed_block})")
    table = Table("solution", "solver", "claimed", "revealed", "verified score", "best")
    for sid in range(t.solution_count):
        s = market.get_solution(task_id, sid)
        best = "★" if t.has_best and t.best_solution_id == sid else ""
        table.add_row(
            str(sid),
            s.solver,
            str(s.claimed_score) if s.revealed else "-",
            "yes" if s.revealed else "no",
            str(s.score) if s.verified else "-",
            best,
        )
    console.print(table)


@app.command("finalize")
def finalize(task_id: Annotated[int, typer.Argument(help="Task id.")]) -> None:
    """Settle a task whose evaluation window is over (anyone may)."""
    from services.common import chain

    market = _node(signed=True).market
    try:
        tx = market.finalize(task_id)
    except chain.ContractError as exc:
        typer.echo(f"cannot finalize task {task_id}: {exc}", err=True)
        raise typer.Exit(1) from exc
    ev = tx.event(chain.TaskFinalized)
    if int(ev.winner, 16) == 0:
        typer.echo(f"task {task_id} finalized: no winner, {ev.payout} wei back to the creator")
    else:
        typer.echo(
            f"task {task_id} finalized: solution {ev.solution_id} of {ev.winner} wins {ev.payout} wei"
        )
