"""`edgemarket task create|show|finalize` against a real anvil, as a requester would run them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.chain import Deployment, Marketplace, OnChainTaskState
from tests.fixtures.chain import ETHER, Chain

ROOT = Path(__file__).resolve().parents[2]


def edgemarket(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_task_create_show_finalize(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    requester, e1, e2, e3 = chain.accounts[30:34]
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "schema": "edgemarket/task@1",
                "scorer": "bisuna-core/1",
                "env": {"name": "cipher"},
                "title": "cli",
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    env.update(
        {
            "EDGEMARKET_RPC_URL": chain.url,
            "EDGEMARKET_DEPLOYMENT_FILE": str(
                marketplace_deployment.save(tmp_path / "deployments")
            ),
            "EDGEMARKET_CONTENT_STORE": f"file:{tmp_path / 'content'}",
            "EDGEMARKET_PRIVATE_KEY": requester.key.hex(),
            "COLUMNS": "200",
        }
    )
    evaluators = [arg for e in (e1, e2, e3) for arg in ("-e", e.address)]
    bad = edgemarket(env, "task", "create", "--spec", str(spec), "--bounty", "one", *evaluators)
    assert bad.returncode != 0 and "--bounty must be a number" in bad.stdout + bad.stderr

    before = chain.balance(requester.address)
    out = edgemarket(
        env,
        "task",
        "create",
        "--spec",
        str(spec),
        "--bounty",
        "1.5",
        "--fee",
        "0.01",
        "--bond",
        "0.1",
        "--eval-window",
        "60",
        *evaluators,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("task 1 created; spec bafkrei")
    market = Marketplace.from_deployment(chain.w3, marketplace_deployment)
    task = market.get_task(1)
    assert (task.bounty, task.evaluator_fee, task.commit_bond, task.quorum) == (
        3 * ETHER // 2,
        ETHER // 100,
        ETHER // 10,
        2,
    )
    assert before - chain.balance(requester.address) > 3 * ETHER // 2 + 3 * ETHER // 100

    shown = edgemarket(env, "task", "show", "1")
    assert (
        shown.returncode == 0 and "task 1: open" in shown.stdout and "quorum 2 of 3" in shown.stdout
    )

    early = edgemarket(env, "task", "finalize", "1")
    assert early.returncode == 1 and "TooEarlyToFinalize" in early.stderr
    chain.travel_to(task.eval_deadline)
    done = edgemarket(env, "task", "finalize", "1")
    assert done.returncode == 0 and "no winner" in done.stdout
    assert market.get_task(1).state == OnChainTaskState.FINALIZED

    missing = edgemarket(env, "task", "show", "99")
    assert missing.returncode != 0 and "there is no task 99" in missing.stdout + missing.stderr


def test_services_refuse_to_start_without_a_usable_key(
    chain: Chain, marketplace_deployment: Deployment, tmp_path: Path
) -> None:
    from services.common.keys import new_keystore

    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEMARKET_")}
    env.update(
        {
            "EDGEMARKET_RPC_URL": chain.url,
            "EDGEMARKET_DEPLOYMENT_FILE": str(
                marketplace_deployment.save(tmp_path / "deployments")
            ),
            "EDGEMARKET_STATE_DIR": str(tmp_path / "state"),
        }
    )
    out = edgemarket(env, "run", "scheduler")
    assert out.returncode == 1 and "no signing key configured" in out.stderr
    new_keystore(tmp_path / "k.json", "the right password")
    env.update(
        {
            "EDGEMARKET_KEYSTORE": str(tmp_path / "k.json"),
            "EDGEMARKET_KEYSTORE_PASSWORD": "a wrong password",
        }
    )
    out = edgemarket(env, "run", "evaluator")
    assert out.returncode == 1 and "wrong password" in out.stderr
    assert "a wrong password" not in out.stderr + out.stdout
