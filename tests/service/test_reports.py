"""The governance report, GET /reports/cards and GET /reports, on SQLite and PostgreSQL.

The store is filled the way production fills it: hook calls and feedback posted to the app
(sandbox patients); only the period tests add audit records at chosen times through the
store's own API. Expected numbers are worked out here from the cards the calls answered and
the feedback sent, independently of service/store/report.py.
"""

from __future__ import annotations

import base64
import statistics
import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, select

from cards.render import OVERRIDE_SYSTEM
from rules.catalogue import RULES
from sandbox.catalogue import hook_request
from service.reports import requested_period
from service.settings import SettingsError, load_settings
from service.store import HookCall, Store
from service.store.tables import hook_call, hook_call_card

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS

SELECT, SIGN, VIEW = "lenalidomide-order-select", "lenalidomide-order-sign", "lenalidomide-patient-view"
HOOK_OF = {SELECT: "order-select", SIGN: "order-sign", VIEW: "patient-view"}
OPERATOR_TOKEN = "op-" + "7f3c9a1e5b2d4f60" * 3  # 51 visible ASCII characters
PUBLIC_BASE_URL = "http://localhost"  # the Flask test client's host
COMMENT = "Hong Gildong refused; see note"  # free text that names a patient
T1, T2 = "2026-01-10T09:00:00Z", "2026-01-10T09:05:00Z"


def rules_of(card: dict[str, Any]) -> list[str]:
    return list(card["extension"]["org.lenadex.rules"])


def card_with(cards: list[dict[str, Any]], rule_id: str) -> dict[str, Any]:
    return next(card for card in cards if rule_id in rules_of(card))


