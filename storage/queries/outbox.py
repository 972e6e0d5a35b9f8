"""Queries over the outbox and the Slack coordinates of sent messages. Keyword-only, never commit.

Claims are conditional: a row is taken only while it is pending and its lease has lapsed, so two
workers (processes or replicas) never hold the same row; settling a row checks `claimed_by`, so a
worker whose lease expired cannot overwrite the verdict of the one that took over.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, case, func, inspect, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from trustbot.storage.queries.dialect import dialect_of, upsert
from trustbot.storage.tables import OutboxMessage, OutboxOp, OutboxStatus, SlackMessage, Workspace, WorkspaceStatus


def _same_lane(other: type[OutboxMessage]) -> ColumnElement[bool]:
    """`other` is in the lane of the outer row: the same channel of the same workspace."""
    return and_(
        col(other.channel) == col(OutboxMessage.channel),
        func.coalesce(other.workspace, "") == func.coalesce(OutboxMessage.workspace, ""),
    )


def _sendable() -> ColumnElement[bool]:
    """The row is for the home workspace, or for an installation that is active (others' rows are held)."""
    active = select(col(Workspace.key)).where(col(Workspace.status) == WorkspaceStatus.ACTIVE)
    return or_(col(OutboxMessage.workspace).is_(None), col(OutboxMessage.workspace).in_(active))


def _unleased(now: datetime) -> ColumnElement[bool]:
    return or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)


async def count_due(session: AsyncSession, *, until: datetime) -> int:
    """Pending rows due at or before `until` (held workspaces' rows not counted: nothing can send them)."""
    query = select(func.count()).where(
        col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.available_at) <= until, _sendable()
    )
    return int(await session.scalar(query) or 0)


async def pending_by_op(session: AsyncSession) -> dict[str, int]:
    """Pending rows (due or not) for each op: the backlog, one cheap COUNT per op."""
    query = (
        select(col(OutboxMessage.op), func.count())
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING)
        .group_by(col(OutboxMessage.op))
    )
    return {op: int(n) for op, n in (await session.execute(query)).all()}


async def lane_heads(session: AsyncSession, *, now: datetime, limit: int) -> list[OutboxMessage]:
    """The oldest due pending row of each lane not busy sending, oldest lanes first; in a lane several
    parties share (`share`), the oldest of each party's rows.

    A debounced edit waiting for its time must not hold up other messages in its lane, so the
    head is the oldest *due* row. A post, reply or DM backing off after a failure does hold its
    lane (its party's rows, in a shared lane): every replica (and a restarted process) sees that
    in the table, so none sends a later message first. A lane with a row claimed right now (its
    lease running) is busy: one row of a lane is out at a time, across replicas. On PostgreSQL
    heads another replica is claiming right now are skipped, not waited for. A lane is a channel of
    one workspace; rows of a customer workspace whose installation is not active are held (not
    claimed, so neither given up nor retried) until it is installed again.
    """
    waiting = aliased(OutboxMessage)
    party = func.coalesce(OutboxMessage.share, "")
    held = (
        select(col(waiting.id))
        .where(
            _same_lane(waiting),
            func.coalesce(waiting.share, "") == party,
            col(waiting.status) == OutboxStatus.PENDING,
            col(waiting.op) != OutboxOp.UPDATE,
            col(waiting.available_at) > now,
            col(waiting.id) < col(OutboxMessage.id),
        )
        .exists()
    )
    sending = aliased(OutboxMessage)
    busy = (
        select(col(sending.id))
        .where(
            _same_lane(sending),
            col(sending.status) == OutboxStatus.PENDING,
            col(sending.lease_until) >= now,
        )
        .exists()
    )
    heads = (
        select(func.min(OutboxMessage.id))
        .where(col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.available_at) <= now)
        .group_by(func.coalesce(OutboxMessage.workspace, ""), col(OutboxMessage.channel), party)
    )
    query = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(heads), ~held, ~busy, _sendable())
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    )
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list((await session.scalars(query)).all())


async def claim(
    session: AsyncSession, *, row_id: int, worker: str, now: datetime, lease_until: datetime, posts: bool
) -> bool:
    """Take a pending, unleased row for `worker` and count the attempt; True when this call won.

    A post is in doubt from now until its outcome is known (`doubt_since`, kept if already set), so
    a worker that dies holding it leaves a row the next attempt looks for before posting again.
    """
    values: dict[str, Any] = {
        "claimed_by": worker,
        "lease_until": lease_until,
        "attempts": col(OutboxMessage.attempts) + 1,
    }
    if posts:
        values["doubt_since"] = func.coalesce(OutboxMessage.doubt_since, now)
    result = await session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == row_id, col(OutboxMessage.status) == OutboxStatus.PENDING, _unleased(now))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def newest_pending_updates(session: AsyncSession, *, keys: Sequence[str]) -> dict[str, int]:
    """For each message key: the id of its newest pending edit."""
    if not keys:
        return {}
    rows = await session.execute(
        select(col(OutboxMessage.message_key), func.max(OutboxMessage.id))
        .where(
            col(OutboxMessage.op) == OutboxOp.UPDATE,
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.message_key).in_(list(keys)),
        )
        .group_by(col(OutboxMessage.message_key))
    )
    return {str(key): row_id for key, row_id in rows.all() if row_id is not None}


async def supersede(session: AsyncSession, *, row_ids: Sequence[int], now: datetime) -> None:
    """Retire pending, unleased edits that a newer edit of the same message replaces."""
    if row_ids:
        await session.execute(
            update(OutboxMessage)
            .where(
                col(OutboxMessage.id).in_(list(row_ids)),
                col(OutboxMessage.status) == OutboxStatus.PENDING,
                _unleased(now),
            )
            .values(status=OutboxStatus.SUPERSEDED)
        )


async def coordinates(session: AsyncSession, *, key: str) -> tuple[str, str] | None:
    """(channel, ts) of the message saved as `key`, if it was posted."""
    message = await session.get(SlackMessage, key)
    return (message.channel, message.ts) if message else None


async def first_post_status(session: AsyncSession, *, key: str) -> str | None:
    """Status of the first row that posts the message saved as `key` (None: there is none)."""
    query = (
        select(col(OutboxMessage.status))
        .where(col(OutboxMessage.save_as) == key)
        .order_by(col(OutboxMessage.id))
        .limit(1)
    )
    return await session.scalar(query)


def _mine(row_id: int, worker: str) -> ColumnElement[bool]:
    return and_(col(OutboxMessage.id) == row_id, col(OutboxMessage.claimed_by) == worker)


async def renew_lease(session: AsyncSession, *, row_id: int, worker: str, lease_until: datetime) -> bool:
    """Extend the lease `worker` holds on a pending row; False when another worker has claimed it since."""
    result = await session.execute(
        update(OutboxMessage)
        .where(_mine(row_id, worker), col(OutboxMessage.status) == OutboxStatus.PENDING)
        .values(lease_until=lease_until)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


async def mark_sent(session: AsyncSession, *, row_id: int, worker: str, at: datetime) -> None:
    """Record a delivery made by `worker`."""
    await session.execute(
        update(OutboxMessage)
        .where(_mine(row_id, worker))
        .values(status=OutboxStatus.SENT, sent_at=at, lease_until=None, last_error=None, doubt_since=None)
    )


async def mark_failed(session: AsyncSession, *, row_id: int, worker: str, error: str) -> None:
    """Give up on a row `worker` holds."""
    await session.execute(
        update(OutboxMessage)
        .where(_mine(row_id, worker))
        .values(status=OutboxStatus.FAILED, lease_until=None, last_error=error[:500])
    )


async def reschedule(
    session: AsyncSession,
    *,
    row_id: int,
    worker: str,
    until: datetime,
    error: str,
    attempts: int,
    doubt_since: datetime | None,
) -> None:
    """Release a row `worker` holds for another try at `until`, in doubt since `doubt_since` (None: settled)."""
    await session.execute(
        update(OutboxMessage)
        .where(_mine(row_id, worker))
        .values(
            available_at=until, lease_until=None, last_error=error[:500], attempts=attempts, doubt_since=doubt_since
        )
    )


async def hold_lane(session: AsyncSession, *, channel: str, workspace: str | None, until: datetime) -> None:
    """Make every pending row of a lane wait until `until` (Slack's rate limits are per workspace and channel)."""
    await session.execute(
        update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            func.coalesce(OutboxMessage.workspace, "") == (workspace or ""),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            col(OutboxMessage.available_at) < until,
        )
        .values(available_at=until)
        .execution_options(synchronize_session=False)
    )


async def save_coordinates(session: AsyncSession, *, key: str, channel: str, ts: str) -> None:
    """Remember where the message saved as `key` lives (the newest post wins)."""
    statement = upsert(session, SlackMessage).values(key=key, channel=channel, ts=ts)
    await session.execute(statement.on_conflict_do_update(index_elements=["key"], set_={"channel": channel, "ts": ts}))


async def assign_ids(session: AsyncSession, rows: Sequence[OutboxMessage]) -> None:
    """Give new rows their ids in one statement, so the flush sends them as one multi-row INSERT.

    The ORM inserts rows whose ids the database generates one at a time on SQLite (it needs each
    id back). SQLite: the transaction already holds the write lock (`BEGIN IMMEDIATE`), so
    `max(id)` cannot race. PostgreSQL: the serial sequence.
    """
    if len(rows) < 2:
        return
    with session.no_autoflush:  # an autoflush here would insert them one by one after all
        if dialect_of(session) == "postgresql":
            sequence = text("SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, :n)")
            ids = [int(i) for i in (await session.execute(sequence, {"n": len(rows)})).scalars()]
        else:
            top = int(await session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)
            ids = list(range(top + 1, top + 1 + len(rows)))
    for row, new_id in zip(sorted(rows, key=lambda r: r.created_at), ids, strict=True):
        row.id = new_id


# -- rows that render a message that may be re-rendered -----------------------------------------


async def pending_renders(session: AsyncSession, *, keys: Sequence[str], now: datetime) -> dict[str, int]:
    """For each message key: the newest post/update row of it not yet claimed, locked for rewriting.

    A post carries its key in `save_as`, an edit in `message_key`. On PostgreSQL rows a worker is
    claiming right now are skipped (they count as sent), so the caller queues a fresh edit
    instead of rewriting one that is already on its way.
    """
    if not keys:
        return {}
    wanted = list(keys)
    key = func.coalesce(OutboxMessage.save_as, OutboxMessage.message_key)
    query = (
        select(col(OutboxMessage.id), key)
        .where(
            or_(
                and_(col(OutboxMessage.op) == OutboxOp.POST, col(OutboxMessage.save_as).in_(wanted)),
                and_(col(OutboxMessage.op) == OutboxOp.UPDATE, col(OutboxMessage.message_key).in_(wanted)),
            ),
            col(OutboxMessage.status) == OutboxStatus.PENDING,
            _unleased(now),
        )
        .order_by(col(OutboxMessage.id))
    )
    if dialect_of(session) == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return {str(k): row_id for row_id, k in (await session.execute(query)).all() if row_id is not None}


async def rewrite_payloads(session: AsyncSession, *, payloads: dict[int, dict[str, Any]]) -> None:
    """Replace the payload of pending rows (locked by `pending_renders`) in one round trip."""
    if not payloads:
        return
    # The Core table: an executemany of one UPDATE, without the ORM's per-row bookkeeping.
    table = cast(Table, inspect(OutboxMessage).local_table)
    statement = (
        table.update()
        .where(table.c.id == bindparam("b_id"), table.c.status == OutboxStatus.PENDING)
        .values(payload=bindparam("b_payload"))
    )
    await session.execute(statement, [{"b_id": row_id, "b_payload": payload} for row_id, payload in payloads.items()])


async def expedite(session: AsyncSession, *, row_ids: Sequence[int], at: datetime) -> None:
    """Make pending rows due no later than `at` (a person's click shows at once, not after a debounce)."""
    if row_ids:
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id).in_(list(row_ids)), col(OutboxMessage.available_at) > at)
            .values(available_at=at)
            .execution_options(synchronize_session=False)
        )


async def channel_backlog(
    session: AsyncSession, *, channels: Iterable[str], rate_limit_errors: Iterable[str]
) -> dict[str, tuple[int, int]]:
    """For each channel: (pending rows, most attempts of a pending row Slack rate-limited, by those error codes)."""
    chans = sorted(set(channels))
    if not chans:
        return {}
    limited = case((col(OutboxMessage.last_error).in_(sorted(rate_limit_errors)), col(OutboxMessage.attempts)), else_=0)
    rows = await session.execute(
        select(col(OutboxMessage.channel), func.count(), func.max(limited))
        .where(col(OutboxMessage.channel).in_(chans), col(OutboxMessage.status) == OutboxStatus.PENDING)
        .group_by(col(OutboxMessage.channel))
    )
    found = {str(channel): (int(count), int(worst or 0)) for channel, count, worst in rows.all()}
    return {channel: found.get(channel, (0, 0)) for channel in chans}


async def latest_post_key(session: AsyncSession, *, channel: str, prefix: str) -> str | None:
    """The key of the newest post queued in `channel` whose key starts with `prefix`."""
    query = (
        select(col(OutboxMessage.save_as))
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.op) == OutboxOp.POST,
            col(OutboxMessage.save_as).startswith(prefix, autoescape=True),
        )
        .order_by(col(OutboxMessage.id).desc())
        .limit(1)
    )
    return await session.scalar(query)


async def held_by_workspace(session: AsyncSession) -> dict[str, int]:
    """Pending rows of each customer workspace whose installation is not active (they wait for a reinstall)."""
    query = (
        select(col(OutboxMessage.workspace), func.count())
        .where(
            col(OutboxMessage.status) == OutboxStatus.PENDING, col(OutboxMessage.workspace).is_not(None), ~_sendable()
        )
        .group_by(col(OutboxMessage.workspace))
    )
    return {str(key): int(n) for key, n in (await session.execute(query)).all()}
