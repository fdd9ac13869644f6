"""The store on SQLite and on PostgreSQL: migrations, audit records, feedback, replay cache."""

from __future__ import annotations

import hashlib
import hmac
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from service.feedback import Feedback
from service.settings import Settings
from service.store import HookCall, Store, StoreUnavailable, feedback_key
from service.store.tables import feedback, hook_call, hook_call_card, metadata, seen_jti

NOW = datetime(2025, 3, 1, 9, 30, tzinfo=timezone.utc)
T = TypeVar("T")


def _feedback(
    card: str = "card-1", outcome: str = "accepted", when: str = "2025-03-01T09:30:00Z", **more: object
) -> Feedback:
    return Feedback.model_validate({"card": card, "outcome": outcome, "outcomeTimestamp": when, **more})


def test_migrations_create_exactly_the_declared_tables(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
        tables = set(inspect(connection).get_table_names())
        revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert differences == []
    assert tables == {"alembic_version", "hook_call", "hook_call_card", "feedback", "seen_jti", "store_secret"}
    assert revision == "0002"


def test_migrating_again_keeps_the_data(store: Store, open_store: Callable[..., Store]) -> None:
    store.record_feedback("svc", [_feedback()])
    again = open_store()  # opens and runs the migrations once more
    assert again.count(feedback) == 1


def _all_at_once(action: Callable[[Store], T], stores: list[Store]) -> list[T]:
    """``action(store)`` for every store, each in a thread of its own, released together as
    workers and replicas hit the database together; an exception in any is raised here."""
    barrier = threading.Barrier(len(stores))

    def run(store: Store) -> T:
        barrier.wait()
        return action(store)

    with ThreadPoolExecutor(max_workers=len(stores)) as pool:
        return [future.result(timeout=60) for future in [pool.submit(run, s) for s in stores]]


def test_concurrent_first_starts_migrate_once(database_url: str) -> None:
    """Several workers or replicas starting together on an empty database."""
    stores = [Store(database_url) for _ in range(4)]
    try:
        _all_at_once(Store.migrate, stores)
        assert stores[0].count(feedback) == 0
    finally:
        for store in stores:
            store.close()


def test_default_store_is_a_sqlite_file_under_var_created_on_first_start(tmp_path: Path) -> None:
    """`lenadex serve` with no settings: ./var/lenadex.sqlite3 appears, migrated."""
    code = "from service.app import create_app; from service.settings import Settings; create_app(Settings())"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENADEX_")}
    subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, timeout=120)
    database = tmp_path / "var" / "lenadex.sqlite3"
    assert database.is_file()
    assert Settings.model_fields["database_url"].default == "sqlite:///var/lenadex.sqlite3"
    with Store(f"sqlite:///{database}").engine.connect() as connection:
        assert "feedback" in inspect(connection).get_table_names()


# --- audit ---------------------------------------------------------------------------------


def test_audit_record_keeps_the_patient_id_only_as_an_hmac(store: Store) -> None:
    store.record_hook_call(
        HookCall(
            service_id="lenalidomide-order-select",
            status=200,
            latency_ms=12.5,
            received_at=NOW,
            hook_instance="d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            patient_id="patient-7731",
            rule_ids=("R-CRCL-CG", "R-RENAL-MODERATE", "R-CRCL-CG"),
            card_uuids=("c-1", "c-2"),
        )
    )
    with store.engine.connect() as connection:
        row = connection.execute(select(hook_call)).one()
        cards = connection.execute(select(hook_call_card.c.card_uuid)).scalars().all()
    assert row.patient_hash == store.patient_hash("patient-7731")
    assert row.patient_hash != hashlib.sha256(b"patient-7731").hexdigest()
    assert "patient-7731" not in str(tuple(row))
    assert row.rule_ids == ["R-CRCL-CG", "R-RENAL-MODERATE"]
    assert sorted(cards) == ["c-1", "c-2"] and row.card_count == 2
    assert (row.status, row.latency_ms, row.received_at) == (200, 12.5, NOW)
    assert row.hook_instance == "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"


def test_the_configured_audit_salt_is_the_hmac_key(open_store: Callable[..., Store]) -> None:
    store = open_store(audit_salt="a secret of the operator")
    expected = hmac.new(b"a secret of the operator", b"patient-7731", hashlib.sha256).hexdigest()
    assert store.patient_hash("patient-7731") == expected


def test_without_a_salt_every_process_uses_one_generated_key(open_store: Callable[..., Store]) -> None:
    first, second = open_store(), open_store()
    assert first.patient_hash("p-1") == second.patient_hash("p-1")
    assert first.patient_hash("p-1") != first.patient_hash("p-2")
    assert first.patient_hash("p-1") != open_store(audit_salt="other").patient_hash("p-1")