def call(client: FlaskClient, service: str, slug: str, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    body = hook_request(slug, HOOK_OF[service], **options)
    response = client.post(f"/cds-services/{service}", json=body)
    assert response.status_code == 200, response.json
    return body, response.json["cards"]


def post_feedback(client: FlaskClient, service: str, *items: dict[str, Any]) -> None:
    response = client.post(f"/cds-services/{service}/feedback", json={"feedback": list(items)})
    assert response.status_code == 200, response.json


def accepted(card: dict[str, Any], when: str = T1) -> dict[str, Any]:
    return {"card": card["uuid"], "outcome": "accepted", "outcomeTimestamp": when}


def overridden(
    card: dict[str, Any],
    code: str | None = None,
    when: str = T1,
    display: str | None = None,
    comment: str | None = COMMENT,
) -> dict[str, Any]:
    item: dict[str, Any] = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": when}
    reason: dict[str, Any] = {}
    if code is not None:
        offered = {r["code"]: r for r in card.get("overrideReasons", [])}
        reason["reason"] = offered.get(code) or {"system": OVERRIDE_SYSTEM, "code": code, "display": display or code}
    if comment is not None:
        reason["userComment"] = comment
    if reason:
        item["overrideReason"] = reason
    return item


def rows_by_key(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    rows = {(row["ruleId"], row["hook"]): row for row in report["rules"]}
    assert len(rows) == len(report["rules"]), "one row per rule and hook"
    return rows


# --- the numbers --------------------------------------------------------------------------


def test_the_report_counts_cards_outcomes_and_reasons_of_real_calls(app: Flask) -> None:
    client = app.test_client()
    first_body, first = call(client, SELECT, "moderate-renal")
    retry = client.post(f"/cds-services/{SELECT}", json=first_body)  # the same hookInstance again
    assert retry.status_code == 200 and [c["uuid"] for c in retry.json["cards"]] == [c["uuid"] for c in first]
    _, second = call(client, SELECT, "moderate-renal")
    _, signed = call(client, SIGN, "moderate-renal")
    _, viewed = call(client, VIEW, "severe-neutropenia")

    plan: dict[tuple[str, str], dict[str, Any]] = {}  # (service, card uuid) → the feedback that counts

    def send(service: str, *items: dict[str, Any]) -> None:
        post_feedback(client, service, *items)
        for item in items:  # later items replace earlier ones: the plan's timestamps only grow
            plan[(service, item["card"])] = item

    send(SELECT, overridden(card_with(first, "R-RENAL-MODERATE"), "renal-function-improving"))
    send(SELECT, accepted(card_with(first, "R-VTE-STANDARD")), accepted(card_with(first, "R-VTE-STANDARD")))  # resent
    send(SELECT, overridden(card_with(first, "R-INF-PROPH"), "patient-declined", display="Patient declined"))
    send(SELECT, overridden(card_with(second, "R-RENAL-MODERATE"), "clinical-judgement", when=T1))
    send(SELECT, accepted(card_with(second, "R-RENAL-MODERATE"), when=T2))  # the latest counts
    send(SELECT, overridden(card_with(second, "R-VTE-STANDARD"), None, comment=None))  # no reason given
    send(SELECT, overridden(card_with(second, "R-INF-PROPH"), "clinical-judgement"))
    send(SIGN, overridden(card_with(signed, "R-RENAL-MODERATE"), "data-outdated"))
    send(VIEW, accepted(viewed[0]))
    post_feedback(client, SELECT, accepted({"uuid": "not-a-card-of-ours"}))
    # Feedback sent to another service than the one that showed the card is not its outcome.
    post_feedback(client, SELECT, overridden(card_with(signed, "R-VTE-STANDARD"), "clinical-judgement"))

    # What the report must say, worked out from the answers and the plan.
    expected: dict[tuple[str, str], dict[str, Any]] = {}
    reasons: dict[tuple[str, str], dict[tuple[Any, Any], dict[str, Any]]] = defaultdict(dict)
    for service, cards in ((SELECT, first), (SELECT, second), (SIGN, signed), (VIEW, viewed)):
        for card in cards:
            outcome = plan.get((service, card["uuid"]))
            for rule_id in rules_of(card):
                row = expected.setdefault(
                    (rule_id, HOOK_OF[service]),
                    {
                        "ruleId": rule_id,
                        "hook": HOOK_OF[service],
                        "shown": 0,
                        "accepted": 0,
                        "overridden": 0,
                    },
                )
                row["shown"] += 1
                if outcome is not None:
                    row[outcome["outcome"]] += 1
                if outcome is not None and outcome["outcome"] == "overridden":
                    coding = outcome.get("overrideReason", {}).get("reason", {})
                    key = (coding.get("system"), coding.get("code"))
                    tally = reasons[(rule_id, HOOK_OF[service])].setdefault(
                        key, {"system": key[0], "code": key[1], "display": coding.get("display"), "count": 0}
                    )
                    tally["count"] += 1
    for key, row in expected.items():
        answered = row["accepted"] + row["overridden"]
        row["withoutFeedback"] = row["shown"] - answered
        row["overrideRate"] = round(row["overridden"] / answered, 4) if answered else None
        row["overridesByReason"] = sorted(reasons[key].values(), key=lambda r: (-r["count"], r["code"] or "~"))

    response = client.get("/reports/cards")
    assert response.status_code == 200 and response.mimetype == "application/json"
    report = response.json
    rows = rows_by_key(report)
    assert rows == expected

    # The same, said by hand for the rows the feedback was about.
    renal = rows[("R-RENAL-MODERATE", "order-select")]
    assert (renal["shown"], renal["accepted"], renal["overridden"], renal["overrideRate"]) == (2, 1, 1, 0.5)
    assert [(r["code"], r["count"]) for r in renal["overridesByReason"]] == [("renal-function-improving", 1)]
    assert renal["overridesByReason"][0]["display"] == "Renal function is improving"
    assert [(r["code"], r["count"]) for r in rows[("R-INF-PROPH", "order-select")]["overridesByReason"]] == [
        ("clinical-judgement", 1),
        ("patient-declined", 1),
    ]
    vte = rows[("R-VTE-STANDARD", "order-select")]
    assert (vte["accepted"], vte["overridden"], vte["overridesByReason"]) == (
        1,
        1,
        [{"system": None, "code": None, "display": None, "count": 1}],
    )
    assert rows[("R-RENAL-MODERATE", "order-sign")]["overrideRate"] == 1.0
    assert rows[("R-VTE-STANDARD", "order-sign")]["overridden"] == 0  # its feedback went elsewhere
    assert report["feedbackOnUnknownCards"] == 1
    assert report["cardsWithoutRuleIds"] == 0
    assert ("R-RENAL-MODERATE", "order-select") not in {(r["ruleId"], r["hook"]) for r in report["notShown"]}
    assert {"ruleId": "R-SPM", "hook": "patient-view"} in report["notShown"]

    counts = [len(first), len(first), len(second), len(signed), len(viewed)]  # the retry is a call too
    assert report["calls"]["count"] == 5
    assert report["calls"]["cardsPerCall"] == {
        "median": statistics.median(counts),
        "p90": round(statistics.quantiles(counts, n=10, method="inclusive")[8], 4),
    }
    by_hook = {row["hook"]: row for row in report["calls"]["byHook"]}
    assert list(by_hook) == ["order-select", "order-sign", "patient-view"]
    assert by_hook["order-select"]["count"] == 3
    assert by_hook["order-sign"]["cardsPerCall"] == {"median": len(signed), "p90": len(signed)}

    # No patient data: no patient id or its hash, no hookInstance, no card uuid, no free text.
    text = response.get_data(as_text=True)
    store: Store = app.extensions["lenadex.store"]
    for secret in (
        "moderate-renal",
        "severe-neutropenia",
        store.patient_hash("moderate-renal"),
        first_body["hookInstance"],
        first[0]["uuid"],
        "Hong Gildong",
        "userComment",
    ):
        assert secret not in text


def test_the_audit_record_keeps_each_cards_rule_ids_and_the_hook(app: Flask) -> None:
    client = app.test_client()
    _, cards = call(client, SIGN, "moderate-renal")
    store: Store = app.extensions["lenadex.store"]
    with store.engine.connect() as connection:
        hooks = connection.execute(select(hook_call.c.hook)).scalars().all()
        stored = dict(connection.execute(select(hook_call_card.c.card_uuid, hook_call_card.c.rule_ids)).all())
    assert hooks == ["order-sign"]
    assert stored == {card["uuid"]: rules_of(card) for card in cards}


def test_cards_per_call_median_and_p90(app: Flask) -> None:
    store: Store = app.extensions["lenadex.store"]
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    for index, cards in enumerate([0, 0, 1, 1, 2, 2, 3, 3, 4, 10]):
        uuids = tuple(f"c{index}-{n}" for n in range(cards))
        store.record_hook_call(
            HookCall(
                SELECT,
                200,
                5.0,
                now,
                hook="order-select",
                card_uuids=uuids,
                card_rule_ids={u: ("R-VTE-NONE",) for u in uuids},
            )
        )
    store.record_hook_call(HookCall(SELECT, 412, 5.0, now, hook="order-select"))  # not answered: not counted
    report = app.test_client().get("/reports/cards").json
    # Type 7: median between the 5th and 6th value (2, 2); p90 = 4 + 0.1 * (10 - 4).
    assert report["calls"]["count"] == 10
    assert report["calls"]["cardsPerCall"] == {"median": 2.0, "p90": 4.6}
    assert rows_by_key(report)[("R-VTE-NONE", "order-select")]["shown"] == 26


def test_an_empty_store_reports_nothing_shown(app: Flask) -> None:
    report = app.test_client().get("/reports/cards").json
    assert report["rules"] == [] and report["calls"] == {
        "count": 0,
        "cardsPerCall": {"median": None, "p90": None},
        "byHook": [],
    }
    assert len(report["notShown"]) == sum(len(rule.hooks) for rule in RULES)


# --- the period ---------------------------------------------------------------------------


def _record(store: Store, when: datetime, rule_id: str, *, cards: int = 1) -> None:
    uuids = tuple(str(uuid.uuid4()) for _ in range(cards))
    store.record_hook_call(
        HookCall(
            SELECT, 200, 3.0, when, hook="order-select", card_uuids=uuids, card_rule_ids={u: (rule_id,) for u in uuids}
        )
    )


def _shown(client: FlaskClient, query: str) -> dict[str, int]:
    response = client.get(f"/reports/cards{query}")
    assert response.status_code == 200, response.json
    return {row["ruleId"]: row["shown"] for row in response.json["rules"]}


def test_the_period_selects_the_calls_received_in_it(app: Flask) -> None:
    client = app.test_client()
    store: Store = app.extensions["lenadex.store"]
    _record(store, datetime(2025, 3, 1, 0, 0, tzinfo=timezone.utc), "R-MARCH-FIRST")
    _record(store, datetime(2025, 3, 31, 23, 59, 59, tzinfo=timezone.utc), "R-MARCH-LAST")
    _record(store, datetime(2025, 4, 1, 0, 0, tzinfo=timezone.utc), "R-APRIL")
    _record(store, datetime(2025, 2, 28, 23, 59, 59, tzinfo=timezone.utc), "R-FEBRUARY")
    call(client, SELECT, "moderate-renal")  # now

    # Dates: from the start of the first day to the end of the last.
    assert _shown(client, "?from=2025-03-01&to=2025-03-31") == {"R-MARCH-FIRST": 1, "R-MARCH-LAST": 1}
    march = client.get("/reports/cards?from=2025-03-01&to=2025-03-31").json
    assert march["period"] == {"from": "2025-03-01T00:00:00Z", "to": "2025-04-01T00:00:00Z"}
    assert march["calls"]["count"] == 2
    # Date-times: the start is in, the end is out; offsets are taken to UTC.
    assert _shown(client, "?from=2025-03-31T23:59:59Z&to=2025-04-01T00:00:00Z") == {"R-MARCH-LAST": 1}
    assert _shown(client, "?from=2025-04-01T09:00:00%2B09:00&to=2025-04-02") == {"R-APRIL": 1}
    assert _shown(client, "?from=2025-02-28T23:59:59.5Z&to=2025-03-01T00:00:00.000001Z") == {"R-MARCH-FIRST": 1}
    # Default: the last 30 days, up to now.
    default = client.get("/reports/cards").json
    assert "R-RENAL-MODERATE" in {row["ruleId"] for row in default["rules"]}
    assert not {"R-MARCH-FIRST", "R-APRIL"} & {row["ruleId"] for row in default["rules"]}
    start = datetime.fromisoformat(default["period"]["from"])
    end = datetime.fromisoformat(default["period"]["to"])
    assert end - start == timedelta(days=30) and abs(end - datetime.now(timezone.utc)) < timedelta(minutes=1)
    # Only a start: up to now. Only an end: the 30 days before it. Empty form fields: the default.
    since = (datetime.now(timezone.utc) - timedelta(days=2)).isoformat()
    assert set(_shown(client, "?from=" + since.replace("+", "%2B"))) == {row["ruleId"] for row in default["rules"]}
    assert _shown(client, "?to=2025-03-31") == {"R-MARCH-LAST": 1}  # from 2025-03-02T00:00Z
    assert _shown(client, "?from=&to=") == _shown(client, "")


def test_the_default_period_ends_after_the_latest_record(app: Flask) -> None:
    """Up to now, rounded up to the next whole second: a call of this very second is in."""
    now = datetime(2026, 5, 4, 10, 20, 30, 250_000, tzinfo=timezone.utc)
    with app.test_request_context("/reports/cards"):
        assert requested_period(now=now) == (
            datetime(2026, 4, 4, 10, 20, 31, tzinfo=timezone.utc),
            datetime(2026, 5, 4, 10, 20, 31, tzinfo=timezone.utc),
        )
    with app.test_request_context("/reports/cards?from=2026-05-01"):
        assert requested_period(now=now.replace(microsecond=0))[1] == datetime(
            2026, 5, 4, 10, 20, 30, tzinfo=timezone.utc
        )


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?from=yesterday", "from"),
        ("?from=2025-02-30", "from"),
        ("?from=2025-3-1", "from"),
        ("?from=2025-03-01T10:00:00", "from"),  # no offset: not RFC 3339
        ("?from=2025-03-01T10:00Z", "from"),  # no seconds
        ("?to=2025-03-01T24:00:00Z", "to"),
        ("?to=1740821400", "to"),
        ("?from=2025-03-02&to=2025-03-01", "from"),  # empty period
        ("?from=2025-03-01T00:00:00Z&to=2025-03-01T00:00:00Z", "from"),
        ("?from=2024-01-01&to=2025-03-01", "to"),  # over 366 days
        ("?from=2025-03-01&from=2025-03-02", "from"),
        ("?from=9999-12-31&to=9999-12-31", "to"),  # the day after does not exist
    ],
)
@pytest.mark.parametrize("path", ["/reports/cards", "/reports"])
def test_a_bad_period_is_a_400_operation_outcome(app: Flask, path: str, query: str, field: str) -> None:
    response = app.test_client().get(path + query)
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert response.json["resourceType"] == "OperationOutcome"
    assert response.json["issue"][0]["code"] == "invalid"
    assert response.json["issue"][0]["expression"] == [field]


