"""Queries over alerts and their occurrences. Keyword-only, async, never commit.

Ingest is set-based: every function takes the whole batch and costs one round trip, whatever
the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.dialect import Lock, take_lock, upsert
from trustbot.storage.tables import (
    ACTIVE_ALERTS,
    SEVERITY_RANK,
    Alert,
    AlertOccurrence,
    AlertStatus,
    OutboxMessage,
    OutboxStatus,
)

MAX_REPOSTS = 3  # posts of one alert Slack may refuse before Trustbot stops trying (and says so)


def _severity_rank() -> ColumnElement[int]:
    return case({str(severity): rank for severity, rank in SEVERITY_RANK.items()}, value=col(Alert.severity), else_=0)


async def lock_ingest(session: AsyncSession) -> None:
    """Serialise ingest transactions: two batches with the same new fingerprint must not both open an alert."""
    await take_lock(session, Lock.INGEST)


async def existing_event_ids(session: AsyncSession, *, event_ids: Sequence[str]) -> set[str]:
    """The producer ids among `event_ids` already stored (a resent id is a duplicate)."""
    if not event_ids:
        return set()
    query = select(col(AlertOccurrence.event_id)).where(col(AlertOccurrence.event_id).in_(list(event_ids)))
    return set((await session.scalars(query)).all())


async def open_alerts_by_fingerprint(
    session: AsyncSession, *, fingerprints: Iterable[tuple[str, str]], since: datetime, now: datetime | None = None
) -> dict[tuple[str, str], Alert]:
    """The newest active alert per (org slug, fingerprint) that saw activity at or after `since`,
    or is snoozed past `now` (a snoozed alert keeps grouping its repeats however sparse they are)."""
    wanted = set(fingerprints)
    if not wanted:
        return {}
    recent = col(Alert.updated_at) >= since
    if now is not None:
        recent = recent | (col(Alert.snoozed_until) > now)
    query = (
        select(Alert)
        .where(
            col(Alert.fingerprint).in_(sorted({fp for _, fp in wanted})),
            col(Alert.status).in_(ACTIVE_ALERTS),
            recent,
        )
        .order_by(col(Alert.id))
    )
    found: dict[tuple[str, str], Alert] = {}
    for alert in (await session.scalars(query)).all():
        key = (alert.org_slug, alert.fingerprint)
        if key in wanted:
            found[key] = alert  # ascending ids: the newest wins
    return found


async def insert_occurrences(session: AsyncSession, *, rows: list[dict[str, Any]]) -> None:
    """Bulk insert occurrences; an id stored meanwhile is skipped, never a second row."""
    if rows:
        # The Core table, not the ORM class: an executemany without the ORM bulk-insert bookkeeping.
        table = inspect(AlertOccurrence).local_table
        statement = upsert(session, table).on_conflict_do_nothing(index_elements=["event_id"])
        await session.execute(statement, rows)


async def get_alert(session: AsyncSession, *, alert_id: int) -> Alert | None:
    """One alert by id, re-read fresh."""
    query = select(Alert).where(col(Alert.id) == alert_id).execution_options(populate_existing=True)
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
    query = update(Alert).where(col(Alert.id) == alert_id, col(Alert.status).in_(list(from_statuses)))
    if unsuspended:
        query = query.where(col(Alert.suspended_by).is_(None))
    result = await session.execute(query.values(**values).execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0) == 1)


async def take_ownership(session: AsyncSession, *, alert_id: int, user_id: str) -> None:
    """Acting on an open or escalated alert acknowledges it; its owner stays whoever acknowledged first."""
    await transition_alert(
        session,
        alert_id=alert_id,
        from_statuses=(AlertStatus.OPEN, AlertStatus.ESCALATED),
        values={"status": AlertStatus.ACKNOWLEDGED, "owner": func.coalesce(Alert.owner, user_id)},
    )


def _in_scope(org_ids: Iterable[int] | None, include_unknown: bool) -> ColumnElement[bool] | None:
    """Alerts of these orgs (None: every org), plus those of unknown orgs when asked; None: nothing."""
    active = col(Alert.status).in_(ACTIVE_ALERTS)
    if org_ids is None:
        return active
    ids = sorted(set(org_ids))
    scope = [col(Alert.org_id).in_(ids)] if ids else []
    if include_unknown:
        scope.append(col(Alert.org_id).is_(None))
    if not scope:
        return None
    return active & (scope[0] | scope[1] if len(scope) == 2 else scope[0])


async def list_active_alerts(
    session: AsyncSession, *, org_ids: Iterable[int] | None, include_unknown: bool, limit: int = 200
) -> list[Alert]:
    """Active alerts (any severity), most severe then newest first; None org_ids means every org."""
    where = _in_scope(org_ids, include_unknown)
    if where is None:
        return []
    query = select(Alert).where(where).order_by(_severity_rank().desc(), col(Alert.id).desc()).limit(limit)
    return list((await session.scalars(query)).all())


async def count_active_alerts(session: AsyncSession, *, org_ids: Iterable[int] | None, include_unknown: bool) -> int:
    """How many alerts `list_active_alerts` would list without its limit."""
    where = _in_scope(org_ids, include_unknown)
    if where is None:
        return 0
    return int(await session.scalar(select(func.count()).select_from(Alert).where(where)) or 0)


async def overdue_alerts(
    session: AsyncSession, *, before: datetime, severities: Sequence[str], now: datetime, limit: int = 500
) -> list[Alert]:
    """Open (unacknowledged) alerts of these severities opened before `before` and not snoozed at `now`."""
    query = (
        select(Alert)
        .where(
            col(Alert.status) == AlertStatus.OPEN,
            col(Alert.severity).in_(list(severities)),
            col(Alert.created_at) <= before,
            col(Alert.snoozed_until).is_(None) | (col(Alert.snoozed_until) <= now),
        )
        .order_by(col(Alert.id))
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def ended_snoozes(session: AsyncSession, *, now: datetime, limit: int = 500) -> list[Alert]:
    """Alerts whose snooze ran out at or before `now` (still marked snoozed), oldest snooze first."""
    query = (
        select(Alert)
        .where(col(Alert.snoozed_until).is_not(None), col(Alert.snoozed_until) <= now)
        .order_by(col(Alert.snoozed_until), col(Alert.id))
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def clear_snooze(session: AsyncSession, *, alert_id: int, until: datetime) -> bool:
    """Unmark the snooze that ends at `until` (not a newer one set meanwhile); True when this call did."""
    query = (
        update(Alert)
        .where(col(Alert.id) == alert_id, col(Alert.snoozed_until) == until)
        .values(snoozed_until=None)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(query)
    return bool(getattr(result, "rowcount", 0) == 1)


async def held_back_alerts(session: AsyncSession, *, channel: str, limit: int | None = None) -> list[Alert]:
    """Alerts in `channel` whose changes the breaker held back, most severe then oldest first."""
    query = (
        select(Alert)
        .where(col(Alert.channel) == channel, col(Alert.render_pending).is_(True))
        .order_by(_severity_rank().desc(), col(Alert.id))
    )
    if limit is not None:
        query = query.limit(limit)
    return list((await session.scalars(query)).all())


async def channels_held_back(session: AsyncSession) -> list[str]:
    """Channels with alerts waiting for the breaker to close."""
    query = select(col(Alert.channel)).where(col(Alert.render_pending).is_(True), col(Alert.channel).is_not(None))
    return [c for c in (await session.scalars(query.distinct())).all() if c]


async def held_back_counts(session: AsyncSession, *, channels: Iterable[str]) -> dict[str, int]:
    """For each channel: how many alerts wait for its breaker to close."""
    chans = sorted(set(channels))
    if not chans:
        return {}
    query = (
        select(col(Alert.channel), func.count())
        .where(col(Alert.channel).in_(chans), col(Alert.render_pending).is_(True))
        .group_by(col(Alert.channel))
    )
    found = {str(channel): int(count) for channel, count in (await session.execute(query)).all()}
    return {channel: found.get(channel, 0) for channel in chans}


def _failed_posts(key_pattern: str) -> ColumnElement[bool]:
    return (
        (col(OutboxMessage.op) == "post")
        & (col(OutboxMessage.status) == OutboxStatus.FAILED)
        & col(OutboxMessage.save_as).like(key_pattern)
    )


async def reset_failed_posts(session: AsyncSession, *, fallback_channel: str | None) -> list[int]:
    """Queue alerts whose Slack post was given up on to be posted again; return the ids abandoned.

    The next try goes to the program's default security channel (the org's own channel may be
    gone or lack the bot), so an alert is not silently dropped; after `MAX_REPOSTS` refusals the
    alert is left for operators (the caller tells them) instead of being retried every minute forever.
    """
    failed = select(col(OutboxMessage.save_as)).where(_failed_posts("alert:%"))
    query = select(Alert).where(col(Alert.message_key).in_(failed), col(Alert.status).in_(ACTIVE_ALERTS))
    abandoned: list[int] = []
    for alert in (await session.scalars(query)).all():
        reposts = select(func.count()).select_from(OutboxMessage).where(_failed_posts(f"alert:{alert.pk}:%"))
        alert.message_key = None
        if int(await session.scalar(reposts) or 0) >= MAX_REPOSTS:
            abandoned.append(alert.pk)
            continue
        alert.render_pending = True
        if fallback_channel:
            alert.channel = fallback_channel
    await session.flush()
    return abandoned


async def alert_by_message_key(session: AsyncSession, *, key: str) -> Alert | None:
    """The alert whose channel message is (or was to be) saved under `key`."""
    return (await session.scalars(select(Alert).where(col(Alert.message_key) == key))).first()
