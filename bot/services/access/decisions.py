"""Decisions on an open request — approve, deny, ask for information — and the requester's answer.

Every decision takes one path: lock the request, check the rep may decide and it is still
open, change its state with a conditional update (so of two racing clicks one wins), audit,
re-render the parent and the decision buttons, note it in the thread and tell the requester.
Approval adds its own rules on that path: nobody approves their own request, a two-approval
tier needs two different approvers, and the org must still be allowed to receive the grant.
The approval that activates the grant checks every named member again (`users.info` looked up by
the listener just before, the org's current domains): a request may have waited days, and what
Slack showed at submission is no ground for access now.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.ids import Block
from trustbot.messages import requests as msg
from trustbot.messages.text import Rendered, escape_mrkdwn
from trustbot.services import outbox
from trustbot.services.access.cards import (
    authorize_rep,
    build_card,
    decided_error,
    load_request,
    parent_key,
    refresh_both,
    refresh_parent,
    rep_refusal,
    reps_channel,
    thread_note,
)
from trustbot.services.access.limits import typed_text
from trustbot.services.access.requests import allowed_tiers
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.entitlements.identity import Profile, Recheck, recheck_members
from trustbot.services.errors import AlreadyDecided, AlreadyDone, InvalidState, NotAuthorized, SelfApproval
from trustbot.services.installs.routing import workspace_of_org_id
from trustbot.storage.queries.directory import get_org_by_id, get_tier, list_tiers
from trustbot.storage.queries.entitlements import add_members
from trustbot.storage.queries.grants import has_security_suspension
from trustbot.storage.queries.requests import add_approval, count_approvals, transition_request
from trustbot.storage.tables import (
    OPEN_REQUESTS,
    AccessRequest,
    Grant,
    GrantStatus,
    Org,
    RequestStatus,
    Tier,
    approvals_needed,
)


@dataclass(frozen=True)
class Decided:
    """A request after a decision, with what its messages show."""

    request: AccessRequest
    card: msg.RequestCard
    grant: Grant | None = None  # set when this approval approved the request
    approvals: int = 0
    needed: int = 1

    @property
    def left_out(self) -> tuple[str, ...]:
        """Named members the grant left out at approval, each with why."""
        return self.card.left_out


def _refuse_self_approval(ctx: ServiceContext, request: AccessRequest) -> None:
    if ctx.actor.is_person(request.requester, request.requester_team):
        raise SelfApproval("You can't approve your own request; another rep or an operator must.")


async def _open_for_decision(
    session: AsyncSession, ctx: ServiceContext, request_id: int, *, lock: bool = True, approving: bool = False
) -> AccessRequest:
    """The request, if the actor may decide on it and it is still open."""
    ctx.actor.require_known()
    refusal = None if ctx.actor.is_operator else rep_refusal(request_id)
    request = await load_request(session, request_id, lock=lock, refusal=refusal)
    authorize_rep(ctx.actor, request)
    if approving:
        _refuse_self_approval(ctx, request)
    if request.status not in OPEN_REQUESTS:
        raise decided_error(request, ctx)
    return request


async def _move(session: AsyncSession, ctx: ServiceContext, request: AccessRequest, values: dict[str, Any]) -> None:
    """Change the request's state if it is still open; `AlreadyDecided` when another decision won."""
    request_id = request.pk
    values = {**values, "updated_at": ctx.now()}
    if not await transition_request(session, request_id=request_id, from_statuses=OPEN_REQUESTS, values=values):
        raise decided_error(await load_request(session, request_id), ctx)


async def _audit(
    session: AsyncSession, ctx: ServiceContext, request: AccessRequest, action: str, **details: Any
) -> None:
    await record_audit(session, ctx, action=action, subject=parent_key(request.pk), details=details)


async def _publish(
    session: AsyncSession,
    ctx: ServiceContext,
    channel: str,
    card: msg.RequestCard,
    note: Rendered,
    dms: dict[str, Rendered],
) -> None:
    """The card and its thread in the reps channel (home); the DMs to the org's people in the org's workspace."""
    refresh_both(session, ctx, channel, card)
    thread_note(session, channel, card.request, note)
    workspace = await workspace_of_org_id(session, card.request.org_id)
    for user, message in dms.items():
        outbox.send_dm(session, user=user, message=message, workspace=workspace)


async def authorize_decision(session: AsyncSession, ctx: ServiceContext, *, request_id: int) -> msg.RequestCard:
    """Check, before a reason modal opens, that the actor may decide on the open request; returns its card."""
    return await build_card(session, await _open_for_decision(session, ctx, request_id, lock=False))


