"""Queries over alerts, their occurrences and the outbox rows that show them.

Keyword-only, async, never commit. Ingest is set-based: every function takes the whole batch
and costs one round trip, whatever the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.tables import (
    Alert,
    AlertOccurrence,
    AlertStatus,
    Grant,
    GrantStatus,
    Org,
    OutboxMessage,
    OutboxStatus,
    Tier,
)

ACTIVE_ALERT_STATUSES: tuple[str, ...] = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.ESCALATED)
_PG_INGEST_LOCK = 7_316_004  # advisory lock id serialising alert ingest on PostgreSQL


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


async def lock_ingest(session: AsyncSession) -> None:
    """Serialise ingest transactions until commit.

    Two concurrent batches carrying the same new fingerprint (or the same id) must not both open
    an alert. SQLite transactions already hold the write lock (`BEGIN IMMEDIATE`); PostgreSQL
    takes a transaction-scoped advisory lock.
    """
    if _dialect(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_INGEST_LOCK})


async def existing_event_ids(session: AsyncSession, *, event_ids: Sequence[str]) -> set[str]:
    """The producer ids among `event_ids` already stored (a resent id is a duplicate)."""
    if not event_ids:
        return set()
    rows = await session.scalars(select(AlertOccurrence.event_id).where(AlertOccurrence.event_id.in_(list(event_ids))))  # type: ignore[attr-defined]
    return set(rows.all())


async def open_alerts_by_fingerprint(
    session: AsyncSession, *, fingerprints: Iterable[tuple[str, str]], since: datetime
) -> dict[tuple[str, str], Alert]:
    """The newest active alert per (org slug, fingerprint) that saw activity at or after `since`."""
    wanted = set(fingerprints)
    if not wanted:
        return {}
    query = (
        select(Alert)
        .where(
            Alert.fingerprint.in_(sorted({fp for _, fp in wanted})),
            Alert.status.in_(ACTIVE_ALERT_STATUSES),  # type: ignore[attr-defined]
            Alert.updated_at >= since,
        )
        .order_by(Alert.id)
    )
    found: dict[tuple[str, str], Alert] = {}
    for alert in (await session.scalars(query)).all():
        key = (alert.org_slug, alert.fingerprint)
        if key in wanted:
            found[key] = alert  # ascending ids: the newest wins
    return found


async def insert_occurrences(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Bulk insert occurrences; an id stored meanwhile is skipped, never a second row."""
    if not rows:
        return
    insert = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    await session.execute(insert(AlertOccurrence).on_conflict_do_nothing(index_elements=["event_id"]), rows)


async def get_alert(session: AsyncSession, *, alert_id: int) -> Alert | None:
    """One alert by id, re-read fresh."""
    query = select(Alert).where(Alert.id == alert_id).execution_options(populate_existing=True)
    return (await session.scalars(query)).first()


