"""Alert listeners: the five alert buttons, the suspend-confirmation modal, `/trust alerts [org]`.

Thin: ack, parse the typed value, call one service in one transaction, reply. Every listener is
`guarded`, so refusals raised by services become ephemeral replies at once.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.ids import Action, Block, Element, View
from bot.messages.alerts import AlertRef
from bot.payloads import view_text
from bot.runtime import Runtime
from bot.services.alert_actions import act_on_alert, list_alerts, open_suspend, suspend_access
from handlers.commands import TrustCommand, subcommand
from handlers.common import action_value, guarded, in_transaction, parse_payload, submit_view, user_of

TRANSITION_ACTIONS = {
    Action.ALERT_ACKNOWLEDGE: "acknowledge",
    Action.ALERT_ESCALATE: "escalate",
    Action.ALERT_FALSE_POSITIVE: "false_positive",
    Action.ALERT_RESOLVE: "resolve",
}


def _transition_listener(rt: Runtime, name: str) -> Any:
    @guarded
    async def listener(ack: Any, body: dict[str, Any], respond: Any) -> None:
        await ack()
        ref = parse_payload(AlertRef, action_value(body))
        note = await in_transaction(
            rt,
            lambda s: act_on_alert(s, rt.clock, rt.settings, user_id=user_of(body), alert_id=ref.alert_id, action=name),
        )
        await respond(text=note, response_type="ephemeral", replace_original=False)

    return listener


@subcommand("alerts")
async def alerts_command(rt: Runtime, command: TrustCommand, ack: Any, respond: Any, client: Any) -> None:
    """`/trust alerts [org]`: open alerts, low ones included."""
    await ack()
    org = command.args[0] if command.args else None
    listing = await in_transaction(rt, lambda s: list_alerts(s, rt.settings, user_id=command.user_id, org_slug=org))
    await respond(response_type="ephemeral", **listing.to_dict())


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for alert buttons and the suspend modal."""
    for action_id, name in TRANSITION_ACTIONS.items():
        app.action(action_id)(_transition_listener(rt, name))

    @app.action(Action.ALERT_SUSPEND)
    @guarded
    async def suspend_clicked(ack: Any, body: dict[str, Any], client: Any) -> None:
        await ack()
        ref = parse_payload(AlertRef, action_value(body))
        view = await in_transaction(
            rt, lambda s: open_suspend(s, rt.settings, user_id=user_of(body), alert_id=ref.alert_id)
        )
        await client.views_open(trigger_id=body.get("trigger_id"), view=view)

    @app.view(View.ALERT_SUSPEND_CONFIRM)
    @guarded
    async def suspend_confirmed(ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        async def call(s: Any) -> Any:
            ref = parse_payload(AlertRef, view.get("private_metadata"))
            return await suspend_access(
                s,
                rt.clock,
                rt.settings,
                user_id=user_of(body),
                alert_id=ref.alert_id,
                reason=view_text(view, Block.REASON, Element.REASON),
            )

        await submit_view(rt, ack, Block.REASON, call)
