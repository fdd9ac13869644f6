"""The browser sandbox (GET /sandbox) driven with the mouse in headless Chromium, end to end:
a live service, the page, the hook calls it makes and the feedback it stores.

Screenshots of each step are written to test-artifacts/.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from cards.render import OVERRIDE_SYSTEM

expect = pytest.importorskip("playwright.sync_api", reason="the playwright package (pip install -e '.[test]')").expect


def open_patient(page: Any, base_url: str, slug: str) -> None:
    page.goto(f"{base_url}/sandbox")
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    page.get_by_label("Patient", exact=True).select_option(slug)
    expect(page.locator("body")).to_have_attribute("data-patient-loaded", slug)


def fire(page: Any, hook: str) -> None:
    page.get_by_label(hook).check()
    page.get_by_role("button", name="Fire hook").click()
    expect(page.get_by_test_id("global-status")).to_contain_text(f"{hook} →")


def card_with_rule(page: Any, rule_id: str) -> Any:
    return page.locator(f"[data-testid=card][data-rules~='{rule_id}']")


def test_moderate_renal_scenario_with_the_mouse(browser_page, live_service, screenshot, feedback_rows):
    page = browser_page
    open_patient(page, live_service.base_url, "moderate-renal")
    # Key data, as the rules read the record: Cockcroft-Gault with its inputs.
    expect(page.get_by_test_id("crcl")).to_have_text("CrCl 34.0 mL/min")
    renal = page.get_by_test_id("renal")
    for shown in ("serum creatinine: 1.30 mg/dL", "body weight: 55.0 kg", "age: 72 years", "sex: female"):
        expect(renal).to_contain_text(shown)
    expect(page.get_by_test_id("lab-anc")).to_contain_text("2.8 ×10³/µL")
    expect(page.get_by_test_id("vte-risk")).to_contain_text("renal disease (CrCl 34.0 mL/min, < 60)")
    expect(page.get_by_test_id("lenalidomide-dose")).to_have_value("25")
    screenshot(page, "1-patient")

    fire(page, "order-select")
    dose_card = page.locator("[data-testid=card][data-dose-drug=lenalidomide]")
    expect(dose_card).to_have_count(1)
    expect(dose_card.get_by_test_id("card-summary")).to_contain_text("start 10 mg once daily")
    expect(dose_card).to_have_attribute("data-indicator", "critical")  # 25 mg is 2.5 times the 10 mg allowed
    # The detail is rendered Markdown: bold text, the inputs in a paragraph, no asterisks left.
    expect(dose_card.locator("[data-testid=card-detail] strong").first).to_be_visible()
    expect(dose_card.locator("[data-testid=card-detail] p", has_text="Inputs used:")).to_contain_text(
        "serum creatinine"
    )
    assert "**" not in dose_card.get_by_test_id("card-detail").inner_text()
    expect(dose_card.get_by_test_id("rule-id")).to_have_text(["R-CRCL-CG", "R-RENAL-MODERATE"])
    indicators = page.get_by_test_id("card").evaluate_all("cards => cards.map(c => c.dataset.indicator)")
    rank = {"critical": 0, "warning": 1, "info": 2}
    assert [rank[i] for i in indicators] == sorted(rank[i] for i in indicators), indicators
    card_uuid = dose_card.get_attribute("data-uuid")
    suggestion = dose_card.get_by_role("button", name="Change to lenalidomide 10 mg once daily, days 1-21 of 28")
    suggestion_uuid = suggestion.get_attribute("data-uuid")
    screenshot(page, "2-cards")

    suggestion.click()
    expect(page.get_by_test_id("global-status")).to_contain_text("Accepted")
    # The draft order now says 10 mg, and after the re-fire there is no lenalidomide dose card.
    expect(page.get_by_test_id("lenalidomide-dose")).to_have_value("10")
    expect(page.get_by_test_id("draft-lenalidomide").get_by_test_id("draft-text")).to_contain_text("10 mg once daily")
    expect(page.get_by_test_id("card").first).to_be_visible()
    expect(page.locator("[data-testid=card][data-dose-drug=lenalidomide]")).to_have_count(0)
    expect(card_with_rule(page, "R-RENAL-MODERATE")).to_have_count(0)
    expect(card_with_rule(page, "R-VTE-STANDARD")).to_have_count(1)  # the other concerns remain
    screenshot(page, "3-accepted")

    # The request the page sent carried the rewritten draft as a FHIR MedicationRequest.
    sent = json.loads(page.get_by_test_id("last-request").text_content())
    [lenalidomide] = [
        e["resource"] for e in sent["context"]["draftOrders"]["entry"] if e["resource"]["id"] == "draft-lenalidomide-1"
    ]
    dosage = lenalidomide["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 10
    assert sent["context"]["selections"] == ["MedicationRequest/draft-lenalidomide-1"]

    [accepted] = [row for row in feedback_rows(live_service.settings) if row.card_uuid == card_uuid]
    assert accepted.outcome == "accepted"
    assert accepted.accepted_suggestions == [suggestion_uuid]
    assert accepted.card_known
    assert page.lenadex_errors == []


def test_override_of_a_warning_card_is_stored_as_feedback(browser_page, live_service, screenshot, feedback_rows):
    page = browser_page
    open_patient(page, live_service.base_url, "moderate-renal")
    fire(page, "order-select")
    vte_card = card_with_rule(page, "R-VTE-STANDARD")
    expect(vte_card).to_have_attribute("data-indicator", "warning")
    card_uuid = vte_card.get_attribute("data-uuid")

    vte_card.get_by_role("button", name="Override…").click()
    reason = "Decided with the treating specialist"
    vte_card.get_by_label("Reason for overriding").select_option(label=reason)
    vte_card.get_by_label("Comment").fill("Bleeding risk discussed; low-molecular-weight heparin later if needed")
    screenshot(page, "1-override-form")
    vte_card.get_by_role("button", name="Record override").click()
    expect(vte_card.get_by_test_id("card-status")).to_have_text(f"Override recorded: {reason}.")
    screenshot(page, "2-overridden")

    [row] = [row for row in feedback_rows(live_service.settings) if row.card_uuid == card_uuid]
    assert row.outcome == "overridden"
    assert (row.override_system, row.override_code, row.override_display) == (
        OVERRIDE_SYSTEM,
        "specialist-decision",
        reason,
    )
    assert row.override_comment == "Bleeding risk discussed; low-molecular-weight heparin later if needed"
    assert row.accepted_suggestions == []
    assert row.card_known and row.service_id == "lenalidomide-order-select"
    assert page.lenadex_errors == []


def test_editing_the_dexamethasone_order_and_adding_prophylaxis(browser_page, live_service, screenshot, feedback_rows):
    """elderly-high-dex: the clinician lowers dexamethasone by hand (the age card clears at
    signing) and accepts aspirin (a create: a new draft order, sent with the next call)."""
    page = browser_page
    open_patient(page, live_service.base_url, "elderly-high-dex")
    fire(page, "order-sign")
    expect(card_with_rule(page, "R-DEX-AGE")).to_have_count(1)
    expect(card_with_rule(page, "R-VTE-STANDARD")).to_have_count(1)

    dose = page.get_by_test_id("dexamethasone-dose")
    expect(dose).to_have_value("40")
    dose.fill("20")
    expect(page.get_by_test_id("dexamethasone-frequency")).to_have_value("168")
    expect(page.get_by_test_id("dexamethasone-days")).to_have_value("1,8,15,22/28")
    expect(page.get_by_test_id("draft-dexamethasone").get_by_test_id("draft-text")).to_have_text(
        "20 mg orally once weekly on days 1, 8, 15 and 22 of each 28-day cycle"
    )
    fire(page, "order-sign")
    expect(card_with_rule(page, "R-DEX-AGE")).to_have_count(0)

    card_with_rule(page, "R-VTE-STANDARD").get_by_role("button", name="Start aspirin 100 mg daily").click()
    expect(page.get_by_test_id("global-status")).to_contain_text("added aspirin")
    expect(page.get_by_test_id("draft-other")).to_contain_text("Aspirin 100 mg")
    screenshot(page, "orders-edited")
    sent = json.loads(page.get_by_test_id("last-request").text_content())
    assert sent["hook"] == "order-sign" and "selections" not in sent["context"]
    drugs = [e["resource"]["medicationCodeableConcept"]["text"] for e in sent["context"]["draftOrders"]["entry"]]
    assert sorted(drugs) == ["aspirin", "dexamethasone", "lenalidomide"]
    assert [row.outcome for row in feedback_rows(live_service.settings)] == ["accepted"]
    assert page.lenadex_errors == []


def test_an_invalid_schedule_is_refused_before_firing(browser_page, live_service):
    page = browser_page
    open_patient(page, live_service.base_url, "moderate-renal")
    days = page.get_by_test_id("lenalidomide-days")
    days.fill("every day")
    expect(days).to_have_attribute("aria-invalid", "true")
    page.get_by_role("button", name="Fire hook").click()
    expect(page.get_by_test_id("global-status")).to_have_text("Fix the highlighted order fields first.")
    days.fill("1-21/28")
    expect(days).to_have_attribute("aria-invalid", "false")


def test_a_patient_view_patient_gets_critical_cards_first(browser_page, live_service, screenshot):
    page = browser_page
    open_patient(page, live_service.base_url, "low-platelets")
    expect(page.get_by_test_id("hook-order-select")).to_be_disabled()
    expect(page.get_by_test_id("hook-patient-view")).to_be_checked()
    page.get_by_role("button", name="Fire hook").click()
    first = page.get_by_test_id("card").first
    expect(first).to_have_attribute("data-indicator", "critical")
    expect(first).to_have_attribute("data-rules", "R-PLT-LOW")
    screenshot(page, "critical")


def test_card_text_is_never_injected_as_html(browser_page, live_service):
    """A hostile card (HTML in summary, detail, label and description) shows as text only."""
    page = browser_page
    hostile = '<img src=x onerror="window.lenadexPwned=1"><script>window.lenadexPwned=2</script>'
    card = {
        "uuid": "c0ffee00-0000-4000-8000-000000000001",
        "summary": "Summary " + hostile,
        "indicator": "critical",
        "detail": "**Bold** and *italic* " + hostile + "\n\n- item " + hostile + "\n- 5 &lt; 6",
        "source": {"label": "Source " + hostile},
        "suggestions": [
            {
                "label": "Label " + hostile,
                "uuid": "c0ffee00-0000-4000-8000-000000000002",
                "actions": [{"type": "create", "description": "Description " + hostile}],
            }
        ],
        "selectionBehavior": "any",
        "overrideReasons": [{"system": "urn:x", "code": "x", "display": "Reason " + hostile}],
        "links": [{"label": "bad link", "url": "javascript:alert(1)", "type": "absolute"}],
        "extension": {"org.lenadex.rules": ["R-TEST"]},
    }
    page.route(
        "**/cds-services/lenalidomide-order-select",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps({"cards": [card]})),
    )
    open_patient(page, live_service.base_url, "moderate-renal")
    fire(page, "order-select")
    shown = page.get_by_test_id("card")
    expect(shown.get_by_test_id("card-summary")).to_have_text("Summary " + hostile)
    expect(shown.locator("strong")).to_have_text("Bold")
    expect(shown.locator("em")).to_have_text("italic")
    expect(shown.locator(".card-detail li").nth(1)).to_have_text("5 < 6")
    assert page.locator("#cards img, #cards script, #cards a[href^='javascript']").count() == 0
    assert page.evaluate("() => window.lenadexPwned") is None
    markdown = page.evaluate("() => window.LenadexSandbox.renderMarkdown('<b onclick=x>hi</b> a & b')")
    assert markdown == "<p>&lt;b onclick=x&gt;hi&lt;/b&gt; a &amp; b</p>"


# --- narrow screens: cards first, nothing wider than the screen ------------------------------

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

# What sticks out of the window to the right (an element, or the text lines inside it), leaving
# out what scrolls inside its own box (the lab table, the request/response JSON); the innermost
# such elements, for the failure message.
WIDER_THAN_THE_WINDOW = """() => {
  const width = window.innerWidth;
  const clipped = e => { for (let a = e.parentElement; a && a !== document.body; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== 'visible') return true; } return false; };
  const out = [...document.querySelectorAll('body *')].filter(e => {
    const box = e.getBoundingClientRect();
    if (box.width === 0 || clipped(e)) return false;
    const ownTextOverflows = getComputedStyle(e).overflowX === 'visible' && e.scrollWidth > e.clientWidth + 1
      && box.left + e.scrollWidth > width + 0.5;
    return box.right > width + 0.5 || ownTextOverflows;
  });
  const innermost = out.filter(e => !out.some(o => o !== e && e.contains(o)));
  const name = e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
    + (e.className ? '.' + String(e.className).trim().split(/\\s+/).join('.') : '')
    + (e.dataset.testid ? '[' + e.dataset.testid + ']' : '');
  return {scrollWidth: document.documentElement.scrollWidth, innerWidth: width,
          wide: innermost.slice(0, 8).map(e => name(e) + ' "' + e.textContent.trim().slice(0, 40) + '"')};
}"""


def assert_no_sideways_scrolling(page: Any, when: str) -> None:
    found = page.evaluate(WIDER_THAN_THE_WINDOW)
    assert found["scrollWidth"] <= found["innerWidth"], (
        f"{when}: the page is {found['scrollWidth']} px wide in a {found['innerWidth']} px window; "
        f"sticking out: {found['wide']}"
    )


def box(locator: Any) -> dict[str, float]:
    found = locator.bounding_box()
    assert found is not None, f"{locator} is not shown"
    return found


def open_the_exchange_and_an_override_form(page: Any) -> None:
    """The request/response JSON open, and the first card's override form (its select) open."""
    page.get_by_test_id("exchange").locator("summary").click()
    expect(page.get_by_test_id("last-response")).to_be_visible()
    toggle = page.get_by_test_id("override-toggle").first
    if toggle.count():
        toggle.click()
        expect(page.get_by_test_id("override-form").first).to_be_visible()


