"""Queries over the append-only audit log and its checkpoints. Keyword-only, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Integer, String, Text, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.storage.queries.dialect import Lock, take_lock
from trustbot.storage.tables import AuditCheckpoint, AuditEvent


@dataclass(frozen=True)
class StoredEvent:
    """An audit row as stored, not decoded: in a corrupt row any field may hold anything.

    `details` is the JSON text and `at` the driver's value (a datetime on PostgreSQL, text on SQLite).
    """

    id: int
    at: object
    actor: object
    action: object
    subject: object
    details: object
    prev_hash: object
    hash: object
    scheme: object


@dataclass(frozen=True)
class ChainHead:
    """How many events the chain holds, and its newest event's hash and scheme."""

    count: int
    last_hash: str
    scheme: str


async def lock_chain(session: AsyncSession) -> None:
    """Serialise appends so two transactions never chain to the same predecessor."""
    await take_lock(session, Lock.AUDIT)


async def last_link(session: AsyncSession) -> tuple[str, str] | None:
    """The hash and scheme of the newest event, if any."""
    query = select(col(AuditEvent.hash), col(AuditEvent.scheme)).order_by(col(AuditEvent.id).desc()).limit(1)
    row = (await session.execute(query)).first()
    return None if row is None else (str(row[0]), str(row[1]))


async def events_after(
    session: AsyncSession, *, after_id: int, limit: int, since: datetime | None = None
) -> list[AuditEvent]:
    """Up to `limit` events with ids above `after_id` (and at or after `since`), in id order."""
    query = select(AuditEvent).where(col(AuditEvent.id) > after_id)
    if since is not None:
        query = query.where(col(AuditEvent.at) >= since)
    return list((await session.scalars(query.order_by(col(AuditEvent.id)).limit(limit))).all())


async def stored_events_after(session: AsyncSession, *, after_id: int, limit: int) -> list[StoredEvent]:
    """Up to `limit` raw rows with ids above `after_id`, in id order, without the ORM's decoding.

    `details` is read as text (a cast: PostgreSQL's driver would otherwise decode the JSON itself) and
    `at` without the column type's conversion, so a corrupt value reaches the caller instead of raising.
    """
    query = (
        select(
            type_coerce(col(AuditEvent.id), Integer),  # a stored row's key, never NULL
            type_coerce(col(AuditEvent.at), String),
            col(AuditEvent.actor),
            col(AuditEvent.action),
            col(AuditEvent.subject),
            cast(col(AuditEvent.details), Text),
            col(AuditEvent.prev_hash),
            col(AuditEvent.hash),
            col(AuditEvent.scheme),
        )
        .where(col(AuditEvent.id) > after_id)
        .order_by(col(AuditEvent.id))
        .limit(limit)
    )
    return [
        StoredEvent(
            id=event_id,
            at=at,
            actor=actor,
            action=action,
            subject=subject,
            details=details,
            prev_hash=prev_hash,
            hash=hash_,
            scheme=scheme,
        )
        for event_id, at, actor, action, subject, details, prev_hash, hash_, scheme in (await session.execute(query))
    ]


async def chain_head(session: AsyncSession) -> ChainHead | None:
    """The chain's head now, or None while it is empty."""
    count = await session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    newest = (
        await session.execute(
            select(col(AuditEvent.hash), col(AuditEvent.scheme)).order_by(col(AuditEvent.id).desc()).limit(1)
        )
    ).first()
    if not count or newest is None:
        return None
    return ChainHead(count=count, last_hash=newest[0], scheme=newest[1])


async def position_of(session: AsyncSession, *, hash_: str) -> int | None:
    """The 1-based position in id order of the event hashed `hash_`, or None when no event has it."""
    event_id = await session.scalar(select(col(AuditEvent.id)).where(col(AuditEvent.hash) == hash_))
    if event_id is None:
        return None
    return await session.scalar(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.id) <= event_id))


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    """The newest checkpoint, if any."""
    query = select(AuditCheckpoint).order_by(col(AuditCheckpoint.id).desc()).limit(1)
    return (await session.scalars(query)).first()


async def has_signed_checkpoint(session: AsyncSession) -> bool:
    """Whether any checkpoint carries a signature (the audit key was set when it was taken)."""
    query = select(col(AuditCheckpoint.id)).where(col(AuditCheckpoint.mac).is_not(None)).limit(1)
    return (await session.scalar(query)) is not None


async def add_checkpoint(
    session: AsyncSession, *, count: int, last_hash: str, scheme: str, at: datetime, mac: str | None
) -> AuditCheckpoint:
    """Insert a checkpoint of the head (`count` events, the last hashed `last_hash`), signed by `mac`."""
    row = AuditCheckpoint(count=count, last_hash=last_hash, scheme=scheme, created_at=at, mac=mac)
    session.add(row)
    await session.flush()
    return row


async def first_keyed_position(session: AsyncSession, *, keyed: str) -> int | None:
    """The 1-based position of the first event hashed with scheme `keyed`, or None when no event is."""
    first_id = await session.scalar(select(func.min(col(AuditEvent.id))).where(col(AuditEvent.scheme) == keyed))
    if first_id is None:
        return None
    return await session.scalar(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.id) <= first_id))


async def latest_position_of_action(session: AsyncSession, *, action: str, scheme: str) -> int | None:
    """The 1-based position of the newest event of `action` hashed with `scheme`, or None when there is none."""
    where = (col(AuditEvent.action) == action) & (col(AuditEvent.scheme) == scheme)
    newest_id = await session.scalar(select(func.max(col(AuditEvent.id))).where(where))
    if newest_id is None:
        return None
    return await session.scalar(select(func.count()).select_from(AuditEvent).where(col(AuditEvent.id) <= newest_id))


async def highest_signed_checkpoint_count(session: AsyncSession) -> int | None:
    """How many events the furthest-reaching signed checkpoint covers, or None when none is signed."""
    signed = col(AuditCheckpoint.mac).is_not(None)
    return await session.scalar(select(func.max(col(AuditCheckpoint.count))).where(signed))
