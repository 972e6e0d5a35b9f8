"""Access requests (DESIGN §2, §5): open the form, submit, approve, deny, ask for info, answer.

Each public service is one unit of work inside the caller's transaction: it authorises
(deny by default), validates, changes state with a conditional update, audits, and queues
every Slack write in the outbox. Refusals are domain exceptions whose message is shown to the
person, so a handler is: ack → parse → call one service → render its `ack` → reply.

Outbox keys and shared helpers live in `bot.services.request_common`; grants (revoke, listing,
status) in `bot.services.request_grants`.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.ids import Block
from bot.messages import requests as msg
from bot.messages.request_modals import (
    JUSTIFICATION_MIN,
    TEXT_MAX,
    OrgOption,
    RequestForm,
)
from bot.messages.text import safe
from bot.payloads import RequestSubmission
from bot.services import outbox
from bot.services.audit import record_audit
from bot.services.errors import (
    AlreadyDone,
    DomainError,
    InvalidInput,
    InvalidState,
    NotFound,
    NotOrgAdmin,
    SelfApproval,
)
from bot.services.request_common import (
    OPEN,
    ApprovalResult,
    RequestResult,
    actions_key,
    actor_for,
    authorize_rep,
    build_card,
    decided_error,
    load_request,
    parent_key,
    refresh_actions,
    refresh_parent,
    reps_channel,
    thread_note,
)
from storage.queries import access as q
from storage.queries.directory import (
    get_org,
    get_org_by_id,
    get_tier,
    list_orgs,
    list_tiers,
    orgs_by_ids,
)
from storage.tables import (
    AccessRequest,
    Grant,
    GrantStatus,
    Org,
    RequestStatus,
    Role,
    Tier,
)

__all__ = [
    "ApprovalResult",
    "RequestResult",
    "actions_key",
    "allowed_tiers",
    "approve_request",
    "authorize_decision",
    "open_request_form",
    "parent_key",
    "submit_request",
]
MAX_MEMBERS = 500


# ---------------------------------------------------------------- form and submission


async def open_request_form(session: AsyncSession, *, user_id: str, operators: list[str]) -> RequestForm:
    """The orgs the user may request for (operators: all) and each org's allowed tiers."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    if actor.is_operator:
        orgs = await list_orgs(session)
    else:
        orgs = sorted((await orgs_by_ids(session, org_ids=actor.org_ids(Role.ADMIN))).values(), key=lambda o: o.slug)
        if not orgs:
            raise NotOrgAdmin(
                "Only an org's enterprise admins can request trusted access. Ask your admin or account rep."
            )
    tiers = await list_tiers(session)
    options = tuple(
        OrgOption(slug=o.slug, name=o.name, domains=tuple(o.domains), tiers=tuple(allowed_tiers(o, tiers)))
        for o in orgs
    )
    options = tuple(o for o in options if o.tiers)
    if not options:
        raise DomainError("No capability tiers are configured for your org yet. Ask an operator.")
    return RequestForm(orgs=options)


def allowed_tiers(org: Org, tiers: list[Tier]) -> list[Tier]:
    """Tiers not above the org's `max_tier` (all tiers when it sets none, none when it names an unknown one)."""
    if not org.max_tier:
        return list(tiers)
    ceiling = next((t for t in tiers if t.id == org.max_tier), None)
    return [t for t in tiers if ceiling is not None and t.rank <= ceiling.rank]


def _validate(sub: RequestSubmission, org: Org, tier: Tier | None, tiers: list[Tier]) -> dict[str, str]:
    errors: dict[str, str] = {}
    members = sub.members
    if not members and not sub.blanket:
        errors[Block.MEMBERS] = "Choose at least one team member, or tick Blanket."
    elif len(members) > MAX_MEMBERS:
        errors[Block.MEMBERS] = f"Choose at most {MAX_MEMBERS} people, or use Blanket."
    elif any(not (m.isalnum() and m[:1] in "UW") for m in members):
        errors[Block.MEMBERS] = "Choose people from this workspace."
    if tier is None:
        errors[Block.TIER] = "Choose a capability tier."
    elif tier.id not in {t.id for t in allowed_tiers(org, tiers)}:
        errors[Block.TIER] = f"{org.name} may request tiers up to {org.max_tier}; {tier.name} is above that."
    if sub.duration_days is None or sub.duration_days < 1:
        errors[Block.DURATION] = "Enter a whole number of days, at least 1."
    elif tier is not None and sub.duration_days > tier.max_days:
        errors[Block.DURATION] = (
            f"Durations are capped by the tier: at most {tier.max_days} days for the {tier.name} tier."
        )
    use_case = len(sub.use_case.strip())
    if not use_case:
        errors[Block.USE_CASE] = "Describe the use case."
    elif use_case > TEXT_MAX:
        errors[Block.USE_CASE] = f"Keep the use case to {TEXT_MAX} characters (it has {use_case})."
    length = len(sub.justification.strip())
    if length < JUSTIFICATION_MIN:
        errors[Block.JUSTIFICATION] = f"Write at least {JUSTIFICATION_MIN} characters (you wrote {length})."
    elif length > TEXT_MAX:
        errors[Block.JUSTIFICATION] = f"Keep the justification to {TEXT_MAX} characters (it has {length})."
    return errors


