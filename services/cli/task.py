"""`edgemarket task`: create a task from a spec, show it, finalize it."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli import human
from services.cli.inputs import load_spec_file

if TYPE_CHECKING:
    from services.common.chain import TaskFinalized, TaskInfo
    from services.common.content import ContentStore
    from services.common.node import Node

app = typer.Typer(help="Tasks: create, list, show, finalize.", no_args_is_help=True)

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


def parse_min_score(value: str) -> int:
    """The least verified score as a fraction 0..1 (as the page and `task show` write it),
    into the contract's 0..1,000,000."""
    try:
        fraction = Decimal(value.strip())
    except InvalidOperation as exc:
        raise typer.BadParameter(f"--min-score must be a fraction 0..1, got {value!r}") from exc
    if not 0 <= fraction <= 1:
        raise typer.BadParameter(
            f"--min-score is a fraction of the best score, 0..1 (e.g. 0.95), got {value}"
        )
    units = fraction * human.SCORE_MAX
    if units != units.to_integral_value():
        raise typer.BadParameter(f"--min-score {value} has more than 6 decimals")
    return int(units)


def _node(signed: bool) -> Node:
    from services.common.node import connect
    from services.common.settings import get_settings

    return connect(get_settings(), signed=signed)


def _services_store(node: Node) -> tuple[ContentStore | None, str, str]:
    """The content store the stack's services read, if this CLI can know it: the `--stack`
    one, or the one in the stack.json beside the deployment file. (None: the configured one.)"""
    from services.cli.stack import active_stack, stack_of_deployment
    from services.common.content import LocalContentStore, open_content_store
    from services.common.settings import Settings, get_settings

    settings = get_settings()
    stack = active_stack() or stack_of_deployment(settings.deployment_path(node.deployment.chain_id))
    if stack is None:
        return None, settings.content_store, "check EDGEMARKET_CONTENT_STORE"
    fix = (
        f"use the stack's settings: `export EDGEMARKET_STACK={stack.run_dir}` (or --stack), or "
        f"set EDGEMARKET_CONTENT_STORE={stack.content_store}"
    )
    if stack.content_store.startswith("file:"):
        return LocalContentStore(stack.content_store.removeprefix("file:")), stack.content_store, fix
    store = open_content_store(Settings(content_store=stack.content_store))
    return store, stack.content_store, fix


@app.command("create")
def create(
    spec: Annotated[
        Path, typer.Option("--spec", help="Task spec (JSON, or JSONC from `edgemarket spec new`).")
    ],
    bounty: Annotated[str, typer.Option("--bounty", help="Bounty in TFUEL (or <n>wei).")],
    evaluator: Annotated[
        list[str],
        typer.Option("--evaluator", "-e", help="Evaluator address (1 to 5; repeat)."),
    ],
    quorum: Annotated[
        int | None, typer.Option(help="Agreeing evaluators needed (default: majority).")
    ] = None,
    commit_seconds: Annotated[int, typer.Option(help="Commit phase length.")] = 600,
    reveal_seconds: Annotated[int, typer.Option(help="Reveal phase length.")] = 300,
    eval_window: Annotated[
        int, typer.Option(help="Evaluation window after reveals (≥ 60 s).")
    ] = 300,
    min_score: Annotated[
        str, typer.Option(help="Least verified score that earns the bounty, 0..1 (e.g. 0.9).")
    ] = "0",
    bond: Annotated[str, typer.Option(help="Commit bond per solution, TFUEL.")] = "0",
    fee: Annotated[str, typer.Option(help="Fee per evaluator, TFUEL.")] = "0",
) -> None:
    """Check the task, store the spec where the stack's services read it, create the task.

    Nothing is sent (no money moves) unless the spec is valid for this core, the evaluators
    are addresses and the stack's services can read the spec back."""
    from services.common import chain
    from services.common.content import open_content_store
    from services.common.settings import get_settings
    from services.common.task_checks import check_evaluators, check_spec
    from services.requester import create_task

    task_spec = load_spec_file(spec)
    bounty_wei = parse_amount(bounty, "--bounty")
    if bounty_wei == 0:
        raise typer.BadParameter("--bounty must be more than 0")
    min_units = parse_min_score(min_score)
    # The offline checks first: no connection needed to refuse a spec or an address.
    check_spec(task_spec)
    check_evaluators(evaluator)
    node = _node(signed=True)
    services_store, where, fix = _services_store(node)
    try:
        created = create_task(
            node,
            open_content_store(get_settings()),
            task_spec,
            bounty=bounty_wei,
            evaluators=evaluator,
            quorum=quorum,
            commit_seconds=commit_seconds,
            reveal_seconds=reveal_seconds,
            eval_window=eval_window,
            min_score=min_units,
            commit_bond=parse_amount(bond, "--bond"),
            evaluator_fee=parse_amount(fee, "--fee"),
            services_store=services_store,
            services_store_name=where,
            store_fix=fix,
        )
    except chain.ContractError as exc:
        typer.echo(f"error: the contract refused the task (nothing was spent): {exc}", err=True)
        raise typer.Exit(1) from exc
    now = node.next_block_time()
    typer.echo(f"task {created.task_id} created; spec {created.spec_cid}")
    typer.echo(
        f"bounty {human.tfuel(bounty_wei)} escrowed; commits close "
        f"{human.when(created.commit_deadline, now)}, reveals "
        f"{human.when(created.reveal_deadline, now)}"
    )
    typer.echo(f"follow it: edgemarket task show {created.task_id}")


