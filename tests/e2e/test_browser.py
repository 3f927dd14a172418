"""The web page in headless Chromium: a task's live leaderboard, the agent preview, the task list.

Saves docs/screenshots/leaderboard.png and tasks.png, which the README shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.api.app import create_app
from services.common.chain import Deployment
from services.common.content import LocalContentStore, cid_of_digest
from services.common.messages import Kind
from services.common.settings import Settings
from tests.integration.test_api import (
    EVALUATORS,
    SPEC,
    SPEC_BYTES,
    Scenario,
    project,
    scenario,
    serving,
    solver,
)

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")



@pytest.fixture(autouse=True)
def _chromium_installed() -> None:
    # make test installs chromium (scripts/test-deps.sh); a missing browser is a failure, not a skip
    if not CHROMIUM.exists():
        pytest.fail("Debian's chromium is not installed: run `make test` or apt-get install chromium")


@pytest.fixture
def site(tmp_path: Path, clean_env: None) -> Iterator[tuple[str, Scenario]]:
    world = scenario()
    url = f"sqlite:///{tmp_path / 'api.db'}"
    project(url, world.messages)
    LocalContentStore(tmp_path / "content").put(SPEC_BYTES)
    deployment = Deployment(31337, "0x" + "c0" * 20, 1, "0x" + "00" * 32, "0x" + "11" * 32)
    settings = Settings(
        database_url=url,
        content_store=f"file:{tmp_path / 'content'}",
        chain_id=31337,
        deployment_file=deployment.save(tmp_path / "31337.json"),
    )
    app = create_app(settings, sse_poll_seconds=0.1)
    with serving(app) as base:
        yield base, world
    app.state.api.engine.dispose()


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--headless=new",
                "--disable-gpu",
                "--disable-background-networking",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.logged_errors = errors  # type: ignore[attr-defined]  # a test provoking one takes it out
        yield page
        browser.close()
        assert errors == [], f"the page logged errors: {errors}"


def test_task_page_shows_the_live_leaderboard_and_the_preview(
    site: tuple[str, Scenario], page: Any
) -> None:
    base, _ = site
    page.goto(f"{base}/#/tasks/1")
    rows = page.locator("#leaderboard tbody tr")
    rows.nth(5).wait_for()
    assert rows.count() == 6
    first = rows.nth(0).locator("td")
    assert first.nth(0).inner_text() == "1" and first.nth(1).inner_text() == "1"
    assert "verified" in first.nth(3).inner_text()
    assert first.nth(4).inner_text() == "1.000000"
    assert rows.nth(5).locator("td").nth(3).inner_text() == "committed"
    assert SPEC["title"] in page.locator("h1").inner_text()
    page.locator("#live", has_text="live").wait_for()
    image = page.locator("#preview-img")
    image.wait_for()
    page.wait_for_function("document.getElementById('preview-img').complete")
    assert page.evaluate("document.getElementById('preview-img').naturalWidth") > 500
    # every preview drawn (the top three distinct agents), not just the first
    page.wait_for_function(
        "[...document.querySelectorAll('#preview img')].length === 3 && "
        "[...document.querySelectorAll('#preview img')].every(i => i.complete && i.naturalWidth > 500)",
        timeout=60_000,
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "leaderboard.png"), full_page=True)


def test_leaderboard_updates_without_reload(
    site: tuple[str, Scenario], page: Any, tmp_path: Path
) -> None:
    base, world = site
    page.goto(f"{base}/#/tasks/2")
    page.locator("#leaderboard tbody tr", has_text="No solutions").wait_for()
    assert page.locator("#solution-count").inner_text() == "0"
    c = world.chain
    c.block()
    project(
        f"sqlite:///{tmp_path / 'api.db'}",
        [c.committed(2, 0, solver(42))],
        first_entry=world.entries + 1,
    )
    page.locator("#leaderboard tbody tr[data-solution='0']").wait_for(timeout=15_000)
    assert "committed" in page.locator("#leaderboard tbody tr").first.inner_text()
    page.locator("#solution-count", has_text="1").wait_for(timeout=15_000)


def test_task_page_says_where_every_wei_went(
    site: tuple[str, Scenario], page: Any, tmp_path: Path
) -> None:
    """Fees and bonds on the page: the task's bond and fee, each solution's bond, and every
    credit the contract made, with totals; a new credit appears without a reload."""
    base, world = site
    page.goto(f"{base}/#/tasks/1")
    page.locator("#credits tbody tr[data-reason='bounty']").wait_for()
    bounty = page.locator("#credits tbody tr[data-reason='bounty'] td")
    assert bounty.nth(2).inner_text() == "1" and bounty.nth(1).inner_text().startswith("0x")
    details = page.locator("#task-details").inner_text()
    assert "Commit bond" in details and "Evaluator fee" in details
    head = [h.strip().lower() for h in page.locator("#leaderboard thead th").all_text_contents()]
    bonds = page.locator("#leaderboard tbody tr td").nth(head.index("bond"))
    assert bonds.inner_text() in {"held", "returned", "forfeited"}
    assert page.locator("#credit-totals").inner_text() == "Totals: bounty 1 TFUEL"
    c = world.chain
    c.block()
    project(
        f"sqlite:///{tmp_path / 'api.db'}",
        [c.msg(Kind.FEE_CREDITED, task_id="1", evaluator=EVALUATORS[0], amount=str(10**15))],
        first_entry=world.entries + 1,
    )
    page.locator("#credits tbody tr[data-reason='fee']").wait_for(timeout=15_000)
    assert page.locator("#credits tbody tr[data-reason='fee'] td").nth(2).inner_text() == "0.001"
    page.locator("#credit-totals", has_text="fee 0.001 TFUEL").wait_for(timeout=15_000)


def test_task_list_filters_and_links(site: tuple[str, Scenario], page: Any) -> None:
    base, _ = site
    page.goto(f"{base}/#/")
    page.locator("#tasks tbody tr[data-task='1']").wait_for()
    assert page.locator("#tasks tbody tr").count() == 7
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "tasks.png"), full_page=True)
    page.select_option("#state-filter", "cancelled")
    page.locator("#tasks tbody tr[data-task='3']").wait_for()
    page.wait_for_function("document.querySelectorAll('#tasks tbody tr').length === 1")
    page.goto(f"{base}/#/tasks/1")
    page.locator("#leaderboard tbody tr a").first.click()
    page.locator("h1", has_text="Agent").wait_for()
    assert "alice" in page.locator("table").inner_text()
    page.locator("#graph-img").wait_for()
    # renders run at nice +10 (below the API), so on a loaded machine one can take well over
    # Playwright's default 30 s
    page.wait_for_function("document.getElementById('graph-img').complete", timeout=120_000)
    assert page.evaluate("document.getElementById('graph-img').naturalWidth") > 100
    page.screenshot(path=str(SCREENSHOTS / "agent.png"), full_page=True)


def test_create_task_page_prepares_a_transaction_without_a_wallet(
    site: tuple[str, Scenario], page: Any
) -> None:
    """No injected wallet: the page stores the spec and explains; it never asks for a key."""
    base, _ = site
    page.goto(f"{base}/#/create")
    page.locator("#create-form").wait_for()
    assert page.locator("input[type=password]").count() == 0
    assert "private key" not in page.locator("#create-form").inner_text().lower()


def test_create_form_renders_every_environments_parameters(
    site: tuple[str, Scenario], page: Any
) -> None:
    """The form comes from GET /specs/schema: each environment shows its own parameters with
    the schema's defaults and bounds, and nothing else."""
    import httpx

    base, _ = site
    schema = httpx.get(f"{base}/specs/schema").json()
    page.goto(f"{base}/#/create")
    page.locator("#create-form").wait_for()
    offered = page.eval_on_selector_all("#env-name option", "os => os.map(o => o.value)")
    variants = {v["properties"]["name"]["const"]: v for v in schema["properties"]["env"]["oneOf"]}
    assert offered == list(variants)
    for name, variant in variants.items():
        page.select_option("#env-name", name)
        shown = page.eval_on_selector_all(
            "#env-params [name]", "els => els.map(e => [e.name, e.value, e.min || null, e.max || null])"
        )
        expected = []
        for key, prop in variant["properties"]["params"]["properties"].items():
            if "enum" in prop:
                expected.append([f"env.params.{key}", prop["default"], None, None])
            else:
                expected.append(
                    [f"env.params.{key}", str(prop["default"]), str(prop["minimum"]), str(prop["maximum"])]
                )
        samples = variant["x-eval-samples"]
        if samples:
            expected.append(
                ["eval.samples", str(samples["default"]), str(samples["minimum"]), str(samples["maximum"])]
            )
        assert shown == expected, name
    # The minimum score takes the CLI's unit (a fraction, 6 decimals): 0.1234567 is refused.
    page.select_option("#env-name", "parity-n")
    page.fill("[name=min_score]", "0.1234567")
    page.fill("textarea[name=evaluators]", "0x" + "e1" * 20)
    page.click("#submit")
    page.locator("#create-out .error", has_text="at most 6 decimals").wait_for()