def test_sqlite_file_never_holds_the_patient_id(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.migrate()
    store.record_hook_call(HookCall("svc", 200, 1.0, NOW, patient_id="mrn-000123456"))
    store.close()
    files = [path, *tmp_path.glob("audit.sqlite3-*")]  # WAL and shared-memory files too
    assert not any(b"mrn-000123456" in f.read_bytes() for f in files if f.is_file())


# --- feedback ------------------------------------------------------------------------------


def test_feedback_is_stored_with_all_its_fields(store: Store) -> None:
    item = _feedback(
        outcome="overridden",
        when="2025-03-01T18:30:00.250+09:00",
        overrideReason={
            "reason": {
                "system": "http://example.org/reasons",
                "code": "patient-declined",
                "display": "Patient declined",
            },
            "userComment": "discussed",
        },
    )
    [result] = store.record_feedback("lenalidomide-order-sign", [item])
    assert result.new and not result.card_known
    with store.engine.connect() as connection:
        row = connection.execute(select(feedback)).one()
    assert row.service_id == "lenalidomide-order-sign" and row.card_uuid == "card-1"
    assert row.outcome == "overridden"
    assert row.outcome_timestamp == datetime(2025, 3, 1, 9, 30, 0, 250000, tzinfo=timezone.utc)
    assert (row.override_system, row.override_code, row.override_display, row.override_comment) == (
        "http://example.org/reasons",
        "patient-declined",
        "Patient declined",
        "discussed",
    )
    assert row.accepted_suggestions == [] and row.card_known is False


def test_the_same_feedback_is_stored_once_even_written_in_another_time_zone(store: Store) -> None:
    utc = _feedback(when="2025-03-01T09:30:00Z", acceptedSuggestions=[{"id": "s-1"}])
    seoul = _feedback(when="2025-03-01T18:30:00+09:00", acceptedSuggestions=[{"id": "s-1"}])
    assert feedback_key("svc", utc) == feedback_key("svc", seoul)
    results = store.record_feedback("svc", [utc]) + store.record_feedback("svc", [seoul, utc])
    assert [r.new for r in results] == [True, False, False]
    assert store.count(feedback) == 1


def test_feedback_differing_in_service_outcome_card_or_time_is_not_a_duplicate(store: Store) -> None:
    base = _feedback()
    others = [
        _feedback(card="card-2"),
        _feedback(outcome="overridden"),
        _feedback(when="2025-03-01T09:30:00.001Z"),
    ]
    store.record_feedback("svc", [base, *others])
    store.record_feedback("other-svc", [base])
    assert store.count(feedback) == 5


def test_feedback_on_a_card_of_an_audit_record_is_known(store: Store) -> None:
    store.record_hook_call(HookCall("svc", 200, 3.0, NOW, card_uuids=("shown-card",)))
    known, unknown = store.record_feedback("svc", [_feedback(card="shown-card"), _feedback(card="never-shown")])
    assert known.card_known and not unknown.card_known
    with store.engine.connect() as connection:
        flags = dict(connection.execute(select(feedback.c.card_uuid, feedback.c.card_known)).all())
    assert flags == {"shown-card": True, "never-shown": False}


def test_concurrent_duplicates_from_many_workers_are_stored_once(open_store: Callable[..., Store]) -> None:
    stores = [open_store() for _ in range(4)]
    items = [_feedback(card=f"card-{i}") for i in range(10)]
    results = _all_at_once(lambda store: store.record_feedback("svc", items), stores)
    assert stores[0].count(feedback) == 10
    new = [r.new for per_store in results for r in per_store]
    assert sum(new) == 10 and len(new) == 40


# --- JWT replay cache ----------------------------------------------------------------------


def test_a_jti_is_accepted_once_until_it_expires(store: Store) -> None:
    assert store.claim_jti("iss", "jti-1", expires_at=1_000, now=900) is True
    assert store.claim_jti("iss", "jti-1", expires_at=1_000, now=950) is False
    assert store.claim_jti("other-iss", "jti-1", expires_at=1_000, now=950) is True
    # Once the token that carried it has expired, the id may come again.
    assert store.claim_jti("iss", "jti-1", expires_at=2_000, now=1_001) is True
    assert store.claim_jti("iss", "jti-1", expires_at=2_000, now=1_002) is False


def test_the_replay_cache_is_shared_by_every_store_on_the_database(open_store: Callable[..., Store]) -> None:
    worker_a, worker_b = open_store(), open_store()
    assert worker_a.claim_jti("iss", "jti-x", expires_at=2**40)
    assert not worker_b.claim_jti("iss", "jti-x", expires_at=2**40)


def test_expired_ids_are_purged(store: Store) -> None:
    for n in range(5):
        store.claim_jti("iss", f"old-{n}", expires_at=100, now=50)
    store._next_jti_purge = 0.0  # the purge runs at most once a minute per process
    store.claim_jti("iss", "new", expires_at=10_000, now=5_000)
    assert store.count(seen_jti) == 1


def test_racing_replays_let_exactly_one_through(open_store: Callable[..., Store]) -> None:
    stores = [open_store() for _ in range(6)]
    wins = _all_at_once(lambda store: store.claim_jti("iss", "raced", expires_at=2**40), stores)
    assert sorted(wins) == [False] * 5 + [True]


# --- failures ------------------------------------------------------------------------------


def test_an_unreachable_database_raises_store_unavailable() -> None:
    store = Store("postgresql+psycopg://lenadex@127.0.0.1:9/nowhere?connect_timeout=2")
    with pytest.raises(StoreUnavailable) as raised:
        store.ping()
    assert "nowhere" not in str(raised.value)  # names no connection details


def test_only_sqlite_and_postgresql_are_supported() -> None:
    with pytest.raises(ValueError, match="SQLite or PostgreSQL"):
        Store("mysql://root@localhost/db")


def test_naive_datetimes_are_refused(store: Store) -> None:
    with pytest.raises(StoreUnavailable):
        store.record_hook_call(HookCall("svc", 200, 1.0, datetime(2025, 3, 1) + timedelta(0)))