def _phase(t: TaskInfo, now: int) -> tuple[str, int | None]:
    """The task's phase and when it ends (None: no deadline ahead)."""
    state = t.state.name.lower()
    if state != "open":
        return state, None
    if now < t.commit_deadline:
        return "commit", t.commit_deadline
    if now < t.reveal_deadline:
        return "reveal", t.reveal_deadline
    if now < t.eval_deadline:
        return "evaluation", t.eval_deadline
    return "ready to finalize", None


def _finalized_event(node: Node, task_id: int) -> TaskFinalized | None:
    from services.common import chain

    for logged in node.market.get_events(node.deployment.block_number):
        ev = logged.event
        if isinstance(ev, chain.TaskFinalized) and ev.task_id == task_id:
            return ev
    return None


@app.command("list")
def list_tasks() -> None:
    """Every task: phase, bounty, best verified score, time left."""
    node = _node(signed=False)
    market = node.market
    now = node.next_block_time()
    table = Table("task", "phase", "bounty", "best verified", "time left", "ends")
    for task_id in range(1, market.task_count() + 1):
        t = market.get_task(task_id)
        phase, ends = _phase(t, now)
        table.add_row(
            str(task_id),
            phase,
            human.tfuel(t.bounty),
            human.score(t.best_score) if t.has_best else "-",
            human.duration(ends - now) if ends is not None else "-",
            human.when(ends, now).split(" ")[0] if ends is not None else "-",
        )
    Console().print(table if table.row_count else "no tasks yet")


@app.command("show")
def show(task_id: Annotated[int, typer.Argument(help="Task id.")]) -> None:
    """The task and its solutions, as the chain has them: phase, deadlines, payout, fees."""
    from services.common import chain
    from services.common.content import cid_of_digest

    node = _node(signed=False)
    market = node.market
    try:
        t = market.get_task(task_id)
    except chain.UnknownTask as exc:
        raise typer.BadParameter(f"there is no task {task_id}") from exc
    now = node.next_block_time()
    phase, ends = _phase(t, now)
    console = Console()
    state = t.state.name.lower()
    left = f", {human.duration(ends - now)} left" if ends is not None else ""
    status = state if phase == state else f"{state} ({phase}{left})"
    console.print(
        f"task {task_id}: {status}  bounty {human.tfuel(t.bounty)}"
        f"  spec {cid_of_digest(t.spec_digest)}"
    )
    console.print(f"  commits close   {human.when(t.commit_deadline, now)}")
    console.print(f"  reveals close   {human.when(t.reveal_deadline, now)}")
    console.print(f"  evaluation ends {human.when(t.eval_deadline, now)}")
    n = len(t.evaluators)
    console.print(
        f"  quorum {t.quorum} of {n}; min score {human.score(t.min_score)}; "
        f"commit bond {human.tfuel(t.commit_bond)}; evaluator fee {human.tfuel(t.evaluator_fee)} "
        f"each ({human.tfuel(t.evaluator_fee * n)} for {n})"
    )
    if t.seed_sealed:
        console.print(f"  evaluation seed 0x{t.eval_seed.hex()} (block {t.seed_block})")
    if state == "finalized":
        ev = _finalized_event(node, task_id)
        if ev is None:
            console.print("  finalized (its TaskFinalized event is not in this node's logs)")
        elif int(ev.winner, 16) == 0:
            console.print(f"  no winner: payout {human.tfuel(ev.payout)} refunded to the creator")
        else:
            console.print(
                f"  winner {ev.winner} (solution {ev.solution_id}, score {human.score(ev.score)}): "
                f"payout {human.tfuel(ev.payout)}"
            )
    table = Table("solution", "solver", "claimed", "revealed", "verified score", "best")
    for sid in range(t.solution_count):
        s = market.get_solution(task_id, sid)
        best = "★" if t.has_best and t.best_solution_id == sid else ""
        table.add_row(
            str(sid),
            s.solver,
            human.score(s.claimed_score) if s.revealed else "-",
            "yes" if s.revealed else "no",
            human.score(s.score) if s.verified else "-",
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
        typer.echo(
            f"task {task_id} finalized: no winner, {human.tfuel(ev.payout)} back to the creator"
        )
    else:
        typer.echo(
            f"task {task_id} finalized: solution {ev.solution_id} of {ev.winner} wins "
            f"{human.tfuel(ev.payout)}"
        )
