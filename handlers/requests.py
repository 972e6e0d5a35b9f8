"""Access-request listeners: `/trust request|status|grants|revoke`, decision buttons and their modals."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.ids import Action, Block, Element, View
from bot.messages.grants import build_grant_list, build_status
from bot.messages.request_modals import (
    build_deny_modal,
    build_info_answer_modal,
    build_request_info_modal,
    build_request_modal,
    build_revoke_modal,
)
from bot.payloads import (
    DecisionContext,
    GrantRef,
    RequestRef,
    submission_from_view,
    view_text,
)
from bot.runtime import Runtime
from bot.services import request_decisions, request_grants, requests
from bot.services.errors import InvalidInput
from handlers.commands import TrustCommand, subcommand
from handlers.common import (
    action_value,
    guarded,
    in_transaction,
    parse_payload,
    submit_view,
    user_of,
)

REVOKE_USAGE = "Usage: `/trust revoke <grant-id> <reason>`, e.g. `/trust revoke 12 contract ended`."


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for request buttons and modals (the subcommands register themselves below)."""
    ops, tz = rt.settings.operators, rt.settings.tz

    @app.action(Action.REQUEST_APPROVE)
    @guarded
    async def approve(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        ref = parse_payload(RequestRef, action_value(body))
        result = await in_transaction(
            rt,
            lambda s: requests.approve_request(
                s, rt.clock, request_id=ref.request_id, user_id=user_of(body), operators=ops, tz=tz
            ),
        )
        await respond(**result.ack.to_dict(), response_type="ephemeral", replace_original=False)

    async def open_decision_modal(body: dict[str, Any], client: Any, builder: Any) -> None:
        ref = parse_payload(RequestRef, action_value(body))
        card = await in_transaction(
            rt,
            lambda s: requests.authorize_decision(
                s, request_id=ref.request_id, user_id=user_of(body), operators=ops, tz=tz
            ),
        )
        view = builder(DecisionContext(request_id=ref.request_id), summary=f"#{ref.request_id} · {card.org.name}")
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.action(Action.REQUEST_DENY)
    @guarded
    async def deny(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        await open_decision_modal(body, client, build_deny_modal)

    @app.action(Action.REQUEST_INFO)
    @guarded
    async def ask(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        await open_decision_modal(body, client, build_request_info_modal)

    @app.view(View.REQUEST_DENY_REASON)
    @guarded
    async def deny_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(s: Any) -> Any:
            ctx = parse_payload(DecisionContext, view.get("private_metadata"))
            return await request_decisions.deny_request(
                s,
                rt.clock,
                request_id=ctx.request_id,
                user_id=user_of(body),
                operators=ops,
                reason=view_text(view, Block.REASON, Element.REASON),
                tz=tz,
            )

        await submit_view(rt, ack, Block.REASON, call)

    @app.view(View.REQUEST_INFO_QUESTION)
    @guarded
    async def question_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(s: Any) -> Any:
            ctx = parse_payload(DecisionContext, view.get("private_metadata"))
            return await request_decisions.request_info(
                s,
                rt.clock,
                request_id=ctx.request_id,
                user_id=user_of(body),
                operators=ops,
                question=view_text(view, Block.QUESTION, Element.QUESTION),
                tz=tz,
            )

        await submit_view(rt, ack, Block.QUESTION, call)

    @app.action(Action.REQUEST_REPLY)
    @guarded
    async def reply(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        ref = parse_payload(RequestRef, action_value(body))
        card = await in_transaction(
            rt,
            lambda s: request_decisions.authorize_answer(
                s, request_id=ref.request_id, user_id=user_of(body), operators=ops
            ),
        )
        view = build_info_answer_modal(
            ref.request_id, question=card.request.info_question, asked_by=card.request.info_asked_by
        )
        await client.views_open(trigger_id=body["trigger_id"], view=view)

    @app.view(View.REQUEST_INFO_ANSWER)
    @guarded
    async def answer_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(s: Any) -> Any:
            ref = parse_payload(RequestRef, view.get("private_metadata"))
            return await request_decisions.answer_info(
                s,
                rt.clock,
                request_id=ref.request_id,
                user_id=user_of(body),
                operators=ops,
                answer=view_text(view, Block.ANSWER, Element.ANSWER),
                tz=tz,
            )

        await submit_view(rt, ack, Block.ANSWER, call)

    @app.view(View.REQUEST_SUBMIT)
    @guarded
    async def request_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await submit_view(
            rt,
            ack,
            Block.JUSTIFICATION,
            lambda s: requests.submit_request(
                s, rt.clock, user_id=user_of(body), operators=ops, submission=submission_from_view(view), tz=tz
            ),
        )

    @app.action(Action.GRANT_REVOKE)
    @guarded
    async def revoke_clicked(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        ref = parse_payload(GrantRef, action_value(body))
        await in_transaction(
            rt,
            lambda s: request_grants.authorize_revoke(s, grant_id=ref.grant_id, user_id=user_of(body), operators=ops),
        )
        await client.views_open(trigger_id=body["trigger_id"], view=build_revoke_modal(ref.grant_id))

    @app.view(View.GRANT_REVOKE_REASON)
    @guarded
    async def revoke_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(s: Any) -> Any:
            ref = parse_payload(GrantRef, view.get("private_metadata"))
            return await request_grants.revoke_grant(
                s,
                rt.clock,
                grant_id=ref.grant_id,
                user_id=user_of(body),
                operators=ops,
                reason=view_text(view, Block.REASON, Element.REASON),
                tz=tz,
            )

        await submit_view(rt, ack, Block.REASON, call)


@subcommand("request")
async def request_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """Open the request modal for an enterprise admin."""
    await ack()
    form = await in_transaction(
        rt, lambda s: requests.open_request_form(s, user_id=command.user_id, operators=rt.settings.operators)
    )
    await client.views_open(trigger_id=command.trigger_id, view=build_request_modal(form))


@subcommand("status")
async def status_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """Open requests and live grants of the caller's orgs; what awaits a rep."""
    await ack()
    report = await in_transaction(
        rt, lambda s: request_grants.list_status(s, user_id=command.user_id, operators=rt.settings.operators)
    )
    await respond(**build_status(report, rt.settings.tz).to_dict(), response_type="ephemeral")


@subcommand("grants")
async def grants_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """Grants of one org."""
    await ack()
    org = command.args[0].lower() if command.args else None
    listing = await in_transaction(
        rt,
        lambda s: request_grants.list_grants(s, user_id=command.user_id, operators=rt.settings.operators, org_slug=org),
    )
    await respond(**build_grant_list(listing, rt.settings.tz).to_dict(), response_type="ephemeral")


@subcommand("revoke")
async def revoke_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """Revoke a grant with a reason."""
    await ack()
    grant_id, _, reason = command.rest.partition(" ")
    if not grant_id.lstrip("#").isdigit() or not reason.strip():
        raise InvalidInput(REVOKE_USAGE)
    result = await in_transaction(
        rt,
        lambda s: request_grants.revoke_grant(
            s,
            rt.clock,
            grant_id=int(grant_id.lstrip("#")),
            user_id=command.user_id,
            operators=rt.settings.operators,
            reason=reason.strip(),
            tz=rt.settings.tz,
        ),
    )
    await respond(**result.ack.to_dict(), response_type="ephemeral")
