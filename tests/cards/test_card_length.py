"""Card detail that reads in 10 seconds (clinical rules, "Alert burden"): over every sandbox
patient and hook, the details are short, and a dose card's first paragraph says what to give
and what was ordered, with the numbers."""

from __future__ import annotations

import statistics
from datetime import date
from typing import Any

from sandbox.catalogue import ANCHOR_DATE, PATIENTS, hook_request
from service.pipeline import answer_prefetched

# Before the Alert burden work the median detail was 1,241 characters and the longest 2,133.
MEDIAN_DETAIL_AT_MOST = 1_000
LONGEST_DETAIL_AT_MOST = 1_800


def _cards(slug: str, hook: str, today: date) -> list[dict[str, Any]]:
    return list(answer_prefetched(hook_request(slug, hook, today=today), hook, today=today).response["cards"])


def _every_card() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{slug}.{hook}", card)
        for slug, story in PATIENTS.items()
        for hook in story.hooks
        for card in _cards(slug, hook, ANCHOR_DATE)
    ]


def test_details_are_short() -> None:
    lengths = {f"{name}: {card['summary']}": len(card["detail"]) for name, card in _every_card()}
    assert statistics.median(lengths.values()) <= MEDIAN_DETAIL_AT_MOST
    longest = max(lengths, key=lambda k: lengths[k])
    assert lengths[longest] <= LONGEST_DETAIL_AT_MOST, longest


def test_a_dose_card_opens_with_what_to_give_and_what_was_ordered() -> None:
    dose_cards = [
        (name, card)
        for name, card in _every_card()
        if "org.lenadex.dose" in card["extension"] and card["extension"]["org.lenadex.dose"]["drug"] == "lenalidomide"
    ]
    assert dose_cards
    for name, card in dose_cards:
        paragraphs = card["detail"].split("\n\n")
        opening = " ".join(paragraphs[:2])  # an overdose finding may come first
        assert "Start **" in opening or "Give **" in opening or "do not start" in opening.lower(), name
        assert "mg" in opening and "ordered" in opening.lower(), name
