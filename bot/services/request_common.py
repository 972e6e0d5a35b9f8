"""Helpers shared by the access-request services: keys, results, loading, authorising, re-rendering.

Outbox keys: `request:{id}` is the rep-channel parent; its thread holds the decision buttons in
a reply saved as `request:{id}:actions`, which is re-rendered (buttons gone) after a decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.messages import requests as msg
from bot.messages.request_modals import TEXT_MAX
from bot.messages.text import Rendered, format_datetime, mention
from bot.services import outbox
from bot.services.errors import AlreadyDecided, DomainError, InvalidInput, NotAccountRep, NotFound, UnknownUser
from bot.services.people import Actor, org_people, resolve_actor
from storage.queries import access as q
from storage.queries.directory import get_directory_state, get_org_by_id, get_tier
from storage.tables import AccessRequest, Grant, RequestStatus

OPEN = q.OPEN_REQUEST_STATUSES


def parent_key(request_id: int) -> str:
    """Outbox key of the rep-channel message of a request."""
    return f"request:{request_id}"


def actions_key(request_id: int) -> str:
    """Outbox key of the thread reply holding a request's decision buttons."""
    return f"request:{request_id}:actions"


@dataclass(frozen=True)
class RequestResult:
    """A request after a service changed it: the card to render and the ephemeral `ack`."""

    request: AccessRequest
    card: msg.RequestCard
    ack: Rendered


@dataclass(frozen=True)
class ApprovalResult(RequestResult):
    """Outcome of an approval: final (grant created) or "N of M approvals"."""

    grant: Grant | None = None
    approvals: int = 0
    needed: int = 1

    @property
    def final(self) -> bool:
        """True when this approval approved the request and created the grant."""
        return self.grant is not None


async def actor_for(session: AsyncSession, *, user_id: str, operators: list[str]) -> Actor:
    """Resolve the user; `UnknownUser` when the directory does not know them at all."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(operators))
    if not actor.is_known:
        raise UnknownUser("You're not in the Trustbot directory, so I can't do that. Ask your account rep to add you.")
    return actor


async def build_card(session: AsyncSession, request: AccessRequest, *, grant: Grant | None = None) -> msg.RequestCard:
    """Load what the request messages show: org, tier, rep, approvers, grant."""
    org = await get_org_by_id(session, org_id=request.org_id)
    if org is None:
        raise NotFound(f"Request #{request.id} belongs to an org that no longer exists.")
    tier = await get_tier(session, tier_id=request.tier_id)
    people = await org_people(session, org_id=request.org_id)
    approvals = await q.list_approvals(session, request_id=request.id or 0)
    if grant is None and request.status == RequestStatus.APPROVED:
        grant = await q.get_grant_for_request(session, request_id=request.id or 0)
    return msg.RequestCard(
        request=request, org=org, tier=tier, rep=people.rep, approvers=tuple(a.approver for a in approvals), grant=grant
    )


async def reps_channel(session: AsyncSession) -> str:
    """The directory's reps channel; a clear `DomainError` when it is unset."""
    state = await get_directory_state(session)
    if not state.reps_channel:
        raise DomainError(
            "Requests can't be routed yet: the directory sets no `reps_channel`. Ask an operator to add it."
        )
    return state.reps_channel


def refresh_parent(session: AsyncSession, clock: Clock, channel: str, card: msg.RequestCard, tz: tzinfo | str) -> None:
    """Queue an update of the request's parent message (`request:{id}`)."""
    rendered = msg.build_request_parent(card, tz)
    outbox.update_message(
        session,
        clock,
        channel=channel,
        key=parent_key(card.request.id or 0),
        text=rendered.text,
        blocks=rendered.blocks,
    )


def thread_note(
    session: AsyncSession, clock: Clock, channel: str, request_id: int, rendered: Rendered, *, key: str | None = None
) -> None:
    """Queue a reply in the request's thread (saved as `key` when it will be edited later)."""
    outbox.reply_in_thread(
        session,
        clock,
        channel=channel,
        parent_key=parent_key(request_id),
        text=rendered.text,
        blocks=rendered.blocks,
        key=key,
    )


async def refresh_actions(
    session: AsyncSession, clock: Clock, channel: str, card: msg.RequestCard, tz: tzinfo | str
) -> None:
    """Queue a re-render of the thread message holding the decision buttons (`request:{id}:actions`)."""
    rendered = msg.build_request_actions(card, tz)
    outbox.update_message(
        session,
        clock,
        channel=channel,
        key=actions_key(card.request.id or 0),
        text=rendered.text,
        blocks=rendered.blocks,
    )


async def load_request(session: AsyncSession, request_id: int, *, lock: bool = False) -> AccessRequest:
    """The request (row-locked with `lock`), or `NotFound`."""
    request = await q.get_request(session, request_id=request_id, for_update=lock)
    if request is None:
        raise NotFound(f"There is no access request #{request_id}.")
    return request


def decided_error(request: AccessRequest, tz: tzinfo | str) -> AlreadyDecided:
    """`AlreadyDecided` naming the request's status, who decided and when."""
    who = f" by {mention(request.decided_by)}" if request.decided_by else ""
    when = f" on {format_datetime(request.decided_at, tz)}" if request.decided_at else ""
    return AlreadyDecided(f"Request #{request.id} was already {request.status}{who}{when}; nothing changed.")


async def authorize_rep(session: AsyncSession, actor: Actor, request: AccessRequest) -> None:
    """Only the org's rep, backup reps or operators pass; `NotAccountRep` otherwise."""
    if actor.is_operator or actor.is_rep_of(request.org_id):
        return
    org = await get_org_by_id(session, org_id=request.org_id)
    name = org.name if org else "this org"
    raise NotAccountRep(f"Only {name}'s account reps or operators can decide on request #{request.id}.")


def typed_text(text: str | None, block: str, what: str) -> str:
    """Stripped typed text of 1..3000 characters, or `InvalidInput` keyed by `block`."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput(f"Give a {what}.", errors={block: f"Give a {what}."})
    if len(value) > TEXT_MAX:
        raise InvalidInput(
            f"Keep the {what} to {TEXT_MAX} characters.",
            errors={block: f"Keep it to {TEXT_MAX} characters (it has {len(value)})."},
        )
    return value
