"""What every access-request service shares: message keys, loading and authorising, and re-rendering.

Outbox keys: `request:{id}` is the rep-channel parent; its thread holds the decision buttons in
a reply saved as `request:{id}:actions`, which is re-rendered (buttons gone) after a decision.
Every rep-channel write about a request takes its org's turn (`org_share`): the orgs share the
channel fairly, and each org's writes (so each thread's) keep their order.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import requests as msg
from trustbot.messages.text import Rendered, format_datetime, mention
from trustbot.services import outbox
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import Actor, org_people
from trustbot.services.errors import AlreadyDecided, DomainError, NotAccountRep, NotFound
from trustbot.storage.queries.directory import get_directory_state, get_org_by_id, get_tier
from trustbot.storage.queries.grants import grant_for_request
from trustbot.storage.queries.identity import count_group_members, groups_by_ids
from trustbot.storage.queries.requests import get_request, list_approvals
from trustbot.storage.tables import AccessRequest, Grant, RequestStatus


def org_share(org_id: int) -> str:
    """The party a request's rep-channel writes take turns for: its org."""
    return f"org:{org_id}"


def parent_key(request_id: int) -> str:
    """Outbox key of the rep-channel message of a request."""
    return f"request:{request_id}"


def request_of_parent_key(key: str) -> int | None:
    """The request whose rep-channel message `key` is (`parent_key`'s inverse); None for any other key."""
    kind, _, rest = key.partition(":")
    return int(rest) if kind == "request" and rest.isascii() and rest.isdigit() else None


def actions_key(request_id: int) -> str:
    """Outbox key of the thread reply holding a request's decision buttons."""
    return f"request:{request_id}:actions"


async def build_card(session: AsyncSession, request: AccessRequest, *, grant: Grant | None = None) -> msg.RequestCard:
    """Load what the request messages show: org, tier, rep, approvers, grant."""
    org = await get_org_by_id(session, org_id=request.org_id)
    if org is None:
        raise NotFound(f"Request #{request.id} belongs to an org that no longer exists.")
    tier = await get_tier(session, tier_id=request.tier_id)
    people = await org_people(session, org_id=request.org_id)
    approvals = await list_approvals(session, request_id=request.pk)
    if grant is None and request.status == RequestStatus.APPROVED:
        grant = await grant_for_request(session, request_id=request.pk)
    approvers = tuple(a.approver for a in approvals)
    group = None
    if request.scim_group_id is not None:
        found = (await groups_by_ids(session, group_ids=[request.scim_group_id])).get(request.scim_group_id)
        if found is not None:
            group = (found.display_name, await count_group_members(session, group_id=found.pk))
    return msg.RequestCard(
        request=request, org=org, tier=tier, rep=people.rep, approvers=approvers, grant=grant, group=group
    )


async def reps_channel(session: AsyncSession) -> str:
    """The directory's reps channel; a clear `DomainError` when it is unset."""
    state = await get_directory_state(session)
    if not state.reps_channel:
        raise DomainError(
            "Requests can't be routed yet: the directory sets no `reps_channel`. Ask an operator to add it."
        )
    return state.reps_channel


def refresh_parent(session: AsyncSession, ctx: ServiceContext, channel: str, card: msg.RequestCard) -> None:
    """Queue an update of the request's parent message (`request:{id}`)."""
    rendered = msg.build_request_parent(card, ctx.tz)
    key, share = parent_key(card.request.pk), org_share(card.request.org_id)
    outbox.update_message(session, channel=channel, key=key, message=rendered, share=share)


def refresh_actions(session: AsyncSession, ctx: ServiceContext, channel: str, card: msg.RequestCard) -> None:
    """Queue a re-render of the thread message holding the decision buttons (`request:{id}:actions`)."""
    rendered = msg.build_request_actions(card, ctx.tz)
    key, share = actions_key(card.request.pk), org_share(card.request.org_id)
    outbox.update_message(session, channel=channel, key=key, message=rendered, share=share)


def refresh_both(session: AsyncSession, ctx: ServiceContext, channel: str, card: msg.RequestCard) -> None:
    """Re-render the parent and the decision buttons after the request's state changed."""
    refresh_parent(session, ctx, channel, card)
    refresh_actions(session, ctx, channel, card)


def thread_note(
    session: AsyncSession, channel: str, request: AccessRequest, message: Rendered, *, key: str | None = None
) -> None:
    """Queue a reply in the request's thread (saved as `key` when it will be edited later)."""
    parent, share = parent_key(request.pk), org_share(request.org_id)
    outbox.reply_in_thread(session, channel=channel, parent_key=parent, message=message, key=key, share=share)


async def load_request(
    session: AsyncSession, request_id: int, *, lock: bool = False, refusal: DomainError | None = None
) -> AccessRequest:
    """The request (row-locked with `lock`), or `refusal` (default `NotFound`) when there is none.

    Pass the refusal someone without the right role would get, so a missing request and one they
    may not touch read the same: refusals never reveal which requests exist."""
    request = await get_request(session, request_id=request_id, for_update=lock)
    if request is None:
        raise refusal or NotFound(f"There is no access request #{request_id}.")
    return request


def decided_error(request: AccessRequest, ctx: ServiceContext) -> AlreadyDecided:
    """`AlreadyDecided` naming the request's status, who decided and when."""
    who = f" by {mention(request.decided_by)}" if request.decided_by else ""
    when = f" on {format_datetime(request.decided_at, ctx.tz)}" if request.decided_at else ""
    return AlreadyDecided(f"Request #{request.id} was already {request.status}{who}{when}; nothing changed.")


def rep_refusal(request_id: int | None) -> NotAccountRep:
    """The refusal for deciding on a request without being its org's rep (or an operator)."""
    return NotAccountRep(f"Only the org's account reps or operators can decide on request #{request_id}.")


def authorize_rep(actor: Actor, request: AccessRequest) -> None:
    """Only the org's rep, backup reps or operators pass; `NotAccountRep` otherwise."""
    if not (actor.is_operator or actor.is_rep_of(request.org_id)):
        raise rep_refusal(request.id)