async def deny_request(session: AsyncSession, ctx: ServiceContext, *, request_id: int, reason: str) -> Decided:
    """Deny an open request with a reason; parent and buttons updated, thread and requester told."""
    reason = typed_text(reason, Block.REASON, "reason")
    request = await _open_for_decision(session, ctx, request_id)
    values = {
        "status": RequestStatus.DENIED,
        "decided_by": ctx.user_id,
        "decided_at": ctx.now(),
        "decision_reason": reason,
    }
    await _move(session, ctx, request, values)
    await _audit(session, ctx, request, "request.denied", reason=reason)
    channel, card = await reps_channel(session), await build_card(session, request)
    await _publish(
        session,
        ctx,
        channel,
        card,
        msg.build_denied_note(card),
        {request.requester: msg.build_requester_denied_dm(card)},
    )
    return Decided(request=request, card=card)


async def request_info(session: AsyncSession, ctx: ServiceContext, *, request_id: int, question: str) -> Decided:
    """Ask the requester a question: status `info_requested`, DM with a Reply button, thread note."""
    question = typed_text(question, Block.QUESTION, "question")
    request = await _open_for_decision(session, ctx, request_id)
    values = {
        "status": RequestStatus.INFO_REQUESTED,
        "info_question": question,
        "info_asked_by": ctx.user_id,
        "info_answer": None,
    }
    await _move(session, ctx, request, values)
    await _audit(session, ctx, request, "request.info_requested", question=question)
    channel, card = await reps_channel(session), await build_card(session, request)
    dms = {request.requester: msg.build_info_question_dm(card)}
    await _publish(session, ctx, channel, card, msg.build_info_requested_note(card), dms)
    return Decided(request=request, card=card)


async def _check_org_may_receive(session: AsyncSession, ctx: ServiceContext, request: AccessRequest) -> Org:
    """The request's org; refuse approval when it changed since submission: verification lapsed, tier no
    longer allowed, or the security team has its access suspended."""
    org = await get_org_by_id(session, org_id=request.org_id)
    if org is None:
        raise InvalidState(f"Request #{request.id}'s org is no longer in the directory.")
    if org.verified_until is not None and org.verified_until < ctx.now().astimezone(ctx.tz).date():
        raise InvalidState(
            f"{msg.org_label(org)}'s identity verification lapsed on {org.verified_until}; "
            "update the directory before approving access."
        )
    if request.tier_id not in {t.id for t in allowed_tiers(org, await list_tiers(session))}:
        raise InvalidState(
            f"The {escape_mrkdwn(request.tier_id)} tier is no longer allowed for {msg.org_label(org)}; "
            "deny the request or change the directory."
        )
    if await has_security_suspension(session, org_id=org.pk):
        raise InvalidState(
            f"{msg.org_label(org)}'s access is suspended by the security team; "
            "no new grant can be approved until that is lifted."
        )
    return org


def _recheck(request: AccessRequest, org: Org, profiles: Mapping[str, Profile] | None) -> Recheck:
    """The named members as Slack shows them now, at the org's current domains; refuse when that cannot be known
    or nobody named is left (a blanket request still covers the org)."""
    check = recheck_members(request.members, profiles, org.domains)
    if check.unreachable:
        raise InvalidState(
            f"Slack could not be reached to check again the people named in request #{request.id}, so nothing "
            "changed. Try approving again in a minute."
        )
    if request.members and not check.emails and not request.blanket and request.scim_group_id is None:
        left = escape_mrkdwn("; ".join(check.left_out.values()))[:1500]
        raise InvalidState(
            f"Nobody named in request #{request.id} can still be granted access: {left}. Nothing changed; "
            "deny the request and ask the requester for a new one."
        )
    return check


async def approve_request(
    session: AsyncSession, ctx: ServiceContext, *, request_id: int, profiles: Mapping[str, Profile] | None
) -> Decided:
    """Record an approval; the last one needed approves the request and creates the grant.

    `profiles` is what `users.info` shows now about the named members (looked up just before, outside
    the transaction): the grant names only those still verified people of the org at its current
    domains; the others are left out, audited, and named to the approver, the thread and the requester.
    """
    request = await _open_for_decision(session, ctx, request_id, approving=True)
    org = await _check_org_may_receive(session, ctx, request)
    if not await add_approval(session, request_id=request_id, approver=ctx.user_id, at=ctx.now()):
        raise AlreadyDone(f"You already approved request #{request_id}; it needs a different second approver.")
    tier = await get_tier(session, tier_id=request.tier_id)
    needed = approvals_needed(tier)
    approvals = await count_approvals(session, request_id=request_id)
    if approvals < needed:
        await _move(session, ctx, request, {})
        await _audit(session, ctx, request, "request.approval_recorded", approvals=approvals, needed=needed)
        channel, card = await reps_channel(session), await build_card(session, request)
        thread_note(session, channel, card.request, msg.build_approval_recorded_note(card, ctx.user_id))
        refresh_both(session, ctx, channel, card)
        return Decided(request=request, card=card, approvals=approvals, needed=needed)
    check = _recheck(request, org, profiles)
    grant = await _activate(session, ctx, request, tier, check, {"approvals": approvals, "needed": needed})
    channel, card = await reps_channel(session), await build_card(session, request, grant=grant)
    card = replace(card, left_out=tuple(check.left_out.values()))
    covered = msg.build_member_covered_dm(card, ctx.tz)
    dms = {request.requester: msg.build_requester_approved_dm(card, ctx.tz)}
    dms.update({m: covered for m in grant.members if m != request.requester})
    await _publish(session, ctx, channel, card, msg.build_approved_note(card, ctx.tz), dms)
    return Decided(request=request, card=card, grant=grant, approvals=approvals, needed=needed)


