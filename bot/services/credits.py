"""Grant-program API credits (DESIGN §2, §4.6, §4.7, §5): usage ingest, balances, notices, digest.

Credit usage (the one rule every view shares — `/trust credits`, App Home, the jobs): a usage
record naming its credit grant counts against that grant. A record naming none counts against
the org's credit grant whose period (`starts` inclusive, `expires` exclusive, UTC days) covers
it; where several periods overlap, against the one expiring first (credits that lapse soonest
are spent first), so no record is ever counted twice.

Burn rate: USD per day attributed to the grant over the last 30 days, or since the grant
started when that is shorter; the projected exhaustion date divides what is left by it.

`credit-usage` job: per live credit grant, each crossed threshold (`TRUSTBOT_CREDIT_THRESHOLDS`,
key `credit:{id}:pct:{n}`) and each expiry warning (`TRUSTBOT_CREDIT_EXPIRY_WARN_DAYS`, while
unused credit remains, key `credit:{id}:expiry:{n}`) is announced once, by DM to the org's
admins and rep, and audited. When several become due at once only the most urgent is sent
(highest threshold, nearest expiry); the others are claimed too, i.e. retired unsent.
`credit-digest` job: one message to the reps channel summarising every org's live credits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import credits as msg
from bot.messages.credits import CreditStatus
from bot.messages.text import Rendered
from bot.services import outbox
from bot.services.audit import record_audit
from bot.services.errors import NotAuthorized, NotFound, UnknownUser
from bot.services.ingest_fields import Timestamp, Token
from bot.services.notices import (
    JOB_ACTOR,
    Snapshot,
    claim_notice,
    claim_notices,
    describe,
    dm_all,
    load_snapshot,
    run_batch,
)
from bot.services.people import resolve_actor
from storage.database import Database
from storage.queries.directory import get_org, orgs_by_ids
from storage.tables import CreditGrant, Org, Role, UsageRecord

BURN_WINDOW = timedelta(days=30)


# -- the ingest contract (DESIGN §4.6) --------------------------------------------------------


def _amount(value: object) -> Decimal:
    # A JSON number only (no strings, no booleans), read exactly via its decimal text.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise ValueError("must be a number of US dollars")  # noqa: TRY004 (pydantic reports ValueError)
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("must be a number of US dollars") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    return amount


class UsageIn(BaseModel):
    """One usage record as the producer sends it; strict, unknown fields ignored."""

    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Annotated[Token, Field(min_length=1, max_length=128)]
    org: Annotated[Token, Field(min_length=1, max_length=64)]
    amount_usd: Annotated[Decimal, BeforeValidator(_amount), Field(gt=0, max_digits=14, decimal_places=4)]
    occurred_at: Timestamp
    credit_grant: Annotated[Token, Field(min_length=1, max_length=128)] | None = None


@dataclass(frozen=True)
class UsageResult:
    """What `POST /usage` answers."""

    accepted: int
    duplicates: int


class UsageRejected(Exception):
    """An item names something the directory does not know; nothing of the batch is stored."""

    def __init__(self, item: int, field: str, message: str) -> None:
        super().__init__(f"item {item}, field {field}: {message}")
        self.item, self.field, self.message = item, field, message


async def ingest_usage(session: AsyncSession, clock: Clock, items: Sequence[UsageIn]) -> UsageResult:
    """Store every new usage record; resent ids (stored earlier or earlier in the batch) are duplicates.

    Raises `UsageRejected` for an unknown org, or a credit grant that is not that org's.
    """
    slugs = sorted({i.org.lower() for i in items})
    orgs = {o.slug: o for o in (await session.scalars(select(Org).where(Org.slug.in_(slugs)))).all()}  # type: ignore[attr-defined]
    named = sorted({i.credit_grant for i in items if i.credit_grant})
    grants = (
        {g.id: g for g in (await session.scalars(select(CreditGrant).where(CreditGrant.id.in_(named)))).all()}
        if named
        else {}
    )  # type: ignore[attr-defined]
    for index, item in enumerate(items):
        org = orgs.get(item.org.lower())
        if org is None:
            raise UsageRejected(index, "org", f"unknown org `{item.org}`")
        if item.credit_grant is not None:
            grant = grants.get(item.credit_grant)
            if grant is None or grant.org_id != org.id:
                raise UsageRejected(
                    index, "credit_grant", f"unknown credit grant `{item.credit_grant}` for org `{item.org}`"
                )
    ids = [i.id for i in items]
    stored = set((await session.scalars(select(UsageRecord.id).where(UsageRecord.id.in_(ids)))).all()) if ids else set()  # type: ignore[attr-defined]
    now = clock.now()
    accepted = 0
    for item in items:
        if item.id in stored:
            continue
        stored.add(item.id)
        session.add(
            UsageRecord(
                id=item.id,
                org_id=orgs[item.org.lower()].id,
                credit_grant_id=item.credit_grant,
                amount_usd=item.amount_usd,
                occurred_at=item.occurred_at,
                received_at=now,
            )
        )
        accepted += 1
    await session.flush()
    return UsageResult(accepted, len(items) - accepted)


# -- usage attribution (shared with App Home) -------------------------------------------------


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
        rows = (
            await session.execute(
                select(UsageRecord.credit_grant_id, func.sum(UsageRecord.amount_usd))
                .where(UsageRecord.credit_grant_id.in_([g.id for g in credit_grants]))  # type: ignore[union-attr]
                .group_by(UsageRecord.credit_grant_id)
            )
        ).all()
        used = {gid: Decimal(total or 0) for gid, total in rows}
    else:
        for grant in credit_grants:
            query = select(func.sum(UsageRecord.amount_usd)).where(UsageRecord.credit_grant_id == grant.id)
            if grant.id in since:
                query = query.where(UsageRecord.occurred_at >= since[grant.id])
            total = await session.scalar(query)
            if total:
                used[grant.id] = Decimal(total)
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
            total = await session.scalar(
                select(func.sum(UsageRecord.amount_usd)).where(
                    UsageRecord.org_id == grant.org_id,
                    UsageRecord.credit_grant_id.is_(None),  # type: ignore[union-attr]
                    UsageRecord.occurred_at >= lower,
                    UsageRecord.occurred_at < _midnight(end),
                )
            )
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


async def _grants(session: AsyncSession, *, org_ids: list[int] | None) -> list[CreditGrant]:
    query = select(CreditGrant).order_by(CreditGrant.org_id, CreditGrant.expires, CreditGrant.id)
    if org_ids is not None:
        query = query.where(CreditGrant.org_id.in_(org_ids))  # type: ignore[attr-defined]
    return list((await session.scalars(query)).all())


# -- /trust credits [org] ---------------------------------------------------------------------


async def show_credits(
    session: AsyncSession, clock: Clock, settings: Settings, *, user_id: str, org_slug: str | None
) -> Rendered:
    """`/trust credits [org]`: admins and reps see their orgs', operators any org's."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(settings.operators))
    if not actor.is_known:
        raise UnknownUser("You're not in the Trustbot directory, so I can't show credits.")
    allowed = (Role.ADMIN, Role.REP, Role.BACKUP_REP, Role.SECURITY_LEAD)
    if org_slug:
        org = await get_org(session, slug=org_slug.lower())
        if org is None or org.id is None:
            raise NotFound(f"There is no org `{msg.clean(org_slug, 64)}`.")
        if not (actor.is_operator or actor.has_role(org.id, *allowed)):
            raise NotAuthorized(f"Only {org.name}'s admins, reps, security leads or operators can see its credits.")
        org_ids: list[int] | None = [org.id]
        title = f"Credits of {org.name}"
    elif actor.is_operator:
        org_ids, title = None, "Credits, all orgs"
    else:
        org_ids, title = actor.org_ids(*allowed), "Credits of your orgs"
        if not org_ids:
            raise NotAuthorized("Only enterprise admins, reps, security leads and operators can see credits.")
    statuses = await credit_statuses(session, credit_grants=await _grants(session, org_ids=org_ids), now=clock.now())
    return msg.build_credit_list(statuses, title, settings.tz)


