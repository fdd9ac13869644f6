"""Feedback limits: the item cap per request, and the time bounds of the store's writes, on
SQLite and PostgreSQL.

No test here measures time. The bounds are asserted as configured (busy timeout, lock_timeout,
statement_timeout) and by their outcome: a write that cannot get the lock answers 503 with
Retry-After, a statement that outruns the bound is stopped, and the JWT replay check answers
normally while feedback holds the store's write lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from service.app import create_app
from service.errors import RETRY_AFTER_SECONDS
from service.feedback import MAX_FEEDBACK_ITEMS
from service.settings import Settings
from service.store import Store, StoreBusy
from service.store.database import STORE_LOCK_TIMEOUT_SECONDS
from service.store.tables import feedback

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS

SERVICE = "lenalidomide-order-select"
URL = f"/cds-services/{SERVICE}/feedback"
BASE = "http://localhost"
# Short for the tests that must see a write give up; the default bound is STORE_LOCK_TIMEOUT_SECONDS.
SHORT_BOUND_SECONDS = 0.1
# Rows of a query that would run for many seconds unless the store's bound stops it.
LONG_QUERY = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 200000000) SELECT count(*) FROM n"
)


def _item(n: int) -> dict[str, Any]:
    return {"card": f"card-{n}", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T09:30:00Z"}


def _body(count: int, first: int = 0) -> dict[str, Any]:
    return {"feedback": [_item(first + n) for n in range(count)]}


@pytest.fixture
def bounded_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps whose store has the given time bound; settings overridden by keyword."""
    stores: list[Store] = []

    def make(lock_timeout_seconds: float = SHORT_BOUND_SECONDS, **settings: Any) -> Flask:
        store = Store(database_url, lock_timeout_seconds=lock_timeout_seconds)
        store.migrate()
        stores.append(store)
        return create_app(Settings(database_url=database_url, **settings), store=store)

    yield make
    for store in stores:
        store.close()


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another connection holds the lock feedback writes need, until the block ends: SQLite's
    write lock (BEGIN IMMEDIATE on a raw sqlite3 connection); on PostgreSQL a lock on the
    feedback table that every INSERT must wait for."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database
        holder = sqlite3.connect(url.database, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            yield
            holder.execute("ROLLBACK")
        finally:
            holder.close()
        return
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            connection.execute(text("LOCK TABLE feedback IN EXCLUSIVE MODE"))
            yield
            connection.rollback()
    finally:
        engine.dispose()


def _stored(app: Flask) -> int:
    store: Store = app.extensions["lenadex.store"]
    return store.count(feedback)


def assert_busy(response: Any) -> None:
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert response.json["resourceType"] == "OperationOutcome"
    assert response.json["issue"][0]["code"] == "transient"


# --- the item cap ----------------------------------------------------------------------------


def test_the_item_cap_is_one_hundred() -> None:
    assert MAX_FEEDBACK_ITEMS == 100


def test_more_items_than_the_cap_are_413_naming_the_limit_and_nothing_is_stored(app: Flask) -> None:
    response = app.test_client().post(URL, json=_body(MAX_FEEDBACK_ITEMS + 1))
    assert response.status_code == 413
    issue = response.json["issue"][0]
    assert response.json["resourceType"] == "OperationOutcome"
    assert issue["severity"] == "error" and issue["code"] == "too-long"
    assert f"at most {MAX_FEEDBACK_ITEMS}" in issue["diagnostics"]
    assert issue["expression"] == ["feedback"]
    assert _stored(app) == 0


def test_a_body_far_over_the_cap_is_refused_before_validation(app: Flask) -> None:
    # Items that are not even valid: the count alone decides, no item is looked at.
    response = app.test_client().post(URL, json={"feedback": [{}] * 60_000})
    assert response.status_code == 413
    assert _stored(app) == 0


def test_exactly_the_cap_is_accepted_and_stored(app: Flask) -> None:
    response = app.test_client().post(URL, json=_body(MAX_FEEDBACK_ITEMS))
    assert response.status_code == 200
    assert response.json == {"received": 100, "stored": 100, "duplicates": 0, "unknownCards": 100}
    assert _stored(app) == MAX_FEEDBACK_ITEMS


def test_the_same_item_twice_in_one_body_is_stored_once(app: Flask) -> None:
    response = app.test_client().post(URL, json={"feedback": [_item(1), _item(2), _item(1)]})
    assert response.status_code == 200
    assert (response.json["stored"], response.json["duplicates"]) == (2, 1)
    assert _stored(app) == 2


# --- the time bounds -------------------------------------------------------------------------


def test_every_store_transaction_is_bounded_by_the_configured_time(store: Store) -> None:
    assert 0 < STORE_LOCK_TIMEOUT_SECONDS <= 1.0
    assert store.lock_timeout_seconds == STORE_LOCK_TIMEOUT_SECONDS
    with store._transaction() as connection:
        if connection.dialect.name == "sqlite":
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1000
        else:
            assert connection.exec_driver_sql("SHOW lock_timeout").scalar() == "1s"
            assert connection.exec_driver_sql("SHOW statement_timeout").scalar() == "1s"


def test_a_statement_running_past_the_bound_is_stopped_and_releases_the_lock(database_url: str) -> None:
    store = Store(database_url, lock_timeout_seconds=SHORT_BOUND_SECONDS)
    try:
        store.migrate()
        with pytest.raises(StoreBusy):
            with store._transaction() as connection:
                connection.exec_driver_sql(LONG_QUERY)
        # The lock is free again: a write goes through at once.
        assert store.record_feedback(SERVICE, []) == []
        with write_lock_held(database_url):
            pass
    finally:
        store.close()


def test_feedback_while_another_writer_holds_the_lock_is_503_with_retry_after(
    bounded_app: Callable[..., Flask], database_url: str
) -> None:
    app = bounded_app()
    client = app.test_client()
    assert client.post(URL, json=_body(3)).status_code == 200  # acknowledged before the lock
    with write_lock_held(database_url):
        assert_busy(client.post(URL, json=_body(3, first=10)))
    # Once the lock is released the same request succeeds; nothing acknowledged was lost.
    retried = client.post(URL, json=_body(3, first=10))
    assert retried.status_code == 200 and retried.json["stored"] == 3
    assert _stored(app) == 6


# --- the JWT replay check does not queue behind feedback -----------------------------------


def _jwt_app(bounded_app: Callable[..., Flask], **options: Any) -> Flask:
    return bounded_app(
        auth="jwt", jwks=str(SANDBOX_JWKS), trusted_issuers=SANDBOX_ISSUER, public_base_url=BASE, **options
    )


def test_the_jti_check_answers_while_the_feedback_write_lock_is_held(
    bounded_app: Callable[..., Flask], database_url: str, sandbox_token: Callable[..., str]
) -> None:
    app = _jwt_app(bounded_app)
    client = app.test_client()
    token = sandbox_token(f"{BASE}/cds-services")
    feedback_token = sandbox_token(f"{BASE}{URL}")
    with write_lock_held(database_url):
        assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        # The feedback call passes authentication (its jti is recorded) and only its write waits.
        assert_busy(client.post(URL, json=_body(1), headers={"Authorization": f"Bearer {feedback_token}"}))
    # The replay cache kept both ids: the same tokens again are replays.
    assert client.get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post(URL, json=_body(1), headers={"Authorization": f"Bearer {feedback_token}"}).status_code == 401


def test_the_jti_check_answers_while_a_feedback_transaction_is_open(
    bounded_app: Callable[..., Flask], sandbox_token: Callable[..., str]
) -> None:
    # A bound long enough for the paused feedback transaction to finish once let go.
    app = _jwt_app(bounded_app, lock_timeout_seconds=20.0)
    store: Store = app.extensions["lenadex.store"]
    inside, let_go = threading.Event(), threading.Event()

    def pause_in_feedback_insert(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FEEDBACK"):
            inside.set()
            let_go.wait(timeout=60)

    event.listen(store.engine, "before_cursor_execute", pause_in_feedback_insert)
    answers: list[Any] = []
    feedback_token = sandbox_token(f"{BASE}{URL}")
    writer = threading.Thread(
        target=lambda: answers.append(
            app.test_client().post(URL, json=_body(2), headers={"Authorization": f"Bearer {feedback_token}"})
        )
    )
    writer.start()
    try:
        assert inside.wait(timeout=60), "the feedback write never started"
        token = sandbox_token(f"{BASE}/cds-services")
        assert app.test_client().get("/cds-services", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        let_go.set()
        writer.join(timeout=60)
        event.remove(store.engine, "before_cursor_execute", pause_in_feedback_insert)
    assert [answer.status_code for answer in answers] == [200]
    assert answers[0].json["stored"] == 2