# --- the page -----------------------------------------------------------------------------


def test_the_page_shows_the_numbers_and_escapes_every_text(app: Flask) -> None:
    client = app.test_client()
    _, cards = call(client, SELECT, "moderate-renal")
    post_feedback(
        client,
        SELECT,
        overridden(card_with(cards, "R-RENAL-MODERATE"), "x-hostile", display='<script>alert("display")</script>'),
    )
    store: Store = app.extensions["lenadex.store"]
    _record(store, datetime.now(timezone.utc) - timedelta(days=1), '<img src=x onerror="alert(1)">')

    response = client.get("/reports")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "R-RENAL-MODERATE" in page and "<svg" in page and "<rect" in page
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&#34;display&#34;)&lt;/script&gt;" in page  # the table (Jinja)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in page  # the table
    assert '&lt;img src=x onerror="alert(1)"&gt; · order-select</text>' in page  # the chart (ElementTree)
    assert COMMENT not in page and "moderate-renal" not in page
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_of_an_empty_period_says_so(app: Flask) -> None:
    page = app.test_client().get("/reports?from=2025-01-01&to=2025-01-31").get_data(as_text=True)
    assert "No cards were shown in this period." in page and "<svg" not in page
    assert 'value="2025-01-01"' in page and 'value="2025-01-31"' in page  # the form keeps the period


