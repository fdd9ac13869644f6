"""The governance report page (GET /reports) in headless Chromium: a live service filled by real
hook calls and feedback over HTTP, the page at a phone's width (390 px), its period form, and
nothing fetched from anywhere but the service itself.

Screenshots of each step are written to test-artifacts/.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from sandbox.catalogue import hook_request
from service.settings import Settings
from service.store import HookCall, Store
from tests.browser.conftest import CHROMIUM_ARGS
from tests.conftest import LiveService

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package (pip install -e '.[test]')").expect

SELECT, SIGN = "lenalidomide-order-select", "lenalidomide-order-sign"
FIXTURES_JWKS = "tests/fixtures/cds-hooks-sandbox-jwks.json"
OPERATOR_TOKEN = "operator-" + "5d1f0c3a9e7b4a28" * 3


def _fill(base_url: str) -> dict[str, Any]:
    """Hook calls and feedback over HTTP, as an EHR makes them; the cards of the first call."""
    cards: dict[str, Any] = {}
    for service, hook in ((SELECT, "order-select"), (SELECT, "order-select"), (SIGN, "order-sign")):
        response = requests.post(
            f"{base_url}/cds-services/{service}", json=hook_request("moderate-renal", hook), timeout=10
        )
        assert response.status_code == 200
        cards.setdefault(service, response.json()["cards"])
    renal = next(c for c in cards[SELECT] if "R-RENAL-MODERATE" in c["extension"]["org.lenadex.rules"])
    feedback = {
        "feedback": [
            {
                "card": renal["uuid"],
                "outcome": "overridden",
                "outcomeTimestamp": "2026-01-10T09:00:00Z",
                "overrideReason": {"reason": renal["overrideReasons"][0], "userComment": "discussed with Hong Gildong"},
            }
        ]
    }
    assert requests.post(f"{base_url}/cds-services/{SELECT}/feedback", json=feedback, timeout=10).status_code == 200
    return renal


def _no_horizontal_overflow(page: Any) -> None:
    widths = page.evaluate(
        "() => ({doc: document.documentElement.scrollWidth, body: document.body.scrollWidth, view: window.innerWidth,"
        " widest: Math.max(...[...document.querySelectorAll('body *')].map(e => e.getBoundingClientRect().right))})"
    )
    assert widths["view"] == 390
    assert widths["doc"] <= widths["view"] and widths["body"] <= widths["view"], widths
    assert widths["widest"] <= widths["view"] + 0.5, widths


def test_the_report_page_on_a_phone(browser_page: Any, live_service: LiveService, screenshot: Any) -> None:
    page = browser_page
    renal = _fill(live_service.base_url)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.set_viewport_size({"width": 390, "height": 844})

    response = page.goto(f"{live_service.base_url}/reports")
    assert response is not None and response.status == 200
    row = page.locator("tr[data-rule='R-RENAL-MODERATE'][data-hook='order-select']")
    expect(row).to_be_visible()
    expect(row.locator("[data-label=Shown]")).to_contain_text("2")
    expect(row.locator("[data-label=Overridden]")).to_contain_text("1")
    expect(row.locator("[data-label='Override rate']")).to_contain_text("100%")
    expect(row).to_contain_text(renal["overrideReasons"][0]["display"])
    expect(page.locator("tr[data-rule='R-RENAL-MODERATE'][data-hook='order-sign']")).to_be_visible()
    expect(page.locator("#calls-count")).to_have_text("3")
    chart = page.locator("svg.chart")
    expect(chart).to_be_visible()
    expect(chart.locator("text", has_text="R-RENAL-MODERATE · order-select")).to_have_count(1)
    assert chart.locator("rect").count() > 3
    box = chart.bounding_box()
    assert box is not None and box["width"] <= 390 and box["height"] > 100
    expect(page.locator("body")).not_to_contain_text("Hong Gildong")
    # The style sheet applied (the policy allows it by hash), and nothing complained.
    assert page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth") == "960px"
    _no_horizontal_overflow(page)
    screenshot(page, "1-phone")

    # The period form re-renders the page: a month without calls, then today again.
    page.get_by_label("From").fill("2025-01-01")
    page.get_by_label("To (inclusive)").fill("2025-01-31")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("#no-cards")).to_have_text("No cards were shown in this period.")
    query = parse_qs(urlsplit(page.url).query)
    assert query == {"from": ["2025-01-01"], "to": ["2025-01-31"]}
    expect(page.locator("svg.chart")).to_have_count(0)
    expect(page.locator("#calls-count")).to_have_text("0")
    _no_horizontal_overflow(page)
    screenshot(page, "2-empty-month")

    today = datetime.now(timezone.utc).date()
    page.get_by_label("From").fill((today - timedelta(days=1)).isoformat())
    page.get_by_label("To (inclusive)").fill(today.isoformat())
    page.get_by_role("button", name="Show").click()
    expect(page.locator("tr[data-rule='R-RENAL-MODERATE'][data-hook='order-select']")).to_be_visible()
    expect(page.locator("svg.chart")).to_be_visible()
    screenshot(page, "3-today")

    assert page.lenadex_errors == []
    assert requested and all(urlsplit(url).hostname == "127.0.0.1" for url in requested), requested
    assert all(url.startswith(f"{live_service.base_url}/reports") for url in requested), requested


def test_the_report_page_with_auth_on_needs_the_operator_token(
    playwright_driver: Any,
    chromium_path: str,
    start_service: Callable[[Settings], LiveService],
    tmp_path: Any,
    screenshot: Any,
) -> None:
    """A browser is asked for a password (HTTP Basic, the token as password) or sends the token
    as a bearer header; without either it gets nothing."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'lenadex.sqlite3'}",
        auth="jwt",
        jwks=FIXTURES_JWKS,
        trusted_issuers="https://sandbox.cds-hooks.org",
        public_base_url="http://127.0.0.1",
        reports_token=OPERATOR_TOKEN,
    )
    service = start_service(settings)
    store = Store(settings.database_url)
    try:  # an audit record as a hook call leaves it (the EHR's calls would need its JWTs)
        store.record_hook_call(
            HookCall(
                SELECT,
                200,
                4.0,
                datetime.now(timezone.utc),
                hook="order-select",
                card_uuids=("c-1",),
                card_rule_ids={"c-1": ("R-DEX-AGE",)},
            )
        )
    finally:
        store.close()
    url = f"{service.base_url}/reports?from={date.today() - timedelta(days=2)}"
    browser = playwright_driver.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
    try:
        viewport = {"width": 390, "height": 844}
        # No credentials: headless Chromium cannot show the password prompt the 401 asks for.
        anonymous = browser.new_context(viewport=viewport)
        with pytest.raises(Exception, match="ERR_INVALID_AUTH_CREDENTIALS"):
            anonymous.new_page().goto(url)
        anonymous.close()

        wrong = browser.new_context(viewport=viewport, http_credentials={"username": "committee", "password": "x" * 40})
        refused = wrong.new_page().goto(url)
        assert refused is not None and refused.status == 401
        assert refused.json()["resourceType"] == "OperationOutcome"
        wrong.close()

        for options in (
            {"http_credentials": {"username": "committee", "password": OPERATOR_TOKEN}},
            {"extra_http_headers": {"Authorization": f"Bearer {OPERATOR_TOKEN}"}},
        ):
            context = browser.new_context(viewport=viewport, **options)
            page = context.new_page()
            shown = page.goto(url)
            assert shown is not None and shown.status == 200, options
            expect(page.locator("tr[data-rule='R-DEX-AGE']")).to_be_visible()
            expect(page.locator("svg.chart")).to_be_visible()
            _no_horizontal_overflow(page)
            screenshot(page, "operator-" + next(iter(options)))
            context.close()
    finally:
        browser.close()