async def transition_alert(
    session: AsyncSession,
    *,
    alert_id: int,
    from_statuses: Sequence[str],
    values: dict[str, Any],
    unsuspended: bool = False,
) -> bool:
    """Conditionally update an alert still in `from_statuses` (and not yet suspended); True when this call won."""
    query = update(Alert).where(Alert.id == alert_id, Alert.status.in_(list(from_statuses)))  # type: ignore[attr-defined]
    if unsuspended:
        query = query.where(Alert.suspended_by.is_(None))  # type: ignore[union-attr]
    result = await session.execute(query.values(**values).execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


async def list_active_alerts(
    session: AsyncSession, *, org_ids: Iterable[int] | None, include_unknown: bool, limit: int = 200
) -> list[Alert]:
    """Active alerts (any severity), most severe then newest first; None org_ids means every org."""
    query = select(Alert).where(Alert.status.in_(ACTIVE_ALERT_STATUSES))  # type: ignore[attr-defined]
    if org_ids is not None:
        ids = list(org_ids)
        cond = Alert.org_id.in_(ids) if ids else None  # type: ignore[union-attr]
        if include_unknown:
            cond = Alert.org_id.is_(None) if cond is None else (cond | Alert.org_id.is_(None))  # type: ignore[union-attr]
        if cond is None:
            return []
        query = query.where(cond)
    rank = case({"critical": 3, "high": 2, "medium": 1}, value=Alert.severity, else_=0)
    return list((await session.scalars(query.order_by(rank.desc(), Alert.id.desc()).limit(limit))).all())


async def overdue_alerts(
    session: AsyncSession, *, before: datetime, severities: Sequence[str], limit: int = 500
) -> list[Alert]:
    """Open (never acknowledged) alerts of these severities opened before `before`."""
    query = (
        select(Alert)
        .where(Alert.status == AlertStatus.OPEN, Alert.severity.in_(list(severities)), Alert.created_at <= before)  # type: ignore[attr-defined]
        .order_by(Alert.id)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def grants_by_org(
    session: AsyncSession, *, org_ids: Iterable[int], statuses: Sequence[str]
) -> dict[int, list[tuple[Grant, str]]]:
    """For each org: its grants in `statuses` with their tier's name, soonest expiry first."""
    ids = sorted(set(org_ids))
    result: dict[int, list[tuple[Grant, str]]] = {org_id: [] for org_id in ids}
    if not ids:
        return result
    rows = (
        await session.execute(
            select(Grant, func.coalesce(Tier.name, Grant.tier_id))
            .outerjoin(Tier, Tier.id == Grant.tier_id)
            .where(Grant.org_id.in_(ids), Grant.status.in_(list(statuses)))  # type: ignore[attr-defined]
            .order_by(Grant.expires_at, Grant.id)
        )
    ).all()
    for grant, tier_name in rows:
        result[grant.org_id].append((grant, tier_name))
    return result


async def suspend_active_grants(session: AsyncSession, *, org_id: int, values: dict[str, Any]) -> list[int]:
    """Put every live grant of the org under a security suspension; return the ids this call changed.

    A grant already suspended for a weaker reason (missed re-verification, lapsed org
    verification) is included: its reason becomes `security_action`, so re-verifying it or a
    directory update can no longer lift what the security team imposed.
    """
    live = (Grant.status == GrantStatus.ACTIVE) | (
        (Grant.status == GrantStatus.SUSPENDED) & (Grant.suspended_reason != "security_action")
    )
    ids = list((await session.scalars(select(Grant.id).where(Grant.org_id == org_id, live))).all())
    if not ids:
        return []
    await session.execute(
        update(Grant)
        .where(Grant.id.in_(ids), live)  # type: ignore[union-attr]
        .values(status=GrantStatus.SUSPENDED, **values)
        .execution_options(synchronize_session=False)
    )
    return ids


# -- outbox rows that render alerts ----------------------------------------------------------


async def pending_renders(session: AsyncSession, *, keys: Sequence[str], now: datetime) -> dict[str, int]:
    """For each message key: the newest post/update row of it not yet claimed by delivery, locked for rewriting.

    A post carries its key in `save_as`, an edit in `message_key`. On PostgreSQL rows a worker is
    claiming right now are skipped (they count as sent), so the caller queues a fresh edit
    instead of rewriting one that is already on its way.
    """
    if not keys:
        return {}
    wanted = list(keys)
    key = func.coalesce(OutboxMessage.save_as, OutboxMessage.message_key)
    query = (
        select(OutboxMessage.id, key)
        .where(
            or_(
                and_(OutboxMessage.op == "post", OutboxMessage.save_as.in_(wanted)),  # type: ignore[union-attr]
                and_(OutboxMessage.op == "update", OutboxMessage.message_key.in_(wanted)),  # type: ignore[union-attr]
            ),
            OutboxMessage.status == OutboxStatus.PENDING,
            (OutboxMessage.lease_until.is_(None)) | (OutboxMessage.lease_until < now),  # type: ignore[union-attr]
        )
        .order_by(OutboxMessage.id)
    )
    if _dialect(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return {k: row_id for row_id, k in (await session.execute(query)).all()}


async def rewrite_payloads(session: AsyncSession, *, payloads: dict[int, dict[str, Any]]) -> None:
    """Replace the payload of pending outbox rows (locked by `pending_renders`) in one round trip."""
    if not payloads:
        return
    table = OutboxMessage.__table__  # type: ignore[attr-defined]
    stmt = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.status == OutboxStatus.PENDING)
        .values(payload=bindparam("b_payload"))
    )
    await session.execute(stmt, [{"b_id": row_id, "b_payload": payload} for row_id, payload in payloads.items()])


async def expedite(session: AsyncSession, *, row_ids: Sequence[int], at: datetime) -> None:
    """Make pending rows due no later than `at` (a person's click shows at once, not after the debounce)."""
    if row_ids:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(list(row_ids)), OutboxMessage.available_at > at)  # type: ignore[union-attr]
            .values(available_at=at)
            .execution_options(synchronize_session=False)
        )


