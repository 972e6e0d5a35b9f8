"""Access requests, their approvals, and the grants they create."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class RequestStatus(StrEnum):
    """Lifecycle of an access request."""

    PENDING = "pending"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    DENIED = "denied"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"


class GrantStatus(StrEnum):
    """Lifecycle of a grant."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


class SuspensionReason(StrEnum):
    """Why a grant is suspended; a security action outranks the others (see `suspend_security`)."""

    MISSED_REVERIFICATION = "missed_reverification"
    ORG_VERIFICATION_LAPSED = "org_verification_lapsed"
    SECURITY_ACTION = "security_action"


# The one definition of each status set the rules share.
OPEN_REQUESTS: tuple[str, ...] = (RequestStatus.PENDING, RequestStatus.INFO_REQUESTED)
LIVE_GRANTS: tuple[str, ...] = (GrantStatus.ACTIVE, GrantStatus.SUSPENDED)


class AccessRequest(Keyed, SQLModel, table=True):
    """A request for trusted access for named members and/or a whole org (blanket)."""

    __tablename__ = "access_request"

    id: int | None = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    requester: str = Field(max_length=32)
    # The requester's workspace: None for the home workspace, else the `slack_team` of the org binding theirs
    # (the same user id in two workspaces is two people).
    requester_team: str | None = Field(default=None, max_length=32)
    members: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    # Each named member's email as Slack showed it when the request was submitted (user id -> address).
    member_emails: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    blanket: bool = False
    # An IdP group the request (grant) covers: its members are whoever the org's IdP says, as it changes.
    scim_group_id: int | None = Field(default=None, foreign_key="scim_group.id", index=True)
    tier_id: str = Field(max_length=64)
    use_case: str = Field(max_length=3000)
    justification: str = Field(max_length=3000)
    duration_days: int
    status: str = Field(default=RequestStatus.PENDING, index=True, max_length=32)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=32)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_reason: str | None = Field(default=None, max_length=3000)
    info_question: str | None = Field(default=None, max_length=3000)
    info_asked_by: str | None = Field(default=None, max_length=32)
    info_answer: str | None = Field(default=None, max_length=3000)
    nudged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_key: str | None = Field(default=None, max_length=128)
    # The modal submission (Slack's view id) that created it: a second submission of the same view is the same request.
    submission_key: str | None = Field(default=None, max_length=128, unique=True, index=True)


class RequestApproval(Keyed, SQLModel, table=True):
    """One approver's yes; two-approval tiers need two different rows."""

    __tablename__ = "request_approval"
    __table_args__ = (UniqueConstraint("request_id", "approver"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="access_request.id", index=True)
    approver: str = Field(max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)


class Grant(Keyed, SQLModel, table=True):
    """Trusted access created by an approved request."""

    __tablename__ = "access_grant"
    __table_args__ = (Index("ix_access_grant_changes", "updated_at", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="access_request.id", unique=True)
    org_id: int = Field(foreign_key="org.id", index=True)
    members: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    blanket: bool = False
    # An IdP group the request (grant) covers: its members are whoever the org's IdP says, as it changes.
    scim_group_id: int | None = Field(default=None, foreign_key="scim_group.id", index=True)
    tier_id: str = Field(max_length=64)
    status: str = Field(default=GrantStatus.ACTIVE, index=True, max_length=32)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    reverify_due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    suspended_reason: str | None = Field(default=None, max_length=64)
    suspended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suspension_note: str | None = Field(default=None, max_length=3000)
    ended_by: str | None = Field(default=None, max_length=32)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    end_reason: str | None = Field(default=None, max_length=3000)
    last_reverified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_reverified_by: str | None = Field(default=None, max_length=32)
    # Moved on by every change a gateway must hear of; `/v1/grants` pages by (updated_at, id).
    updated_at: datetime = Field(default_factory=lambda: datetime.now(UTC), sa_type=UTCDateTime)


class GrantMember(SQLModel, table=True):
    """A named member of a grant with the email Slack showed for them: what `/v1/entitlements` matches."""

    __tablename__ = "grant_member"

    grant_id: int = Field(foreign_key="access_grant.id", primary_key=True)
    slack_id: str = Field(primary_key=True, max_length=32, index=True)
    email: str = Field(max_length=320, index=True)
