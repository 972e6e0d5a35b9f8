"""Access-request listeners: `/trust request|status|grants|revoke`, decision buttons and their modals."""

from __future__ import annotations

import time
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.commands import SlashCall, subcommand
from trustbot.handlers.common import (
    LOOKUP_SECONDS,
    SUBMIT_BUDGET_SECONDS,
    action_value,
    guarded,
    parse_payload,
    reply,
    run_service,
    submit_view,
)
from trustbot.ids import Action, Block, Element
from trustbot.ids import View as ViewId
from trustbot.messages.grants import build_grant_list, build_revoke_ack, build_status
from trustbot.messages.request_modals import (
    build_deny_modal,
    build_info_answer_modal,
    build_request_info_modal,
    build_request_modal,
    build_revoke_modal,
)
from trustbot.messages.requests import build_approval_ack
from trustbot.runtime import Runtime
from trustbot.services.access import decisions, grants, requests, status
from trustbot.services.context import Person
from trustbot.services.errors import InvalidInput
from trustbot.slack.payloads import (
    DecisionContext,
    GrantRef,
    OrgRef,
    RequestRef,
    parse_id,
    submission_from_view,
    view_text,
)
from trustbot.slack.people import look_up_people


class _DecisionModal(Protocol):
    def __call__(self, ctx: DecisionContext, *, summary: str = "") -> View: ...


