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
from services.common.content import LocalContentStore
from services.common.settings import Settings
from tests.integration.test_api import (
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

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")


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
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "leaderboard.png"), full_page=True)


def test_leaderboard_updates_without_reload(
    site: tuple[str, Scenario], page: Any, tmp_path: Path
) -> None:
    base, world = site
    page.goto(f"{base}/#/tasks/2")
    page.locator("#leaderboard tbody tr", has_text="No solutions").wait_for()
    c = world.chain
    c.block()
    project(
        f"sqlite:///{tmp_path / 'api.db'}",
        [c.committed(2, 0, solver(42))],
        first_entry=world.entries + 1,
    )
    page.locator("#leaderboard tbody tr[data-solution='0']").wait_for(timeout=15_000)
    assert "committed" in page.locator("#leaderboard tbody tr").first.inner_text()


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
    page.wait_for_function("document.getElementById('graph-img').complete")
    assert page.evaluate("document.getElementById('graph-img').naturalWidth") > 100


def test_create_task_page_prepares_a_transaction_without_a_wallet(
    site: tuple[str, Scenario], page: Any
) -> None:
    """No injected wallet: the page stores the spec and explains; it never asks for a key."""
    base, _ = site
    page.goto(f"{base}/#/create")
    page.locator("#create-form").wait_for()
    assert page.locator("input[type=password]").count() == 0
    assert "private key" not in page.locator("#create-form").inner_text().lower()
