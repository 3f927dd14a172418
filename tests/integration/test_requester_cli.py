"""`edgemarket task create` against a real anvil and a stack directory: nothing is sent when
the stack's services could not read the spec, and a missing deployment under --stack never
suggests deploying another contract."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from services.cli.spec import template
from services.cli.stack import StackInfo
from services.common.chain import Deployment, Marketplace
from tests.fixtures.chain import Chain

ROOT = Path(__file__).resolve().parents[2]


def edgemarket(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env={**base, "COLUMNS": "200", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _stack_dir(tmp_path: Path, chain: Chain, deployment: Deployment | None) -> StackInfo:
    run_dir = tmp_path / "stack"
    run_dir.mkdir()
    if deployment is not None:
        deployment.save(run_dir / "deployment.json")
    requester = chain.accounts[20]
    info = StackInfo(
        run_dir=str(run_dir),
        page_url="http://127.0.0.1:1",
        rpc_url=chain.url,
        chain_id=31337,
        redis_url="redis://127.0.0.1:6379/0",
        database_url=f"sqlite:///{run_dir / 'edgemarket.db'}",
        content_store=f"file:{run_dir / 'content'}",
        deployment_file=str(run_dir / "deployment.json"),
        evaluators=[a.address for a in chain.accounts[21:24]],
        requester=requester.address,
        requester_key="0x" + requester.key.hex().removeprefix("0x"),
    )
    (run_dir / "stack.json").write_text(info.to_json())
    return info


def test_a_spec_the_stack_cannot_read_sends_nothing(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    info = _stack_dir(tmp_path, chain, marketplace_deployment)
    spec = tmp_path / "spec.jsonc"
    spec.write_text(template("multiplexer-6"))
    evaluators = [arg for a in info.evaluators for arg in ("-e", a)]
    market = Marketplace.from_deployment(chain.w3, marketplace_deployment)
    tasks_before = market.task_count()
    balance = chain.balance(info.requester)
    nonce = chain.w3.eth.get_transaction_count(info.requester)

    # The shell: chain, deployment and key set by hand, the content store left at its
    # default: the spec goes to ./.edgemarket/content, which the stack's services never read.
    by_hand = {
        "EDGEMARKET_RPC_URL": info.rpc_url,
        "EDGEMARKET_DEPLOYMENT_FILE": info.deployment_file,
        "EDGEMARKET_PRIVATE_KEY": info.requester_key,
        "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'elsewhere'}",
    }
    out = edgemarket(by_hand, "task", "create", "--spec", str(spec), "--bounty", "1", *evaluators)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stderr.startswith("error: nothing sent: the stack's services could not read spec")
    assert f"EDGEMARKET_STACK={info.run_dir}" in out.stderr and out.stderr.count("\n") == 1
    assert "created" not in out.stdout
    assert chain.balance(info.requester) == balance
    assert chain.w3.eth.get_transaction_count(info.requester) == nonce
    assert market.task_count() == tasks_before

    # An unknown scorer: refused before any connection, nothing stored.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"scorer": "bisuna/1", "env": {"name": "multiplexer-6"}}))
    out = edgemarket(
        {"EDGEMARKET_STACK": info.run_dir}, "task", "create", "--spec", str(bad), "--bounty", "1",
        *evaluators,
    )
    assert out.returncode == 1 and "'bisuna/1' is not one this core implements" in out.stderr
    assert market.task_count() == tasks_before

    # With only the stack named, everything else comes from it.
    out = edgemarket(
        {"EDGEMARKET_STACK": info.run_dir},
        "task", "create", "--spec", str(spec), "--bounty", "1", "--fee", "0.001", *evaluators,
    )
    assert out.returncode == 0, out.stderr
    assert f"task {tasks_before + 1} created" in out.stdout and "1 TFUEL escrowed" in out.stdout
    # an ISO date and the time left (how much is left depends on how fast this machine is)
    assert re.search(r"commits close \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in \d+m \d\ds\)", out.stdout)
    assert market.task_count() == tasks_before + 1
    assert chain.balance(info.requester) < balance - 10**18

    shown = edgemarket({"EDGEMARKET_STACK": info.run_dir}, "task", "show", str(tasks_before + 1))
    assert shown.returncode == 0, shown.stderr
    assert "bounty 1 TFUEL" in shown.stdout and "evaluator fee 0.001 TFUEL each" in shown.stdout
    listed = edgemarket({"EDGEMARKET_STACK": info.run_dir}, "task", "list")
    assert listed.returncode == 0 and "commit" in listed.stdout and "1 TFUEL" in listed.stdout


def test_missing_deployment_under_stack_says_restart_not_deploy(
    chain: Chain, tmp_path: Path
) -> None:
    info = _stack_dir(tmp_path, chain, None)
    out = edgemarket({"EDGEMARKET_STACK": info.run_dir}, "task", "list")
    assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
    assert "has no contract deployment" in out.stderr and "edgemarket up --run-dir" in out.stderr
    assert "run `edgemarket contract deploy`" not in out.stderr
    # Nor does deploying under --stack work: the stack's services would never watch it.
    deploy = edgemarket({"EDGEMARKET_STACK": info.run_dir}, "contract", "deploy")
    assert deploy.returncode == 2 and "already runs its own contract" in deploy.stderr
    assert not Path(info.deployment_file).exists()
    # Without a stack the plain hint stands (there, deploying is the fix).
    plain = edgemarket(
        {"EDGEMARKET_RPC_URL": chain.url, "EDGEMARKET_DEPLOYMENT_FILE": str(tmp_path / "none.json")},
        "task",
        "list",
    )
    assert plain.returncode == 1 and "edgemarket contract deploy" in plain.stderr
    assert plain.stderr.count("\n") == 1
