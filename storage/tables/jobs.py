"""Scheduled job slots and notices already sent."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class JobRun(Keyed, SQLModel, table=True):
    """One job slot (name + scheduled time); the unique pair is the cross-replica claim."""

    __tablename__ = "job_run"
    __table_args__ = (UniqueConstraint("job", "slot_at"),)

    id: int | None = Field(default=None, primary_key=True)
    job: str = Field(max_length=64, index=True)
    slot_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=16)
    claimed_by: str = Field(max_length=64)
    lease_until: datetime = Field(sa_type=UTCDateTime)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=500)


class SentNotice(SQLModel, table=True):
    """A once-only notice (reminder, threshold, warning) already produced, by key."""

    __tablename__ = "sent_notice"

    key: str = Field(primary_key=True, max_length=200)
    at: datetime = Field(sa_type=UTCDateTime)
