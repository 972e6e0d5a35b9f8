"""Re-verification listeners: the **Re-verify** button, its modal, and `/trust verify [grant-id]`."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from slack_bolt.async_app import AsyncApp

from bot.ids import Action, Block, Element, View
from bot.messages.reverification import build_reverify_modal, build_verify_choices
from bot.payloads import GrantRef
from bot.runtime import Runtime
from bot.services import reverification as svc
from bot.services.errors import DomainError, InvalidInput
from handlers.commands import TrustCommand, subcommand


def _submitted(view: dict[str, Any]) -> tuple[int, list[str], set[str]]:
    """Grant id, the roster kept and the attestations ticked, read from the submitted modal."""
    values = view.get("state", {}).get("values", {})
    roster = (values.get(Block.ROSTER) or {}).get(Element.ROSTER) or {}
    ticked = (values.get(Block.ATTESTATIONS) or {}).get(Element.ATTESTATIONS) or {}
    ref = GrantRef.model_validate_json(view.get("private_metadata") or "{}")
    return ref.grant_id, list(roster.get("selected_users") or []), {o.get("value") for o in ticked.get("selected_options") or []}


async def _refuse(error: DomainError, respond: Any = None, client: Any = None, user: str = "") -> None:
    """Tell the person why, ephemerally (by DM from a modal, which has no response_url).

    Caught here instead of re-raised to the app's error handler: Bolt resets an already-sent
    ack when a listener raises right after it, and Slack then shows the command as failed.
    """
    text = f":no_entry: {error.message}"
    if respond is not None:
        await respond(text=text, response_type="ephemeral", replace_original=False)
    elif client is not None and user:
        await client.chat_postMessage(channel=user, text=text)


async def _open(rt: Runtime, client: Any, trigger_id: str, grant_id: int, user_id: str) -> None:
    async with rt.db.transaction() as session:
        form = await svc.open_reverify(session, grant_id=grant_id, user_id=user_id, operators=rt.operators)
    await client.views_open(trigger_id=trigger_id, view=build_reverify_modal(form.info, form.request, rt.settings.tz))


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for the Re-verify button and the re-verification modal."""

    @app.action(Action.GRANT_REVERIFY)
    async def reverify_clicked(ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any, respond: Any) -> None:
        await ack()
        try:
            ref = GrantRef.model_validate_json(action.get("value") or "{}")
            await _open(rt, client, body["trigger_id"], ref.grant_id, body["user"]["id"])
        except ValidationError:
            await _refuse(DomainError("That button is out of date; nothing changed."), respond)
        except DomainError as exc:
            await _refuse(exc, respond)

    @app.view(View.GRANT_REVERIFY_SUBMIT)
    async def reverify_submitted(ack: Any, body: dict[str, Any], view: dict[str, Any], client: Any) -> None:
        grant_id, members, attestations = _submitted(view)
        try:
            async with rt.db.transaction() as session:
                await svc.submit_reverification(session, rt.clock, grant_id=grant_id, user_id=body["user"]["id"],
                                                operators=rt.operators, members=members, attestations=attestations, tz=rt.settings.tz)
        except InvalidInput as exc:
            await ack(response_action="errors", errors=exc.errors or {Block.ATTESTATIONS: exc.message})
            return
        except DomainError as exc:
            await ack()  # close the modal and say why by DM
            await _refuse(exc, client=client, user=body["user"]["id"])
            return
        await ack()


@subcommand("verify")
async def verify_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """`/trust verify [grant-id]`: open the modal for that grant, the only one, or offer a choice."""
    await ack()
    arg = command.args[0].lstrip("#") if command.args else ""
    try:
        if arg.isdigit():
            return await _open(rt, client, command.trigger_id or "", int(arg), command.user_id)
        async with rt.db.transaction() as session:
            choices = await svc.verify_choices(session, user_id=command.user_id, operators=rt.operators)
        if len(choices) == 1:
            return await _open(rt, client, command.trigger_id or "", choices[0].info.grant.id or 0, command.user_id)
    except DomainError as exc:
        return await _refuse(exc, respond)
    listing = build_verify_choices([c.info for c in choices], rt.settings.tz)
    await respond(text=listing.text, blocks=listing.blocks, response_type="ephemeral")
