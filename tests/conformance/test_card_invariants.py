"""The standard's invariants and the contract's card rules, on every sandbox patient × hook.

The checker (card_invariants.py) is itself tested: Inferno's valid cards pass the standard
part, and each kind of violation planted in a real response is caught.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.conformance.card_invariants import lenadex_problems, standard_problems
from tests.conformance.conftest import HL7_DIR, SANDBOX_CALLS, Exchange

CALL_IDS = [f"{slug}.{hook}" for slug, hook in SANDBOX_CALLS]


@pytest.mark.parametrize(("slug", "hook"), SANDBOX_CALLS, ids=CALL_IDS)
def test_every_sandbox_answer_holds_the_standard_invariants(sandbox_exchanges, slug, hook):
    exchange: Exchange = sandbox_exchanges[(slug, hook)]
    assert exchange.status == 200, exchange.body
    assert standard_problems(exchange.body) == []


@pytest.mark.parametrize(("slug", "hook"), SANDBOX_CALLS, ids=CALL_IDS)
def test_every_sandbox_answer_holds_the_contract_card_rules(sandbox_exchanges, slug, hook):
    exchange: Exchange = sandbox_exchanges[(slug, hook)]
    assert exchange.status == 200, exchange.body
    assert lenadex_problems(exchange.body, hook) == []


def test_the_sandbox_answers_exercise_what_the_invariants_check(sandbox_exchanges):
    """The run above is only worth something if the answers hold suggestions of both
    selection behaviours, updates and creates, override reasons and every indicator."""
    cards = [card for exchange in sandbox_exchanges.values() for card in exchange.body["cards"]]
    assert {card["indicator"] for card in cards} == {"info", "warning", "critical"}
    assert {card.get("selectionBehavior") for card in cards} >= {"at-most-one", "any"}
    action_types = {a["type"] for c in cards for s in c.get("suggestions", []) for a in s["actions"]}
    assert action_types >= {"create", "update"}
    assert any(c.get("overrideReasons") for c in cards)
    assert any(s.get("isRecommended") for c in cards for s in c.get("suggestions", []))


# --- the checker itself ----------------------------------------------------------------


def test_inferno_valid_cards_pass_the_standard_checks():
    cards = json.loads((HL7_DIR / "inferno-crd-fixtures" / "valid_cards.json").read_text())
    assert standard_problems({"cards": cards}) == []


def _first_card_with(body: dict[str, Any], field: str) -> dict[str, Any]:
    return next(card for card in body["cards"] if field in card)


def _action(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(a for c in body["cards"] for s in c.get("suggestions", []) for a in s["actions"] if a["type"] == kind)


def _two_recommended(body: dict[str, Any]) -> None:
    card = _first_card_with(body, "suggestions")
    card["selectionBehavior"] = "at-most-one"
    card["suggestions"].append(copy.deepcopy(card["suggestions"][0]))
    for suggestion in card["suggestions"]:
        suggestion["isRecommended"] = True


PLANTED: dict[str, Callable[[dict[str, Any]], None]] = {
    "long summary": lambda b: b["cards"][0].update(summary="x" * 140),
    "bad indicator": lambda b: b["cards"][0].update(indicator="hard-stop"),
    "no source label": lambda b: b["cards"][0]["source"].pop("label"),
    "null field": lambda b: b["cards"][0].update(detail=None),
    "empty string": lambda b: b["cards"][0].update(detail=""),
    "empty list": lambda b: b["cards"][0].update(links=[]),
    "empty object deep": lambda b: _action(b, "update")["resource"].update(meta={}),
    "suggestions without selectionBehavior": lambda b: _first_card_with(b, "suggestions").pop("selectionBehavior"),
    "unknown selectionBehavior": lambda b: _first_card_with(b, "suggestions").update(selectionBehavior="all"),
    "two recommended under at-most-one": lambda b: _two_recommended(b),
    "action without description": lambda b: _action(b, "update").pop("description"),
    "delete without resourceId": lambda b: _action(b, "update").update(type="delete"),
    "update without resource": lambda b: _action(b, "update").pop("resource"),
    "invalid R4 resource": lambda b: _action(b, "update")["resource"].update(authoredOn="yesterday"),
    "override reason without display": lambda b: _first_card_with(b, "overrideReasons")["overrideReasons"][0].pop(
        "display"
    ),
    "link without type": lambda b: b["cards"][0].update(links=[{"label": "x", "url": "https://example.org"}]),
    "appContext on an absolute link": lambda b: b["cards"][0].update(
        links=[{"label": "x", "url": "https://example.org", "type": "absolute", "appContext": "{}x"}]
    ),
}

PLANTED_CONTRACT: dict[str, Callable[[dict[str, Any]], None]] = {
    "no uuid": lambda b: b["cards"][0].pop("uuid"),
    "unknown rule id": lambda b: b["cards"][0]["extension"]["org.lenadex.rules"].append("R-NO-SUCH-RULE"),
    "rule of another hook": lambda b: b["cards"][0]["extension"]["org.lenadex.rules"].append("R-MON-CBC"),
    "no rules extension": lambda b: b["cards"][0].pop("extension"),
    "info before critical": lambda b: b["cards"].reverse(),
    "duplicate card": lambda b: b["cards"].append(copy.deepcopy(b["cards"][-1])),
    "warning without override reasons": lambda b: next(
        c for c in b["cards"] if c["indicator"] in ("warning", "critical")
    ).pop("overrideReasons"),
}


@pytest.mark.parametrize("planted", PLANTED)
def test_the_standard_checker_catches_each_planted_violation(sandbox_exchanges, planted):
    body = copy.deepcopy(sandbox_exchanges[("moderate-renal", "order-select")].body)
    assert standard_problems(body) == []
    PLANTED[planted](body)
    assert standard_problems(body), f"{planted} was not caught"


@pytest.mark.parametrize("planted", PLANTED_CONTRACT)
def test_the_contract_checker_catches_each_planted_violation(sandbox_exchanges, planted):
    body = copy.deepcopy(sandbox_exchanges[("moderate-renal", "order-select")].body)
    assert lenadex_problems(body, "order-select") == []
    assert len({c["indicator"] for c in body["cards"]}) >= 2, "needs cards of two indicators"
    PLANTED_CONTRACT[planted](body)
    assert lenadex_problems(body, "order-select"), f"{planted} was not caught"
