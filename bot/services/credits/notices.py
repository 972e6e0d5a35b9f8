"""What the credit jobs announce: usage thresholds and unused-credit expiry, once each, and the digest.

`credit-usage`: per live credit grant, each crossed threshold (`TRUSTBOT_CREDIT_THRESHOLDS`, key
`credit:{id}:pct:{n}`) and each expiry warning (`TRUSTBOT_CREDIT_EXPIRY_WARN_DAYS`, while unused
credit remains, key `credit:{id}:expiry:{n}`) is announced once, by DM to the org's admins and
rep, and audited. When several become due at once only the most urgent is sent (highest
threshold, nearest expiry); the others are claimed too, i.e. retired unsent.
`credit-digest`: one message to the reps channel summarising every org's live credits.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import credits as msg
from trustbot.messages.text import Rendered
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.credits.usage import credit_statuses
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.installs.routing import workspace_of_org_id
from trustbot.services.notices import claim_notice, claim_notices
from trustbot.storage.queries.directory import credit_grants_of
from trustbot.storage.tables import CreditGrant


@dataclass(frozen=True)
class _Due:
    """The notice keys one status has reached, by step (threshold percent or days ahead)."""

    steps: dict[int, str]
    highest_first: bool

    def most_urgent(self, won: set[str]) -> int | None:
        """The step to announce: the most urgent due one, if this run claimed it."""
        if not self.steps:
            return None
        step = max(self.steps) if self.highest_first else min(self.steps)
        return step if self.steps[step] in won else None

    def retired(self, won: set[str], sent: int) -> list[int]:
        """Steps this run claimed but does not announce."""
        return sorted(n for n, key in self.steps.items() if key in won and n != sent)


async def live_credit_grants(session: AsyncSession, ctx: ServiceContext) -> list[CreditGrant]:
    """Credit grants that have not expired, by org."""
    today = ctx.now().date()
    return [g for g in await credit_grants_of(session, org_ids=None) if g.expires > today]


@dataclass(frozen=True)
class _People:
    """Who hears of an org's credits: its admins in its workspace, its rep at home."""

    admins: list[str]
    rep: str | None
    workspace: str | None

    def tell(self, session: AsyncSession, message: Rendered) -> None:
        outbox.dm_all(session, self.admins, message, workspace=self.workspace)
        if self.rep and (self.workspace is not None or self.rep not in self.admins):
            outbox.dm_all(session, [self.rep], message)


async def announce_usage(session: AsyncSession, ctx: ServiceContext, grants: Sequence[CreditGrant]) -> Counter[str]:
    """Announce each due threshold and expiry warning of these grants (all of one org) once."""
    if not grants:
        return Counter()
    all_of_org = await credit_grants_of(session, org_ids={g.org_id for g in grants})
    wanted = {g.id for g in grants}
    statuses = [
        s for s in await credit_statuses(session, credit_grants=all_of_org, now=ctx.now()) if s.credit.id in wanted
    ]
    snap = await load_snapshot(session, org_ids={s.org.pk for s in statuses})
    counts: Counter[str] = Counter()
    settings = ctx.settings
    for status in statuses:
        gid, days_left = status.credit.id, status.days_to_expiry
        pct = _Due({n: f"credit:{gid}:pct:{n}" for n in settings.credit_thresholds if status.percent_used >= n}, True)
        ahead = [n for n in settings.credit_expiry_warn_days if 0 < days_left <= n] if status.remaining > 0 else []
        expiry = _Due({n: f"credit:{gid}:expiry:{n}" for n in ahead}, False)
        won = await claim_notices(session, ctx.clock, [*pct.steps.values(), *expiry.steps.values()])
        org_id = status.org.pk
        people = _People(snap.admins(org_id), snap.rep(org_id), await workspace_of_org_id(session, org_id))
        threshold = pct.most_urgent(won)
        if threshold is not None:
            people.tell(session, msg.build_threshold_notice(status, threshold))
            details = {
                "org": status.org.slug,
                "threshold": threshold,
                "used_usd": str(status.used),
                "retired": pct.retired(won, threshold),
            }
            await record_audit(session, ctx, action="credit.threshold", subject=f"credit:{gid}", details=details)
            counts["threshold notices"] += 1
        warn = expiry.most_urgent(won)
        if warn is not None:
            people.tell(session, msg.build_expiry_notice(status, days_left))
            details = {
                "org": status.org.slug,
                "days": warn,
                "remaining_usd": str(status.remaining),
                "retired": expiry.retired(won, warn),
            }
            await record_audit(session, ctx, action="credit.expiry_warning", subject=f"credit:{gid}", details=details)
            counts["expiry warnings"] += 1
    return counts


async def post_digest(session: AsyncSession, ctx: ServiceContext) -> str:
    """One summary of every org's live credits to the reps channel, once per ISO week; returns the outcome."""
    now = ctx.now()
    snap = await load_snapshot(session, org_ids=[])
    if not snap.reps_channel:
        return "no reps channel configured"
    grants = await credit_grants_of(session, org_ids=None)
    statuses = [s for s in await credit_statuses(session, credit_grants=grants, now=now) if not s.lapsed]
    week = now.astimezone(ctx.tz).isocalendar()
    key = f"credit-digest:{week.year}-W{week.week:02d}"
    if not await claim_notice(session, ctx.clock, key):
        return "digest already sent this week"
    outbox.post_message(session, channel=snap.reps_channel, key=key, message=msg.build_digest(statuses, now, ctx.tz))
    details = {"credit_grants": len(statuses)}
    await record_audit(session, ctx, action="credit.digest", subject=f"channel:{snap.reps_channel}", details=details)
    return f"digest of {len(statuses)} credit grant{'s' if len(statuses) != 1 else ''} posted"
