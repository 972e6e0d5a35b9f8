"""Re-verification listeners: the **Re-verify** button, its modal, and `/trust verify [grant-id]`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.ids import Action, Block, Element, View
from bot.messages.reverification import build_reverify_modal, build_verify_choices
from bot.payloads import GrantRef
from bot.runtime import Runtime
from bot.services import reverification as svc
from handlers.commands import TrustCommand, subcommand
from handlers.common import action_value, guarded, in_transaction, parse_payload, submit_view, user_of


def _submitted(view: dict[str, Any]) -> tuple[int, list[str], set[str]]:
    """Grant id, the roster kept and the attestations ticked, read from the submitted modal."""
    values = view.get("state", {}).get("values", {})
    roster = (values.get(Block.ROSTER) or {}).get(Element.ROSTER) or {}
    ticked = (values.get(Block.ATTESTATIONS) or {}).get(Element.ATTESTATIONS) or {}
    ref = parse_payload(GrantRef, view.get("private_metadata"))
    return (
        ref.grant_id,
        list(roster.get("selected_users") or []),
        {o.get("value") for o in ticked.get("selected_options") or []},
    )


async def _open(rt: Runtime, client: Any, trigger_id: str, grant_id: int, user_id: str) -> None:
    async with rt.db.transaction() as session:
        form = await svc.open_reverify(session, grant_id=grant_id, user_id=user_id, operators=rt.operators)
    await client.views_open(trigger_id=trigger_id, view=build_reverify_modal(form.info, form.request, rt.settings.tz))


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for the Re-verify button and the re-verification modal."""

    @app.action(Action.GRANT_REVERIFY)
    @guarded
    async def reverify_clicked(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        ref = parse_payload(GrantRef, action_value(body))
        await _open(rt, client, body["trigger_id"], ref.grant_id, user_of(body))

    @app.view(View.GRANT_REVERIFY_SUBMIT)
    @guarded
    async def reverify_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(session: Any) -> Any:
            grant_id, members, attestations = _submitted(view)
            return await svc.submit_reverification(
                session,
                rt.clock,
                grant_id=grant_id,
                user_id=user_of(body),
                operators=rt.operators,
                members=members,
                attestations=attestations,
                tz=rt.settings.tz,
            )

        await submit_view(rt, ack, Block.ATTESTATIONS, call)


@subcommand("verify")
async def verify_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """`/trust verify [grant-id]`: open the modal for that grant, the only one, or offer a choice."""
    await ack()
    arg = command.args[0].lstrip("#") if command.args else ""
    if arg.isdigit():
        return await _open(rt, client, command.trigger_id or "", int(arg), command.user_id)
    choices = await in_transaction(rt, lambda s: svc.verify_choices(s, user_id=command.user_id, operators=rt.operators))
    if len(choices) == 1:
        return await _open(rt, client, command.trigger_id or "", choices[0].info.grant.id or 0, command.user_id)
    listing = build_verify_choices([c.info for c in choices], rt.settings.tz)
    await respond(text=listing.text, blocks=listing.blocks, response_type="ephemeral")
