"""Access requests are opened here: the request form an admin may fill, and its submission.

A submission is one unit of work: authorise (deny by default), validate every field, store,
audit, and queue the rep-channel message with its decision buttons in the thread.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.ids import Block
from trustbot.messages import requests as msg
from trustbot.messages.request_modals import MAX_GROUP_OPTIONS, GroupOption, OrgOption, RequestForm
from trustbot.services import outbox
from trustbot.services.access.cards import actions_key, build_card, org_share, parent_key, reps_channel, thread_note
from trustbot.services.access.limits import JUSTIFICATION_MIN, MAX_MEMBERS, TEXT_MAX
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.entitlements.identity import Profile, check_members
from trustbot.services.errors import DomainError, InvalidInput, NotOrgAdmin
from trustbot.services.installs.routing import workspace_of_org
from trustbot.slack.payloads import RequestSubmission
from trustbot.storage.queries import identity as idq
from trustbot.storage.queries.directory import get_org, get_tier, list_orgs, list_tiers, orgs_by_ids
from trustbot.storage.queries.requests import count_open_requests, insert_request, request_by_submission
from trustbot.storage.tables import AccessRequest, Org, RequestStatus, Role, Tier

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubmittedRequest:
    """A request just created, with what its messages show."""

    request: AccessRequest
    card: msg.RequestCard


def allowed_tiers(org: Org, tiers: list[Tier]) -> list[Tier]:
    """Tiers not above the org's `max_tier` (all tiers when it sets none, none when it names an unknown one)."""
    if not org.max_tier:
        return list(tiers)
    ceiling = next((t for t in tiers if t.id == org.max_tier), None)
    return [t for t in tiers if ceiling is not None and t.rank <= ceiling.rank]


async def open_request_form(session: AsyncSession, ctx: ServiceContext, *, org_slug: str | None = None) -> RequestForm:
    """The orgs the person may request for (operators: all) and each org's allowed tiers; only `org_slug` when
    given (the Request access button of that org's Slack Connect channel), for its admins and operators only."""
    actor = ctx.actor
    actor.require_known()
    if org_slug is not None:
        orgs = [await _org_to_request_for(session, ctx, org_slug)]
        await _require_room(session, ctx, orgs)
    elif actor.is_operator:
        orgs = await list_orgs(session)
    else:
        orgs = sorted((await orgs_by_ids(session, org_ids=actor.org_ids(Role.ADMIN))).values(), key=lambda o: o.slug)
        if not orgs:
            raise NotOrgAdmin(
                "Only an org's enterprise admins can request trusted access. Ask your admin or account rep."
            )
        await _require_room(session, ctx, orgs)  # opens while one of them has room; submitting checks the one chosen
    tiers = await list_tiers(session)
    options = tuple(
        OrgOption(slug=o.slug, name=o.name, domains=tuple(o.domains), tiers=tuple(allowed_tiers(o, tiers)))
        for o in orgs
    )
    options = tuple(o for o in options if o.tiers)
    if not options:
        raise DomainError("No capability tiers are configured for your org yet. Ask an operator.")
    names = {o.pk: o.name for o in orgs if o.slug in {opt.slug for opt in options}}
    groups = await idq.groups_of_orgs(session, org_ids=names, limit=MAX_GROUP_OPTIONS + 1)
    return RequestForm(
        orgs=options,
        justification_min=JUSTIFICATION_MIN,
        text_max=TEXT_MAX,
        groups=tuple(GroupOption(scim_id=g.scim_id, name=g.display_name, org_name=names[g.org_id]) for g in groups),
    )


def _members_problem(sub: RequestSubmission) -> str | None:
    if not sub.members and not sub.blanket and not sub.group:
        return "Choose at least one team member, or tick Blanket."
    if len(sub.members) > MAX_MEMBERS:
        return f"Choose at most {MAX_MEMBERS} people, or use Blanket."
    if any(not (m.isalnum() and m.isascii() and m[:1] in "UW") for m in sub.members):
        return "Choose people from this workspace."
    return None


def _text_problem(text: str, what: str, *, minimum: int = 1) -> str | None:
    length = len(text.strip())
    if length < minimum:
        return f"Describe the {what}." if minimum == 1 else f"Write at least {minimum} characters (you wrote {length})."
    if length > TEXT_MAX:
        return f"Keep the {what} to {TEXT_MAX} characters (it has {length})."
    return None


def validate(sub: RequestSubmission, org: Org, tier: Tier | None, tiers: list[Tier]) -> dict[str, str]:
    """Inline problems with a submission, keyed by the modal block they concern."""
    problems = {
        Block.MEMBERS: _members_problem(sub),
        Block.USE_CASE: _text_problem(sub.use_case, "use case"),
        Block.JUSTIFICATION: _text_problem(sub.justification, "justification", minimum=JUSTIFICATION_MIN),
    }
    if tier is None:
        problems[Block.TIER] = "Choose a capability tier."
    elif tier.id not in {t.id for t in allowed_tiers(org, tiers)}:
        problems[Block.TIER] = f"{org.name} may request tiers up to {org.max_tier}; {tier.name} is above that."
    if sub.duration_days is None or sub.duration_days < 1:
        problems[Block.DURATION] = "Enter a whole number of days, at least 1."
    elif tier is not None and sub.duration_days > tier.max_days:
        problems[Block.DURATION] = (
            f"Durations are capped by the tier: at most {tier.max_days} days for the {tier.name} tier."
        )
    return {str(block): text for block, text in problems.items() if text}


