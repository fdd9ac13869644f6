"""The feedback and audit store: SQLite by default, PostgreSQL in production.

One ``Store`` per process (each gunicorn worker opens its own after the fork). Everything that
several workers or replicas must agree on lives here: stored feedback, the audit of hook calls,
the JWT replay cache and the generated audit key.

Every transaction is bounded (``STORE_LOCK_TIMEOUT_SECONDS``): it waits at most that long for
the write lock (SQLite busy timeout; PostgreSQL lock_timeout) and its statements may run at most
that long once it has it (SQLite: a progress handler interrupts the statement; PostgreSQL:
statement_timeout). One slow or oversized request therefore cannot keep the other workers'
feedback and audit records waiting: a write that cannot get the lock in time fails with
``StoreBusy`` (503 with Retry-After), and nothing is acknowledged that was not committed.

The JWT replay cache must never queue behind those writes, since every authenticated request
checks it. On PostgreSQL its rows are apart from the feedback rows (row locks only) and each
check is a separate short transaction with the same bounds. SQLite has a single write lock per
file, so there the replay cache lives in a file of its own beside the store
(``lenadex.sqlite3`` → ``lenadex.jti.sqlite3``), shared by the workers on the machine just as the
store is; the ``seen_jti`` table of the main file stays empty.

Duplicates are absorbed by the database, not by a look-up before the insert (which two workers
could both pass): rows carry a unique key and are written with ``INSERT … ON CONFLICT DO
NOTHING``, which SQLite and PostgreSQL both understand; RETURNING tells whether the row was new.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Table, create_engine, delete, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from service.feedback import Feedback
from service.store.report import CardCounts, read_card_counts
from service.store.tables import feedback, hook_call, hook_call_card, seen_jti, store_secret

# Any constant will do: it only has to be the same for every lenadex process on the database.
_MIGRATION_LOCK_ID = 0x1E7ADE5
_AUDIT_KEY_NAME = "audit-hmac-key"
_JTI_PURGE_INTERVAL_SECONDS = 60.0

# How long any store transaction may wait for the write lock, and how long its statements may
# run once it has it. A feedback request (at most service.feedback.MAX_FEEDBACK_ITEMS items, two
# statements) or an audit record takes milliseconds; one second leaves room for a slow disk
# while keeping the worst wait of every other writer short (a 60 000-item body once held the
# SQLite lock for over a minute and made the other workers fail after 30 s).
STORE_LOCK_TIMEOUT_SECONDS = 1.0
# Schema migrations alone may wait longer: workers starting together take turns migrating.
MIGRATION_LOCK_TIMEOUT_SECONDS = 30.0
# An audit record may wait longer for the lock than a feedback request (it still holds it for
# milliseconds only): a hook call's audit trail is not dropped because another worker was
# writing for a second. Feedback is the client's to retry (503 Retry-After); audit is not.
AUDIT_WAIT_SECONDS = 10.0
# SQLite virtual-machine steps between two checks of the hold deadline (a check is a clock read).
_PROGRESS_CHECK_INSTRUCTIONS = 1000
# How long the governance report's reads may run. They take no write lock (SQLite: a deferred
# read transaction on a connection of their own, which WAL lets run beside the writers;
# PostgreSQL: a read-only transaction), so no hook call or feedback waits for them.
REPORT_READ_SECONDS = 10.0


StoreTimer = Callable[[str, float], None]
"""Told (operation, seconds) after each timed store operation, whatever its outcome: the app sets
service.metrics.observe_store as ``Store.timer``. A hook, not an import of the metrics: the
gunicorn master opens a store before prometheus_client may be imported (service/metrics.py)."""

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _timed(operation: str) -> Callable[[Callable[Concatenate[Store, _P], _R]], Callable[Concatenate[Store, _P], _R]]:
    """Times the decorated Store method as ``operation`` (see Store.timed)."""

    def decorate(method: Callable[Concatenate[Store, _P], _R]) -> Callable[Concatenate[Store, _P], _R]:
        @functools.wraps(method)
        def timed(self: Store, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
            with self.timed(operation):
                return method(self, *args, **kwargs)

        return timed

    return decorate


class StoreUnavailable(Exception):
    """The database could not be reached or refused the work; the message names no data."""


class StoreBusy(StoreUnavailable):
    """The write lock could not be had, or was held too long, within the store's time bound."""


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
    hook: str | None = None
    """The service's hook (order-select, order-sign, patient-view)."""
    card_rule_ids: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Card uuid → the rule ids on that card (its extension "org.lenadex.rules")."""


@dataclass(frozen=True)
class FeedbackStored:
    new: bool
    """False for a duplicate of feedback stored before."""
    card_known: bool
    """The card uuid is in an audit record, i.e. this service showed the card."""


class Store:
    def __init__(
        self, database_url: str, *, audit_salt: str = "", lock_timeout_seconds: float = STORE_LOCK_TIMEOUT_SECONDS
    ) -> None:
        self.url = make_url(database_url)
        if self.url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {self.url.get_backend_name()!r}: use SQLite or PostgreSQL")
        if not 0 < lock_timeout_seconds <= MIGRATION_LOCK_TIMEOUT_SECONDS:
            raise ValueError("lock_timeout_seconds must be above 0 and at most the migration bound")
        self.lock_timeout_seconds = lock_timeout_seconds
        self.engine = _engine_for(self.url, lock_timeout_seconds)
        replay_url = _replay_cache_url(self.url)
        self.replay_engine = self.engine if replay_url is None else _engine_for(replay_url, lock_timeout_seconds)
        self._audit_salt = audit_salt
        self._generated_audit_key: bytes | None = None
        self._next_jti_purge = 0.0
        self._report_engine: Engine | None = None
        self.timer: StoreTimer | None = None

    @contextmanager
    def timed(self, operation: str) -> Iterator[None]:
        """Tells ``timer`` (when set) how long the block took, also when it raised. The
        operations: audit_write, feedback_write, jti_check, health."""
        timer = self.timer
        if timer is None:
            yield
            return
        started = time.perf_counter()
        try:
            yield
        finally:
            timer(operation, time.perf_counter() - started)

    def close(self) -> None:
        self.engine.dispose()
        if self.replay_engine is not self.engine:
            self.replay_engine.dispose()
        if self._report_engine is not None:
            self._report_engine.dispose()

    @contextmanager
    def _transaction(
        self, engine: Engine | None = None, *, migration: bool = False, wait_seconds: float | None = None
    ) -> Iterator[Connection]:
        """A transaction that waits for the write lock at most the store's bound (or
        ``wait_seconds``), and whose statements run at most the bound; StoreBusy when it could
        not. Migrations wait longer for each other and are not cut short (a schema change
        half-done helps nobody)."""
        wait = MIGRATION_LOCK_TIMEOUT_SECONDS if migration else (wait_seconds or self.lock_timeout_seconds)
        hold = None if migration else self.lock_timeout_seconds
        try:
            with (engine or self.engine).connect() as connection:
                _bound(connection, wait, hold)
                with connection.begin():
                    if connection.dialect.name == "postgresql":
                        # Local to the transaction: the pooled session keeps no bound of its own.
                        connection.execute(
                            text(
                                "SELECT set_config('lock_timeout', :wait, true), "
                                "set_config('statement_timeout', :hold, true)"
                            ),
                            {"wait": f"{_milliseconds(wait)}ms", "hold": f"{_milliseconds(hold)}ms" if hold else "0"},
                        )
                    yield connection
        except SQLAlchemyError as error:
            if _is_lock_timeout(error):
                raise StoreBusy(f"store busy: no write within {wait:g} s ({type(error).__name__})") from error
            raise StoreUnavailable(f"store error ({type(error).__name__})") from error

    @contextmanager
    def _read_transaction(self) -> Iterator[Connection]:
        """A consistent, read-only snapshot for the report, bounded by REPORT_READ_SECONDS, that
        takes no write lock. (An in-memory SQLite store, which only tests use, has no second
        connection to read from: there the report reads in an ordinary store transaction.)"""
        url = self.url
        if url.get_backend_name() == "sqlite" and (not url.database or url.database == ":memory:"):
            with self._transaction() as connection:
                yield connection
            return
        try:
            if url.get_backend_name() == "postgresql":
                with self.engine.connect() as connection:
                    connection = connection.execution_options(isolation_level="REPEATABLE READ")
                    with connection.begin():
                        connection.execute(text("SET TRANSACTION READ ONLY"))
                        connection.execute(
                            text(
                                "SELECT set_config('lock_timeout', :wait, true), "
                                "set_config('statement_timeout', :hold, true)"
                            ),
                            {
                                "wait": f"{_milliseconds(self.lock_timeout_seconds)}ms",
                                "hold": f"{_milliseconds(REPORT_READ_SECONDS)}ms",
                            },
                        )
                        yield connection
            else:
                if self._report_engine is None:
                    self._report_engine = _sqlite_reader(url, REPORT_READ_SECONDS)
                with self._report_engine.connect() as connection, connection.begin():
                    yield connection
        except SQLAlchemyError as error:
            if _is_lock_timeout(error):
                raise StoreBusy(
                    f"store busy: report not read within {REPORT_READ_SECONDS:g} s ({type(error).__name__})"
                ) from error
            raise StoreUnavailable(f"store error ({type(error).__name__})") from error

    def migrate(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``).

        Safe to run from several processes at once: PostgreSQL takes an advisory lock, SQLite
        the write lock of its BEGIN IMMEDIATE, so one process migrates and the others then
        find the schema current.
        """
        config = Config()
        config.set_main_option("script_location", "service:migrations")
        if self.replay_engine is not self.engine:
            with self._transaction(self.replay_engine, migration=True) as connection:
                seen_jti.create(connection, checkfirst=True)
        with self._transaction(migration=True) as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def schema_revision(self) -> str | None:
        """The migration the schema is at (None: no schema yet); StoreUnavailable when unreachable."""
        with self._transaction() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    @_timed("health")
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

    @_timed("audit_write")
    def record_hook_call(self, call: HookCall) -> None:
        patient_hash = self.patient_hash(call.patient_id) if call.patient_id else None
        card_uuids = list(dict.fromkeys(call.card_uuids))
        with self._transaction(wait_seconds=max(AUDIT_WAIT_SECONDS, self.lock_timeout_seconds)) as connection:
            call_id = connection.execute(
                hook_call.insert().returning(hook_call.c.id),
                {
                    "received_at": call.received_at,
                    "service_id": call.service_id,
                    "hook": call.hook,
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
                    [
                        {"hook_call_id": call_id, "card_uuid": uuid, "rule_ids": _rule_ids(call.card_rule_ids, uuid)}
                        for uuid in card_uuids
                    ],
                )

    # --- governance report ---------------------------------------------------------------

    def card_counts(self, start: datetime, end: datetime) -> CardCounts:
        """Cards shown in [start, end) per rule id and hook, their outcomes, cards per call
        (service/store/report.py); no patient data."""
        with self._read_transaction() as connection:
            return read_card_counts(connection, start, end)

    # --- feedback ------------------------------------------------------------------------

    @_timed("feedback_write")
    def record_feedback(self, service_id: str, items: Sequence[Feedback]) -> list[FeedbackStored]:
        """Store every item in one short transaction: all are durable once this returns, none
        if it raises. Everything but the two statements is prepared before the lock is taken."""
        if not items:
            return []
        now = datetime.now(timezone.utc)
        keys = [feedback_key(service_id, item) for item in items]
        rows = []
        for key, item in zip(keys, items):
            reason = item.overrideReason
            coding = reason.reason if reason else None
            rows.append(
                {
                    "dedup_key": key,
                    "service_id": service_id,
                    "card_uuid": item.card,
                    "outcome": item.outcome,
                    "outcome_timestamp": item.outcomeTimestamp,
                    "accepted_suggestions": [s.id for s in item.acceptedSuggestions or []],
                    "override_system": coding.system if coding else None,
                    "override_code": coding.code if coding else None,
                    "override_display": coding.display if coding else None,
                    "override_comment": reason.userComment if reason else None,
                    "received_at": now,
                }
            )
        cards = sorted({item.card for item in items})
        with self._transaction() as connection:
            known = set(
                connection.execute(
                    select(hook_call_card.c.card_uuid).where(hook_call_card.c.card_uuid.in_(cards)).distinct()
                ).scalars()
            )
            for row in rows:
                row["card_known"] = row["card_uuid"] in known
            dialect = sqlite if connection.dialect.name == "sqlite" else postgresql
            # One multi-row INSERT … ON CONFLICT DO NOTHING: RETURNING names the rows that were new.
            inserted = set(
                connection.execute(
                    dialect.insert(feedback)
                    .values(rows)
                    .on_conflict_do_nothing(index_elements=["dedup_key"])
                    .returning(feedback.c.dedup_key)
                ).scalars()
            )
        results = []
        for key, row in zip(keys, rows):
            new = key in inserted
            inserted.discard(key)  # the same item twice in one body: the second is a duplicate
            results.append(FeedbackStored(new=new, card_known=bool(row["card_known"])))
        return results

    # --- JWT replay cache ----------------------------------------------------------------

    @_timed("jti_check")
    def claim_jti(self, issuer: str, jti: str, expires_at: int, *, now: int | None = None) -> bool:
        """Record a token id until ``expires_at``; False if it is already recorded and not yet
        expired (a replay). The database decides, so two workers racing with the same token
        cannot both win."""
        now = int(time.time()) if now is None else now
        key = hashlib.sha256(f"{issuer}\x00{jti}".encode()).hexdigest()
        with self._transaction(self.replay_engine) as connection:
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
        with self._transaction(self.replay_engine if table is seen_jti else self.engine) as connection:
            return int(connection.execute(select(func.count()).select_from(table)).scalar_one())


def shipped_revisions() -> list[str]:
    """The migrations this lenadex ships (service/migrations/versions/), oldest first: the last is
    the one ``migrate`` brings the schema to."""
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    return [script.revision for script in reversed(list(ScriptDirectory.from_config(config).walk_revisions()))]


def _rule_ids(card_rule_ids: Mapping[str, tuple[str, ...]], card_uuid: str) -> list[str] | None:
    """The card's rule ids as stored (a JSON list); None when they were not given."""
    rule_ids = card_rule_ids.get(card_uuid)
    return None if rule_ids is None else list(dict.fromkeys(rule_ids))


def feedback_key(service_id: str, item: Feedback) -> str:
    """What makes two feedback messages the same: the client resending one. The timestamp is
    taken in UTC so that ``…Z`` and ``…+00:00`` (or another offset for the same instant) match."""
    instant = item.outcomeTimestamp.astimezone(timezone.utc).isoformat(timespec="microseconds")
    parts = (service_id, item.card, item.outcome, instant)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


SQLITE_LOCK_PATIENCE_SECONDS = 30.0


def _replay_cache_url(url: URL) -> URL | None:
    """The SQLite file of the JWT replay cache, beside the store's (None: the store's own
    database, as on PostgreSQL and for an in-memory SQLite store)."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    path = Path(url.database)
    return url.set(database=str(path.with_name(f"{path.stem}.jti{path.suffix or '.sqlite3'}")))


def _is_lock_timeout(error: SQLAlchemyError) -> bool:
    """The database gave up waiting for a lock, or stopped a statement at the time bound."""
    original = getattr(error, "orig", None)
    if isinstance(original, sqlite3.OperationalError):
        message = str(original)
        return "locked" in message or "busy" in message or "interrupted" in message
    # PostgreSQL: 55P03 lock_not_available (lock_timeout), 57014 query_canceled (statement_timeout).
    return getattr(original, "sqlstate", None) in ("55P03", "57014")


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _bound(connection: Connection, wait: float, hold: float | None) -> None:
    """Before BEGIN on SQLite: wait at most ``wait`` seconds for the write lock (busy timeout),
    then let statements hold it at most ``hold`` seconds (None: unbounded), a bound the begin
    listener of _engine_for applies."""
    if connection.dialect.name != "sqlite":
        return
    info = connection.connection.info
    info["lenadex.hold"] = hold
    if info.get("lenadex.wait") == wait:
        return  # the pooled connection has this wait already: no statement per transaction
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(f"PRAGMA busy_timeout = {_milliseconds(wait)}")
    info["lenadex.wait"] = wait


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


def _sqlite_reader(url: URL, seconds: float) -> Engine:
    """Connections to the SQLite store for reading only: a deferred BEGIN (a snapshot of the
    WAL file, no write lock, so writers go on meanwhile), PRAGMA query_only, and statements
    interrupted once the transaction is ``seconds`` old."""
    engine = create_engine(url, connect_args={"timeout": seconds})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA query_only = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        driver = connection.connection.driver_connection
        assert driver is not None
        connection.exec_driver_sql("BEGIN")
        _interrupt_after(driver, seconds)

    _no_deadline_at_the_end(engine)
    return engine


def _interrupt_after(driver: Any, seconds: float) -> None:
    """SQLite interrupts the connection's statements once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    driver.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_CHECK_INSTRUCTIONS)


def _no_deadline_at_the_end(engine: Engine) -> None:
    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Connection) -> None:
        # Before COMMIT or ROLLBACK runs: neither may be interrupted half-way.
        driver = connection.connection.driver_connection
        if driver is not None:
            driver.set_progress_handler(None, 0)


def _engine_for(url: URL, lock_timeout_seconds: float) -> Engine:
    if url.get_backend_name() == "postgresql":
        connect_args = {} if "connect_timeout" in url.query else {"connect_timeout": 5}
        # pre-ping: a pooled connection that died with a database restart is replaced, not used.
        return create_engine(url, pool_pre_ping=True, connect_args=connect_args)

    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)  # ./var/ on first start
    # timeout: wait for another process's write lock, but only as long as the store's bound
    # (Store._transaction sets it again per transaction, the migrations waiting longer).
    engine = create_engine(url, connect_args={"timeout": lock_timeout_seconds})

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
        driver = connection.connection.driver_connection
        assert driver is not None
        driver.set_progress_handler(None, 0)  # no deadline left over from an earlier use
        # Take the write lock at the start: a transaction that reads and then writes would
        # otherwise fail at once (SQLITE_BUSY) when another process wrote in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        # From now on this connection holds the write lock: a statement still running past the
        # bound is interrupted (and the transaction rolled back), so no other writer waits longer.
        hold = connection.connection.info.get("lenadex.hold", lock_timeout_seconds)
        if hold is not None:
            _interrupt_after(driver, hold)

    _no_deadline_at_the_end(engine)
    return engine
