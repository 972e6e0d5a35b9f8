"""The append-only, hash-chained audit log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.context import ServiceContext
from storage.queries import audit as q
from storage.tables import AuditEvent

GENESIS = "0" * 64


def compute_hash(
    *, prev_hash: str, at: datetime, actor: str, action: str, subject: str, details: dict[str, Any]
) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the event's fields."""
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


async def record_audit(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event by `ctx`'s actor, chained to the previous one, inside the caller's transaction."""
    await q.lock_chain(session)
    prev = await q.last_hash(session)
    actor = ctx.user_id
    # JSON round trip so the hash covers exactly what the database will give back.
    clean = json.loads(json.dumps(details or {}, default=str))
    now = ctx.now()
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=clean,
        prev_hash=prev or GENESIS,
        hash=compute_hash(prev_hash=prev or GENESIS, at=at, actor=actor, action=action, subject=subject, details=clean),
    )
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """Outcome of `verify_audit_chain`."""

    count: int
    first_bad_id: int | None = None
    problem: str | None = None

    @property
    def intact(self) -> bool:
        """True when every event and link checked out."""
        return self.first_bad_id is None


async def verify_audit_chain(session: AsyncSession, *, batch: int = 5000) -> ChainReport:
    """Walk the chain in id order; report the first event whose hash or link is wrong."""
    prev = GENESIS
    count = 0
    last_id = 0
    while True:
        rows = await q.events_after(session, after_id=last_id, limit=batch)
        if not rows:
            return ChainReport(count=count)
        for event in rows:
            if event.prev_hash != prev:
                return ChainReport(
                    count, event.id, "its link to the previous event is broken (an event was removed or reordered)"
                )
            expected = compute_hash(
                prev_hash=event.prev_hash,
                at=event.at,
                actor=event.actor,
                action=event.action,
                subject=event.subject,
                details=event.details,
            )
            if expected != event.hash:
                return ChainReport(count, event.id, "its contents do not match its hash (it was edited)")
            prev = event.hash
            count += 1
            last_id = event.id or last_id


async def iter_audit_events(
    session: AsyncSession, *, since: datetime | None = None, batch: int = 5000
) -> AsyncIterator[AuditEvent]:
    """Yield events in order, optionally from `since` on."""
    last_id = 0
    while True:
        rows = await q.events_after(session, after_id=last_id, limit=batch, since=since)
        if not rows:
            return
        for event in rows:
            yield event
            last_id = event.id or last_id


def audit_event_json(event: AuditEvent) -> str:
    """One JSON line for `trustbot audit export`."""
    return json.dumps(
        {
            "id": event.id,
            "at": event.at.isoformat().replace("+00:00", "Z"),
            "actor": event.actor,
            "action": event.action,
            "subject": event.subject,
            "details": event.details,
            "prev_hash": event.prev_hash,
            "hash": event.hash,
        },
        sort_keys=True,
    )