async def submit_request(
    session: AsyncSession,
    clock: Clock,
    *,
    user_id: str,
    operators: list[str],
    submission: RequestSubmission,
    tz: tzinfo | str = "UTC",
) -> RequestResult:
    """Create a request, audit it, post it to the reps channel and put the decision buttons in its thread."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    if not submission.org_slug:
        raise InvalidInput("Choose an organisation.", errors={Block.ORG: "Choose an organisation."})
    org = await get_org(session, slug=submission.org_slug)
    if org is None or org.id is None:
        raise NotFound(f"There is no org `{safe(submission.org_slug, 64)}` in the directory.")
    if not (actor.is_operator or actor.is_admin_of(org.id)):
        raise NotOrgAdmin(f"Only {org.name}'s enterprise admins can request trusted access for it.")
    members = list(dict.fromkeys(m.strip() for m in submission.members if m and m.strip()))
    sub = submission.model_copy(update={"members": members})
    tier = await get_tier(session, tier_id=sub.tier_id) if sub.tier_id else None
    errors = _validate(sub, org, tier, await list_tiers(session))
    if errors:
        raise InvalidInput("Please fix the highlighted fields.", errors=errors)
    assert tier is not None and sub.duration_days is not None
    channel = await reps_channel(session)
    now = clock.now()
    request = AccessRequest(
        org_id=org.id,
        requester=user_id,
        members=members,
        blanket=sub.blanket,
        tier_id=tier.id,
        use_case=sub.use_case.strip(),
        justification=sub.justification.strip(),
        duration_days=sub.duration_days,
        status=RequestStatus.PENDING,
        created_at=now,
        updated_at=now,
    )
    session.add(request)
    await session.flush()
    request.message_key = parent_key(request.id or 0)
    await session.flush()
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="request.created",
        subject=parent_key(request.id or 0),
        details={
            "org": org.slug,
            "tier": tier.id,
            "members": members,
            "blanket": sub.blanket,
            "duration_days": sub.duration_days,
        },
    )
    card = await build_card(session, request)
    parent = msg.build_request_parent(card, tz)
    outbox.post_message(
        session, clock, channel=channel, key=parent_key(request.id or 0), text=parent.text, blocks=parent.blocks
    )
    actions = msg.build_request_actions(card, tz)
    thread_note(session, clock, channel, request.id or 0, actions, key=actions_key(request.id or 0))
    ack = msg.build_request_submitted_ack(card)
    # A modal submission has nowhere to answer ephemerally, so the confirmation is a DM.
    outbox.send_dm(session, clock, user=user_id, text=ack.text, blocks=ack.blocks)
    return RequestResult(request=request, card=card, ack=ack)


# ---------------------------------------------------------------- decisions


async def authorize_decision(
    session: AsyncSession,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    approving: bool = False,
    tz: tzinfo | str = "UTC",
) -> msg.RequestCard:
    """Check, before a modal opens, that the user may decide on the open request; returns its card."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    request = await load_request(session, request_id)
    await authorize_rep(session, actor, request)
    if approving and request.requester == user_id:
        raise SelfApproval("You can't approve your own request; another rep or an operator must.")
    if request.status not in OPEN:
        raise decided_error(request, tz)
    return await build_card(session, request)


