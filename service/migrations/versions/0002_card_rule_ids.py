"""The hook of each hook call and the rule ids of each card shown, for the governance report.

Both columns are nullable, so rows written before keep working. What can be filled in for them
is: the hook, from the service id (each service has one hook, service/declarations.py at this
revision), and a card's rule ids when its call showed that card only (the call's rule ids are
then the card's). A card of an older call with several cards keeps NULL: which of the call's
rules were on which card was not recorded.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Frozen here, as the services were declared when this migration was written.
_HOOK_OF_SERVICE = {
    "lenalidomide-order-select": "order-select",
    "lenalidomide-order-sign": "order-sign",
    "lenalidomide-patient-view": "patient-view",
}


def upgrade() -> None:
    with op.batch_alter_table("hook_call") as batch:
        batch.add_column(sa.Column("hook", sa.String(32)))
    with op.batch_alter_table("hook_call_card") as batch:
        batch.add_column(sa.Column("rule_ids", sa.JSON()))

    hook_call = sa.table("hook_call", sa.column("service_id", sa.String()), sa.column("hook", sa.String()))
    for service_id, hook in _HOOK_OF_SERVICE.items():
        op.execute(
            hook_call.update().where(hook_call.c.service_id == service_id, hook_call.c.hook.is_(None)).values(hook=hook)
        )
    op.execute(
        sa.text(
            "UPDATE hook_call_card SET rule_ids = "
            "(SELECT hook_call.rule_ids FROM hook_call WHERE hook_call.id = hook_call_card.hook_call_id) "
            "WHERE rule_ids IS NULL AND hook_call_id IN (SELECT id FROM hook_call WHERE card_count = 1)"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("hook_call_card") as batch:
        batch.drop_column("rule_ids")
    with op.batch_alter_table("hook_call") as batch:
        batch.drop_column("hook")
