"""Feedback, the audit of hook calls, the JWT replay cache and generated keys.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY.
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "hook_call",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("hook_instance", sa.String(128)),
        sa.Column("patient_hash", sa.String(64)),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("card_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
    )
    op.create_index("ix_hook_call_received_at", "hook_call", ["received_at"])
    op.create_index("ix_hook_call_hook_instance", "hook_call", ["hook_instance"])
    op.create_index("ix_hook_call_patient_hash", "hook_call", ["patient_hash"])

    op.create_table(
        "hook_call_card",
        sa.Column("hook_call_id", ROW_ID, sa.ForeignKey("hook_call.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("card_uuid", sa.String(128), primary_key=True),
    )
    op.create_index("ix_hook_call_card_card_uuid", "hook_call_card", ["card_uuid"])

    op.create_table(
        "feedback",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("dedup_key", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("card_uuid", sa.String(128), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
        sa.Column("override_system", sa.Text()),
        sa.Column("override_code", sa.Text()),
        sa.Column("override_display", sa.Text()),
        sa.Column("override_comment", sa.Text()),
        sa.Column("card_known", sa.Boolean(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("dedup_key", name="uq_feedback_dedup_key"),
    )
    op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])

    op.create_table(
        "seen_jti",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_seen_jti_expires_at", "seen_jti", ["expires_at"])

    op.create_table(
        "store_secret",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("store_secret")
    op.drop_table("seen_jti")
    op.drop_table("feedback")
    op.drop_table("hook_call_card")
    op.drop_table("hook_call")
