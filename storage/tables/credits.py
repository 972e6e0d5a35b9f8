"""Grant-program API credits and their usage."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Numeric
from sqlmodel import Field, SQLModel

from trustbot.storage.types import UTCDateTime


class CreditGrant(SQLModel, table=True):
    """An org's credit allowance for a period."""

    __tablename__ = "credit_grant"

    id: str = Field(primary_key=True, max_length=128)
    org_id: int = Field(foreign_key="org.id", index=True)
    amount_usd: Decimal = Field(sa_type=Numeric(14, 2))
    starts: date
    expires: date


class UsageRecord(SQLModel, table=True):
    """One usage record from the producer, keyed by its id (idempotency)."""

    __tablename__ = "usage_record"

    id: str = Field(primary_key=True, max_length=128)
    org_id: int = Field(foreign_key="org.id", index=True)
    credit_grant_id: str | None = Field(default=None, max_length=128, index=True)
    amount_usd: Decimal = Field(sa_type=Numeric(14, 4))
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(sa_type=UTCDateTime)
