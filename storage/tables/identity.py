"""What a customer's identity provider told us: its SCIM users and groups, its Shared Signals, and the holds they
put on people.

A SCIM resource keeps the whole JSON object the IdP last gave (`body`, what a GET answers) next to the columns
queries filter on, in lower case where SCIM compares case-insensitively (`userName`, emails, `displayName`),
so a filter becomes an indexed `WHERE` on SQLite and PostgreSQL alike. Every resource belongs to one org: the
org of the bearer token that made it. `scim_address` lists every address of a user (its emails, and its
`userName` when that is an address): what coverage and Shared Signals subjects match.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class ScimToken(SQLModel, table=True):
    """An org's SCIM bearer token, as its SHA-256: the token itself is printed once and never stored."""

    __tablename__ = "scim_token"

    org_id: int = Field(foreign_key="org.id", primary_key=True)
    token_sha256: str = Field(max_length=64, unique=True, index=True)
    created_at: datetime = Field(sa_type=UTCDateTime)


class ScimUser(Keyed, SQLModel, table=True):
    """A person the org's IdP provisioned."""

    __tablename__ = "scim_user"
    __table_args__ = (
        UniqueConstraint("org_id", "user_name_lc", name="uq_scim_user_name"),
        Index("ix_scim_user_external", "org_id", "external_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    scim_id: str = Field(max_length=36, unique=True, index=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_name: str = Field(max_length=256)
    user_name_lc: str = Field(max_length=256)
    external_id: str | None = Field(default=None, max_length=256)
    display_name_lc: str | None = Field(default=None, max_length=256)
    active: bool = True
    version: int = 1
    body: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ScimAddress(SQLModel, table=True):
    """One address of a SCIM user (lower case): how an address finds the person the IdP says it is."""

    __tablename__ = "scim_address"
    __table_args__ = (Index("ix_scim_address_org_email", "org_id", "email"),)

    user_id: int = Field(foreign_key="scim_user.id", primary_key=True, ondelete="CASCADE")
    email: str = Field(primary_key=True, max_length=320)
    org_id: int = Field(foreign_key="org.id")


class ScimGroup(Keyed, SQLModel, table=True):
    """A group the org's IdP pushed; a grant may cover it, and then its members are whoever the IdP says."""

    __tablename__ = "scim_group"
    __table_args__ = (Index("ix_scim_group_org_name", "org_id", "display_name_lc"),)

    id: int | None = Field(default=None, primary_key=True)
    scim_id: str = Field(max_length=36, unique=True, index=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    display_name: str = Field(max_length=256)
    display_name_lc: str = Field(max_length=256)
    external_id: str | None = Field(default=None, max_length=256)
    version: int = 1
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class ScimMember(SQLModel, table=True):
    """A user in a group."""

    __tablename__ = "scim_member"

    group_id: int = Field(foreign_key="scim_group.id", primary_key=True, ondelete="CASCADE")
    user_id: int = Field(foreign_key="scim_user.id", primary_key=True, index=True, ondelete="CASCADE")


class SsfEventSeen(SQLModel, table=True):
    """A Security Event Token already acted on, by its issuer and `jti`: a replay does nothing twice."""

    __tablename__ = "ssf_event_seen"

    issuer: str = Field(primary_key=True, max_length=512)
    jti: str = Field(primary_key=True, max_length=256)
    org_id: int = Field(foreign_key="org.id", index=True)
    received_at: datetime = Field(sa_type=UTCDateTime)


class HoldKind(StrEnum):
    """Why the IdP's word keeps a person from being entitled, and what lifts it."""

    SIGNAL = "signal"  # a revoked session or changed credential: an org admin confirms them again in Slack
    DISABLED = "disabled"  # RISC account-disabled: lifted by account-enabled
    PURGED = "purged"  # RISC account-purged: the account is gone; never lifted


class IdentityHold(Keyed, SQLModel, table=True):
    """A hold on one address of one org; it counts while `lifted_at` is empty."""

    __tablename__ = "identity_hold"
    __table_args__ = (Index("ix_identity_hold_org_email", "org_id", "email"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    email: str = Field(max_length=320)
    kind: str = Field(max_length=16)
    event_type: str = Field(max_length=200)
    event_jti: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(sa_type=UTCDateTime)
    lifted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lifted_by: str | None = Field(default=None, max_length=64)


class IdentityChange(Keyed, SQLModel, table=True):
    """One change of who is covered, waiting for the org admins' digest (`digested_at` empty until it is sent)."""

    __tablename__ = "identity_change"
    __table_args__ = (Index("ix_identity_change_pending", "org_id", "digested_at"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id")
    kind: str = Field(max_length=32)
    email: str | None = Field(default=None, max_length=320)
    detail: str | None = Field(default=None, max_length=500)
    at: datetime = Field(sa_type=UTCDateTime)
    digested_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
