"""Tamper-evident audit log: how each event was hashed (`scheme`), and checkpoints of the chain's head.

Events recorded before this revision were hashed with plain SHA-256, so they get `sha256`.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from trustbot.storage import types as column_types

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="sha256")
        )
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("last_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("scheme", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("audit_checkpoint")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_column("scheme")