# --- rows written before migration 0002 ---------------------------------------------------


def test_rows_from_before_the_migration_keep_working(database_url: str) -> None:
    old = Store(database_url)
    try:
        config = Config()
        config.set_main_option("script_location", "service:migrations")
        with old.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
        when = datetime.now(timezone.utc) - timedelta(days=2)
        with old.engine.begin() as connection:  # the 0001 schema: no hook, no card rule ids
            for service, rules, cards in (
                (SELECT, ["R-DEX-AGE"], ["old-1"]),
                (SIGN, ["R-PLT-LOW", "R-SPM"], ["old-2", "old-3"]),
            ):
                call_id = connection.execute(
                    insert(hook_call).returning(hook_call.c.id),
                    {
                        "received_at": when,
                        "service_id": service,
                        "hook_instance": str(uuid.uuid4()),
                        "patient_hash": None,
                        "rule_ids": rules,
                        "card_count": len(cards),
                        "status": 200,
                        "latency_ms": 1.0,
                    },
                ).scalar_one()
                connection.execute(insert(hook_call_card), [{"hook_call_id": call_id, "card_uuid": c} for c in cards])
    finally:
        old.close()

    store = Store(database_url)
    try:
        store.migrate()  # 0001 → head, on the rows above
        with store.engine.connect() as connection:
            hooks = connection.execute(select(hook_call.c.service_id, hook_call.c.hook)).all()
            cards = dict(connection.execute(select(hook_call_card.c.card_uuid, hook_call_card.c.rule_ids)).all())
        assert sorted(hooks) == [(SELECT, "order-select"), (SIGN, "order-sign")]
        # One card in its call: the call's rule ids are the card's. Several: not known.
        assert cards == {"old-1": ["R-DEX-AGE"], "old-2": None, "old-3": None}
        counts = store.card_counts(datetime.now(timezone.utc) - timedelta(days=3), datetime.now(timezone.utc))
        assert [(t.rule_id, t.hook, t.shown) for t in counts.rules] == [("R-DEX-AGE", "order-select", 1)]
        assert counts.cards_without_rule_ids == 2
        assert sum(counts.cards_per_call["order-sign"].values()) == 1
    finally:
        store.close()


