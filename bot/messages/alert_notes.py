"""Block Kit for what is said about an alert: thread notes, DMs to leads, reps, admins and operators,
and the suspend-confirmation modal."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    InputBlock,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from trustbot.ids import Block as BlockId
from trustbot.ids import Element
from trustbot.ids import View as ViewId
from trustbot.messages.alerts import (
    MAX_GRANTS_SHOWN,
    REASON_MAX,
    AlertCard,
    clean,
    grant_line,
    mrkdwn,
    one_line,
    org_text,
    severity_label,
    strip_controls,
)
from trustbot.messages.text import Rendered, mention, mentions, plural, quote, safe, slack_date, truncate
from trustbot.slack.payloads import AlertRef
from trustbot.storage.tables import Alert, GrantStatus


def build_alert_note(text: str) -> Rendered:
    """A thread reply or DM made of one mrkdwn section (text already escaped by the caller)."""
    return Rendered(text=truncate(text, 3000), blocks=[SectionBlock(text=mrkdwn(truncate(text, 3000)))])


def action_note(user_id: str, verb: str, reason: str | None = None) -> Rendered:
    """Thread record of who did what: `@sam acknowledged this alert.`"""
    text = f"{mention(user_id)} {verb}."
    if reason:
        text += f"\n{quote(strip_controls(reason), 2500)}"
    return build_alert_note(text)


def snooze_note(user_id: str, until: datetime) -> Rendered:
    """Thread record of a snooze: who, and until when (in each reader's zone)."""
    return build_alert_note(
        f":zzz: {mention(user_id)} snoozed this alert until {slack_date(until)}: repeats are counted "
        "but not announced, and it does not escalate until then."
    )


def snooze_ended_note(alert: Alert) -> Rendered:
    """Thread record of a snooze running out: the alert is loud again."""
    return build_alert_note(
        f":alarm_clock: The snooze ended: alert #{alert.id} is active again "
        f"({plural(alert.occurrences, 'occurrence')} so far, last seen {slack_date(alert.last_seen)})."
    )


def critical_dm(card: AlertCard) -> Rendered:
    """What the rep reads when one of their orgs raises a critical alert."""
    alert = card.alert
    return build_alert_note(
        f":red_circle: *Critical alert* #{alert.id} for {org_text(card)}: {one_line(alert.signal, 64)} — "
        f"{clean(alert.summary, 600)}\nThe security channel has the details and the actions."
    )


def suspension_dm(card: AlertCard, user_id: str, reason: str, count: int) -> Rendered:
    """What the rep and admins read when a security action suspends the org's access."""
    return build_alert_note(
        f":lock: {mention(user_id)} suspended {org_text(card)}'s trusted access "
        f"({plural(count, 'active grant')}) because of security alert #{card.alert.id} "
        f"({one_line(card.alert.signal, 64)}).\n*Reason:*\n{quote(strip_controls(reason), 2500)}"
    )


def escalation_note(card: AlertCard, minutes: float, people: list[str]) -> Rendered:
    """Thread reply when an alert escalates for lack of acknowledgement."""
    who = mentions(people) if people else "nobody is on file for this org"
    return build_alert_note(
        f":rotating_light: Alert #{card.alert.id} is *escalated*: unacknowledged for {minutes:g} minutes. {who}"
    )


def escalation_dm(card: AlertCard, minutes: float) -> Rendered:
    """What operators read when an alert escalates."""
    a = card.alert
    return build_alert_note(
        f":rotating_light: {severity_label(a.severity)} alert #{a.id} for {org_text(card)} "
        f"({one_line(a.signal, 64)}) has gone {minutes:g} minutes without acknowledgement."
    )


def build_suspend_modal(card: AlertCard) -> View:
    """Confirmation modal for **Suspend access**: what will be suspended, and a required reason."""
    active = [g for g in card.grants if g.grant.status == GrantStatus.ACTIVE]
    at_stake = "\n".join(f"• {grant_line(g)}" for g in active[:MAX_GRANTS_SHOWN]) or "No active grants right now."
    return View(
        type="modal",
        callback_id=ViewId.ALERT_SUSPEND_CONFIRM,
        private_metadata=AlertRef(alert_id=card.alert.pk).model_dump_json(),
        title=PlainTextObject(text="Suspend access"),
        submit=PlainTextObject(text="Suspend"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=mrkdwn(
                    truncate(
                        f"This suspends every active grant of {org_text(card)} ({plural(len(active), 'grant')}) "
                        f"because of alert #{card.alert.id}, and tells the rep and admins.\n{at_stake}",
                        3000,
                    )
                )
            ),
            InputBlock(
                block_id=BlockId.REASON,
                label=PlainTextObject(text="Reason for suspending access"),
                element=PlainTextInputElement(action_id=Element.REASON, multiline=True, max_length=REASON_MAX),
            ),
        ],
    )


def refused_channel_dm(card: AlertCard, channel: str, error: str, *, shown_in: str | None) -> Rendered:
    """What security leads (and operators) read when Slack refused an alert's channel."""
    alert = card.alert
    where = f"It is shown in <#{shown_in}> instead." if shown_in else "No channel would take it, so here it is."
    return build_alert_note(
        f":warning: Slack refused to post {severity_label(alert.severity)} alert #{alert.id} for {org_text(card)} in "
        f"<#{channel}> (`{safe(error, 60)}`): invite Trustbot there. {where}\n"
        f"*{one_line(alert.signal, 64)}* — {clean(alert.summary, 600)}"
    )
