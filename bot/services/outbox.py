"""Queue Slack writes as outbox rows in the caller's transaction.

Nothing here talks to Slack: `trustbot.delivery` sends the rows after commit, so a crash between
commit and delivery loses nothing, and a rolled-back state change sends nothing. Delivery is
infrastructure and runs on wall-clock time even when the domain clock is moved (tests,
`jobs run --now`), so a row is always due relative to the real now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.text import MESSAGE_TEXT, Rendered
from trustbot.storage.queries.outbox import assign_ids
from trustbot.storage.tables import OutboxMessage, OutboxOp

__all__ = [
    "dm_all",
    "flush_outbox",
    "pin_message",
    "post_message",
    "queue_webhook",
    "reply_in_thread",
    "send_dm",
    "update_message",
]

Message = Rendered | str


def payload_of(message: Message, **extra: Any) -> dict[str, Any]:
    """The `chat.*` arguments carrying `message`: its fallback text and, when rendered, its blocks."""
    if isinstance(message, str):
        payload: dict[str, Any] = {"text": message[:MESSAGE_TEXT]}
    else:
        payload = {"text": message.text[:MESSAGE_TEXT], "blocks": [b.to_dict() for b in message.blocks]}
    payload.update({k: v for k, v in extra.items() if v is not None})
    return payload


def _add(
    session: AsyncSession,
    *,
    op: OutboxOp,
    channel: str,
    payload: dict[str, Any],
    message_key: str | None = None,
    save_as: str | None = None,
    delay_seconds: float = 0.0,
    share: str | None = None,
    workspace: str | None = None,
) -> OutboxMessage:
    now = datetime.now(UTC)
    row = OutboxMessage(
        op=op,
        channel=channel,
        message_key=message_key,
        save_as=save_as,
        payload=payload,
        available_at=now + timedelta(seconds=delay_seconds),
        created_at=now,
        share=share,
        workspace=workspace,
    )
    session.add(row)
    session.info["outbox_dirty"] = True
    return row


def post_message(
    session: AsyncSession,
    *,
    channel: str,
    key: str,
    message: Message,
    share: str | None = None,
    workspace: str | None = None,
) -> OutboxMessage:
    """Queue a new channel message saved under `key`; `share`: the party it takes turns for in a shared lane."""
    return _add(
        session,
        op=OutboxOp.POST,
        channel=channel,
        save_as=key,
        payload=payload_of(message),
        share=share,
        workspace=workspace,
    )


def reply_in_thread(
    session: AsyncSession,
    *,
    channel: str,
    parent_key: str,
    message: Message,
    broadcast: bool = False,
    key: str | None = None,
    share: str | None = None,
    workspace: str | None = None,
) -> OutboxMessage:
    """Queue a thread reply under the message saved as `parent_key`; save its own coordinates as `key`."""
    payload = payload_of(message, reply_broadcast=broadcast or None)
    return _add(
        session,
        op=OutboxOp.REPLY,
        channel=channel,
        message_key=parent_key,
        save_as=key,
        payload=payload,
        share=share,
        workspace=workspace,
    )


def update_message(
    session: AsyncSession,
    *,
    channel: str,
    key: str,
    message: Message,
    delay_seconds: float = 0.0,
    share: str | None = None,
    workspace: str | None = None,
) -> OutboxMessage:
    """Queue an in-place edit of the message saved as `key`; only the newest pending edit is sent."""
    return _add(
        session,
        op=OutboxOp.UPDATE,
        channel=channel,
        message_key=key,
        payload=payload_of(message),
        delay_seconds=delay_seconds,
        share=share,
        workspace=workspace,
    )


def pin_message(session: AsyncSession, *, channel: str, key: str, workspace: str | None = None) -> OutboxMessage:
    """Queue pinning the message saved as `key` in `channel`; queued after its post, it is sent after it (same lane)."""
    return _add(session, op=OutboxOp.PIN, channel=channel, message_key=key, payload={}, workspace=workspace)


def send_dm(
    session: AsyncSession, *, user: str, message: Message, key: str | None = None, workspace: str | None = None
) -> OutboxMessage:
    """Queue a direct message to `user` (optionally saving its coordinates under `key`), in `workspace` (None: home)."""
    return _add(session, op=OutboxOp.DM, channel=user, save_as=key, payload=payload_of(message), workspace=workspace)


def dm_all(
    session: AsyncSession, users: Iterable[str | None], message: Message, *, workspace: str | None = None
) -> int:
    """DM each distinct user once (blanks skipped), in `workspace` (None: home); returns how many DMs were queued."""
    people = list(dict.fromkeys(u for u in users if u))
    for user in people:
        send_dm(session, user=user, message=message, workspace=workspace)
    return len(people)


def queue_webhook(session: AsyncSession, *, lane: str, payload: dict[str, Any]) -> OutboxMessage:
    """Queue a grant change event for the gateway in `lane` (one lane per org keeps its events in order)."""
    return _add(session, op=OutboxOp.WEBHOOK, channel=lane, payload=payload)


async def flush_outbox(session: AsyncSession) -> None:
    """Flush the session, sending a batch's new outbox rows as one multi-row INSERT."""
    await assign_ids(session, [obj for obj in session.new if isinstance(obj, OutboxMessage) and obj.id is None])
    await session.flush()
