"""Delivery through ambiguity: when an outbox row's last attempt has an unknown outcome, and where an alert
was re-routed to because Slack refused its own channel.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from trustbot.storage import types as column_types

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("doubt_since", column_types.UTCDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reroute_note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("reroute_note")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("doubt_since")
