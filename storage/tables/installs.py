"""Customer workspaces: Slack installations (tokens encrypted), their binding to orgs, and install links.

`slack_installations` and `slack_bots` have the columns slack_sdk's SQLAlchemy installation store reads and
writes (its tables, declared here so the migrations build them), with the token columns wide enough for
Fernet ciphertext. `workspace` is Trustbot's own view of each installation: the org it is bound to and
whether it is still installed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from trustbot.storage.types import UTCDateTime

_metadata = SQLModel.metadata


SLACK_INSTALLATIONS = sa.Table(
    "slack_installations",
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(32), nullable=False),
    sa.Column("app_id", sa.String(32), nullable=False),
    sa.Column("enterprise_id", sa.String(32)),
    sa.Column("enterprise_name", sa.String(200)),
    sa.Column("enterprise_url", sa.String(200)),
    sa.Column("team_id", sa.String(32)),
    sa.Column("team_name", sa.String(200)),
    sa.Column("bot_token", sa.Text()),
    sa.Column("bot_id", sa.String(32)),
    sa.Column("bot_user_id", sa.String(32)),
    sa.Column("bot_scopes", sa.String(1000)),
    sa.Column("bot_refresh_token", sa.Text()),
    sa.Column("bot_token_expires_at", sa.DateTime()),
    sa.Column("user_id", sa.String(32), nullable=False),
    sa.Column("user_token", sa.Text()),
    sa.Column("user_scopes", sa.String(1000)),
    sa.Column("user_refresh_token", sa.Text()),
    sa.Column("user_token_expires_at", sa.DateTime()),
    sa.Column("incoming_webhook_url", sa.Text()),
    sa.Column("incoming_webhook_channel", sa.String(200)),
    sa.Column("incoming_webhook_channel_id", sa.String(200)),
    sa.Column("incoming_webhook_configuration_url", sa.String(200)),
    sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
    sa.Column("token_type", sa.String(32)),
    sa.Column("installed_at", sa.DateTime(), nullable=False),
    sa.Index("slack_installations_idx", "client_id", "enterprise_id", "team_id", "user_id", "installed_at"),
)

SLACK_BOTS = sa.Table(
    "slack_bots",
    _metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("client_id", sa.String(32), nullable=False),
    sa.Column("app_id", sa.String(32), nullable=False),
    sa.Column("enterprise_id", sa.String(32)),
    sa.Column("enterprise_name", sa.String(200)),
    sa.Column("team_id", sa.String(32)),
    sa.Column("team_name", sa.String(200)),
    sa.Column("bot_token", sa.Text()),
    sa.Column("bot_id", sa.String(32)),
    sa.Column("bot_user_id", sa.String(32)),
    sa.Column("bot_scopes", sa.String(1000)),
    sa.Column("bot_refresh_token", sa.Text()),
    sa.Column("bot_token_expires_at", sa.DateTime()),
    sa.Column("is_enterprise_install", sa.Boolean(), nullable=False),
    sa.Column("installed_at", sa.DateTime(), nullable=False),
    sa.Index("slack_bots_idx", "client_id", "enterprise_id", "team_id", "installed_at"),
)


class WorkspaceStatus(StrEnum):
    """Where an installation stands."""

    ACTIVE = "active"
    UNINSTALLED = "uninstalled"
    BROKEN = "broken"


class Workspace(SQLModel, table=True):
    """One installation of Trustbot into a customer workspace (or Grid org, `team_id` empty), and its org.

    `key` is `E…:T…` (either part may be empty) so the installation is found by one unique value.
    `org_id` is None while no org binds it (unbound: nobody there can act).
    """

    key: str = Field(primary_key=True, max_length=65)
    team_id: str | None = Field(default=None, max_length=32)
    enterprise_id: str | None = Field(default=None, max_length=32)
    is_enterprise_install: bool = False
    team_name: str | None = Field(default=None, max_length=200)
    org_id: int | None = Field(default=None, foreign_key="org.id", index=True)
    linked_org_id: int | None = Field(default=None, foreign_key="org.id")
    status: str = Field(max_length=16)
    scopes: str = Field(default="", max_length=1000)
    installed_at: datetime = Field(sa_type=UTCDateTime)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    ended_reason: str | None = Field(default=None, max_length=32)


class InstallLink(SQLModel, table=True):
    """A single-use install link for one org: only its SHA-256 is stored."""

    __tablename__ = "install_link"

    token_hash: str = Field(primary_key=True, max_length=64)
    org_id: int = Field(foreign_key="org.id", index=True)
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class OAuthState(SQLModel, table=True):
    """An OAuth `state` issued for one visit of an install link (stored hashed; consumed once)."""

    __tablename__ = "oauth_state"

    state_hash: str = Field(primary_key=True, max_length=64)
    link_hash: str = Field(foreign_key="install_link.token_hash", index=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    consumed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
