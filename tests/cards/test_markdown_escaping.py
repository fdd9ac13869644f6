"""EHR text reaches card ``detail`` as literal text: no link, image, emphasis, block or raw HTML
of its own, while the service's own Markdown stays live (fhir_mappings/card_text.py,
cards/render.py ``detail_markdown``)."""

from __future__ import annotations

import copy
import html
from collections.abc import Iterator
from typing import Any

import pytest
from markdown_it import MarkdownIt
from markdown_it.token import Token

from cards import to_cards
from fhir_mappings import build_snapshot
from fhir_mappings.card_text import markdown_text
from rules.engine import evaluate
from rules.model import Evaluation, InputUsed, Recommendation
from sandbox.catalogue import ANCHOR_DATE, draft_orders, fhir_resources

# GitHub-flavoured Markdown with raw HTML on, as the public sandbox renders detail.
RENDERER = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
LIVE = {
    "link_open",
    "image",
    "html_inline",
    "html_block",
    "em_open",
    "strong_open",
    "code_inline",
    "s_open",
    "heading_open",
    "bullet_list_open",
    "ordered_list_open",
    "blockquote_open",
    "code_block",
    "fence",
    "hr",
    "table_open",
}
HOSTILE = "![](http://127.0.0.1:9/beacon) [click](http://127.0.0.1:9/x) <img src=x>"


def _tokens(markdown: str) -> Iterator[Token]:
    for token in RENDERER.parse(markdown):
        yield token
        yield from token.children or ()


def _as_card_text(record_text: str) -> str:
    """What becomes of record text in detail: escaped by the mappers, then by the card."""
    return html.escape(markdown_text(record_text), quote=False)


def _rendered_text(markdown: str) -> str:
    return "".join(t.content for t in _tokens(markdown) if t.type in ("text", "text_special"))


# Each metacharacter where it would be live; each must render as itself and nothing more.
@pytest.mark.parametrize(
    "record_text",
    [
        "a \\*b\\* c",  # backslash (would turn the escapes below back off)
        "`code`",  # code span
        "*em* and **strong**",  # emphasis
        "_em_ and __strong__",  # emphasis
        "{: .class}",  # attribute list (some renderers)
        "[text](http://127.0.0.1:9/x)",  # link
        "[text][ref]",  # reference link
        "![](http://127.0.0.1:9/beacon)",  # image: fetched when the card is shown
        "# heading",  # heading
        "+ item",  # list item
        "- item",  # list item
        "---",  # thematic break
        "1. item",  # ordered list item
        "1) item",  # ordered list item
        "a | b",  # table cell
        "~~struck~~",  # strikethrough
        "<img src=x onerror=alert(1)>",  # raw HTML
        "<http://127.0.0.1:9/x>",  # autolink
        "> quoted",  # block quote
        "&lt;b&gt; &amp;",  # entities stay as typed
        "first\nsecond\n\n# third\r\n    code",  # line starts inside a label
    ],
)
def test_each_metacharacter_renders_as_itself(record_text: str) -> None:
    markdown = f"- condition: {_as_card_text(record_text)}"  # as an input line of a card
    found = {t.type for t in _tokens(markdown)} & LIVE
    assert found == {"bullet_list_open"}  # the card's own list item, nothing from the record
    assert _rendered_text(markdown) == "condition: " + " ".join(record_text.split())


def test_record_text_keeps_its_readable_characters() -> None:
    # Only what could be live is escaped: values and names read as they were recorded.
    for text in ("1.3 mg/dL", "End-stage renal disease (disorder)", "Revlimid 25 mg!", "ANC 0.9 x10^9/L"):
        assert markdown_text(text) == text
    assert markdown_text("200 10*3/uL") == "200 10\\*3/uL"


def _recommendation(**fields: Any) -> Recommendation:
    base: dict[str, Any] = {
        "rule_ids": ("R-RENAL-MODERATE",),
        "concern": "lenalidomide-dose",
        "severity": "warning",
        "summary": "Lenalidomide: reduce the dose",
        "rationale": ("**Overdose**: 25 mg a day ordered, *2.5 times* the 10 mg recommended.",),
        "section": "Renal insufficiency",
    }
    return Recommendation(**(base | fields))


