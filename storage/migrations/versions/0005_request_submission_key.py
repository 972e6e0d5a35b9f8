"""A request remembers the modal submission it came from, so the same view submitted twice makes one request.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submission_key", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_request_submission_key"), ["submission_key"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_access_request_submission_key"))
        batch_op.drop_column("submission_key")
