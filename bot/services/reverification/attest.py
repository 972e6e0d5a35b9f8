"""The admin's re-verification: confirm the roster (trimming it if needed) and that the use case stands.

Only the org's enterprise admins re-verify: it is the customer's own attestation, so operators
and reps are refused like anyone else (deny by default). Re-verifying moves the due date on and
restores a grant suspended for the missed re-verification, never one the security team suspended.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.ids import Block
from trustbot.messages import reverification as msg
from trustbot.messages.lifecycle import GrantInfo
from trustbot.messages.text import mention, safe
from trustbot.services import outbox
from trustbot.services.access.lifecycle import tell_request_thread
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.snapshot import load_snapshot
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.entitlements.identity import Profile, check_members
from trustbot.services.entitlements.idp import identity_of
from trustbot.services.errors import InvalidInput, InvalidState, NotFound, NotOrgAdmin
from trustbot.services.installs.routing import workspace_of_org_id
from trustbot.storage.queries.directory import get_tier
from trustbot.storage.queries.entitlements import keep_members, member_emails, upsert_members
from trustbot.storage.queries.grants import get_grant, live_grants_for_orgs, transition_grant
from trustbot.storage.queries.requests import get_request
from trustbot.storage.tables import LIVE_GRANTS, AccessRequest, Grant, GrantStatus, Org, Role, SuspensionReason

# A tier removed from the directory leaves its grants on the strictest default period.
FALLBACK_REVERIFY_DAYS = 30
MISSED = SuspensionReason.MISSED_REVERIFICATION


@dataclass(frozen=True)
class ReverifyForm:
    """What the re-verification modal shows."""

    info: GrantInfo
    request: AccessRequest | None
    idp: msg.IdpRoster | None = None  # what the org's identity provider says of the grant's people


@dataclass(frozen=True)
class Reverified:
    """A re-verified grant and what changed."""

    info: GrantInfo
    removed: list[str]
    restored: bool


def _check_live(grant: Grant) -> None:
    if grant.status in LIVE_GRANTS:
        return
    how = f" by {mention(grant.ended_by)}" if grant.ended_by and grant.ended_by != "trustbot" else ""
    why = f" ({safe(grant.end_reason, 300)})" if grant.end_reason else ""
    raise InvalidState(
        f"Grant #{grant.id} was {grant.status}{how}{why}, so it can't be re-verified. "
        "Submit a new request with `/trust request`."
    )


async def open_reverify(
    session: AsyncSession, ctx: ServiceContext, *, grant_id: int, lock: bool = False
) -> ReverifyForm:
    """Authorise an admin of the grant's org to re-verify this live grant; returns what the modal shows."""
    grant = await get_grant(session, grant_id=grant_id, for_update=lock)
    if grant is None or not ctx.actor.is_admin_of(grant.org_id):
        raise NotOrgAdmin(f"Only the enterprise admins of the grant's org can re-verify grant #{grant_id}.")
    _check_live(grant)
    snap = await load_snapshot(session, org_ids=[grant.org_id])
    if grant.org_id not in snap.orgs:
        raise NotFound(f"Grant #{grant.id} belongs to an org that no longer exists.")
    request = await get_request(session, request_id=grant.request_id)
    return ReverifyForm(info=snap.info(grant), request=request, idp=await _idp_roster(session, grant, snap.orgs))


async def _idp_roster(session: AsyncSession, grant: Grant, orgs: Mapping[int, Org]) -> msg.IdpRoster | None:
    """The IdP group the grant follows and the named people the IdP withholds; None where the IdP says nothing."""
    emails = await member_emails(session, grant_ids=[grant.pk])
    view = (await identity_of(session, [grant], orgs, emails))[grant.pk]
    by_email = {e: m for m, e in emails.get(grant.pk, {}).items()}
    withheld = tuple((by_email[e], why) for e, why in sorted(view.problems.items()) if e in by_email)
    if view.group is None and not withheld:
        return None
    group = (view.group[1], len(view.group_emails)) if view.group else None
    return msg.IdpRoster(group=group, withheld=withheld)


async def members_workspace(session: AsyncSession, ctx: ServiceContext, *, grant_id: int) -> str | None:
    """The workspace whose `users.info` knows the grant's members (its org's; None: home).

    Only routing (who may re-verify is `submit_reverification`'s to decide), and only for people the directory knows."""
    ctx.actor.require_known()
    grant = await get_grant(session, grant_id=grant_id)
    return await workspace_of_org_id(session, grant.org_id if grant is not None else None)


async def verify_choices(session: AsyncSession, ctx: ServiceContext) -> list[ReverifyForm]:
    """`/trust verify`: the live grants of the actor's orgs (admins only), soonest due first."""
    org_ids = ctx.actor.org_ids(Role.ADMIN)
    if not org_ids:
        raise NotOrgAdmin("Only an org's enterprise admins can re-verify its grants.")
    grants = await live_grants_for_orgs(session, org_ids=org_ids)
    snap = await load_snapshot(session, org_ids=org_ids)
    if not grants:
        names = ", ".join(o.name for o in snap.orgs.values())
        raise NotFound(f"{safe(names, 300) or 'Your org'} has no active or suspended grants to re-verify.")
    return [ReverifyForm(info=snap.info(g), request=None) for g in grants]