def _detail(recommendation: Recommendation) -> str:
    [card] = to_cards([recommendation], hook_instance="hook-1", patient_id="patient-1", drafts_by_id={})
    detail: str = card["detail"]
    return detail


def test_the_service_s_own_markdown_stays_live() -> None:
    detail = _detail(_recommendation(inputs=(InputUsed("serum creatinine", "1.30 mg/dL", None, "115 umol/L"),)))
    assert "**Overdose**" in detail and "1.30 mg/dL" in detail and "recorded as 115 umol/L" in detail
    types = {t.type for t in _tokens(detail)}
    assert {"strong_open", "em_open"} <= types


def test_hostile_text_in_inputs_and_rationale_is_literal_in_detail() -> None:
    shown = markdown_text(HOSTILE)  # as the mappers store a display or a value as received
    recommendation = _recommendation(
        rationale=("**Overdose**: 25 mg a day ordered.", f"Dialysis on record (*{shown}*) is old."),
        inputs=(
            InputUsed("dialysis", shown, None, shown),
            InputUsed("ANC", "900/µL", None, markdown_text("0.9 " + HOSTILE)),
        ),
        data_needed=(f"verify: creatinine {shown}",),
    )
    detail = _detail(recommendation)
    types = {t.type for t in _tokens(detail)}
    assert not types & {"link_open", "image", "html_inline", "html_block"}
    assert "strong_open" in types and "em_open" in types  # the service's own bold and italics
    assert "<img" not in RENDERER.render(detail)
    rendered = _rendered_text(detail)
    # Escaped once: the clinician reads the record's characters, not entities or backslashes
    # (rationale, input value, what to record; the long ANC note is cut, not its escapes).
    assert rendered.count(HOSTILE) == 3 and "&lt;" not in rendered and "\\" not in rendered
    assert "recorded as 0.9 ![](http://127.0.0.1:9/beacon)" in rendered


def _hostile_condition_record(slug: str, text: str) -> list[dict[str, Any]]:
    resources = copy.deepcopy(fhir_resources(slug, ANCHOR_DATE))
    conditions = [r for r in resources if r["resourceType"] == "Condition"]
    assert conditions
    for condition in conditions:  # classified by its codes; its words are the attacker's
        condition["code"]["text"] = text
        for coding in condition["code"].get("coding", []):
            coding["display"] = text
    return resources


@pytest.mark.parametrize("slug", ["dialysis", "recent-dvt"])
def test_a_hostile_condition_display_is_literal_from_record_to_card(slug: str) -> None:
    drafts = draft_orders(slug, ANCHOR_DATE)
    snapshot = build_snapshot(
        _hostile_condition_record(slug, HOSTILE),
        patient_id=f"{slug}",
        draft_orders=drafts,
        selections=[f"MedicationRequest/{d['id']}" for d in drafts],
    )
    assert snapshot.conditions  # still classified, so still quoted on a card
    recommendations = evaluate(snapshot, Evaluation(hook="order-select", today=ANCHOR_DATE, region="KR"))
    cards = to_cards(
        recommendations,
        hook_instance="hook-1",
        patient_id=slug,
        drafts_by_id={d["id"]: d for d in drafts},
        orders=snapshot.medications,
    )
    quoting = [card["detail"] for card in cards if "127.0.0.1" in card["detail"]]
    assert quoting, "the condition's display is quoted on some card"
    for detail in quoting:
        types = {t.type for t in _tokens(detail)}
        assert not types & {"link_open", "image", "html_inline", "html_block"}, detail
        assert "<img" not in RENDERER.render(detail)
        assert HOSTILE in _rendered_text(detail)  # read as recorded, escaped once


def test_the_sandbox_page_shows_record_text_as_written() -> None:
    # The page renders plain text: the Markdown escapes of the cards must not show there.
    from fhir_mappings.card_text import markdown_text, plain_text

    for text in ("10*3/uL", "![](http://127.0.0.1:9/beacon) [x](y) _a_", "[lb_av]", "CKD stage 5 (N18.5)"):
        assert plain_text(markdown_text(text)) == text
