"""Re-verification (DESIGN §5): reminders, suspension of overdue grants, and the admin's re-verify.

Reminder offsets count calendar days in the display time zone: offset 0 is "due today" and
arrives at the first run of that day, before the grant is suspended at `reverify_due_at`.
Each reminder is sent once per grant, due date and offset (`reverify:{grant}:{due date}:{offset}`),
so re-verifying — which moves the due date — starts a fresh cycle. When a run finds several
offsets due at once (a grant created close to its due date, a run after downtime), it sends only
the most urgent one and retires the others.

Only the org's enterprise admins re-verify: it is the customer's own attestation, so operators
and reps are refused like anyone else (deny by default).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta, tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.ids import Block
from bot.messages import reverification as msg
from bot.messages.lifecycle import GrantInfo
from bot.messages.text import mention, safe
from bot.services.audit import record_audit
from bot.services.errors import InvalidInput, InvalidState, NotFound, NotOrgAdmin
from bot.services.notices import (
    Snapshot,
    audit_grants,
    claim_countdown,
    days_until,
    describe,
    dm_all,
    load_snapshot,
    run_batch,
    tell_rep,
)
from bot.services.people import org_people, resolve_actor
from storage.database import Database
from storage.queries import access as q
from storage.queries import grants as gq
from storage.queries.directory import get_directory_state, get_tier, orgs_by_ids
from storage.tables import AccessRequest, Grant, GrantStatus, Role

MISSED = "missed_reverification"
# A tier removed from the directory leaves its grants on the strictest default period.
FALLBACK_REVERIFY_DAYS = 30


def reminder_key(grant: Grant, offset: int, tz: tzinfo) -> str:
    """Once-only key of one reminder; the due date in it makes re-verification reset the cycle."""
    return f"reverify:{grant.id}:{grant.reverify_due_at.astimezone(tz).date().isoformat()}:{offset}"


# ---------------------------------------------------------------- the scheduled job


async def run_reverification(db: Database, clock: Clock, settings: Settings) -> str:
    """Remind admins before `reverify_due_at` and suspend overdue grants; returns a one-line outcome."""
    now, tz = clock.now(), settings.tz
    offsets = sorted({d for d in settings.reverify_remind_days if d >= 0})
    async with db.sessions() as session:
        upcoming = (
            await gq.reverify_reminder_candidates(session, now=now, until=now + timedelta(days=max(offsets) + 1))
            if offsets
            else []
        )
        overdue = await gq.overdue_reverifications(session, now=now)
    due = [g for g in upcoming if days_until(g.reverify_due_at, now, tz) <= max(offsets)]

    async def remind(session: AsyncSession, grants: Sequence[Grant]) -> Counter[str]:
        todo = await claim_countdown(
            session,
            clock,
            grants,
            offsets=offsets,
            days_left=lambda g: days_until(g.reverify_due_at, now, tz),
            key=lambda g, d: reminder_key(g, d, tz),
        )
        snap = await load_snapshot(session, org_ids=[g.org_id for g in todo])
        counts: Counter[str] = Counter()
        for grant in todo:
            rendered = msg.build_reminder_dm(snap.info(grant), days_until(grant.reverify_due_at, now, tz), tz)
            sent = dm_all(session, clock, snap.admins(grant.org_id) or [snap.rep(grant.org_id) or ""], rendered)
            counts["reminders"] += sent
        return counts

    async def suspend(session: AsyncSession, grants: Sequence[Grant]) -> Counter[str]:
        won = await gq.transition_grants(
            session,
            grant_ids=[g.id or 0 for g in grants],
            where=[Grant.status == GrantStatus.ACTIVE, Grant.reverify_due_at <= now, Grant.expires_at > now],
            values={"status": GrantStatus.SUSPENDED, "suspended_reason": MISSED, "suspended_at": now},
        )
        changed = [g for g in grants if g.id in set(won)]
        snap = await load_snapshot(session, org_ids=[g.org_id for g in changed])
        await audit_grants(session, clock, snap, action="grant.suspended", grants=changed, details={"reason": MISSED})
        for grant in changed:
            info = snap.info(grant)
            dm_all(session, clock, snap.admins(grant.org_id), msg.build_suspended_dm(info, tz))
            rep = snap.rep(grant.org_id)
            tell_rep(
                session,
                clock,
                snap,
                request_id=grant.request_id,
                rep=rep,
                rendered=msg.build_suspended_note(info, rep, tz),
            )
        return Counter(suspended=len(changed))

    counts = await run_batch(db, due, remind, what="reverification reminders")
    counts += await run_batch(db, overdue, suspend, what="reverification suspensions")
    return describe(counts, ["reminders", "suspended", "failed"])


# ---------------------------------------------------------------- the admin's re-verification


@dataclass(frozen=True)
class ReverifyForm:
    """What the re-verification modal shows."""

    info: GrantInfo
    request: AccessRequest | None


@dataclass(frozen=True)
class ReverifyResult:
    """A re-verified grant and what changed."""

    info: GrantInfo
    removed: list[str]
    restored: bool


async def _form(session: AsyncSession, grant: Grant) -> ReverifyForm:
    snap = await load_snapshot(session, org_ids=[grant.org_id])
    if grant.org_id not in snap.orgs:
        raise NotFound(f"Grant #{grant.id} belongs to an org that no longer exists.")
    return ReverifyForm(info=snap.info(grant), request=await q.get_request(session, request_id=grant.request_id))


def _check_live(grant: Grant) -> None:
    if grant.status in gq.LIVE:
        return
    how = f" by {mention(grant.ended_by)}" if grant.ended_by and grant.ended_by != "trustbot" else ""
    why = f" ({safe(grant.end_reason, 300)})" if grant.end_reason else ""
    raise InvalidState(
        f"Grant #{grant.id} was {grant.status}{how}{why}, so it can't be re-verified. Submit a new request with `/trust request`."
    )


async def open_reverify(
    session: AsyncSession, *, grant_id: int, user_id: str, operators: list[str], lock: bool = False
) -> ReverifyForm:
    """Authorise an admin of the grant's org to re-verify this live grant; returns what the modal shows."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(operators))
    grant = await q.get_grant(session, grant_id=grant_id, for_update=lock)
    if grant is None:
        raise NotFound(f"There is no grant #{grant_id}.")
    if not actor.is_admin_of(grant.org_id):
        raise NotOrgAdmin(f"Only the enterprise admins of the grant's org can re-verify grant #{grant_id}.")
    _check_live(grant)
    return await _form(session, grant)


