"""Browser tests: Playwright drives Debian's Chromium (headless) against a real crossreg server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.server import REPO_ROOT, new_server

CHROMIUM = os.environ.get("CROSSREG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"

@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def seed_server(tmp_path):
    """A fresh server with the seed's two accounts: the model provider and the data owner."""
    srv = new_server(tmp_path)
    srv.create_account("provider", "111111111111")
    srv.create_account("owner", "222222222222")
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def page_factory(chromium):
    """New browser contexts (one per signed-in user), closed after the test."""
    contexts = []

    def make(width: int = 1280, height: int = 800, locale: str = "en-US"):
        ctx = chromium.new_context(viewport={"width": width, "height": height}, locale=locale)
        ctx.set_default_timeout(15000)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
