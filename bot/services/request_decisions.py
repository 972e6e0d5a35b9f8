"""Decisions on an open request other than approval: deny, ask for information, answer it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.ids import Block
from bot.messages import requests as msg
from bot.messages.text import Rendered, mention
from bot.services import outbox
from bot.services.audit import record_audit
from bot.services.errors import AlreadyDecided, AlreadyDone, NotAuthorized
from bot.services.request_common import (
    OPEN,
    RequestResult,
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
    typed_text,
)
from storage.queries import access as q
from storage.tables import AccessRequest, RequestStatus


async def _rep_decides(
    session: AsyncSession,
    clock: Clock,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    tz: tzinfo | str,
    values: Callable[[datetime], dict[str, Any]],
    action: str,
    details: dict[str, Any],
    note: Callable[[msg.RequestCard], Rendered],
    dm: Callable[[msg.RequestCard], Rendered],
) -> tuple[AccessRequest, msg.RequestCard]:
    """A rep moves an open request on: authorise, conditional update, audit, re-render, tell thread and requester."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    request = await load_request(session, request_id, lock=True)
    await authorize_rep(session, actor, request)
    if request.status not in OPEN:
        raise decided_error(request, tz)
    now = clock.now()
    if not await q.transition_request(
        session, request_id=request_id, from_statuses=OPEN, values={**values(now), "updated_at": now}
    ):
        raise decided_error(await load_request(session, request_id), tz)
    await record_audit(session, clock, actor=user_id, action=action, subject=parent_key(request_id), details=details)
    channel = await reps_channel(session)
    card = await build_card(session, request)
    refresh_parent(session, clock, channel, card, tz)
    await refresh_actions(session, clock, channel, card, tz)
    thread_note(session, clock, channel, request_id, note(card))
    rendered = dm(card)
    outbox.send_dm(session, clock, user=request.requester, text=rendered.text, blocks=rendered.blocks)
    return request, card


async def deny_request(
    session: AsyncSession,
    clock: Clock,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    reason: str,
    tz: tzinfo | str = "UTC",
) -> RequestResult:
    """Deny an open request with a reason; parent and buttons updated, thread and requester told."""
    reason = typed_text(reason, Block.REASON, "reason")
    request, card = await _rep_decides(
        session,
        clock,
        request_id=request_id,
        user_id=user_id,
        operators=operators,
        tz=tz,
        values=lambda now: {
            "status": RequestStatus.DENIED,
            "decided_by": user_id,
            "decided_at": now,
            "decision_reason": reason,
        },
        action="request.denied",
        details={"reason": reason},
        note=msg.build_denied_note,
        dm=msg.build_requester_denied_dm,
    )
    return RequestResult(
        request=request, card=card, ack=msg.build_thread_note(f"Denied request #{request_id}; the requester is told.")
    )


async def request_info(
    session: AsyncSession,
    clock: Clock,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    question: str,
    tz: tzinfo | str = "UTC",
) -> RequestResult:
    """Ask the requester a question: status `info_requested`, DM with a Reply button, thread note."""
    question = typed_text(question, Block.QUESTION, "question")
    request, card = await _rep_decides(
        session,
        clock,
        request_id=request_id,
        user_id=user_id,
        operators=operators,
        tz=tz,
        values=lambda now: {
            "status": RequestStatus.INFO_REQUESTED,
            "info_question": question,
            "info_asked_by": user_id,
            "info_answer": None,
        },
        action="request.info_requested",
        details={"question": question},
        note=msg.build_info_requested_note,
        dm=msg.build_info_question_dm,
    )
    return RequestResult(
        request=request,
        card=card,
        ack=msg.build_thread_note(f"Asked {mention(request.requester)}; their answer will land in the thread."),
    )


async def authorize_answer(
    session: AsyncSession, *, request_id: int, user_id: str, operators: list[str]
) -> msg.RequestCard:
    """Check, before the answer modal opens, that the user may answer the request's question."""
    actor = await actor_for(session, user_id=user_id, operators=operators)
    request = await load_request(session, request_id)
    if not (request.requester == user_id or actor.is_admin_of(request.org_id)):
        raise NotAuthorized(f"Only the requester or the org's admins can answer questions about request #{request_id}.")
    if request.status != RequestStatus.INFO_REQUESTED:
        raise AlreadyDecided(
            f"Request #{request_id} is {request.status.replace('_', ' ')}; no question is waiting for an answer."
        )
    return await build_card(session, request)


async def answer_info(
    session: AsyncSession,
    clock: Clock,
    *,
    request_id: int,
    user_id: str,
    operators: list[str],
    answer: str,
    tz: tzinfo | str = "UTC",
) -> RequestResult:
    """The requester (or an org admin) answers: the answer lands in the thread and the request is pending again."""
    await authorize_answer(session, request_id=request_id, user_id=user_id, operators=operators)
    answer = typed_text(answer, Block.ANSWER, "answer")
    now = clock.now()
    won = await q.transition_request(
        session,
        request_id=request_id,
        from_statuses=[RequestStatus.INFO_REQUESTED],
        values={"status": RequestStatus.PENDING, "info_answer": answer, "updated_at": now},
    )
    if not won:
        raise AlreadyDone(f"Request #{request_id} was already answered; nothing changed.")
    request = await load_request(session, request_id)
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="request.info_answered",
        subject=parent_key(request_id),
        details={"answer": answer},
    )
    channel = await reps_channel(session)
    card = await build_card(session, request)
    thread_note(session, clock, channel, request_id, msg.build_info_answered_note(card, user_id, answer))
    refresh_parent(session, clock, channel, card, tz)
    return RequestResult(
        request=request,
        card=card,
        ack=msg.build_thread_note(f"Sent your answer to the account rep of request #{request_id}."),
    )
