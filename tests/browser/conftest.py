"""Browser fixtures: Debian's Chromium driven headless by Playwright (never `playwright install`).

The tests need /usr/bin/chromium (Debian's `chromium` package, or LENADEX_CHROMIUM). Installing
it is not the tests' business (`.ci/run` installs it): when it is missing the tests are skipped,
saying how to install it — unless LENADEX_REQUIRE_BROWSER=1 (CI sets it), when they fail.
Screenshots go to test-artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from service.settings import Settings
from service.store import Store
from service.store.tables import feedback

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_COMMAND = "apt-get update && apt-get install -y chromium"


def _find_chromium() -> str | None:
    candidates = [
        os.environ.get("LENADEX_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
        shutil.which("chromium-browser"),
    ]
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = _find_chromium()
    if found is None:
        message = f"no Chromium at /usr/bin/chromium (or LENADEX_CHROMIUM); install it with `{INSTALL_COMMAND}`"
        if os.environ.get("LENADEX_REQUIRE_BROWSER") == "1":
            pytest.fail(message + " — LENADEX_REQUIRE_BROWSER=1: the browser tests must run here")
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package (pip install -e '.[test]')")
    with sync_api.sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser_page(playwright_driver: Any, chromium_path: str) -> Iterator[Any]:
    """A fresh headless Chromium (own user data dir) with one page; console errors collected
    in ``page.lenadex_errors``."""
    with tempfile.TemporaryDirectory(prefix="lenadex-chromium-") as profile:
        context = playwright_driver.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        context.set_default_timeout(15_000)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on(
                "console",
                lambda message: errors.append(f"console: {message.text}") if message.type == "error" else None,
            )
            page.lenadex_errors = errors
            yield page
        finally:
            context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Any:
    """screenshot(page, "step") → test-artifacts/<test name>-<step>.png (the whole page)."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(page: Any, step: str) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def feedback_rows() -> Any:
    """feedback_rows(settings) → the feedback table, as another process would read it."""

    def read(settings: Settings) -> list[Any]:
        store = Store(settings.database_url)
        try:
            with store.engine.connect() as connection:
                return list(connection.execute(select(feedback).order_by(feedback.c.id)))
        finally:
            store.close()

    return read
