"""`edgemarket audit TASK_ID`: re-verify a task from the chain and the content store alone."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table


def audit(
    task_id: Annotated[int, typer.Argument(help="Task id.")],
    rpc_url: Annotated[
        str | None, typer.Option(help="JSON-RPC endpoint (default EDGEMARKET_RPC_URL).")
    ] = None,
    content_store: Annotated[
        str | None,
        typer.Option(help="file:<dir> or kubo:<url> (default EDGEMARKET_CONTENT_STORE)."),
    ] = None,
    contract: Annotated[
        str | None, typer.Option(help="Contract address (default: from the deployment file).")
    ] = None,
    from_block: Annotated[
        int, typer.Option(help="First block to read logs from (with --contract).")
    ] = 0,
) -> None:
    """Re-derive the seed, re-score every revealed solution, check attestations and payout.
    Exits 1 on any mismatch and names every evaluator whose attestation was wrong."""
    from services.common import chain
    from services.common.audit import audit_task
    from services.common.content import open_content_store
    from services.common.node import connect
    from services.common.settings import Settings, get_settings

    overrides = {k: v for k, v in {"rpc_url": rpc_url, "content_store": content_store}.items() if v}
    base = get_settings()
    settings = Settings(**{**base.model_dump(), **overrides}) if overrides else base
    if contract:
        from web3 import Web3

        from services.common.chain import Marketplace

        w3 = Web3(
            Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout})
        )
        market, start = Marketplace(w3, contract), from_block
    else:
        node = connect(settings, signed=False)
        market, start = node.market, node.deployment.block_number
    try:
        report = audit_task(market, open_content_store(settings), task_id, from_block=start)
    except chain.UnknownTask as exc:
        raise typer.BadParameter(f"there is no task {task_id} at {market.address}") from exc
    console = Console()
    seed = report.eval_seed_recomputed
    console.print(
        f"task {task_id} ({report.state}), spec {report.spec_cid}, seed block {report.seed_block}, "
        f"seed {'0x' + seed.hex() if seed else 'not sealed'}"
    )
    table = Table(
        "solution", "solver", "bytes", "claimed", "recomputed", "attestations", "verified", "ok"
    )
    for s in report.solutions:
        marks = ", ".join(
            f"{e[:10]}…={score}" + ("✗" if e in s.liars else "")
            for e, score in sorted(s.attestations.items())
        )
        ok = not s.liars and (s.verified_score is None or s.verified_score == s.recomputed)
        table.add_row(
            str(s.solution_id),
            s.solver,
            str(s.agent_size),
            str(s.claimed_score),
            "-"
            if s.recomputed is None
            else str(s.recomputed) + (f" ({s.reason})" if s.reason else ""),
            marks or "-",
            "-" if s.verified_score is None else str(s.verified_score),
            "✓" if ok else "✗",
        )
    console.print(table)
    if report.expected_winner:
        solver, sid, score = report.expected_winner
        console.print(f"expected winner: solution {sid} of {solver} at {score}")
    if report.honest_winner and report.honest_winner != report.expected_winner:
        solver, sid, score = report.honest_winner
        console.print(f"by the recomputed scores: solution {sid} of {solver} at {score}")
    if report.finalized:
        winner, sid, score, payout = report.finalized
        console.print(f"paid: {winner} (solution {sid}, score {score}), payout {payout} wei")
    for note in report.notes:
        console.print(f"note: {note}")
    for evaluator, solutions in sorted(report.liars.items()):
        console.print(
            f"[red]lying evaluator {evaluator}: wrong score on solution(s) {solutions}[/red]"
        )
    for problem in report.problems:
        console.print(f"[red]mismatch: {problem}[/red]")
    if not report.ok:
        raise typer.Exit(1)
    console.print("[green]audit passed: every score, the seed and the payout check out[/green]")
