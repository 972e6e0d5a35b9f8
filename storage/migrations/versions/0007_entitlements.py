"""Entitlements: grant members with their emails, org domains by index, and when a grant last changed.

`grant_member` and `org_domain` let `/v1/entitlements` answer an address with indexed lookups;
`access_grant.updated_at` (with `id`) is the stable order `/v1/grants` pages by. Existing grants
start at their `starts_at`; existing orgs get their domains copied. Members of grants made before
this revision have no recorded email (Slack was never asked), so they match no address until a
new request names them; blanket grants cover their domains at once.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import json

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from trustbot.storage import types as column_types

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grant_member",
        sa.Column("grant_id", sa.Integer(), nullable=False),
        sa.Column("slack_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.ForeignKeyConstraint(["grant_id"], ["access_grant.id"]),
        sa.PrimaryKeyConstraint("grant_id", "slack_id"),
    )
    with op.batch_alter_table("grant_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_grant_member_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_grant_member_slack_id"), ["slack_id"], unique=False)
    op.create_table(
        "org_domain",
        sa.Column("domain", sqlmodel.sql.sqltypes.AutoString(length=253), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["org_id"], ["org.id"]),
        sa.PrimaryKeyConstraint("domain", "org_id"),
    )
    with op.batch_alter_table("org_domain", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_org_domain_org_id"), ["org_id"], unique=False)
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("member_emails", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("updated_at", column_types.UTCDateTime(timezone=True), nullable=True))
    op.execute("UPDATE access_grant SET updated_at = starts_at")
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.alter_column("updated_at", existing_type=column_types.UTCDateTime(timezone=True), nullable=False)
        batch_op.create_index("ix_access_grant_changes", ["updated_at", "id"], unique=False)
    _copy_org_domains()


def _copy_org_domains() -> None:
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, domains FROM org")).all()
    seen: set[tuple[str, int]] = set()
    for org_id, domains in rows:
        values = json.loads(domains) if isinstance(domains, str) else (domains or [])
        for domain in values:
            key = (str(domain).lower(), int(org_id))
            if key not in seen:
                seen.add(key)
                connection.execute(
                    sa.text("INSERT INTO org_domain (domain, org_id) VALUES (:domain, :org_id)"),
                    {"domain": key[0], "org_id": key[1]},
                )


def downgrade() -> None:
    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_index("ix_access_grant_changes")
        batch_op.drop_column("updated_at")
    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_column("member_emails")
    with op.batch_alter_table("org_domain", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_org_domain_org_id"))
    op.drop_table("org_domain")
    with op.batch_alter_table("grant_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_grant_member_slack_id"))
        batch_op.drop_index(batch_op.f("ix_grant_member_email"))
    op.drop_table("grant_member")