# -- jobs -------------------------------------------------------------------------------------


def _most_urgent(due: dict[int, str], won: set[str], *, highest: bool) -> int | None:
    """The step to announce: the most urgent due one, if this run claimed it."""
    if not due:
        return None
    step = max(due) if highest else min(due)
    return step if due[step] in won else None


async def _announce(
    session: AsyncSession, clock: Clock, settings: Settings, statuses: Sequence[CreditStatus]
) -> Counter[str]:
    counts: Counter[str] = Counter()
    if not statuses:
        return counts
    snap: Snapshot = await load_snapshot(session, org_ids={s.org.id for s in statuses if s.org.id is not None})
    for status in statuses:
        gid = status.credit.id
        pct = {n: f"credit:{gid}:pct:{n}" for n in settings.credit_thresholds if status.percent_used >= n}
        days_left = status.days_to_expiry
        expiry = (
            {n: f"credit:{gid}:expiry:{n}" for n in settings.credit_expiry_warn_days if 0 < days_left <= n}
            if status.remaining > 0
            else {}
        )
        won = await claim_notices(session, clock, [*pct.values(), *expiry.values()])
        if not won:
            continue
        org_id = status.org.id or 0
        people = [*snap.admins(org_id), snap.rep(org_id) or ""]
        threshold = _most_urgent(pct, won, highest=True)
        if threshold is not None:
            dm_all(session, clock, people, msg.build_threshold_notice(status, threshold, settings.tz))
            await record_audit(
                session,
                clock,
                actor=JOB_ACTOR,
                action="credit.threshold",
                subject=f"credit:{gid}",
                details={
                    "org": status.org.slug,
                    "threshold": threshold,
                    "used_usd": str(status.used),
                    "retired": sorted(n for n, k in pct.items() if k in won and n != threshold),
                },
            )
            counts["threshold notices"] += 1
        warn = _most_urgent(expiry, won, highest=False)
        if warn is not None:
            dm_all(session, clock, people, msg.build_expiry_notice(status, days_left, settings.tz))
            await record_audit(
                session,
                clock,
                actor=JOB_ACTOR,
                action="credit.expiry_warning",
                subject=f"credit:{gid}",
                details={
                    "org": status.org.slug,
                    "days": warn,
                    "remaining_usd": str(status.remaining),
                    "retired": sorted(n for n, k in expiry.items() if k in won and n != warn),
                },
            )
            counts["expiry warnings"] += 1
    return counts