def test_the_report_takes_no_write_lock(store: Store) -> None:
    """A report is read while another writer holds the write lock (SQLite: BEGIN IMMEDIATE)."""
    _record(store, datetime.now(timezone.utc), "R-VTE-NONE")
    with store.engine.connect() as writer, writer.begin():
        writer.execute(hook_call.update().values(latency_ms=2.0))  # holds the lock until the end of the block
        counts = store.card_counts(
            datetime.now(timezone.utc) - timedelta(days=1), datetime.now(timezone.utc) + timedelta(seconds=1)
        )
    assert [t.rule_id for t in counts.rules] == ["R-VTE-NONE"]


# --- who may read it ----------------------------------------------------------------------


def auth_on(**changes: Any) -> dict[str, Any]:
    return {
        "auth": "jwt",
        "jwks": str(SANDBOX_JWKS),
        "trusted_issuers": SANDBOX_ISSUER,
        "public_base_url": PUBLIC_BASE_URL,
        **changes,
    }


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


REPORT_PATHS = ["/reports/cards", "/reports"]


@pytest.mark.parametrize("path", REPORT_PATHS)
def test_with_auth_on_the_report_needs_the_operator_token_and_never_takes_the_ehr_jwt(
    make_app: Callable[..., Flask], sandbox_token: Callable[..., str], path: str
) -> None:
    client = make_app(**auth_on(reports_token=OPERATOR_TOKEN)).test_client()
    # The EHR's token is good: it opens the EHR's endpoints...
    ehr = sandbox_token(f"{PUBLIC_BASE_URL}/cds-services")
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {ehr}"}).status_code == 200
    refused = [
        {},
        {"Authorization": f"Bearer {sandbox_token(PUBLIC_BASE_URL + path)}"},  # ...but not the report
        {"Authorization": f"Bearer {OPERATOR_TOKEN[:-1]}x"},
        {"Authorization": f"Bearer {OPERATOR_TOKEN} extra"},
        {"Authorization": OPERATOR_TOKEN},
        {"Authorization": f"Token {OPERATOR_TOKEN}"},
        {"Authorization": _basic(OPERATOR_TOKEN, "")},
        {"Authorization": "Basic !!!"},
    ]
    for headers in refused:
        response = client.get(path, headers=headers)
        assert response.status_code == 401, headers
        assert response.json["resourceType"] == "OperationOutcome"
        assert response.json["issue"][0]["diagnostics"] == "authentication failed"
        assert response.headers.getlist("WWW-Authenticate") == [
            'Bearer realm="lenadex governance report"',
            'Basic realm="lenadex governance report", charset="UTF-8"',
        ]
    for authorization in (f"Bearer {OPERATOR_TOKEN}", f"bearer  {OPERATOR_TOKEN}", _basic("committee", OPERATOR_TOKEN)):
        response = client.get(path, headers={"Authorization": authorization})
        assert response.status_code == 200, authorization
        assert response.headers["Cache-Control"] == "no-store"
    # The operator token is no EHR token.
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == 401


