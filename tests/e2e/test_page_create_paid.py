"""The page's create flow on a whole running stack: a multiplexer-6 task created from the
schema-driven form through the wallet stand-in is solved, verified and paid.

Starts the stack as `edgemarket up` does (anvil, Redis, the contract, indexer, projector,
scheduler, keeper, three evaluators, a worker, the API) with short windows; the page is the only
way the task is created. Saves docs/screenshots/create.png and racing.png, which the README shows.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_browser import SCREENSHOTS, WALLET, page  # noqa: F401  (the page fixture)
from tests.fixtures.services import free_port


@pytest.mark.slow
@pytest.mark.timeout(480)
def test_a_multiplexer_task_created_from_the_page_is_paid(
    tmp_path: Path,
    clean_env: None,
    page: Any,  # noqa: F811
) -> None:
    from services.cli.up import running_stack, wait_for_payout

    with running_stack(
        run_dir=tmp_path / "run",
        api_port=free_port(),
        workers=1,
        quiet=True,
        # as the demo: short windows need a short commit margin and a brisk keeper
        extra_env={"EDGEMARKET_COMMIT_MARGIN": "8", "EDGEMARKET_KEEPER_INTERVAL": "1"},
    ) as stack:
        requester = stack.accounts[0]
        evaluators = stack.accounts[2:5]
        page.add_init_script(
            WALLET % {"rpc": json.dumps(stack.rpc_url), "account": json.dumps(requester)}
        )
        page.goto(f"{stack.api_url}/#/create")
        page.locator("#create-form").wait_for()
        page.select_option("#env-name", "multiplexer-6")
        # multiplexer-6 has no parameters and no samples: the form says so instead of asking.
        page.locator("#env-params", has_text="no parameters").wait_for()
        assert page.locator("[name='eval.samples']").count() == 0
        page.fill("[name=title]", "Six-input multiplexer")
        page.fill("[name='budget.population']", "24")
        page.fill("[name='budget.generations']", "40")
        page.fill("[name='budget.islands']", "1")
        page.fill("[name='budget.epoch_generations']", "20")
        page.fill("[name=bounty]", "1.5")
        page.fill("[name=commit_minutes]", "0.75")
        page.fill("[name=reveal_minutes]", "0.25")
        page.fill("[name=eval_window]", "60")
        page.fill("[name=min_score]", "0")
        listed = page.input_value("#evaluators").split()
        if (
            stack.run_dir / "stack.json"
        ).exists():  # `up` names its evaluators: the form lists them
            assert [a.lower() for a in listed] == [a.lower() for a in evaluators]
        else:
            page.fill("#evaluators", "\n".join(evaluators))
        page.fill("[name=quorum]", "2")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "create.png"), full_page=True)
        page.click("#submit")
        page.locator("#create-out", has_text="Sent: 0x").wait_for(timeout=30_000)

        def listed_task() -> dict[str, Any] | None:
            items = httpx.get(f"{stack.api_url}/tasks", timeout=5).json()["items"]
            return items[0] if items else None

        deadline = time.monotonic() + 60
        while (task := listed_task()) is None:
            assert time.monotonic() < deadline, "the page's task never reached the read model"
            time.sleep(1)
        assert task["env"] == "multiplexer-6" and task["title"] == "Six-input multiplexer"
        assert task["creator"].lower() == requester.lower()
        assert task["bounty_wei"] == str(15 * 10**17)

        # The task page shows the solvers racing, live.
        page.goto(f"{stack.api_url}/#/tasks/{task['id']}")
        page.locator("#solvers tbody tr[data-solver]").first.wait_for(timeout=90_000)

        paid = wait_for_payout(stack, task["id"], timeout=240)
        assert paid["winner"] is not None and paid["best_score"] is not None
        assert paid["payout_wei"] == str(15 * 10**17)
        page.locator("#solvers tbody tr.best").wait_for(timeout=30_000)
        row = page.locator("#solvers tbody tr").first.inner_text()
        assert f"{paid['best_score'] / 1e6:.6f}" in row
        page.screenshot(path=str(SCREENSHOTS / "racing.png"), full_page=True)

        # The task list names the environment and the winner; the agent page explains the score.
        page.goto(f"{stack.api_url}/#/")
        first = page.locator(f"#tasks tbody tr[data-task='{task['id']}']")
        first.wait_for()
        assert "multiplexer-6" in first.inner_text()
        assert paid["winner"][:8] in first.locator("td.winner").inner_text()
        board = httpx.get(f"{stack.api_url}/tasks/{task['id']}/leaderboard", timeout=5).json()
        best = board["entries"][0]
        page.goto(f"{stack.api_url}/#/agents/{best['agent_digest']}")
        page.locator("#score-explained", has_text="of 64 cases right").wait_for()
        page.goto("about:blank")  # close the live connections before the stack stops