async def _org_to_request_for(session: AsyncSession, ctx: ServiceContext, slug: str) -> Org:
    ctx.actor.require_known()
    if not slug:
        raise InvalidInput("Choose an organisation.", errors={Block.ORG: "Choose an organisation."})
    org = await get_org(session, slug=slug)
    if org is None or not (ctx.actor.is_operator or ctx.actor.is_admin_of(org.pk)):
        raise NotOrgAdmin("Only an org's enterprise admins can request trusted access for it.")
    return org


class TooManyOpenRequests(DomainError):
    """The org already has as many requests awaiting a decision as it may have at once."""


async def _require_room(session: AsyncSession, ctx: ServiceContext, orgs: list[Org]) -> None:
    """Refuse when none of `orgs` may open another request: one org's flood must not bury the reps' queue."""
    cap = ctx.settings.max_open_requests_per_org
    counts = await count_open_requests(session, org_ids=[o.pk for o in orgs])
    full = [o for o in orgs if counts.get(o.pk, 0) >= cap]
    if not full or len(full) < len(orgs):
        return
    org = full[0]
    log.warning("refused a new request for %s: %d requests already await a decision", org.slug, cap)
    # Shown inline in the modal (plain text) or ephemerally (mrkdwn): the slug reads the same in both.
    raise TooManyOpenRequests(
        f"{org.slug} already has {cap} requests waiting for a decision, the most an org may have open at once, "
        "so nothing was saved. Ask your account rep to decide the pending ones, then submit again."
    )


async def members_workspace(session: AsyncSession, ctx: ServiceContext, *, org_slug: str) -> str | None:
    """The workspace whose `users.info` knows the people a request for `org_slug` names (the org's; None: home).

    Only routing (who may submit is `submit_request`'s to decide), and only for people the directory knows."""
    ctx.actor.require_known()
    return await workspace_of_org(session, await get_org(session, slug=org_slug)) if org_slug else None


async def submit_request(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    submission: RequestSubmission,
    profiles: Mapping[str, Profile] | None = None,
) -> SubmittedRequest:
    """Create a request, audit it, post it to the reps channel and put the decision buttons in its thread.
    `profiles` is what Slack shows of the named members; anyone missing or unverified is refused by name."""
    org = await _org_to_request_for(session, ctx, submission.org_slug)
    if submission.submission_key:
        # A double click on Submit sends the same view twice: the second finds the first's request.
        earlier = await request_by_submission(session, key=submission.submission_key)
        if earlier is not None and ctx.actor.is_person(earlier.requester, earlier.requester_team):
            return SubmittedRequest(request=earlier, card=await build_card(session, earlier))
    await _require_room(session, ctx, [org])
    members = list(dict.fromkeys(m.strip() for m in submission.members if m and m.strip()))
    sub = submission.model_copy(update={"members": members})
    tier = await get_tier(session, tier_id=sub.tier_id) if sub.tier_id else None
    errors = validate(sub, org, tier, await list_tiers(session))
    emails, refused = check_members(members, profiles, org.domains)
    if refused and str(Block.MEMBERS) not in errors:
        errors[str(Block.MEMBERS)] = refused
    group = await idq.find_group(session, org_id=org.pk, ref=sub.group) if sub.group else None
    if sub.group and group is None:
        errors[str(Block.GROUP)] = f"{org.name}'s identity provider has no group “{sub.group[:100]}”."
    if errors or tier is None or sub.duration_days is None:
        raise InvalidInput("Please fix the highlighted fields.", errors=errors)
    channel = await reps_channel(session)
    now = ctx.now()
    request = AccessRequest(
        org_id=org.pk,
        requester=ctx.user_id,
        requester_team=ctx.actor.team,
        members=members,
        member_emails=emails,
        blanket=sub.blanket,
        scim_group_id=group.pk if group else None,
        tier_id=tier.id,
        use_case=sub.use_case.strip(),
        justification=sub.justification.strip(),
        duration_days=sub.duration_days,
        status=RequestStatus.PENDING,
        created_at=now,
        updated_at=now,
        submission_key=sub.submission_key,
    )
    if not await insert_request(session, request):
        earlier = await request_by_submission(session, key=sub.submission_key or "")
        assert earlier is not None  # the key was taken by a request that exists
        return SubmittedRequest(request=earlier, card=await build_card(session, earlier))
    request.message_key = parent_key(request.pk)
    await session.flush()
    return SubmittedRequest(request=request, card=await _announce(session, ctx, channel, request, org))


async def _announce(
    session: AsyncSession, ctx: ServiceContext, channel: str, request: AccessRequest, org: Org
) -> msg.RequestCard:
    """Audit a new request, post it to the reps channel with its decision buttons in the thread, DM the requester."""
    request_id = request.pk
    details = {
        "org": org.slug,
        "tier": request.tier_id,
        "members": request.members,
        "blanket": request.blanket,
        "group": request.scim_group_id,
        "duration_days": request.duration_days,
    }
    await record_audit(session, ctx, action="request.created", subject=parent_key(request_id), details=details)
    card = await build_card(session, request)
    parent = msg.build_request_parent(card, ctx.tz)
    outbox.post_message(session, channel=channel, key=parent_key(request_id), message=parent, share=org_share(org.pk))
    thread_note(session, channel, request, msg.build_request_actions(card, ctx.tz), key=actions_key(request_id))
    # A modal submission has nowhere to answer ephemerally, so the confirmation is a DM.
    workspace = await workspace_of_org(session, org)
    outbox.send_dm(session, user=ctx.user_id, message=msg.build_request_submitted_ack(card), workspace=workspace)
    return card
