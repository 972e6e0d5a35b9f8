"""An outbox row names the customer workspace it must be sent with (`workspace`, the installation's key
`E…:T…`; NULL: the home workspace), so delivery uses that installation's token and holds the row while
the installation is uninstalled or broken; an alert remembers the workspace its channel is in.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(length=65), nullable=True))
        batch_op.create_index("ix_outbox_workspace", ["workspace"], unique=False)
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace", sqlmodel.sql.sqltypes.AutoString(length=65), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("workspace")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_workspace")
        batch_op.drop_column("workspace")