@pytest.mark.parametrize("viewport", [PHONE, {"width": 768, "height": 1024}], ids=["phone-390", "tablet-768"])
def test_on_a_narrow_screen_the_cards_come_above_the_record(browser_page, live_service, screenshot, viewport):
    """One column: the orders and the cards first, the record below them (it is long, and the
    cards are what the clinician must read)."""
    page = browser_page
    page.set_viewport_size(viewport)
    open_patient(page, live_service.base_url, "elderly-high-dex")
    fire(page, "order-select")
    first_card = page.get_by_test_id("card").first
    expect(first_card).to_be_visible()
    card, record = box(first_card), box(page.get_by_test_id("patient-panel"))
    assert card["y"] + card["height"] <= record["y"], (card, record)
    # The fire button stays just above the cards it produces.
    assert box(page.get_by_test_id("fire"))["y"] < card["y"] < record["y"]
    screenshot(page, "narrow")
    assert page.lenadex_errors == []


@pytest.mark.parametrize(
    ("slug", "hook"),
    [
        ("no-prior-therapy", "order-select"),
        ("active-dvt-low-platelets", "patient-view"),
        ("active-dvt-low-platelets", "order-select"),
        ("elderly-high-dex", "order-select"),
        ("low-platelets", "patient-view"),
    ],
)
def test_a_phone_never_scrolls_sideways(browser_page, live_service, screenshot, slug, hook):
    """390 px: the record, the cards with their long texts, the open JSON and an open override
    form all fit the window."""
    page = browser_page
    page.set_viewport_size(PHONE)
    open_patient(page, live_service.base_url, slug)
    assert_no_sideways_scrolling(page, f"{slug}, record loaded")
    fire(page, hook)
    expect(page.get_by_test_id("card").first).to_be_visible()
    assert_no_sideways_scrolling(page, f"{slug}, {hook} cards shown")
    open_the_exchange_and_an_override_form(page)
    assert_no_sideways_scrolling(page, f"{slug}, {hook} JSON and override form open")
    screenshot(page, "phone")
    assert page.lenadex_errors == []