async def verify_choices(session: AsyncSession, *, user_id: str, operators: list[str]) -> list[ReverifyForm]:
    """`/trust verify`: the live grants of the caller's orgs (admins only), soonest due first."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(operators))
    org_ids = actor.org_ids(Role.ADMIN)
    if not org_ids:
        raise NotOrgAdmin("Only an org's enterprise admins can re-verify its grants.")
    grants = await gq.live_grants_for_orgs(session, org_ids=org_ids)
    if not grants:
        names = ", ".join(o.name for o in (await orgs_by_ids(session, org_ids=org_ids)).values())
        raise NotFound(f"{safe(names, 300) or 'Your org'} has no active or suspended grants to re-verify.")
    snap = await load_snapshot(session, org_ids=org_ids)
    return [ReverifyForm(info=snap.info(g), request=None) for g in grants]


def _validate(grant: Grant, members: list[str], attestations: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    missing = {msg.ATTEST_ROSTER, msg.ATTEST_USE_CASE} - attestations
    if missing:
        errors[Block.ATTESTATIONS] = "Tick both: the roster is accurate and the use case is unchanged."
    added = [m for m in members if m not in grant.members]
    if added:
        errors[Block.ROSTER] = "You can remove people here but not add them; submit a new request to add someone."
    elif not members and not grant.blanket and grant.members:
        errors[Block.ROSTER] = "Keep at least one person; to end the grant, ask your account rep to revoke it."
    return errors


async def submit_reverification(
    session: AsyncSession,
    clock: Clock,
    *,
    grant_id: int,
    user_id: str,
    operators: list[str],
    members: list[str],
    attestations: set[str],
    tz: tzinfo | str = "UTC",
) -> ReverifyResult:
    """Record an admin's re-verification: roster trimmed, due date moved on, restored if suspended for it."""
    form = await open_reverify(session, grant_id=grant_id, user_id=user_id, operators=operators, lock=True)
    grant = form.info.grant
    before = list(grant.members)  # the update below refreshes `grant` in place
    kept = list(dict.fromkeys(m.strip() for m in members if m and m.strip()))
    errors = _validate(grant, kept, attestations)
    if errors:
        raise InvalidInput("Please fix the highlighted fields.", errors=errors)
    now = clock.now()
    tier = await get_tier(session, tier_id=grant.tier_id)
    period = timedelta(days=tier.reverify_days if tier else FALLBACK_REVERIFY_DAYS)
    restored = grant.status == GrantStatus.SUSPENDED and grant.suspended_reason == MISSED
    values: dict[str, object] = {
        "members": kept,
        "reverify_due_at": min(now + period, grant.expires_at),
        "last_reverified_at": now,
        "last_reverified_by": user_id,
    }
    if restored:
        values.update(status=GrantStatus.ACTIVE, suspended_reason=None, suspended_at=None)
    if not await q.transition_grant(session, grant_id=grant_id, from_statuses=gq.LIVE, values=values):
        _check_live(await q.get_grant(session, grant_id=grant_id) or grant)
        raise InvalidState(f"Grant #{grant_id} changed while you were re-verifying it; nothing changed. Try again.")
    grant = await q.get_grant(session, grant_id=grant_id)
    assert grant is not None
    removed = [m for m in before if m not in kept]
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="grant.reverified",
        subject=f"grant:{grant_id}",
        details={
            "removed": removed,
            "members": kept,
            "next_due": grant.reverify_due_at.isoformat(),
            "restored": restored,
        },
    )
    info = GrantInfo(grant=grant, org=form.info.org, tier_name=form.info.tier_name)
    await _announce(session, clock, info, user_id, removed, restored, tz)
    return ReverifyResult(info=info, removed=removed, restored=restored)


async def _announce(
    session: AsyncSession, clock: Clock, info: GrantInfo, by: str, removed: list[str], restored: bool, tz: tzinfo | str
) -> None:
    people = await org_people(session, org_id=info.grant.org_id)
    state = await get_directory_state(session)
    snap = Snapshot(orgs={info.org.id or 0: info.org}, people={}, tiers={}, reps_channel=state.reps_channel)
    note = msg.build_reverified_note(info, people.rep, by, removed, restored, tz)
    tell_rep(session, clock, snap, request_id=info.grant.request_id, rep=people.rep, rendered=note)
    dm_all(session, clock, [by], msg.build_reverified_dm(info, removed, restored, tz))
    if restored:
        dm_all(session, clock, [a for a in people.admins if a != by], msg.build_restored_dm(info, by))
    dm_all(session, clock, removed, msg.build_removed_member_dm(info, by))
