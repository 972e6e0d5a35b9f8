"""Shared by the scheduled-job test modules: what a job queued (DMs, thread replies), the grant it
changed, what it audited and which once-only notices it claimed."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlmodel import col

from trustbot.storage.database import Database
from trustbot.storage.tables import AuditEvent, Grant, OutboxMessage, SentNotice


async def outbox(db: Database, *, since_id: int = 0) -> list[OutboxMessage]:
    """Outbox rows queued after `since_id`, oldest first."""
    async with db.sessions() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(col(OutboxMessage.id) > since_id).order_by(col(OutboxMessage.id))
        )
        return list(rows.all())


async def last_outbox_id(db: Database) -> int:
    """The newest outbox row id (0 when empty)."""
    rows = await outbox(db)
    return rows[-1].id if rows and rows[-1].id else 0


def dms(rows: Sequence[OutboxMessage]) -> dict[str, list[str]]:
    """User → texts of the DMs queued for them."""
    result: dict[str, list[str]] = {}
    for row in rows:
        if row.op == "dm":
            result.setdefault(row.channel, []).append(row.payload["text"])
    return result


def thread_replies(rows: Sequence[OutboxMessage]) -> list[tuple[str, str, str]]:
    """(channel, parent key, text) of each thread reply queued."""
    return [(r.channel, r.message_key or "", r.payload["text"]) for r in rows if r.op == "reply"]


async def grant(db: Database, grant_id: int) -> Grant:
    """A grant, fresh."""
    async with db.sessions() as session:
        row = await session.get(Grant, grant_id)
        assert row is not None
        return row


async def audit_actions(db: Database) -> list[tuple[str, str]]:
    """(action, subject) of every audit event, in order."""
    async with db.sessions() as session:
        events = (await session.scalars(select(AuditEvent).order_by(col(AuditEvent.id)))).all()
        return [(e.action, e.subject) for e in events]


async def notice_keys(db: Database) -> list[str]:
    """Every once-only notice key claimed."""
    async with db.sessions() as session:
        return sorted((await session.scalars(select(col(SentNotice.key)))).all())