# A stand-in for the user's injected wallet (MetaMask cannot run here): it answers EIP-1193
# requests by forwarding them to the test chain, where anvil signs for the impersonated
# account (--auto-impersonate). The page sees only the provider object, as with a real wallet.
WALLET = """
(() => {
  const rpc = %(rpc)s, account = %(account)s;
  window.walletCalls = [];
  window.ethereum = {
    isStub: true,
    async request({ method, params }) {
      window.walletCalls.push({ method, params });
      if (method === "eth_requestAccounts" || method === "eth_accounts") return [account];
      const r = await fetch(rpc, { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params: params || [] }) });
      const body = await r.json();
      if (body.error) throw new Error(body.error.message);
      return body.result;
    },
  };
})();
"""


def test_create_task_goes_through_the_users_own_wallet(
    tmp_path: Path, clean_env: None, chain: Any, marketplace_deployment: Any, page: Any
) -> None:
    import json

    from services.common.chain import Marketplace

    market = Marketplace.from_deployment(chain.w3, marketplace_deployment)
    before = market.task_count()
    url = f"sqlite:///{tmp_path / 'api.db'}"
    project(url, [])
    settings = Settings(
        database_url=url,
        content_store=f"file:{tmp_path / 'content'}",
        chain_id=31337,
        rpc_url=chain.url,
        deployment_file=marketplace_deployment.save(tmp_path / "31337.json"),
    )
    requester = chain.accounts[20].address
    evaluators = [a.address for a in chain.accounts[21:24]]
    app = create_app(settings)
    with serving(app) as base:
        page.add_init_script(
            WALLET % {"rpc": json.dumps(chain.url), "account": json.dumps(requester)}
        )
        page.goto(f"{base}/#/create")
        page.locator("#create-form").wait_for()
        page.fill("[name=title]", "Learn a one-time pad")
        page.fill("input[name=bounty]", "2.5")
        # The API's checks refuse first: a bad evaluator address sends nothing.
        page.fill("textarea[name=evaluators]", "\n".join([*evaluators[:2], "0x1234"]))
        page.click("#submit")
        page.locator("#create-out .error", has_text="evaluators").wait_for(timeout=30_000)
        assert not [c for c in page.evaluate("window.walletCalls") if c["method"] == "eth_sendTransaction"]
        refused = [e for e in page.logged_errors if "status of 422" in e]
        assert len(refused) == 1  # the browser logs the refused request; nothing else went wrong
        page.logged_errors.remove(refused[0])
        page.fill("textarea[name=evaluators]", "\n".join(evaluators))
        page.click("#submit")
        page.locator("#create-out", has_text="Sent: 0x").wait_for(timeout=30_000)
        calls = page.evaluate("window.walletCalls")
    app.state.api.engine.dispose()

    sent = [c for c in calls if c["method"] == "eth_sendTransaction"]
    assert len(sent) == 1
    tx = sent[0]["params"][0]
    assert tx["from"] == requester and tx["to"] == marketplace_deployment.address
    assert set(tx) == {"from", "to", "data", "value"}  # nothing else, least of all a key
    assert market.task_count() == before + 1
    task = market.get_task(before + 1)
    assert task.creator == requester and task.bounty == 25 * 10**17 and task.quorum == 2
    assert [e.lower() for e in task.evaluators] == [e.lower() for e in evaluators]
    # The spec the page stored through the API is the one the task points at.
    stored = LocalContentStore(tmp_path / "content").get(cid_of_digest(task.spec_digest))
    assert json.loads(stored)["title"] == "Learn a one-time pad"
