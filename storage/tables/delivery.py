"""The outbox, the Slack coordinates of messages sent, and Slack events already handled."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from trustbot.storage.tables.keyed import Keyed
from trustbot.storage.types import UTCDateTime


class OutboxStatus(StrEnum):
    """Lifecycle of one outbound Slack write."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SUPERSEDED = "superseded"


class OutboxOp(StrEnum):
    """What one outbox row does: the Slack write it makes, or the gateway event it sends."""

    POST = "post"  # a new message; its coordinates are saved under `save_as`
    REPLY = "reply"  # a thread reply under the message saved as `message_key`
    UPDATE = "update"  # an edit of the message saved as `message_key`
    DM = "dm"  # a direct message; `channel` is the user id
    PIN = "pin"  # pins the message saved as `message_key` in its channel (queued after its post, in its lane)
    WEBHOOK = "webhook"  # a grant change event for the gateway; its lane is `wh:<org id>`, not a channel


class OutboxMessage(Keyed, SQLModel, table=True):
    """One Slack write, committed with the state change that caused it.

    `op` is `post` (new message; its coordinates are saved under `save_as`), `reply` (thread
    reply under the message saved as `message_key`), `update` (edit that message), `pin` (pin that
    message) or `dm` (`channel` is a user id). A reply's own coordinates are saved under `save_as` when
    set, so a thread message (say, the one holding decision buttons) can be edited later. `channel` is the
    lane that pacing and ordering apply to: the channel, or the user for DMs.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "status", "available_at"),)

    id: int | None = Field(default=None, primary_key=True)
    op: str = Field(max_length=16)
    channel: str = Field(max_length=32, index=True)
    message_key: str | None = Field(default=None, max_length=128, index=True)
    save_as: str | None = Field(default=None, max_length=128, index=True)
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=OutboxStatus.PENDING, max_length=16)
    attempts: int = 0
    available_at: datetime = Field(sa_type=UTCDateTime)
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = Field(default=None, max_length=500)
    # When an attempt began whose outcome is still unknown (no answer, a dropped connection, a
    # worker that died mid-send): before posting again, delivery looks for the message in Slack.
    doubt_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The party this row takes its turn for in a lane several share (the org, in the reps channel):
    # delivery alternates between parties, keeping each party's rows in order. None: the lane's own.
    share: str | None = Field(default=None, max_length=64)
    # The customer workspace this row is sent with (its installation's key, `E…:T…`); None: the home
    # workspace. Its lanes are its own (Slack's limits are per workspace and channel), and its rows
    # wait while that installation is uninstalled or broken.
    workspace: str | None = Field(default=None, max_length=65, index=True)


class SlackMessage(SQLModel, table=True):
    """Where a message Trustbot posted lives, so later updates and replies find it."""

    __tablename__ = "slack_message"

    key: str = Field(primary_key=True, max_length=128)
    channel: str = Field(max_length=32)
    ts: str = Field(max_length=32)


class ProcessedSlackEvent(SQLModel, table=True):
    """A Slack `event_id` already handled; retries of it do nothing."""

    __tablename__ = "processed_slack_event"

    event_id: str = Field(primary_key=True, max_length=64)
    at: datetime = Field(sa_type=UTCDateTime)
