"""Suspicious-activity alerts, grouped by fingerprint, and every occurrence received."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class Severity(StrEnum):
    """Alert severity, least to most severe."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class AlertStatus(StrEnum):
    """Lifecycle of an alert."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    FALSE_POSITIVE = "false_positive"


ACTIVE_ALERTS: tuple[str, ...] = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.ESCALATED)
# How severe, least to most: what orders alerts everywhere (queries and messages alike).
SEVERITY_RANK: dict[str, int] = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}


class Alert(Keyed, SQLModel, table=True):
    """One open-or-closed group of occurrences sharing a fingerprint."""

    __table_args__ = (Index("ix_alert_fingerprint_status", "fingerprint", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=128, index=True)
    org_id: int | None = Field(default=None, foreign_key="org.id", index=True)
    org_slug: str = Field(max_length=64)
    actor: str | None = Field(default=None, max_length=256)
    signal: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    summary: str = Field(max_length=500)
    score: float | None = None
    evidence_url: str | None = Field(default=None, max_length=2048)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    fingerprint: str = Field(max_length=512)
    occurrences: int = 1
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default=AlertStatus.OPEN, index=True, max_length=32)
    owner: str | None = Field(default=None, max_length=32)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: str | None = Field(default=None, max_length=32)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    suspended_by: str | None = Field(default=None, max_length=32)
    suspension_reason: str | None = Field(default=None, max_length=3000)
    created_at: datetime = Field(sa_type=UTCDateTime)
    updated_at: datetime = Field(sa_type=UTCDateTime)
    rendered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    message_key: str | None = Field(default=None, max_length=128)
    # Where the alert is shown, fixed when it opens, so later edits land on the same message
    # even if the org's security channel changes.
    channel: str | None = Field(default=None, max_length=32, index=True)
    # The workspace `channel` is in, fixed with it: the bound org's installation key (`E…:T…`), or
    # None for the home workspace (the org has no installation, or the alert is in the default channel).
    workspace: str | None = Field(default=None, max_length=65)
    # A change the circuit breaker held back from Slack; the catch-up renders it later.
    render_pending: bool = Field(default=False)
    # Why the alert is shown in the default channel instead of its own (Slack refused that one).
    reroute_note: str | None = Field(default=None, max_length=300)
    # Snoozed by a security lead: repeats and escalation stay quiet until then.
    snoozed_until: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AlertOccurrence(SQLModel, table=True):
    """Every alert item received, keyed by the producer's id (idempotency)."""

    __tablename__ = "alert_occurrence"

    event_id: str = Field(primary_key=True, max_length=128)
    alert_id: int = Field(foreign_key="alert.id", index=True)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