def test_long_words_urls_and_codes_wrap_on_a_phone(browser_page, live_service, screenshot):
    """Unbroken 150-character words in the record and in every part of a card break inside
    their box, and a long suggestion label wraps inside its button."""
    page = browser_page
    page.set_viewport_size(PHONE)
    long_url = "https://guidelines.example.org/lenalidomide/" + "renal-dose-adjustment-" * 6 + "table-3"
    long_code = "R-" + "LONGRULEIDENTIFIER" * 8
    long_word = "Pseudo" + "hypoparathyroidism" * 8

    def longer_record(route: Any) -> None:
        summary = route.fetch().json()
        summary["story"] = long_url
        summary["conditions"].append({"display": long_word, "category": "other", "active": True, "onset": "2020-01-01"})
        summary["medications"]["past"].append(
            {"id": "x", "drug": "x", "display": long_code, "status": "completed", "dosage": long_url}
        )
        summary["dataProblems"] = [long_url]
        summary["labs"][0]["value"] = long_code
        route.fulfill(status=200, content_type="application/json", body=json.dumps(summary))

    card = {
        "uuid": "c0ffee00-0000-4000-8000-000000000011",
        "summary": "See " + long_word,
        "indicator": "warning",
        "detail": f"Read {long_url} and `{long_code}`.\n\n- {long_word}\n- **{long_code}**",
        "source": {"label": long_word, "url": long_url},
        "suggestions": [
            {
                "label": "Change to " + long_word,
                "uuid": "c0ffee00-0000-4000-8000-000000000012",
                "actions": [{"type": "update", "description": long_url}],
            }
        ],
        "selectionBehavior": "any",
        "overrideReasons": [{"system": "urn:x", "code": "x", "display": long_word}],
        "links": [{"label": long_code, "url": long_url, "type": "absolute"}],
        "extension": {"org.lenadex.rules": [long_code]},
    }
    page.route("**/sandbox/api/patients/elderly-high-dex", longer_record)
    page.route(
        "**/cds-services/lenalidomide-order-select",
        lambda route: route.fulfill(status=200, content_type="application/json", body=json.dumps({"cards": [card]})),
    )
    open_patient(page, live_service.base_url, "elderly-high-dex")
    expect(page.get_by_test_id("patient-summary")).to_contain_text(long_word)
    assert_no_sideways_scrolling(page, "long words in the record")
    fire(page, "order-select")
    shown = page.get_by_test_id("card")
    expect(shown.get_by_test_id("card-summary")).to_have_text("See " + long_word)
    assert_no_sideways_scrolling(page, "long words in a card")
    card_box, button = box(shown), box(shown.get_by_test_id("suggestion"))
    assert card_box["x"] >= 0 and card_box["x"] + card_box["width"] <= PHONE["width"], card_box
    assert button["x"] + button["width"] <= card_box["x"] + card_box["width"], (button, card_box)
    assert button["height"] > 60, "the long label should wrap onto several lines inside the button"
    open_the_exchange_and_an_override_form(page)
    assert_no_sideways_scrolling(page, "long words in the JSON and the override reasons")
    screenshot(page, "long-words")
    assert page.lenadex_errors == []