async def _check_org_may_receive(
    session: AsyncSession, request: AccessRequest, now: datetime, tz: tzinfo | str
) -> None:
    """Refuse approval when the org changed since submission: verification lapsed, tier no longer
    allowed, or the security team has its access suspended."""
    org = await get_org_by_id(session, org_id=request.org_id)
    if org is None:
        raise NotFound(f"Request #{request.id}'s org is no longer in the directory.")
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    if org.verified_until is not None and org.verified_until < now.astimezone(zone).date():
        raise InvalidState(
            f"{org.name}'s identity verification lapsed on {org.verified_until}; "
            "update the directory before approving access."
        )
    if request.tier_id not in {t.id for t in allowed_tiers(org, await list_tiers(session))}:
        raise InvalidState(
            f"The {request.tier_id} tier is no longer allowed for {org.name}; deny the request or change the directory."
        )
    if await q.has_security_suspension(session, org_id=org.id or 0):
        raise InvalidState(
            f"{org.name}'s access is suspended by the security team; no new grant can be approved until that is lifted."
        )


async def approve_request(
    session: AsyncSession,
    clock: Clock,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    tz: tzinfo | str = "UTC",
) -> ApprovalResult:
    """Record an approval; the last one needed approves the request and creates the grant."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    request = await load_request(session, request_id, lock=True)
    await authorize_rep(session, actor, request)
    if request.requester == user_id:
        raise SelfApproval("You can't approve your own request; another rep or an operator must.")
    if request.status not in OPEN:
        raise decided_error(request, tz)
    now = clock.now()
    await _check_org_may_receive(session, request, now, tz)
    if not await q.add_approval(session, request_id=request_id, approver=user_id, at=now):
        raise AlreadyDone(f"You already approved request #{request_id}; it needs a different second approver.")
    tier = await get_tier(session, tier_id=request.tier_id)
    needed = max(1, tier.approvals) if tier else 1
    approvals = await q.count_approvals(session, request_id=request_id)
    channel = await reps_channel(session)
    subject = parent_key(request_id)
    if approvals < needed:
        await q.transition_request(session, request_id=request_id, from_statuses=OPEN, values={"updated_at": now})
        await record_audit(
            session,
            clock,
            actor=user_id,
            action="request.approval_recorded",
            subject=subject,
            details={"approvals": approvals, "needed": needed},
        )
        card = await build_card(session, request)
        thread_note(session, clock, channel, request_id, msg.build_approval_recorded_note(card, user_id))
        refresh_parent(session, clock, channel, card, tz)
        await refresh_actions(session, clock, channel, card, tz)
        ack = msg.build_thread_note(
            f"Recorded your approval of request #{request_id}: {approvals} of {needed} approvals."
        )
        return ApprovalResult(request=request, card=card, ack=ack, approvals=approvals, needed=needed)
    won = await q.transition_request(
        session,
        request_id=request_id,
        from_statuses=OPEN,
        values={"status": RequestStatus.APPROVED, "decided_by": user_id, "decided_at": now, "updated_at": now},
    )
    if not won:
        raise decided_error(await load_request(session, request_id), tz)
    days = min(request.duration_days, tier.max_days) if tier else request.duration_days
    reverify_days = min(tier.reverify_days, days) if tier else days
    grant = Grant(
        request_id=request_id,
        org_id=request.org_id,
        members=list(request.members),
        blanket=request.blanket,
        tier_id=request.tier_id,
        status=GrantStatus.ACTIVE,
        starts_at=now,
        expires_at=now + timedelta(days=days),
        reverify_due_at=now + timedelta(days=reverify_days),
    )
    session.add(grant)
    await session.flush()
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="request.approved",
        subject=subject,
        details={"approvals": approvals, "needed": needed, "grant": grant.id},
    )
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="grant.created",
        subject=f"grant:{grant.id}",
        details={
            "request": request_id,
            "tier": grant.tier_id,
            "expires_at": grant.expires_at.isoformat(),
            "reverify_due_at": grant.reverify_due_at.isoformat(),
            "members": grant.members,
            "blanket": grant.blanket,
        },
    )
    card = await build_card(session, request, grant=grant)
    refresh_parent(session, clock, channel, card, tz)
    await refresh_actions(session, clock, channel, card, tz)
    thread_note(session, clock, channel, request_id, msg.build_approved_note(card, tz))
    dm = msg.build_requester_approved_dm(card, tz)
    outbox.send_dm(session, clock, user=request.requester, text=dm.text, blocks=dm.blocks)
    covered = msg.build_member_covered_dm(card, tz)
    for member in request.members:
        if member != request.requester:
            outbox.send_dm(session, clock, user=member, text=covered.text, blocks=covered.blocks)
    ack = msg.build_thread_note(f"Approved request #{request_id}; grant #{grant.id} is active.")
    return ApprovalResult(request=request, card=card, ack=ack, grant=grant, approvals=approvals, needed=needed)
