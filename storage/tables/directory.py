"""Who is who: tiers, orgs and the roles people hold in them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class Role(StrEnum):
    """A person's role in one org."""

    REP = "rep"
    BACKUP_REP = "backup_rep"
    ADMIN = "admin"
    SECURITY_LEAD = "security_lead"


class Tier(SQLModel, table=True):
    """A capability tier; `rank` orders tiers from least to most capable."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    approvals: int = 1
    max_days: int
    reverify_days: int
    rank: int = 0


def approvals_needed(tier: Tier | None) -> int:
    """How many different people must approve a request on `tier`: its `approvals`, never fewer than one, and
    one when the tier has left the directory."""
    return max(1, tier.approvals) if tier is not None else 1


class Org(Keyed, SQLModel, table=True):
    """A customer organisation."""

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(unique=True, index=True, max_length=64)
    name: str = Field(max_length=200)
    domains: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    security_channel: str | None = Field(default=None, max_length=32)
    max_tier: str | None = Field(default=None, max_length=64)
    verified_until: date | None = None
    # The org's own Slack workspace (T…) or Enterprise Grid org (E…); two orgs never share one.
    slack_team: str | None = Field(default=None, unique=True, index=True, max_length=32)
    # A home-workspace channel shared with the org by Slack Connect: where its Request access button is posted.
    connect_channel: str | None = Field(default=None, max_length=32)
    # The org's IdP sends Shared Signals: the `iss` its tokens carry and where its signing keys are published.
    ssf_issuer: str | None = Field(default=None, max_length=512)
    ssf_jwks_uri: str | None = Field(default=None, max_length=2048)
    # When the org's IdP first provisioned a user by SCIM: from then on it decides who is one of the org's people.
    scim_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class OrgDomain(SQLModel, table=True):
    """One verified email domain of an org, kept in step with `Org.domains` so an address finds its org by index."""

    __tablename__ = "org_domain"

    domain: str = Field(primary_key=True, max_length=253)
    org_id: int = Field(foreign_key="org.id", primary_key=True, index=True)


class OrgRole(Keyed, SQLModel, table=True):
    """One person holding one role in one org; the rep is the single `rep` row."""

    __table_args__ = (UniqueConstraint("org_id", "user_id", "role"),)

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    user_id: str = Field(index=True, max_length=32)
    role: str = Field(max_length=32)
    position: int = 0


class DirectoryState(SQLModel, table=True):
    """The directory's program-wide settings; a single row with id 1."""

    id: int = Field(default=1, primary_key=True)
    reps_channel: str | None = Field(default=None, max_length=32)
    security_channel: str | None = Field(default=None, max_length=32)
    operators: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    applied_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
