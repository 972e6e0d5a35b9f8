"""One Slack write of an outbox row: the call it makes, what Slack's answer means, and how to find a post
whose answer never came.

Every post carries message metadata naming its outbox row (`trustbot_outbox`, with the row id and
when it was queued). When an attempt's outcome is unknown — no answer in time, a connection
dropped after sending, a 5xx or `internal_error`, a worker that died mid-send — the next attempt
first looks for that message in the channel or thread (`conversations.history` /
`conversations.replies` with `include_all_metadata`) and, when it is there, records its `ts`
instead of posting it twice (and edits it when it shows an older render of the row).
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.slack.errors import ALREADY_DONE_ERRORS, AMBIGUOUS_ERRORS, MESSAGE_LIMIT_EXCEEDED, is_retryable
from trustbot.storage.database import Database
from trustbot.storage.queries import outbox as outbox_q
from trustbot.storage.tables import OutboxMessage, OutboxOp, OutboxStatus

log = logging.getLogger(__name__)

EVENT_TYPE = "trustbot_outbox"
MAX_BACKOFF_SECONDS = 300.0
LOOKBACK = timedelta(minutes=2)  # clock skew between us and Slack, and the time a send took
LOOKUP_PAGES = 10


@dataclass(frozen=True)
class Outcome:
    """What happened to one send attempt.

    `ambiguous`: Slack may have carried a post out though we do not know it (or we could not look
    whether an earlier attempt's post is there); the row stays in doubt, and its next attempt looks
    before posting. Any other outcome settles the doubt: the row is sent, or nothing of it is out there.
    """

    kind: str  # sent | retry | failed
    ts: str | None = None
    channel: str | None = None
    delay: float = 0.0
    error: str | None = None
    ambiguous: bool = False
    # A post an earlier attempt made, found showing other content than the row now holds (the row
    # was re-rendered while in doubt): delivery edits it to the row's payload before calling it sent.
    stale: bool = False


def backoff(attempts: int) -> float:
    """Exponential backoff with jitter, capped."""
    return min(MAX_BACKOFF_SECONDS, 0.5 * 2.0 ** max(attempts - 1, 0)) * (0.8 + 0.4 * random.random())


def retry_after(response: Any) -> float:
    """Seconds a 429 asks us to wait (1 when it does not say)."""
    headers = getattr(response, "headers", {}) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(float(value), 0.0) if value is not None else 1.0
    except (TypeError, ValueError):
        return 1.0


def error_of(exc: SlackApiError) -> tuple[int, str]:
    """(HTTP status, Slack's error code) of a refused call."""
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    data = response.data if isinstance(response.data, dict) else {}
    return status, str(data.get("error") or f"http_{status}")


def classify(exc: SlackApiError, attempts: int, *, message_limit_hold: float = 60.0) -> Outcome:
    """What a refused call means for its row (a channel at Slack's message cap waits `message_limit_hold` s)."""
    status, error = error_of(exc)
    if status == 429:
        return Outcome("retry", delay=retry_after(exc.response), error="ratelimited")
    if error in ALREADY_DONE_ERRORS:  # an earlier attempt did it and its answer was lost (a pin, say)
        return Outcome("sent")
    if status >= 500:
        return Outcome("retry", delay=backoff(attempts), error=f"http_{status}", ambiguous=True)
    if is_retryable(error):
        delay = max(
            message_limit_hold if error == MESSAGE_LIMIT_EXCEEDED else 0.0,
            retry_after(exc.response) if error == "ratelimited" else 0.0,
        )
        return Outcome("retry", delay=delay or backoff(attempts), error=error, ambiguous=error in AMBIGUOUS_ERRORS)
    return Outcome("failed", error=error)


def transport_failure(exc: BaseException, attempts: int) -> Outcome:
    """No answer, or no usable one: the call may or may not have been carried out."""
    return Outcome("retry", delay=backoff(attempts), error=type(exc).__name__, ambiguous=True)


TRANSPORT_ERRORS = (TimeoutError, asyncio.TimeoutError, aiohttp.ClientError, OSError, ValueError)


def metadata_for(row: OutboxMessage) -> dict[str, Any]:
    """The message metadata that lets a later attempt recognise this row's post."""
    return {"event_type": EVENT_TYPE, "event_payload": {"outbox_row": row.id, "queued_at": row.created_at.isoformat()}}


def _is_ours(message: dict[str, Any], row: OutboxMessage) -> bool:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    return bool(
        metadata.get("event_type") == EVENT_TYPE
        and payload.get("outbox_row") == row.id
        and payload.get("queued_at") == row.created_at.isoformat()
    )


def _differs(message: dict[str, Any], args: dict[str, Any]) -> bool:
    """True when the message Slack holds does not show what the row would post now."""
    return bool(message.get("text") != args.get("text") or (message.get("blocks") or []) != (args.get("blocks") or []))


async def _dm_channel(client: AsyncWebClient, user: str) -> str:
    opened = await client.conversations_open(users=user)
    return str((opened.get("channel") or {}).get("id") or user)


async def find_post(
    client: AsyncWebClient, row: OutboxMessage, args: dict[str, Any], since: datetime
) -> Outcome | None:
    """The row's message if an earlier attempt did post it (`sent`), None if it is not there, or a retry when
    Slack would not let us look right now."""
    try:
        channel = await _dm_channel(client, row.channel) if row.op == "dm" else str(args["channel"])
        oldest = f"{(since - LOOKBACK).timestamp():.6f}"
        cursor: str | None = None
        for _ in range(LOOKUP_PAGES):
            if "thread_ts" in args:
                page = await client.conversations_replies(
                    channel=channel,
                    ts=args["thread_ts"],
                    oldest=oldest,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            else:
                page = await client.conversations_history(
                    channel=channel, oldest=oldest, include_all_metadata=True, limit=200, cursor=cursor
                )
            for message in page.get("messages") or []:
                if _is_ours(message, row):
                    return Outcome("sent", ts=str(message.get("ts")), channel=channel, stale=_differs(message, args))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return None
        return None
    except SlackApiError as exc:
        status, error = error_of(exc)
        if is_retryable(error, status=status):
            delay = retry_after(exc.response) if status == 429 else backoff(row.attempts)
            return Outcome("retry", delay=delay, error=f"lookup_{error}", ambiguous=True)
        # We may not read this conversation (a missing history scope, say): posting again is the
        # only way the message can arrive, at the risk of a copy. Say so where operators look.
        log.warning("cannot look for outbox row %s in Slack (%s); sending it again may duplicate it", row.id, error)
        return None
    except TRANSPORT_ERRORS as exc:
        return Outcome("retry", delay=backoff(row.attempts), error=f"lookup_{type(exc).__name__}", ambiguous=True)


async def refresh_found_post(client: AsyncWebClient, row: OutboxMessage, found: Outcome) -> Outcome:
    """An earlier attempt's post is in Slack but shows an older render of the row (re-rendered while
    in doubt): edit it to the row's payload, so the newest render is what people see."""
    payload = row.payload
    args = {
        "channel": found.channel,
        "ts": found.ts,
        "text": payload.get("text", ""),
        "blocks": payload.get("blocks") or [],
    }
    try:
        await client.api_call("chat.update", json=args)
    except SlackApiError as exc:
        outcome = classify(exc, row.attempts)
    except TRANSPORT_ERRORS as exc:
        outcome = transport_failure(exc, row.attempts)
    else:
        return replace(found, stale=False)
    if outcome.kind == "retry":  # still in doubt: the next attempt finds the post again and edits it
        return replace(outcome, ambiguous=True)
    log.warning("outbox row %s: its post shows an older render; the edit failed (%s)", row.id, outcome.error)
    return replace(found, stale=False)


async def call_for(db: Database, row: OutboxMessage) -> tuple[str, dict[str, Any]] | Outcome:
    """The Web API call `row` makes, or why it cannot be made yet (its parent message is not posted, or failed).

    An edit, reply or pin finds its message by the coordinates its post's delivery saved; until they are
    there it waits (uncounted), and when that post was given up it fails too.
    """
    payload = dict(row.payload)
    if row.op in (OutboxOp.POST, OutboxOp.DM):
        return "chat.postMessage", {"channel": row.channel, **payload}
    if row.op not in (OutboxOp.REPLY, OutboxOp.UPDATE, OutboxOp.PIN):
        return Outcome("failed", error=f"unknown_op:{row.op}")
    target = await _coordinates(db, row.message_key)
    if target is None:
        if await _parent_failed(db, row.message_key):
            return Outcome("failed", error="parent_message_failed")
        return Outcome("retry", delay=1.0, error="parent_not_posted")
    channel, ts = target
    if row.op == OutboxOp.REPLY:
        return "chat.postMessage", {"channel": channel, "thread_ts": ts, **payload}
    if row.op == OutboxOp.PIN:
        return "pins.add", {"channel": channel, "timestamp": ts}
    return "chat.update", {"channel": channel, "ts": ts, **payload}


async def _coordinates(db: Database, key: str | None) -> tuple[str, str] | None:
    if key is None:
        return None
    async with db.sessions() as session:
        return await outbox_q.coordinates(session, key=key)


async def _parent_failed(db: Database, key: str | None) -> bool:
    if key is None:
        return True
    async with db.sessions() as session:
        status = await outbox_q.first_post_status(session, key=key)
    return status in (OutboxStatus.FAILED, None)
