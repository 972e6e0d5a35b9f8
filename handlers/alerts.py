"""Alert listeners: the alert buttons, the Snooze select, the suspend-confirmation modal, `/trust alerts [org]`."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.commands import SlashCall, subcommand
from trustbot.handlers.common import BoltListener, action_value, guarded, parse_payload, reply, run_service, submit_view
from trustbot.ids import Action, Block, Element, View
from trustbot.messages import alert_lists as lists
from trustbot.messages import alert_notes as notes
from trustbot.messages.text import mention, slack_date
from trustbot.runtime import Runtime
from trustbot.services.alerts.actions import AlertAction, act_on_alert, open_suspend, snooze_alert, suspend_access
from trustbot.services.alerts.listing import list_alerts
from trustbot.services.context import Person
from trustbot.slack.payloads import AlertRef, AlertSnooze, view_text

TRANSITION_ACTIONS = {
    Action.ALERT_ACKNOWLEDGE: AlertAction.ACKNOWLEDGE,
    Action.ALERT_UNACKNOWLEDGE: AlertAction.UNACKNOWLEDGE,
    Action.ALERT_ESCALATE: AlertAction.ESCALATE,
    Action.ALERT_FALSE_POSITIVE: AlertAction.FALSE_POSITIVE,
    Action.ALERT_RESOLVE: AlertAction.RESOLVE,
}


def _transition_listener(rt: Runtime, action: AlertAction) -> BoltListener:
    @guarded(rt)
    async def listener(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, person: Person) -> None:
        await ack()
        ref = parse_payload(AlertRef, action_value(body))
        done = await run_service(rt, person, lambda s, ctx: act_on_alert(s, ctx, alert_id=ref.alert_id, action=action))
        await reply(respond, f"Alert #{done.alert_id}: done — {mention(done.user_id)} {done.verb}.")

    return listener


def selected_value(body: dict[str, Any]) -> str:
    """The value of the option chosen in a select (empty when absent or malformed)."""
    action = (body.get("actions") or [{}])[0]
    option = action.get("selected_option") if isinstance(action, dict) else None
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else ""


@subcommand("alerts")
async def alerts_command(call: SlashCall) -> None:
    """`/trust alerts [org]`: open alerts, low ones included."""
    await call.ack()
    listing = await call.run(lambda s, ctx: list_alerts(s, ctx, org_slug=call.command.first))
    await call.reply(lists.build_alert_list(listing.rows, listing.title, call.rt.settings.tz))


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for alert buttons and the suspend modal."""
    for action_id, action in TRANSITION_ACTIONS.items():
        app.action(action_id)(_transition_listener(rt, action))

    @app.action(Action.ALERT_EVIDENCE)
    async def evidence_opened(ack: AsyncAck) -> None:
        await ack()  # Slack opened the link in the person's browser; there is nothing to do

    @app.action(Action.ALERT_SNOOZE)
    @guarded(rt)
    async def snooze_chosen(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, person: Person) -> None:
        await ack()
        choice = parse_payload(AlertSnooze, selected_value(body))
        done = await run_service(
            rt, person, lambda s, ctx: snooze_alert(s, ctx, alert_id=choice.alert_id, hours=choice.hours)
        )
        await reply(
            respond,
            f"Alert #{done.alert_id}: snoozed until {slack_date(done.until)} — repeats are counted quietly "
            "and it will not escalate until then.",
        )

    @app.action(Action.ALERT_SUSPEND)
    @guarded(rt)
    async def suspend_clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        ref = parse_payload(AlertRef, action_value(body))
        card = await run_service(rt, person, lambda s, ctx: open_suspend(s, ctx, alert_id=ref.alert_id))
        await client.views_open(trigger_id=body.get("trigger_id"), view=notes.build_suspend_modal(card))

    @app.view(View.ALERT_SUSPEND_CONFIRM)
    @guarded(rt)
    async def suspend_confirmed(ack: AsyncAck, view: dict[str, Any], person: Person) -> None:
        ref = parse_payload(AlertRef, view.get("private_metadata"))
        reason = view_text(view, Block.REASON, Element.REASON)
        await submit_view(
            rt, person, ack, Block.REASON, lambda s, ctx: suspend_access(s, ctx, alert_id=ref.alert_id, reason=reason)
        )