async def channel_backlog(session: AsyncSession, *, channels: Iterable[str]) -> dict[str, tuple[int, int]]:
    """For each channel: (pending outbox rows, most attempts of a pending row Slack rate-limited)."""
    chans = sorted(set(channels))
    if not chans:
        return {}
    limited = case(
        (OutboxMessage.last_error.in_(["ratelimited", "message_limit_exceeded"]), OutboxMessage.attempts), else_=0
    )  # type: ignore[union-attr]
    rows = (
        await session.execute(
            select(OutboxMessage.channel, func.count(), func.max(limited))
            .where(OutboxMessage.channel.in_(chans), OutboxMessage.status == OutboxStatus.PENDING)  # type: ignore[attr-defined]
            .group_by(OutboxMessage.channel)
        )
    ).all()
    found = {channel: (int(count), int(worst or 0)) for channel, count, worst in rows}
    return {channel: found.get(channel, (0, 0)) for channel in chans}


async def held_back_alerts(session: AsyncSession, *, channel: str, limit: int | None = None) -> list[Alert]:
    """Alerts in `channel` whose changes the breaker held back, most severe then oldest first."""
    rank = case({"critical": 3, "high": 2, "medium": 1}, value=Alert.severity, else_=0)
    query = (
        select(Alert).where(Alert.channel == channel, Alert.render_pending.is_(True)).order_by(rank.desc(), Alert.id)
    )  # type: ignore[attr-defined]
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def channels_held_back(session: AsyncSession) -> list[str]:
    """Channels with alerts waiting for the breaker to close."""
    rows = await session.scalars(
        select(Alert.channel).where(Alert.render_pending.is_(True), Alert.channel.is_not(None)).distinct()
    )  # type: ignore[attr-defined,union-attr]
    return [c for c in rows.all() if c]


async def latest_summary_key(session: AsyncSession, *, channel: str) -> str | None:
    """The message key of the newest circuit-breaker summary queued for `channel`."""
    return await session.scalar(
        select(OutboxMessage.save_as)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.op == "post",
            OutboxMessage.save_as.like(f"alert-summary:{channel}:%"),
        )  # type: ignore[union-attr]
        .order_by(OutboxMessage.id.desc())
        .limit(1)  # type: ignore[union-attr]
    )


async def orgs_by_slugs(session: AsyncSession, *, slugs: Iterable[str]) -> dict[str, Org]:
    """The directory's orgs among `slugs`, keyed by slug (unknown slugs are simply absent)."""
    wanted = sorted(set(slugs))
    if not wanted:
        return {}
    rows = (await session.scalars(select(Org).where(Org.slug.in_(wanted)))).all()  # type: ignore[attr-defined]
    return {org.slug: org for org in rows}


async def held_back_counts(session: AsyncSession, *, channels: Iterable[str]) -> dict[str, int]:
    """For each channel: how many alerts wait for its breaker to close."""
    chans = sorted(set(channels))
    if not chans:
        return {}
    rows = (
        await session.execute(
            select(Alert.channel, func.count())
            .where(Alert.channel.in_(chans), Alert.render_pending.is_(True))  # type: ignore[union-attr,attr-defined]
            .group_by(Alert.channel)
        )
    ).all()
    found = {channel: int(count) for channel, count in rows}
    return {channel: found.get(channel, 0) for channel in chans}


MAX_REPOSTS = 3  # posts of one alert Slack may refuse before Trustbot stops trying (and says so)


async def reset_failed_posts(session: AsyncSession, *, fallback_channel: str | None) -> list[int]:
    """Queue alerts whose Slack post was given up on to be posted again; return the ids abandoned.

    The next try goes to the program's default security channel (the org's own channel may be
    gone or lack the bot), so an alert is not silently dropped; after `MAX_REPOSTS` refusals the
    alert is left for operators (the caller tells them) instead of being retried every minute forever.
    """
    failed = (
        select(OutboxMessage.save_as).where(
            OutboxMessage.op == "post",
            OutboxMessage.status == OutboxStatus.FAILED,
            OutboxMessage.save_as.like("alert:%"),
        )  # type: ignore[union-attr]
    )
    stuck = (
        await session.scalars(
            select(Alert).where(Alert.message_key.in_(failed), Alert.status.in_(ACTIVE_ALERT_STATUSES))  # type: ignore[union-attr,attr-defined]
        )
    ).all()
    abandoned: list[int] = []
    for alert in stuck:
        tries = (
            await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(
                    OutboxMessage.op == "post",
                    OutboxMessage.status == OutboxStatus.FAILED,
                    OutboxMessage.save_as.like(f"alert:{alert.id}:%"),
                )  # type: ignore[union-attr]
            )
            or 0
        )
        alert.message_key = None
        if tries >= MAX_REPOSTS:
            abandoned.append(alert.id or 0)
            continue
        alert.render_pending = True
        if fallback_channel:
            alert.channel = fallback_channel
    await session.flush()
    return abandoned