def test_with_auth_on_and_no_operator_token_the_report_is_off(
    make_app: Callable[..., Flask], sandbox_token: Callable[..., str]
) -> None:
    client = make_app(**auth_on()).test_client()
    for path in [*REPORT_PATHS, "/reports/nowhere"]:
        for headers in ({}, {"Authorization": f"Bearer {sandbox_token(PUBLIC_BASE_URL + path)}"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 403, (path, headers)
            assert response.json["resourceType"] == "OperationOutcome"
            assert "LENADEX_REPORTS_TOKEN" in response.json["issue"][0]["diagnostics"]


def test_with_auth_off_the_report_is_open_unless_an_operator_token_is_set(make_app: Callable[..., Flask]) -> None:
    open_client = make_app().test_client()
    for path in REPORT_PATHS:
        assert open_client.get(path).status_code == 200
    guarded = make_app(reports_token=OPERATOR_TOKEN).test_client()
    for path in REPORT_PATHS:
        assert guarded.get(path).status_code == 401
        assert guarded.get(path, headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"}).status_code == 200
    assert guarded.get("/reports/nowhere").status_code == 401  # every path under /reports
    assert guarded.get("/rules").status_code == 200  # the rest stays open


@pytest.mark.parametrize("token", ["short", "x" * 31, "a" * 40 + " " + "b" * 10, "é" * 40, "x" * 1025])
def test_a_weak_operator_token_stops_the_service_from_starting(token: str) -> None:
    with pytest.raises(SettingsError, match="LENADEX_REPORTS_TOKEN") as refused:
        load_settings(reports_token=token)
    assert token not in str(refused.value)


def test_the_operator_token_is_not_in_the_settings_repr() -> None:
    assert OPERATOR_TOKEN not in repr(load_settings(reports_token=OPERATOR_TOKEN))