def test_on_a_wide_screen_the_cards_sit_beside_the_record(browser_page, live_service, screenshot):
    """1280 px: two columns, the record on the left, the orders and cards on the right, side by
    side from the top; the open JSON scrolls in its own box instead of widening the page."""
    page = browser_page
    page.set_viewport_size(DESKTOP)
    open_patient(page, live_service.base_url, "elderly-high-dex")
    fire(page, "order-select")
    first_card = page.get_by_test_id("card").first
    expect(first_card).to_be_visible()
    record, orders = box(page.get_by_test_id("patient-panel")), box(page.get_by_test_id("orders-panel"))
    cards, card = box(page.get_by_test_id("cards-panel")), box(first_card)
    assert record["x"] + record["width"] <= orders["x"], (record, orders)  # beside, on the left
    assert abs(record["y"] - orders["y"]) < 2, (record, orders)  # from the same top
    assert record["x"] + record["width"] <= cards["x"], (record, cards)
    assert record["y"] < card["y"] < record["y"] + record["height"], (record, card)
    assert record["width"] < orders["width"]  # 2fr : 3fr
    assert_no_sideways_scrolling(page, "wide screen, cards shown")
    open_the_exchange_and_an_override_form(page)
    assert_no_sideways_scrolling(page, "wide screen, JSON open")
    screenshot(page, "wide")
    assert page.lenadex_errors == []