REVOKE_USAGE = "Usage: `/trust revoke <grant-id> <reason>`, e.g. `/trust revoke 12 contract ended`."


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for request buttons and modals (the subcommands register themselves below)."""
    _register_decisions(app, rt)
    _register_questions(app, rt)
    _register_submission_and_revoke(app, rt)
    _register_connect(app, rt)


def _register_decisions(app: AsyncApp, rt: Runtime) -> None:
    @app.action(Action.REQUEST_APPROVE)
    @guarded(rt)
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, person: Person) -> None:
        await ack()
        ref = parse_payload(RequestRef, action_value(body))
        rid = ref.request_id
        members, workspace = await run_service(
            rt, person, lambda s, ctx: decisions.members_to_recheck_in(s, ctx, request_id=rid)
        )
        profiles = await look_up_people(await rt.people_client(workspace), members, deadline=LOOKUP_SECONDS)
        done = await run_service(
            rt, person, lambda s, ctx: decisions.approve_request(s, ctx, request_id=rid, profiles=profiles)
        )
        grant_id = done.grant.id if done.grant else None
        counts = {"approvals": done.approvals, "needed": done.needed}
        await reply(respond, build_approval_ack(rid, grant_id=grant_id, left_out=done.left_out, **counts))

    async def open_decision_modal(
        body: dict[str, Any], client: AsyncWebClient, person: Person, builder: _DecisionModal
    ) -> None:
        ref = parse_payload(RequestRef, action_value(body))
        card = await run_service(
            rt, person, lambda s, ctx: decisions.authorize_decision(s, ctx, request_id=ref.request_id)
        )
        view = builder(DecisionContext(request_id=ref.request_id), summary=f"#{ref.request_id} · {card.org.name}")
        await client.views_open(trigger_id=body.get("trigger_id"), view=view)

    @app.action(Action.REQUEST_DENY)
    @guarded(rt)
    async def deny(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        await open_decision_modal(body, client, person, build_deny_modal)

    @app.action(Action.REQUEST_INFO)
    @guarded(rt)
    async def ask(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        await open_decision_modal(body, client, person, build_request_info_modal)

    @app.view(ViewId.REQUEST_DENY_REASON)
    @guarded(rt)
    async def deny_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        ctx_ = parse_payload(DecisionContext, view.get("private_metadata"))
        reason = view_text(view, Block.REASON, Element.REASON)
        await submit_view(
            rt,
            person,
            ack,
            Block.REASON,
            lambda s, ctx: decisions.deny_request(s, ctx, request_id=ctx_.request_id, reason=reason),
        )


def _register_questions(app: AsyncApp, rt: Runtime) -> None:
    @app.view(ViewId.REQUEST_INFO_QUESTION)
    @guarded(rt)
    async def question_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        ctx_ = parse_payload(DecisionContext, view.get("private_metadata"))
        question = view_text(view, Block.QUESTION, Element.QUESTION)
        await submit_view(
            rt,
            person,
            ack,
            Block.QUESTION,
            lambda s, ctx: decisions.request_info(s, ctx, request_id=ctx_.request_id, question=question),
        )

    @app.action(Action.REQUEST_REPLY)
    @guarded(rt)
    async def reply_clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        ref = parse_payload(RequestRef, action_value(body))
        card = await run_service(
            rt, person, lambda s, ctx: decisions.authorize_answer(s, ctx, request_id=ref.request_id)
        )
        request = card.request
        view = build_info_answer_modal(ref.request_id, question=request.info_question, asked_by=request.info_asked_by)
        await client.views_open(trigger_id=body.get("trigger_id"), view=view)

    @app.view(ViewId.REQUEST_INFO_ANSWER)
    @guarded(rt)
    async def answer_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        ref = parse_payload(RequestRef, view.get("private_metadata"))
        answer = view_text(view, Block.ANSWER, Element.ANSWER)
        await submit_view(
            rt,
            person,
            ack,
            Block.ANSWER,
            lambda s, ctx: decisions.answer_info(s, ctx, request_id=ref.request_id, answer=answer),
        )


def _register_submission_and_revoke(app: AsyncApp, rt: Runtime) -> None:
    @app.view(ViewId.REQUEST_SUBMIT)
    @guarded(rt)
    async def request_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        submission = submission_from_view(view)
        started = time.monotonic()
        workspace = await run_service(
            rt, person, lambda s, ctx: requests.members_workspace(s, ctx, org_slug=submission.org_slug)
        )
        profiles = await look_up_people(await rt.people_client(workspace), submission.members, deadline=LOOKUP_SECONDS)
        await submit_view(
            rt,
            person,
            ack,
            Block.JUSTIFICATION,
            lambda s, ctx: requests.submit_request(s, ctx, submission=submission, profiles=profiles),
            budget=SUBMIT_BUDGET_SECONDS - (time.monotonic() - started),
        )

    @app.action(Action.GRANT_REVOKE)
    @guarded(rt)
    async def revoke_clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        ref = parse_payload(GrantRef, action_value(body))
        await run_service(rt, person, lambda s, ctx: grants.authorize_revoke(s, ctx, grant_id=ref.grant_id))
        await client.views_open(trigger_id=body.get("trigger_id"), view=build_revoke_modal(ref.grant_id))

    @app.view(ViewId.GRANT_REVOKE_REASON)
    @guarded(rt)
    async def revoke_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        ref = parse_payload(GrantRef, view.get("private_metadata"))
        reason = view_text(view, Block.REASON, Element.REASON)
        await submit_view(
            rt,
            person,
            ack,
            Block.REASON,
            lambda s, ctx: grants.revoke_grant(s, ctx, grant_id=ref.grant_id, reason=reason),
        )


def _register_connect(app: AsyncApp, rt: Runtime) -> None:
    @app.action(Action.CONNECT_REQUEST_ACCESS)
    @guarded(rt)
    async def request_access_clicked(
        ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person
    ) -> None:
        await ack()
        ref = parse_payload(OrgRef, action_value(body))
        form = await run_service(rt, person, lambda s, ctx: requests.open_request_form(s, ctx, org_slug=ref.org_slug))
        await client.views_open(trigger_id=body.get("trigger_id"), view=build_request_modal(form))


@subcommand("request")
async def request_command(call: SlashCall) -> None:
    """Open the request modal for an enterprise admin."""
    await call.ack()
    form = await call.run(requests.open_request_form)
    view: View = build_request_modal(form)
    await call.client.views_open(trigger_id=call.command.trigger_id, view=view)


@subcommand("status")
async def status_command(call: SlashCall) -> None:
    """Open requests and live grants of the caller's orgs; what awaits a rep."""
    await call.ack()
    report = await call.run(status.list_status)
    await call.reply(build_status(report, call.rt.settings.tz))


@subcommand("grants")
async def grants_command(call: SlashCall) -> None:
    """Grants of one org, or of every org the caller may see."""
    await call.ack()
    listing = await call.run(lambda s, ctx: grants.list_org_grants(s, ctx, org_slug=call.command.first))
    await call.reply(build_grant_list(listing, call.rt.settings.tz))


@subcommand("revoke")
async def revoke_command(call: SlashCall) -> None:
    """Revoke a grant with a reason."""
    await call.ack()
    raw_id, _, reason = call.command.rest.partition(" ")
    grant_id = parse_id(raw_id)
    if grant_id is None or not reason.strip():
        raise InvalidInput(REVOKE_USAGE)
    revoked = await call.run(lambda s, ctx: grants.revoke_grant(s, ctx, grant_id=grant_id, reason=reason))
    await call.reply(build_revoke_ack(revoked.row))
