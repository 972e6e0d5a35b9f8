"""Identity holds: what a Shared Signal does to a person of an org, and the admin's Confirm that lifts it.

A hold is per (org, address, kind) and idempotent: a second identical signal while one is in force makes no
second hold and tells nobody again. A SIGNAL hold (revoked session, changed credential) is lifted only by an
admin of that org confirming the person in Slack; DISABLED by the IdP's account-enabled; PURGED never.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages.holds import build_confirm_request, build_hold_confirmed, build_hold_lifted, build_hold_placed
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import org_people
from trustbot.services.errors import AlreadyDone, NotOrgAdmin
from trustbot.services.identity.coverage import ChangeKind, CoverageChange, coverage_changed
from trustbot.services.installs.routing import dm_org_and_home, workspace_of_org
from trustbot.storage.queries import holds as q
from trustbot.storage.queries.directory import get_org_by_id
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import HoldKind, IdentityHold


def confirm_key(hold_id: int, admin: str) -> str:
    """The outbox key of the Confirm DM one admin got for one hold."""
    return f"hold:{hold_id}:confirm:{admin}"


async def place_holds(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    org: Org,
    emails: Sequence[str],
    kind: HoldKind,
    event_type: str,
    jti: str,
) -> list[IdentityHold]:
    """Hold these addresses at the org (those not already held this way); tell leads, rep and admins once."""
    placed: list[IdentityHold] = []
    for email in dict.fromkeys(e.lower() for e in emails):
        if await q.hold_in_force(session, org_id=org.pk, email=email, kind=kind) is not None:
            continue
        hold = IdentityHold(
            org_id=org.pk, email=email, kind=kind, event_type=event_type, event_jti=jti, created_at=ctx.now()
        )
        session.add(hold)
        await session.flush()
        placed.append(hold)
        details = {"email": email, "kind": str(kind), "event": event_type, "jti": jti}
        await record_audit(session, ctx, action="ssf.hold_placed", subject=f"hold:{hold.pk}", details=details)
    if not placed:
        return placed
    await coverage_changed(
        session, ctx, org=org, changes=[CoverageChange(ChangeKind.HELD, emails=tuple(h.email for h in placed))]
    )
    people = await org_people(session, org_id=org.pk)
    workspace = await workspace_of_org(session, org)
    short = event_type.rsplit("/", 1)[-1]
    for hold in placed:
        note = build_hold_placed(org.name, hold.email, kind, short)
        await dm_org_and_home(session, org.pk, note, org_people=people.security_leads, home_people=[people.rep])
        if kind is HoldKind.SIGNAL:
            ask = build_confirm_request(org.name, hold.email, short, hold.pk)
            for admin in dict.fromkeys(people.admins):
                outbox.send_dm(session, user=admin, message=ask, key=confirm_key(hold.pk, admin), workspace=workspace)
    return placed


async def lift_disabled(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, emails: Sequence[str], event_type: str, jti: str
) -> list[int]:
    """Lift the org's DISABLED holds on these addresses (the IdP enabled the account again)."""
    holds = await q.holds_of_kind(session, org_id=org.pk, emails=[e.lower() for e in emails], kind=HoldKind.DISABLED)
    lifted = await q.lift_holds(session, hold_ids=[h.pk for h in holds], at=ctx.now(), by=ctx.user_id)
    released = tuple(h.email for h in holds if h.pk in lifted)
    if not released:
        return lifted
    for hold in holds:
        if hold.pk in lifted:
            details = {"email": hold.email, "event": event_type, "jti": jti}
            await record_audit(session, ctx, action="ssf.hold_lifted", subject=f"hold:{hold.pk}", details=details)
    await coverage_changed(session, ctx, org=org, changes=[CoverageChange(ChangeKind.RELEASED, emails=released)])
    people = await org_people(session, org_id=org.pk)
    for email in released:
        note = build_hold_lifted(org.name, email, event_type.rsplit("/", 1)[-1])
        await dm_org_and_home(session, org.pk, note, org_people=people.security_leads, home_people=[people.rep])
    return lifted


async def confirm_hold(session: AsyncSession, ctx: ServiceContext, hold_id: int) -> IdentityHold:
    """An admin of the hold's org, acting from the org's workspace, confirms the person again: lift the hold."""
    hold = await q.get_hold(session, hold_id=hold_id)
    # One answer for a missing hold and someone else's: a click never tells an outsider whether a hold exists.
    if hold is None or hold.kind != HoldKind.SIGNAL or not ctx.actor.is_admin_of(hold.org_id):
        raise NotOrgAdmin("Only an admin of the person's org can confirm them; nothing changed.")
    if hold.lifted_at is not None:
        raise AlreadyDone(f"{hold.email} was already confirmed by <@{hold.lifted_by}>; nothing changed.")
    if not await q.lift_holds(session, hold_ids=[hold.pk], at=ctx.now(), by=ctx.user_id):
        raise AlreadyDone(f"{hold.email} was already confirmed; nothing changed.")
    org = await get_org_by_id(session, org_id=hold.org_id)
    assert org is not None
    await record_audit(
        session, ctx, action="identity.hold_confirmed", subject=f"hold:{hold.pk}", details={"email": hold.email}
    )
    await coverage_changed(session, ctx, org=org, changes=[CoverageChange(ChangeKind.RELEASED, emails=(hold.email,))])
    people = await org_people(session, org_id=org.pk)
    workspace = await workspace_of_org(session, org)
    done = build_hold_confirmed(org.name, hold.email, ctx.user_id)
    for admin in dict.fromkeys(people.admins):
        outbox.update_message(
            session, channel=admin, key=confirm_key(hold.pk, admin), message=done, workspace=workspace
        )
    await dm_org_and_home(session, org.pk, done, org_people=people.security_leads, home_people=[people.rep])
    return hold