def _validate(grant: Grant, members: list[str], attestations: set[str]) -> dict[str, str]:
    errors: dict[str, str] = {}
    if {msg.ATTEST_ROSTER, msg.ATTEST_USE_CASE} - attestations:
        errors[Block.ATTESTATIONS] = "Tick both: the roster is accurate and the use case is unchanged."
    if [m for m in members if m not in grant.members]:
        errors[Block.ROSTER] = "You can remove people here but not add them; submit a new request to add someone."
    elif not members and not grant.blanket and grant.members:
        errors[Block.ROSTER] = "Keep at least one person; to end the grant, ask your account rep to revoke it."
    return errors


def with_recorded(profiles: Mapping[str, Profile], recorded: Mapping[str, str]) -> dict[str, Profile]:
    """Profiles, where a lookup Slack did not answer in time falls back on the email recorded for that member.

    The roster can only shrink here and `user_change` keeps recorded emails current, so a member already
    verified need not be looked up again within the modal's 3 s — which a roster of hundreds could not be.
    """
    merged = dict(profiles)
    for member, email in recorded.items():
        if not (merged.get(member) or Profile(member, member, found=False)).found:
            merged[member] = Profile(user_id=member, name=member, email=email)
    return merged


async def submit_reverification(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    grant_id: int,
    members: list[str],
    attestations: set[str],
    profiles: Mapping[str, Profile] | None = None,
) -> Reverified:
    """Record an admin's re-verification: roster trimmed, due date moved on, restored if suspended for it.

    With `profiles` (what Slack shows now; the Slack handler always looks them up) everyone kept must
    still be a verified person of the org, as when the request was made, and their emails are renewed.
    """
    form = await open_reverify(session, ctx, grant_id=grant_id, lock=True)
    grant = form.info.grant
    before = list(grant.members)  # the update below refreshes `grant` in place
    kept = list(dict.fromkeys(m.strip() for m in members if m and m.strip()))
    errors = _validate(grant, kept, attestations)
    emails: dict[str, str] = {}
    if profiles is not None and str(Block.ROSTER) not in errors:
        recorded = (await member_emails(session, grant_ids=[grant_id])).get(grant_id, {})
        emails, refused = check_members(kept, with_recorded(profiles, recorded), form.info.org.domains)
        if refused:
            errors[str(Block.ROSTER)] = f"{refused} Remove them from the roster."[:1900]
    if errors:
        raise InvalidInput("Please fix the highlighted fields.", errors=errors)
    now = ctx.now()
    tier = await get_tier(session, tier_id=grant.tier_id)
    period = timedelta(days=tier.reverify_days if tier else FALLBACK_REVERIFY_DAYS)
    restored = grant.status == GrantStatus.SUSPENDED and grant.suspended_reason == MISSED
    values: dict[str, object] = {
        "members": kept,
        "reverify_due_at": min(now + period, grant.expires_at),
        "last_reverified_at": now,
        "last_reverified_by": ctx.user_id,
    }
    if restored:
        values.update(status=GrantStatus.ACTIVE, suspended_reason=None, suspended_at=None)
    if not await transition_grant(session, grant_id=grant_id, from_statuses=LIVE_GRANTS, values=values):
        _check_live(await get_grant(session, grant_id=grant_id) or grant)
        raise InvalidState(f"Grant #{grant_id} changed while you were re-verifying it; nothing changed. Try again.")
    await keep_members(session, grant_id=grant_id, slack_ids=kept)
    known = await member_emails(session, grant_ids=[grant_id])
    renewed = {m: e for m, e in emails.items() if known.get(grant_id, {}).get(m) != e}
    await upsert_members(session, grant_id=grant_id, emails=renewed)
    grant = await get_grant(session, grant_id=grant_id) or grant
    removed = [m for m in before if m not in kept]
    kind = GrantEvent.RESTORED if restored else GrantEvent.MEMBERS_CHANGED if removed or renewed else None
    await grant_changed(session, ctx, [grant_id], kind)
    details = {"removed": removed, "members": kept, "next_due": grant.reverify_due_at.isoformat(), "restored": restored}
    await record_audit(session, ctx, action="grant.reverified", subject=f"grant:{grant_id}", details=details)
    done = Reverified(
        info=GrantInfo(grant=grant, org=form.info.org, tier_name=form.info.tier_name),
        removed=removed,
        restored=restored,
    )
    await _announce(session, ctx, done)
    return done


async def _announce(session: AsyncSession, ctx: ServiceContext, done: Reverified) -> None:
    info, by, tz = done.info, ctx.user_id, ctx.tz
    snap = await load_snapshot(session, org_ids=[info.grant.org_id])
    rep = snap.rep(info.grant.org_id)
    note = msg.build_reverified_note(info, rep, by, done.removed, done.restored, tz)
    grant = info.grant
    tell_request_thread(session, snap, request_id=grant.request_id, org_id=grant.org_id, rep=rep, message=note)
    workspace = await workspace_of_org_id(session, grant.org_id)  # the org's people, in its workspace
    outbox.dm_all(session, [by], msg.build_reverified_dm(info, done.removed, done.restored, tz), workspace=workspace)
    if done.restored:
        admins = [a for a in snap.admins(info.grant.org_id) if a != by]
        outbox.dm_all(session, admins, msg.build_restored_dm(info, by), workspace=workspace)
    outbox.dm_all(session, done.removed, msg.build_removed_member_dm(info, by), workspace=workspace)
