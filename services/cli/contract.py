"""`edgemarket contract`: deploy the EdgeMarketplace contract and record where it lives."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from web3 import Web3

from services.common.chain import (
    ChainError,
    Deployment,
    DeploymentError,
    Marketplace,
    deploy,
    load_artifact,
)
from services.common.keys import KeystoreError, key_source_of, load_account
from services.common.settings import get_settings

app = typer.Typer(help="The EdgeMarketplace contract.", no_args_is_help=True)
console = Console()


@app.command("deploy")
def deploy_command(
    force: Annotated[
        bool, typer.Option("--force", help="Deploy again even if the recorded deployment is live.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(help="Deployment file to write (default: deployments/<chainId>.json)."),
    ] = None,
) -> None:
    """Deploy the marketplace with EDGEMARKET_PRIVATE_KEY (or the keystore) and write its deployment file."""
    from services.cli.stack import active_stack

    stack = active_stack()
    if stack is not None:
        # The stack's services watch the contract `up` deployed; another would hold money
        # nobody works on. (`up` itself deploys without --stack.)
        raise typer.BadParameter(
            f"--stack {stack.run_dir}: that stack already runs its own contract "
            f"({stack.deployment_file}); restart `edgemarket up --run-dir {stack.run_dir}` for a "
            "fresh one, or unset EDGEMARKET_STACK to deploy elsewhere"
        )
    settings = get_settings()
    w3 = Web3(Web3.HTTPProvider(settings.rpc_url, request_kwargs={"timeout": settings.rpc_timeout}))
    try:
        chain_id = w3.eth.chain_id
    except Exception as exc:
        raise typer.BadParameter(
            f"cannot reach the chain at {settings.rpc_url} ({type(exc).__name__}): "
            "start a node or set EDGEMARKET_RPC_URL"
        ) from None
    if settings.chain_id is not None and settings.chain_id != chain_id:
        console.print(
            f"[red]EDGEMARKET_CHAIN_ID is {settings.chain_id} but the node is on {chain_id}[/red]"
        )
        raise typer.Exit(1)
    path = out or settings.deployment_path(chain_id)
    artifact = load_artifact()
    if path.exists() and not force:
        try:
            existing = Deployment.load(path)
            Marketplace.from_deployment(w3, existing, artifact=artifact)
        except DeploymentError as exc:
            console.print(f"[yellow]replacing {path}: {exc}[/yellow]")
        else:
            console.print(
                f"already deployed at {existing.address} (block {existing.block_number}); --force to redeploy"
            )
            return
    try:
        account = load_account(key_source_of(settings), chain_id=chain_id)
        deployment = deploy(w3, account, artifact)
    except (KeystoreError, ChainError) as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    written = deployment.save(path)
    console.print(
        f"deployed EdgeMarketplace at [bold]{deployment.address}[/bold] on chain {chain_id}, "
        f"block {deployment.block_number}; wrote {written}"
    )