async def run_credit_usage(db: Database, clock: Clock, settings: Settings) -> str:
    """The `credit-usage` job: threshold and expiry notices, each once."""
    now = clock.now()
    async with db.sessions() as session:
        live = [g for g in await _grants(session, org_ids=None) if g.expires > now.date()]
        org_ids = sorted({g.org_id for g in live})
    counts: Counter[str] = Counter()
    for org_id in org_ids:  # one org at a time: attribution needs all of an org's grants

        async def work(session: AsyncSession, items: Sequence[CreditGrant]) -> Counter[str]:
            all_of_org = await _grants(session, org_ids=[items[0].org_id])
            wanted = {g.id for g in items}
            statuses = [
                s for s in await credit_statuses(session, credit_grants=all_of_org, now=now) if s.credit.id in wanted
            ]
            return await _announce(session, clock, settings, statuses)

        counts += await run_batch(db, [g for g in live if g.org_id == org_id], work, what="credit-usage")
    return describe(counts, ["threshold notices", "expiry warnings"])


async def run_credit_digest(db: Database, clock: Clock, settings: Settings) -> str:
    """The `credit-digest` job: one summary of every org's live credits to the reps channel."""
    now = clock.now()
    async with db.transaction() as session:
        snap = await load_snapshot(session, org_ids=[])
        if not snap.reps_channel:
            return "no reps channel configured"
        grants = await _grants(session, org_ids=None)
        statuses = [s for s in await credit_statuses(session, credit_grants=grants, now=now) if not s.lapsed]
        week = now.astimezone(settings.tz).isocalendar()
        key = f"credit-digest:{week.year}-W{week.week:02d}"
        if not await claim_notice(session, clock, key):
            return "digest already sent this week"
        rendered = msg.build_digest(statuses, now, settings.tz)
        outbox.post_message(
            session, clock, channel=snap.reps_channel, key=key, text=rendered.text, blocks=rendered.blocks
        )
        await record_audit(
            session,
            clock,
            actor=JOB_ACTOR,
            action="credit.digest",
            subject=f"channel:{snap.reps_channel}",
            details={"credit_grants": len(statuses)},
        )
    return f"digest of {len(statuses)} credit grant{'s' if len(statuses) != 1 else ''} posted"


__all__: list[Any] = [
    "CreditStatus",
    "UsageIn",
    "UsageRejected",
    "UsageResult",
    "credit_statuses",
    "credit_usage",
    "ingest_usage",
    "run_credit_digest",
    "run_credit_usage",
    "show_credits",
]
