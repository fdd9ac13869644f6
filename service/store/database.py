"""The feedback and audit store: SQLite by default, PostgreSQL in production.

One ``Store`` per process (each gunicorn worker opens its own after the fork). Everything that
several workers or replicas must agree on lives here: stored feedback, the audit of hook calls,
the JWT replay cache and the generated audit key.

Duplicates are absorbed by the database, not by a look-up before the insert (which two workers
could both pass): rows carry a unique key and are written with ``INSERT … ON CONFLICT DO
NOTHING``, which SQLite and PostgreSQL both understand; RETURNING tells whether the row was new.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Table, create_engine, delete, event, exists, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from service.feedback import Feedback
from service.store.tables import feedback, hook_call, hook_call_card, seen_jti, store_secret

# Any constant will do: it only has to be the same for every lenadex process on the database.
_MIGRATION_LOCK_ID = 0x1E7ADE5
_AUDIT_KEY_NAME = "audit-hmac-key"
_JTI_PURGE_INTERVAL_SECONDS = 60.0


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work; the message names no data."""


@dataclass(frozen=True)
class HookCall:
    """The audit record of one hook call, before the patient id is hashed."""

    service_id: str
    status: int
    latency_ms: float
    received_at: datetime
    hook_instance: str | None = None
    patient_id: str | None = field(default=None, repr=False)
    rule_ids: tuple[str, ...] = ()
    card_uuids: tuple[str, ...] = ()


@dataclass(frozen=True)
class FeedbackStored:
    new: bool
    """False for a duplicate of feedback stored before."""
    card_known: bool
    """The card uuid is in an audit record, i.e. this service showed the card."""


