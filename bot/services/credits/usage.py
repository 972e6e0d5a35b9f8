"""Credit usage: how usage records count against credit grants, and each grant's balance and burn.

The one rule every view shares (`/trust credits`, App Home, the credit jobs): a usage record
naming its credit grant counts against that grant. A record naming none counts against the org's
credit grant whose period (`starts` inclusive, `expires` exclusive, UTC days) covers it; where
several periods overlap, against the one expiring first (credits that lapse soonest are spent
first), so no record is ever counted twice.

Burn rate: USD per day attributed to the grant over the last 30 days, or since the grant started
when that is shorter; the projected exhaustion date divides what is left by it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.credits import CreditStatus
from trustbot.storage.queries.credits import usage_named, usage_unnamed
from trustbot.storage.queries.directory import orgs_by_ids
from trustbot.storage.tables import CreditGrant

BURN_WINDOW = timedelta(days=30)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _subtract(spans: list[tuple[date, date]], taken: tuple[date, date]) -> list[tuple[date, date]]:
    """Half-open day spans minus one span."""
    start, end = taken
    left = []
    for a, b in spans:
        if end <= a or start >= b:
            left.append((a, b))
            continue
        if a < start:
            left.append((a, start))
        if end < b:
            left.append((end, b))
    return left


async def credit_usage(
    session: AsyncSession, *, credit_grants: list[CreditGrant], since: dict[str, datetime] | None = None
) -> dict[str, Decimal]:
    """Used amount per credit grant id (attribution rules in the module docstring).

    `since` (grant id → moment) counts only records that occurred at or after it (burn rate).
    Attribution of unnamed records always considers all of the org's credit grants given.
    """
    if not credit_grants:
        return {}
    since = since or {}
    used: dict[str, Decimal] = {}
    if not since:
        used = await usage_named(session, credit_grant_ids=[g.id for g in credit_grants])
    else:
        for grant in credit_grants:
            named = await usage_named(session, credit_grant_ids=[grant.id], since=since.get(grant.id))
            if named.get(grant.id):
                used[grant.id] = named[grant.id]
    taken: dict[int, list[tuple[date, date]]] = {}
    for grant in sorted(credit_grants, key=lambda g: (g.org_id, g.expires, g.id)):  # soonest expiry claims first
        spans = [(grant.starts, grant.expires)] if grant.starts < grant.expires else []
        for earlier in taken.get(grant.org_id, []):
            spans = _subtract(spans, earlier)
        taken.setdefault(grant.org_id, []).append((grant.starts, grant.expires))
        for start, end in spans:
            lower = _midnight(start)
            if grant.id in since and since[grant.id] > lower:
                lower = since[grant.id]
            total = await usage_unnamed(session, org_id=grant.org_id, start=lower, end=_midnight(end))
            if total:
                used[grant.id] = used.get(grant.id, Decimal(0)) + Decimal(total)
    return used


async def credit_statuses(
    session: AsyncSession, *, credit_grants: list[CreditGrant], now: datetime
) -> list[CreditStatus]:
    """Usage, burn rate and projection of each credit grant (all of one org's grants should be passed together)."""
    if not credit_grants:
        return []
    orgs = await orgs_by_ids(session, org_ids={g.org_id for g in credit_grants})
    used = await credit_usage(session, credit_grants=credit_grants)
    window: dict[str, datetime] = {g.id: max(now - BURN_WINDOW, _midnight(g.starts)) for g in credit_grants}
    recent = await credit_usage(session, credit_grants=credit_grants, since=window)
    result = []
    for grant in credit_grants:
        days = Decimal(max((now - window[grant.id]).total_seconds(), 0)) / Decimal(86400)
        burn = (recent.get(grant.id, Decimal(0)) / days) if days >= 1 else recent.get(grant.id, Decimal(0))
        result.append(
            CreditStatus(
                credit=grant, org=orgs[grant.org_id], used=used.get(grant.id, Decimal(0)), burn_per_day=burn, now=now
            )
        )
    return result
