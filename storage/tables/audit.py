"""The append-only, hash-chained audit log and its checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime

PLAIN = "sha256"
KEYED = "hmac-sha256"


class AuditEvent(Keyed, SQLModel, table=True):
    """One audited action; `hash` covers the fields and `prev_hash`, computed as `scheme` says."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_type=UTCDateTime, index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64, index=True)
    subject: str = Field(max_length=128, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)
    # `sha256` (plain) or `hmac-sha256` (keyed with TRUSTBOT_AUDIT_KEY); events before 0004 are plain.
    scheme: str = Field(default=PLAIN, max_length=16, sa_column_kwargs={"server_default": PLAIN})


class AuditCheckpoint(Keyed, SQLModel, table=True):
    """The chain's head at one moment: `count` events, the last one hashed `last_hash` (by `scheme`)."""

    __tablename__ = "audit_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    count: int
    last_hash: str = Field(max_length=64)
    scheme: str = Field(max_length=16)
    created_at: datetime = Field(sa_type=UTCDateTime)
    # HMAC-SHA256 of the fields above with TRUSTBOT_AUDIT_KEY (None when recorded without a key):
    # whoever can write the database but lacks the key cannot record a checkpoint of a rewritten chain.
    mac: str | None = Field(default=None, max_length=64)