async def _activate(
    session: AsyncSession,
    ctx: ServiceContext,
    request: AccessRequest,
    tier: Tier | None,
    check: Recheck,
    counts: dict[str, int],
) -> Grant:
    """Approve the request and create its grant for the members who still qualify (audited, gateway told)."""
    now = ctx.now()
    values = {"status": RequestStatus.APPROVED, "decided_by": ctx.user_id, "decided_at": now}
    days = min(request.duration_days, tier.max_days) if tier else request.duration_days
    grant = Grant(
        request_id=request.pk,
        org_id=request.org_id,
        members=[m for m in request.members if m in check.emails],
        blanket=request.blanket,
        scim_group_id=request.scim_group_id,
        tier_id=request.tier_id,
        status=GrantStatus.ACTIVE,
        starts_at=now,
        expires_at=now + timedelta(days=days),
        reverify_due_at=now + timedelta(days=min(tier.reverify_days, days) if tier else days),
    )
    await _move(session, ctx, request, values)
    session.add(grant)
    await session.flush()
    await add_members(session, grant_id=grant.pk, emails=check.emails)
    await grant_changed(session, ctx, [grant.pk], GrantEvent.ACTIVATED)
    await _audit(session, ctx, request, "request.approved", **counts, grant=grant.pk)
    details = {
        "request": request.pk,
        "tier": grant.tier_id,
        "expires_at": grant.expires_at.isoformat(),
        "reverify_due_at": grant.reverify_due_at.isoformat(),
        "members": grant.members,
        "blanket": grant.blanket,
        "group": grant.scim_group_id,
    }
    await record_audit(session, ctx, action="grant.created", subject=f"grant:{grant.pk}", details=details)
    if check.left_out:
        await _audit(session, ctx, request, "request.members_left_out", members=check.left_out, grant=grant.pk)
    return grant


async def members_to_recheck(session: AsyncSession, ctx: ServiceContext, *, request_id: int) -> list[str]:
    """Check, before Slack is asked about anyone, that the actor may approve the open request; its named members."""
    request = await _open_for_decision(session, ctx, request_id, lock=False, approving=True)
    return list(request.members)


async def members_to_recheck_in(
    session: AsyncSession, ctx: ServiceContext, *, request_id: int
) -> tuple[list[str], str | None]:
    """`members_to_recheck`, and the workspace whose `users.info` knows them (the org's; None: home)."""
    members = await members_to_recheck(session, ctx, request_id=request_id)
    request = await load_request(session, request_id)
    return members, await workspace_of_org_id(session, request.org_id)


async def authorize_answer(session: AsyncSession, ctx: ServiceContext, *, request_id: int) -> msg.RequestCard:
    """Check, before the answer modal opens, that the actor may answer the request's question."""
    ctx.actor.require_known()
    refusal = NotAuthorized(f"Only the requester or the org's admins can answer questions about request #{request_id}.")
    request = await load_request(session, request_id, refusal=refusal)
    if not (ctx.actor.is_person(request.requester, request.requester_team) or ctx.actor.is_admin_of(request.org_id)):
        raise refusal
    if request.status != RequestStatus.INFO_REQUESTED:
        raise AlreadyDecided(
            f"Request #{request_id} is {request.status.replace('_', ' ')}; no question is waiting for an answer."
        )
    return await build_card(session, request)


async def answer_info(session: AsyncSession, ctx: ServiceContext, *, request_id: int, answer: str) -> Decided:
    """The requester (or an org admin) answers: the answer lands in the thread and the request is pending again."""
    await authorize_answer(session, ctx, request_id=request_id)
    answer = typed_text(answer, Block.ANSWER, "answer")
    values = {"status": RequestStatus.PENDING, "info_answer": answer, "updated_at": ctx.now()}
    if not await transition_request(
        session, request_id=request_id, from_statuses=[RequestStatus.INFO_REQUESTED], values=values
    ):
        raise AlreadyDone(f"Request #{request_id} was already answered; nothing changed.")
    request = await load_request(session, request_id)
    await record_audit(
        session, ctx, action="request.info_answered", subject=parent_key(request_id), details={"answer": answer}
    )
    channel = await reps_channel(session)
    card = await build_card(session, request)
    thread_note(session, channel, card.request, msg.build_info_answered_note(card, ctx.user_id, answer))
    refresh_parent(session, ctx, channel, card)
    return Decided(request=request, card=card)
