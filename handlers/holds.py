"""The org admin's **Confirm** button on an identity hold."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond

from trustbot.handlers.common import action_value, guarded, parse_payload, reply, run_service
from trustbot.ids import Action
from trustbot.runtime import Runtime
from trustbot.services.context import Person
from trustbot.services.identity.holds import confirm_hold
from trustbot.slack.payloads import HoldRef


def register(app: AsyncApp, rt: Runtime) -> None:
    """Register the Confirm button's listener."""

    @app.action(Action.CONFIRM_IDENTITY)
    @guarded(rt)
    async def confirm_clicked(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, person: Person) -> None:
        await ack()
        ref = parse_payload(HoldRef, action_value(body))
        hold = await run_service(rt, person, lambda s, ctx: confirm_hold(s, ctx, ref.hold_id))
        await reply(respond, f"{hold.email} is confirmed again; their hold is lifted.")
