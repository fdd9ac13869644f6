"""The store's tables, as SQLAlchemy Core metadata.

The migrations in service/migrations/ create these tables; tests/service/test_store.py checks
that the migrated schema and this metadata agree, so the two cannot drift apart.

What is kept (and what is not): no patient names, no tokens, no FHIR resources. Patient ids
appear only as HMAC-SHA256 digests (see service/store/database.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = MetaData()

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
_ROW_ID = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every database.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps text without one. Normalising to
    UTC on the way in and attaching UTC on the way out gives the same values on both.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the store keeps timezone-aware UTC times only")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)  # type: ignore[no-any-return]
        return value.astimezone(timezone.utc)  # type: ignore[no-any-return]


hook_call = Table(
    "hook_call",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    Column("received_at", UtcDateTime(), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("hook", String(32)),  # the service's hook (migration 0002; filled in for older rows)
    Column("hook_instance", String(128)),
    Column("patient_hash", String(64)),  # HMAC-SHA256 of context.patientId, hex
    Column("rule_ids", JSON(), nullable=False),  # the rule ids that fired, a JSON list
    Column("card_count", Integer(), nullable=False),
    Column("status", Integer(), nullable=False),  # the HTTP status of the answer
    Column("latency_ms", Float(), nullable=False),
    Index("ix_hook_call_received_at", "received_at"),
    Index("ix_hook_call_hook_instance", "hook_instance"),
    Index("ix_hook_call_patient_hash", "patient_hash"),
)

# One row per card shown, so that feedback can tell a known card from an unknown one with an
# index lookup instead of searching JSON, and the governance report (service/reports.py) can
# count cards per rule.
hook_call_card = Table(
    "hook_call_card",
    metadata,
    Column("hook_call_id", _ROW_ID, ForeignKey("hook_call.id", ondelete="CASCADE"), primary_key=True),
    Column("card_uuid", String(128), primary_key=True),
    # The card's rule ids (its extension "org.lenadex.rules"), a JSON list. Migration 0002 added
    # the column: NULL for a card shown before, unless its call showed that one card only.
    Column("rule_ids", JSON(none_as_null=True)),
    Index("ix_hook_call_card_card_uuid", "card_uuid"),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", _ROW_ID, primary_key=True, autoincrement=True),
    # SHA-256 of service, card, outcome and outcomeTimestamp (UTC): a resent feedback has the
    # same key and is not stored twice.
    Column("dedup_key", String(64), nullable=False),
    Column("service_id", String(64), nullable=False),
    Column("card_uuid", String(128), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("outcome_timestamp", UtcDateTime(), nullable=False),
    Column("accepted_suggestions", JSON(), nullable=False),  # suggestion uuids, a JSON list
    Column("override_system", Text()),
    Column("override_code", Text()),
    Column("override_display", Text()),
    Column("override_comment", Text()),
    Column("card_known", Boolean(), nullable=False),  # the card uuid is in an audit record
    Column("received_at", UtcDateTime(), nullable=False),
    UniqueConstraint("dedup_key", name="uq_feedback_dedup_key"),
    Index("ix_feedback_card_uuid", "card_uuid"),
)

# JWT ids seen, until the token expires: the replay cache shared by every worker and replica.
seen_jti = Table(
    "seen_jti",
    metadata,
    Column("key", String(64), primary_key=True),  # SHA-256 of issuer and jti
    Column("expires_at", BigInteger(), nullable=False),  # Unix time
    Index("ix_seen_jti_expires_at", "expires_at"),
)

# Keys the store generates for itself when the operator gives none (the audit HMAC key).
store_secret = Table(
    "store_secret",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(128), nullable=False),
)
