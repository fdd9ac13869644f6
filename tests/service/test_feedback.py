"""POST /cds-services/{id}/feedback (CDS Hooks 2.0.1 feedback), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from sandbox.catalogue import hook_request
from service.store import Store
from service.store.tables import feedback

SERVICE = "lenalidomide-order-select"
URL = f"/cds-services/{SERVICE}/feedback"


def _item(card: str = "0f7d9a5e-2c1b-4f43-9a0e-6b8f8f1f1a01", **changes: Any) -> dict[str, Any]:
    item = {
        "card": card,
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": "e56e1945-20b3-4393-8503-a1a20fd73152"}],
        "outcomeTimestamp": "2025-03-01T09:30:00Z",
    }
    item.update(changes)
    return {k: v for k, v in item.items() if v is not None}


def _rows(app: Flask) -> list[Any]:
    """What a second process would read: a store of its own on the same database."""
    store = Store(app.config["LENADEX_SETTINGS"].database_url)
    try:
        with store.engine.connect() as connection:
            return list(connection.execute(select(feedback).order_by(feedback.c.id)))
    finally:
        store.close()


def test_feedback_is_committed_before_the_200(app: Flask) -> None:
    overridden = _item(
        card="card-b",
        outcome="overridden",
        acceptedSuggestions=None,
        overrideReason={
            "reason": {"system": "http://snomed.info/sct", "code": "183944003", "display": "Procedure refused"},
            "userComment": "will review next week",
        },
    )
    response = app.test_client().post(URL, json={"feedback": [_item(card="card-a"), overridden]})
    assert response.status_code == 200
    assert response.json == {"received": 2, "stored": 2, "duplicates": 0, "unknownCards": 2}
    rows = _rows(app)
    assert [(r.card_uuid, r.outcome, r.service_id) for r in rows] == [
        ("card-a", "accepted", SERVICE),
        ("card-b", "overridden", SERVICE),
    ]
    assert rows[0].accepted_suggestions == ["e56e1945-20b3-4393-8503-a1a20fd73152"]
    assert (rows[1].override_code, rows[1].override_comment) == ("183944003", "will review next week")


def test_a_resent_feedback_is_accepted_and_not_counted_twice(app: Flask) -> None:
    client = app.test_client()
    body = {"feedback": [_item(card="card-a"), _item(card="card-b")]}
    assert client.post(URL, json=body).status_code == 200
    again = client.post(URL, json=body)
    # The same instant written with an offset is the same feedback.
    shifted = client.post(URL, json=_item(card="card-a", outcomeTimestamp="2025-03-01T18:30:00+09:00"))
    assert again.status_code == 200 and again.json["duplicates"] == 2 and again.json["stored"] == 0
    assert shifted.status_code == 200 and shifted.json["duplicates"] == 1
    assert len(_rows(app)) == 2


def test_the_single_object_form_that_hapi_sends_is_accepted(app: Flask) -> None:
    response = app.test_client().post(URL, json=_item(card="hapi-card"))
    assert response.status_code == 200 and response.json["stored"] == 1
    assert [r.card_uuid for r in _rows(app)] == ["hapi-card"]


def test_feedback_on_a_card_the_service_showed_is_known_and_on_another_flagged(app: Flask) -> None:
    client = app.test_client()
    call = client.post(f"/cds-services/{SERVICE}", json=hook_request("moderate-renal", "order-select"))
    assert call.status_code == 200
    shown = call.json["cards"][0]["uuid"]
    response = client.post(URL, json={"feedback": [_item(card=shown), _item(card="not-from-us")]})
    assert response.status_code == 200 and response.json["unknownCards"] == 1
    assert {r.card_uuid: r.card_known for r in _rows(app)} == {shown: True, "not-from-us": False}


def test_an_empty_feedback_list_is_fine(app: Flask) -> None:
    response = app.test_client().post(URL, json={"feedback": []})
    assert response.status_code == 200 and response.json["received"] == 0


def test_unknown_service_is_404_and_stores_nothing(app: Flask) -> None:
    response = app.test_client().post("/cds-services/no-such-service/feedback", json=_item())
    assert response.status_code == 404
    assert response.json["resourceType"] == "OperationOutcome"
    assert _rows(app) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"feedback": [_item(outcome="ignored")]}, "feedback[0].outcome"),
        ({"feedback": [_item(), _item(card=None)]}, "feedback[1].card"),
        ({"feedback": [_item(card="")]}, "feedback[0].card"),
        ({"feedback": [_item(outcomeTimestamp="2025-03-01T09:30:00")]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(outcomeTimestamp="2025-03-01")]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(outcomeTimestamp="yesterday")]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(outcomeTimestamp=1740821400)]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(outcomeTimestamp="2025-02-30T09:30:00Z")]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(outcomeTimestamp=None)]}, "feedback[0].outcomeTimestamp"),
        ({"feedback": [_item(acceptedSuggestions=[{"uuid": "x"}])]}, "feedback[0].acceptedSuggestions[0].id"),
        ({"feedback": [_item(overrideReason={"reason": {"system": "s"}})]}, "feedback[0].overrideReason.reason.code"),
        ({"feedback": {"card": "x"}}, "feedback"),
        (_item(outcome="maybe"), "outcome"),  # the bare form names its own fields
    ],
)
def test_invalid_feedback_is_400_naming_the_field(app: Flask, body: dict[str, Any], field: str) -> None:
    response = app.test_client().post(URL, json=body)
    assert response.status_code == 400
    issue = response.json["issue"][0]
    assert response.json["resourceType"] == "OperationOutcome"
    assert field in issue["expression"] and field in issue["diagnostics"]
    assert _rows(app) == []  # nothing of a refused batch is stored


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ("[]", "application/json", 400),
        ("{not json", "application/json", 400),
        ('{"feedback": []}', "text/plain", 415),
        ('{"feedback": []}', None, 415),
    ],
)
def test_bodies_that_are_not_feedback_json(app: Flask, data: str, content_type: str | None, status: int) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = app.test_client().post(URL, data=data, headers=headers)
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"


def test_feedback_when_the_store_is_down_is_503_not_a_false_200(
    app: Flask, break_store: Callable[[Flask], None]
) -> None:
    break_store(app)
    response = app.test_client().post(URL, json=_item())
    assert response.status_code == 503
    assert response.json["resourceType"] == "OperationOutcome"
