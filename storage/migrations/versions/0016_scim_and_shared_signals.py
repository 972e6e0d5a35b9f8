"""SCIM and Shared Signals: the SCIM users, addresses, groups and members an org's IdP provisions, each org's
SCIM token (hashed), Security Event Tokens already seen, the holds IdP signals put on people, the coverage
changes waiting for the admins' digest, a request's and grant's IdP group, and
`org.ssf_issuer`, `org.ssf_jwks_uri`, `org.scim_since`.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

from trustbot.storage import types as column_types

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "identity_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("digested_at", column_types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identity_change", schema=None) as batch_op:
        batch_op.create_index("ix_identity_change_pending", ["org_id", "digested_at"], unique=False)

    op.create_table(
        "identity_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("event_type", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("event_jti", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("created_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", column_types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("lifted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identity_hold", schema=None) as batch_op:
        batch_op.create_index("ix_identity_hold_org_email", ["org_id", "email"], unique=False)
        batch_op.create_index(batch_op.f("ix_identity_hold_org_id"), ["org_id"], unique=False)

    op.create_table(
        "scim_group",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scim_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("display_name_lc", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("scim_group", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_group_org_id"), ["org_id"], unique=False)
        batch_op.create_index("ix_scim_group_org_name", ["org_id", "display_name_lc"], unique=False)
        batch_op.create_index(batch_op.f("ix_scim_group_scim_id"), ["scim_id"], unique=True)

    op.create_table(
        "scim_token",
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("created_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("org_id"),
    )
    with op.batch_alter_table("scim_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_token_token_sha256"), ["token_sha256"], unique=True)

    op.create_table(
        "scim_user",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scim_id", sqlmodel.sql.sqltypes.AutoString(length=36), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("user_name_lc", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("external_id", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("display_name_lc", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("org_id", "user_name_lc", name="uq_scim_user_name"),
    )
    with op.batch_alter_table("scim_user", schema=None) as batch_op:
        batch_op.create_index("ix_scim_user_external", ["org_id", "external_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scim_user_org_id"), ["org_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_scim_user_scim_id"), ["scim_id"], unique=True)

    op.create_table(
        "ssf_event_seen",
        sa.Column("issuer", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=False),
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.Column("received_at", column_types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.PrimaryKeyConstraint("issuer", "jti"),
    )
    with op.batch_alter_table("ssf_event_seen", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ssf_event_seen_org_id"), ["org_id"], unique=False)

    op.create_table(
        "scim_address",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("org_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["org.id"],
        ),
        sa.ForeignKeyConstraint(["user_id"], ["scim_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", "email"),
    )
    with op.batch_alter_table("scim_address", schema=None) as batch_op:
        batch_op.create_index("ix_scim_address_org_email", ["org_id", "email"], unique=False)

    op.create_table(
        "scim_member",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["scim_group.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["scim_user.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "user_id"),
    )
    with op.batch_alter_table("scim_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_scim_member_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scim_group_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_grant_scim_group_id"), ["scim_group_id"], unique=False)
        batch_op.create_foreign_key("fk_access_grant_scim_group", "scim_group", ["scim_group_id"], ["id"])

    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scim_group_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_request_scim_group_id"), ["scim_group_id"], unique=False)
        batch_op.create_foreign_key("fk_access_request_scim_group", "scim_group", ["scim_group_id"], ["id"])

    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ssf_issuer", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True))
        batch_op.add_column(sa.Column("ssf_jwks_uri", sqlmodel.sql.sqltypes.AutoString(length=2048), nullable=True))
        batch_op.add_column(sa.Column("scim_since", column_types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("org", schema=None) as batch_op:
        batch_op.drop_column("scim_since")
        batch_op.drop_column("ssf_jwks_uri")
        batch_op.drop_column("ssf_issuer")

    with op.batch_alter_table("access_request", schema=None) as batch_op:
        batch_op.drop_constraint("fk_access_request_scim_group", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_access_request_scim_group_id"))
        batch_op.drop_column("scim_group_id")

    with op.batch_alter_table("access_grant", schema=None) as batch_op:
        batch_op.drop_constraint("fk_access_grant_scim_group", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_access_grant_scim_group_id"))
        batch_op.drop_column("scim_group_id")

    with op.batch_alter_table("scim_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_member_user_id"))

    op.drop_table("scim_member")
    with op.batch_alter_table("scim_address", schema=None) as batch_op:
        batch_op.drop_index("ix_scim_address_org_email")

    op.drop_table("scim_address")
    with op.batch_alter_table("ssf_event_seen", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ssf_event_seen_org_id"))

    op.drop_table("ssf_event_seen")
    with op.batch_alter_table("scim_user", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_user_scim_id"))
        batch_op.drop_index(batch_op.f("ix_scim_user_org_id"))
        batch_op.drop_index("ix_scim_user_external")

    op.drop_table("scim_user")
    with op.batch_alter_table("scim_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_token_token_sha256"))

    op.drop_table("scim_token")
    with op.batch_alter_table("scim_group", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scim_group_scim_id"))
        batch_op.drop_index("ix_scim_group_org_name")
        batch_op.drop_index(batch_op.f("ix_scim_group_org_id"))

    op.drop_table("scim_group")
    with op.batch_alter_table("identity_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_identity_hold_org_id"))
        batch_op.drop_index("ix_identity_hold_org_email")

    op.drop_table("identity_hold")
    with op.batch_alter_table("identity_change", schema=None) as batch_op:
        batch_op.drop_index("ix_identity_change_pending")

    op.drop_table("identity_change")
