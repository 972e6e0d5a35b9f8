"""Queue Slack writes as outbox rows in the caller's transaction (DESIGN §6).

Nothing here talks to Slack: `bot.delivery` sends the rows after commit, so a crash between
commit and delivery loses nothing, and a rolled-back state change sends nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from slack_sdk.models.blocks import Block
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from storage.tables import OutboxMessage

POST, REPLY, UPDATE, DM = "post", "reply", "update", "dm"

# Slack rejects `text` beyond 40k characters and truncates well before; keep fallbacks short.
MAX_TEXT = 3000


def _payload(text: str, blocks: Sequence[Block | dict[str, Any]] | None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"text": text[:MAX_TEXT]}
    if blocks is not None:
        payload["blocks"] = [b.to_dict() if isinstance(b, Block) else b for b in blocks]
    payload.update({k: v for k, v in extra.items() if v is not None})
    return payload


def _add(
    session: AsyncSession,
    clock: Clock,
    *,
    op: str,
    channel: str,
    message_key: str | None,
    payload: dict[str, Any],
    delay_seconds: float = 0.0,
    save_as: str | None = None,
) -> OutboxMessage:
    # Delivery is infrastructure and runs on wall-clock time even when the domain clock is
    # moved (tests, `jobs run --now`), so a row is always due relative to the real now.
    del clock
    now = datetime.now(UTC)
    row = OutboxMessage(
        op=op,
        channel=channel,
        message_key=message_key,
        save_as=save_as,
        payload=payload,
        available_at=now + timedelta(seconds=delay_seconds),
        created_at=now,
    )
    session.add(row)
    session.info["outbox_dirty"] = True
    return row


def post_message(
    session: AsyncSession,
    clock: Clock,
    *,
    channel: str,
    key: str,
    text: str,
    blocks: Sequence[Block | dict[str, Any]] | None = None,
) -> OutboxMessage:
    """Queue a new channel message whose coordinates will be saved under `key`."""
    return _add(session, clock, op=POST, channel=channel, message_key=None, save_as=key, payload=_payload(text, blocks))


def reply_in_thread(
    session: AsyncSession,
    clock: Clock,
    *,
    channel: str,
    parent_key: str,
    text: str,
    blocks: Sequence[Block | dict[str, Any]] | None = None,
    broadcast: bool = False,
    key: str | None = None,
) -> OutboxMessage:
    """Queue a thread reply under the message saved as `parent_key`; save its own coordinates as `key`."""
    return _add(
        session,
        clock,
        op=REPLY,
        channel=channel,
        message_key=parent_key,
        payload=_payload(text, blocks, reply_broadcast=broadcast or None),
        save_as=key,
    )


def update_message(
    session: AsyncSession,
    clock: Clock,
    *,
    channel: str,
    key: str,
    text: str,
    blocks: Sequence[Block | dict[str, Any]] | None = None,
    delay_seconds: float = 0.0,
) -> OutboxMessage:
    """Queue an in-place edit of the message saved as `key`; only the newest pending edit is sent."""
    return _add(
        session,
        clock,
        op=UPDATE,
        channel=channel,
        message_key=key,
        payload=_payload(text, blocks),
        delay_seconds=delay_seconds,
    )


def send_dm(
    session: AsyncSession,
    clock: Clock,
    *,
    user: str,
    text: str,
    blocks: Sequence[Block | dict[str, Any]] | None = None,
    key: str | None = None,
) -> OutboxMessage:
    """Queue a direct message to `user` (optionally saving its coordinates under `key`)."""
    return _add(session, clock, op=DM, channel=user, message_key=None, save_as=key, payload=_payload(text, blocks))