class Store:
    def __init__(self, database_url: str, *, audit_salt: str = "") -> None:
        self.url = make_url(database_url)
        if self.url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.url.get_backend_name()!r}: use SQLite or PostgreSQL")
        self.engine = _engine_for(self.url)
        self._audit_salt = audit_salt
        self._generated_audit_key: bytes | None = None
        self._next_jti_purge = 0.0

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as connection:
                yield connection
        except SQLAlchemyError as error:
            raise StoreUnavailable(f"store error ({type(error).__name__})") from error

    def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``).

        Safe to run from several processes at once: PostgreSQL takes an advisory lock, SQLite
        the write lock of its BEGIN IMMEDIATE, so one process migrates and the others then
        find the schema current.
        """
        config = Config()
        config.set_main_option("script_location", "service:migrations")
        with self._transaction() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def ping(self) -> None:
        with self._transaction() as connection:
            connection.execute(text("SELECT 1"))

    # --- audit ---------------------------------------------------------------------------

    def patient_hash(self, patient_id: str) -> str:
        """HMAC-SHA256 of the patient id: the same patient gives the same digest in every
        record, but the digest cannot be turned back into the id without the key, even by
        trying every plausible id (which a plain or salted hash would allow)."""
        return hmac.new(self._audit_key(), patient_id.encode(), hashlib.sha256).hexdigest()

    def _audit_key(self) -> bytes:
        if self._audit_salt:
            return self._audit_salt.encode()
        if self._generated_audit_key is None:
            # The first process to get here generates the key; the others read the same one.
            with self._transaction() as connection:
                self._insert_if_new(
                    connection, store_secret, "name", {"name": _AUDIT_KEY_NAME, "value": secrets.token_hex(32)}
                )
                value = connection.execute(
                    select(store_secret.c.value).where(store_secret.c.name == _AUDIT_KEY_NAME)
                ).scalar_one()
            self._generated_audit_key = bytes.fromhex(value)
        return self._generated_audit_key

    def record_hook_call(self, call: HookCall) -> None:
        patient_hash = self.patient_hash(call.patient_id) if call.patient_id else None
        card_uuids = list(dict.fromkeys(call.card_uuids))
        with self._transaction() as connection:
            call_id = connection.execute(
                hook_call.insert().returning(hook_call.c.id),
                {
                    "received_at": call.received_at,
                    "service_id": call.service_id,
                    "hook_instance": call.hook_instance,
                    "patient_hash": patient_hash,
                    "rule_ids": list(dict.fromkeys(call.rule_ids)),
                    "card_count": len(card_uuids),
                    "status": call.status,
                    "latency_ms": call.latency_ms,
                },
            ).scalar_one()
            if card_uuids:
                connection.execute(
                    hook_call_card.insert(),
                    [{"hook_call_id": call_id, "card_uuid": uuid} for uuid in card_uuids],
                )

    # --- feedback ------------------------------------------------------------------------

    def record_feedback(self, service_id: str, items: Sequence[Feedback]) -> list[FeedbackStored]:
        """Store every item in one transaction: all are durable once this returns."""
        now = datetime.now(timezone.utc)
        results = []
        with self._transaction() as connection:
            for item in items:
                known = connection.execute(
                    select(exists().where(hook_call_card.c.card_uuid == item.card))
                ).scalar_one()
                reason = item.overrideReason
                coding = reason.reason if reason else None
                new = self._insert_if_new(connection, feedback, "dedup_key", {
                    "dedup_key": feedback_key(service_id, item),
                    "service_id": service_id,
                    "card_uuid": item.card,
                    "outcome": item.outcome,
                    "outcome_timestamp": item.outcomeTimestamp,
                    "accepted_suggestions": [s.id for s in item.acceptedSuggestions or []],
                    "override_system": coding.system if coding else None,
                    "override_code": coding.code if coding else None,
                    "override_display": coding.display if coding else None,
                    "override_comment": reason.userComment if reason else None,
                    "card_known": bool(known),
                    "received_at": now,
                })
                results.append(FeedbackStored(new=new, card_known=bool(known)))
        return results

    # --- JWT replay cache ----------------------------------------------------------------

    def claim_jti(self, issuer: str, jti: str, expires_at: int, *, now: int | None = None) -> bool:
        """Record a token id until ``expires_at``; False if it is already recorded and not yet
        expired (a replay). The database decides, so two workers racing with the same token
        cannot both win."""
        now = int(time.time()) if now is None else now
        key = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
        with self._transaction() as connection:
            # An id may be used again once the token that carried it has expired.
            connection.execute(delete(seen_jti).where(seen_jti.c.key == key, seen_jti.c.expires_at < now))
            new = self._insert_if_new(connection, seen_jti, "key", {"key": key, "expires_at": expires_at})
            if time.monotonic() >= self._next_jti_purge:
                connection.execute(delete(seen_jti).where(seen_jti.c.expires_at < now))
                self._next_jti_purge = time.monotonic() + _JTI_PURGE_INTERVAL_SECONDS
        return new

    # --- helpers -------------------------------------------------------------------------

    def _insert_if_new(self, connection: Connection, table: Table, unique: str, values: dict[str, Any]) -> bool:
        """INSERT … ON CONFLICT (unique) DO NOTHING RETURNING: True if the row was new.
        (RETURNING, not the row count, which drivers need not report for an INSERT.)"""
        dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
        statement = (
            dialect.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[unique])
            .returning(table.c[unique])
        )
        return connection.execute(statement).first() is not None

    def count(self, table: Table) -> int:
        with self._transaction() as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def feedback_key(service_id: str, item: Feedback) -> str:
    """What makes two feedback messages the same: the client resending one. The timestamp is
    taken in UTC so that ``…Z`` and ``…+00:00`` (or another offset for the same instant) match."""
    instant = item.outcomeTimestamp.astimezone(timezone.utc).isoformat(timespec="microseconds")
    parts = (service_id, item.card, item.outcome, instant)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


SQLITE_LOCK_PATIENCE_SECONDS = 30.0


def _use_write_ahead_log(cursor: Any) -> None:
    """Put the SQLite file in WAL mode (a property of the file: set once, kept).

    Switching needs the file to itself, and while another process holds a lock SQLite
    answers "database is locked" at once instead of waiting (several workers opening a new
    store together): look first, and try again for a while when it is busy.
    """
    deadline = time.monotonic() + SQLITE_LOCK_PATIENCE_SECONDS
    while True:
        try:
            if str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _engine_for(url: URL) -> Engine:
    if url.get_backend_name() == "postgresql":
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 5}
        # pre-ping: a pooled connection that died with a database restart is replaced, not used.
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # ./var/ on first start
    # timeout: wait for another process's write lock instead of failing at once.
    engine = create_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy (not the driver) begin transactions, so that they can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        _use_write_ahead_log(cursor)  # readers do not block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Take the write lock at the start: a transaction that reads and then writes would
        # otherwise fail at once (SQLITE_BUSY) when another process wrote in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine
