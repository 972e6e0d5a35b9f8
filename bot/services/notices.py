"""Once-only notices, and the plumbing the scheduled jobs share (directory snapshot, batches).

A once-only notice (reminder, warning) is sent by whoever inserts its key first.

The key row is written in the same transaction as the outbox rows of the notice, so a notice
is produced exactly once even when two replicas, or a scheduled run and `jobs run --now`, race:
`INSERT … ON CONFLICT DO NOTHING RETURNING key` tells each caller which keys it won.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.messages.lifecycle import GrantInfo
from bot.messages.text import Rendered
from bot.services import outbox
from bot.services.audit import record_audit
from storage.database import Database
from storage.queries.directory import get_directory_state, list_tiers, orgs_by_ids, orgs_with_roles
from storage.tables import Grant, Org, OutboxMessage, Role, SentNotice, Tier

log = logging.getLogger(__name__)
T = TypeVar("T")
JOB_ACTOR = "trustbot"  # the audit actor of scheduled changes

# Two bound parameters per row; stays under SQLite's 32766 and asyncpg's 32767 limits.
_CHUNK = 5000


async def claim_notices(session: AsyncSession, clock: Clock, keys: Iterable[str]) -> set[str]:
    """Insert every key not yet sent; return the keys this call claimed (and so must send)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    now = clock.now()
    won: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        rows = [{"key": key, "at": now} for key in wanted[start : start + _CHUNK]]
        statement = (
            insert(SentNotice).values(rows).on_conflict_do_nothing(index_elements=["key"]).returning(SentNotice.key)
        )
        won.update((await session.execute(statement)).scalars().all())
    return won


def days_until(when: datetime, now: datetime, tz: tzinfo) -> int:
    """Calendar days from today to `when`, in the display zone."""
    return (when.astimezone(tz).date() - now.astimezone(tz).date()).days


async def claim_countdown(
    session: AsyncSession,
    clock: Clock,
    items: Sequence[T],
    *,
    offsets: Sequence[int],
    days_left: Callable[[T], int],
    key: Callable[[T, int], str],
) -> list[T]:
    """The items whose most urgent countdown notice ("N days before") this call claimed.

    Every offset already reached is claimed in one statement, but only the most urgent is
    sent: a grant first seen 2 days before its date gets the 3-day notice, not 14 and 3.
    """
    applicable = {id(item): [d for d in offsets if days_left(item) <= d] for item in items}
    won = await claim_notices(session, clock, [key(item, d) for item in items for d in applicable[id(item)]])
    return [item for item in items if applicable[id(item)] and key(item, min(applicable[id(item)])) in won]


async def claim_notice(session: AsyncSession, clock: Clock, key: str) -> bool:
    """Claim one notice key; True when this call is the one that must send it."""
    return key in await claim_notices(session, clock, [key])


# ---------------------------------------------------------------- shared plumbing of the scheduled jobs


@dataclass(frozen=True)
class Snapshot:
    """The directory facts a job batch renders with, loaded in a constant number of queries."""

    orgs: dict[int, Org]
    people: dict[int, dict[Role, list[str]]]
    tiers: dict[str, Tier]
    reps_channel: str | None

    def admins(self, org_id: int) -> list[str]:
        """The org's enterprise admins."""
        return list(self.people.get(org_id, {}).get(Role.ADMIN, []))

    def rep(self, org_id: int) -> str | None:
        """The org's account rep, if any."""
        reps = self.people.get(org_id, {}).get(Role.REP, [])
        return reps[0] if reps else None

    def backup_reps(self, org_id: int) -> list[str]:
        """The org's backup reps."""
        return list(self.people.get(org_id, {}).get(Role.BACKUP_REP, []))

    def info(self, grant: Grant) -> GrantInfo:
        """The grant with its org and tier name, for messages."""
        tier = self.tiers.get(grant.tier_id)
        return GrantInfo(grant=grant, org=self.orgs[grant.org_id], tier_name=tier.name if tier else grant.tier_id)


async def load_snapshot(session: AsyncSession, *, org_ids: Iterable[int]) -> Snapshot:
    """Orgs, their people, every tier and the reps channel: four queries whatever the batch size."""
    ids = sorted(set(org_ids))
    state = await get_directory_state(session)
    return Snapshot(
        orgs=await orgs_by_ids(session, org_ids=ids),
        people=await orgs_with_roles(session, org_ids=ids),
        tiers={t.id: t for t in await list_tiers(session)},
        reps_channel=state.reps_channel,
    )


def tell_rep(
    session: AsyncSession, clock: Clock, snap: Snapshot, *, request_id: int, rep: str | None, rendered: Rendered
) -> None:
    """Post in the request's thread (the rendered text mentions the rep); DM the rep when no reps channel is set."""
    if snap.reps_channel:
        outbox.reply_in_thread(
            session,
            clock,
            channel=snap.reps_channel,
            parent_key=f"request:{request_id}",
            text=rendered.text,
            blocks=rendered.blocks,
        )
    elif rep:
        outbox.send_dm(session, clock, user=rep, text=rendered.text, blocks=rendered.blocks)


def dm_all(session: AsyncSession, clock: Clock, users: Iterable[str], rendered: Rendered) -> int:
    """DM each distinct user once; returns how many DMs were queued."""
    count = 0
    for user in dict.fromkeys(u for u in users if u):
        outbox.send_dm(session, clock, user=user, text=rendered.text, blocks=rendered.blocks)
        count += 1
    return count


async def run_batch(
    db: Database, items: Sequence[T], work: Callable[[AsyncSession, Sequence[T]], Awaitable[Counter[str]]], *, what: str
) -> Counter[str]:
    """Run `work` over all items in one transaction; if that fails, item by item, so one bad item stops nothing else.

    The batch path keeps statements constant per run; the fallback only runs after a failure.
    `work` must re-check each item inside its transaction (conditional updates, notice claims).
    """
    if not items:
        return Counter()
    try:
        async with db.transaction() as session:
            counts = await work(session, items)
            await flush_outbox(session)
            return counts
    except Exception:
        log.exception("%s: the batch of %d failed; retrying item by item", what, len(items))
    total: Counter[str] = Counter()
    for item in items:
        try:
            async with db.transaction() as session:
                total += await work(session, [item])
                await flush_outbox(session)
        except Exception:
            log.exception("%s: item %r failed; continuing with the rest", what, getattr(item, "id", item))
            total["failed"] += 1
    return total


def describe(counts: Counter[str], order: Sequence[str]) -> str:
    """`3 reminders, 1 suspended` from counts, in `order`, zeros left out (`nothing due` when empty)."""
    names = [n for n in order if counts.get(n)] + [n for n in sorted(counts) if n not in order and counts[n]]
    # Nouns are plural (`reminders`); `1 reminder` reads better. Participles (`suspended`) stay.
    return (
        ", ".join(f"{counts[n]} {n[:-1] if counts[n] == 1 and n.endswith('s') else n}" for n in names) or "nothing due"
    )


async def audit_grants(
    session: AsyncSession,
    clock: Clock,
    snap: Snapshot,
    *,
    action: str,
    grants: Sequence[Grant],
    details: dict[str, object],
) -> None:
    """One audit event per org listing the grants a job changed (statements grow with orgs, not grants)."""
    by_org: dict[int, list[int]] = {}
    for grant in grants:
        by_org.setdefault(grant.org_id, []).append(grant.id or 0)
    for org_id, ids in sorted(by_org.items()):
        org = snap.orgs.get(org_id)
        await record_audit(
            session,
            clock,
            actor=JOB_ACTOR,
            action=action,
            subject=f"org:{org.slug if org else org_id}",
            details={**details, "grants": sorted(ids)},
        )


async def flush_outbox(session: AsyncSession) -> None:
    """Flush the batch's new outbox rows as one multi-row INSERT instead of one INSERT per row.

    The ORM inserts rows whose ids the database generates one at a time on SQLite (it needs each
    id back, and SQLite cannot return them in order for a multi-row insert). Taking the ids up
    front — one statement — lets it send them together. SQLite: the transaction already holds the
    write lock (`BEGIN IMMEDIATE`), so `max(id)` cannot race. PostgreSQL: the serial sequence.
    """
    rows = [obj for obj in session.new if isinstance(obj, OutboxMessage) and obj.id is None]
    if len(rows) > 1:
        with session.no_autoflush:  # an autoflush here would insert them one by one after all
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                ids = list(
                    (
                        await session.execute(
                            text("SELECT nextval(pg_get_serial_sequence('outbox', 'id')) FROM generate_series(1, :n)"),
                            {"n": len(rows)},
                        )
                    ).scalars()
                )
            else:
                top = int(await session.scalar(select(func.coalesce(func.max(OutboxMessage.id), 0))) or 0)
                ids = list(range(top + 1, top + 1 + len(rows)))
        for row, new_id in zip(sorted(rows, key=lambda r: r.created_at), ids):
            row.id = int(new_id)
    await session.flush()
