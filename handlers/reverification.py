"""Re-verification listeners: the **Re-verify** button, its modal, and `/trust verify [grant-id]`."""

from __future__ import annotations

import time
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.commands import SlashCall, subcommand
from trustbot.handlers.common import (
    LOOKUP_SECONDS,
    SUBMIT_BUDGET_SECONDS,
    action_value,
    guarded,
    parse_payload,
    run_service,
    submit_view,
)
from trustbot.ids import Action, Block, Element, View
from trustbot.messages.reverification import build_reverify_modal, build_verify_choices
from trustbot.runtime import Runtime
from trustbot.services.context import Person
from trustbot.services.reverification import attest
from trustbot.slack.payloads import GrantRef, parse_id, typed_list, view_input
from trustbot.slack.people import look_up_people


def _submitted(view: dict[str, Any]) -> tuple[int, list[str], set[str]]:
    """Grant id, the roster kept and the attestations ticked, read from the submitted modal."""
    roster = view_input(view, Block.ROSTER, Element.ROSTER).get("selected_users")
    ticked = view_input(view, Block.ATTESTATIONS, Element.ATTESTATIONS).get("selected_options")
    ref = parse_payload(GrantRef, view.get("private_metadata"))
    options = [o for o in ticked if isinstance(o, dict)] if isinstance(ticked, list) else []
    return ref.grant_id, typed_list(roster), set(typed_list([o.get("value") for o in options]))


async def _open(rt: Runtime, client: AsyncWebClient, trigger_id: str, grant_id: int, person: Person) -> None:
    form = await run_service(rt, person, lambda s, ctx: attest.open_reverify(s, ctx, grant_id=grant_id))
    await client.views_open(
        trigger_id=trigger_id, view=build_reverify_modal(form.info, form.request, rt.settings.tz, form.idp)
    )


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for the Re-verify button and the re-verification modal."""

    @app.action(Action.GRANT_REVERIFY)
    @guarded(rt)
    async def reverify_clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        ref = parse_payload(GrantRef, action_value(body))
        await _open(rt, client, str(body.get("trigger_id") or ""), ref.grant_id, person)

    @app.view(View.GRANT_REVERIFY_SUBMIT)
    @guarded(rt)
    async def reverify_submitted(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        grant_id, members, attestations = _submitted(view)
        started = time.monotonic()
        workspace = await run_service(rt, person, lambda s, ctx: attest.members_workspace(s, ctx, grant_id=grant_id))
        profiles = await look_up_people(await rt.people_client(workspace), members, deadline=LOOKUP_SECONDS)
        await submit_view(
            rt,
            person,
            ack,
            Block.ATTESTATIONS,
            lambda s, ctx: attest.submit_reverification(
                s, ctx, grant_id=grant_id, members=members, attestations=attestations, profiles=profiles
            ),
            budget=SUBMIT_BUDGET_SECONDS - (time.monotonic() - started),
        )


@subcommand("verify")
async def verify_command(call: SlashCall) -> None:
    """`/trust verify [grant-id]`: open the modal for that grant, the only one, or offer a choice."""
    await call.ack()
    trigger = call.command.trigger_id or ""
    grant_id = parse_id(call.command.first or "")
    if grant_id is not None:
        return await _open(call.rt, call.client, trigger, grant_id, call.person)
    choices = await call.run(attest.verify_choices)
    if len(choices) == 1:
        return await _open(call.rt, call.client, trigger, choices[0].info.grant.pk, call.person)
    await call.reply(build_verify_choices([c.info for c in choices], call.rt.settings.tz))
