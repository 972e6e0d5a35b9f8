"""What security leads and operators do with an alert: acknowledge (and take it back), escalate,
resolve, mark false positive, snooze (its end is in `snooze`), and suspend the org's access.

Every state change is a conditional update, so double clicks and racing clicks change nothing
twice; each one re-renders the message in place and records who did what in its thread and in
the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.ids import Block
from trustbot.messages import alert_notes as notes
from trustbot.messages import alerts as msg
from trustbot.messages.text import Rendered, mention, plural, slack_date
from trustbot.services import outbox
from trustbot.services.alerts.escalation import tell_escalation
from trustbot.services.alerts.rendering import load_cards, render_alerts
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import org_people
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.errors import AlreadyDecided, AlreadyDone, InvalidInput, InvalidState, NotSecurityLead
from trustbot.services.installs.routing import dm_org_and_home
from trustbot.slack.payloads import SNOOZE_HOURS
from trustbot.storage.queries import alerts as q
from trustbot.storage.queries.grants import has_security_suspension, suspend_for_security
from trustbot.storage.tables import ACTIVE_ALERTS, Alert, AlertStatus


class AlertAction(StrEnum):
    """The state changes a button asks for."""

    ACKNOWLEDGE = "acknowledge"
    UNACKNOWLEDGE = "unacknowledge"
    ESCALATE = "escalate"
    RESOLVE = "resolve"
    FALSE_POSITIVE = "false_positive"


@dataclass(frozen=True)
class _Transition:
    from_statuses: tuple[str, ...]
    to: str
    verb: str


TRANSITIONS = {
    AlertAction.ACKNOWLEDGE: _Transition(
        (AlertStatus.OPEN, AlertStatus.ESCALATED), AlertStatus.ACKNOWLEDGED, "acknowledged this alert and owns it"
    ),
    # Back to Open, owner dropped: the alert is nobody's again and escalates if still unattended.
    AlertAction.UNACKNOWLEDGE: _Transition(
        (AlertStatus.ACKNOWLEDGED,), AlertStatus.OPEN, "unacknowledged this alert; it is open again"
    ),
    AlertAction.ESCALATE: _Transition(
        (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.ESCALATED, "escalated this alert"
    ),
    AlertAction.RESOLVE: _Transition(ACTIVE_ALERTS, AlertStatus.RESOLVED, "resolved this alert"),
    AlertAction.FALSE_POSITIVE: _Transition(
        ACTIVE_ALERTS, AlertStatus.FALSE_POSITIVE, "marked this alert a false positive"
    ),
}


@dataclass(frozen=True)
class Acted:
    """An alert someone just acted on, and what they did."""

    alert_id: int
    user_id: str
    verb: str


@dataclass(frozen=True)
class Suspended:
    """Access suspended from an alert."""

    alert_id: int
    org_slug: str
    grant_ids: list[int]


async def authorized_alert(session: AsyncSession, ctx: ServiceContext, alert_id: int) -> Alert:
    """The alert, if the actor is a security lead of its org or an operator (deny by default, neutrally)."""
    ctx.actor.require_known("act on alerts")
    alert = await q.get_alert(session, alert_id=alert_id)
    if alert is not None and (
        ctx.actor.is_operator or (alert.org_id is not None and ctx.actor.is_security_lead_of(alert.org_id))
    ):
        return alert
    raise NotSecurityLead(f"Only the org's security leads or operators can act on alert #{alert_id}; nothing changed.")


def closed_error(alert: Alert) -> AlreadyDecided:
    """The refusal for acting on an alert whose state moved on: who moved it, and when."""
    who = f" by {mention(alert.closed_by or alert.owner or '')}" if (alert.closed_by or alert.owner) else ""
    when = f" on {slack_date(alert.closed_at)}" if alert.closed_at else ""
    return AlreadyDecided(f"Alert #{alert.id} is already {alert.status.replace('_', ' ')}{who}{when}; nothing changed.")


async def after_change(session: AsyncSession, ctx: ServiceContext, alert_id: int, note: Rendered) -> msg.AlertCard:
    """Re-render the message in place (at once) and record the action in its thread."""
    alert = await q.get_alert(session, alert_id=alert_id)
    if alert is None:
        raise InvalidState(f"Alert #{alert_id} is gone.")
    card = (await load_cards(session, [alert]))[0]
    await render_alerts(session, ctx, [card], immediate=True)
    if alert.message_key and alert.channel:
        outbox.reply_in_thread(
            session, channel=alert.channel, parent_key=alert.message_key, message=note, workspace=alert.workspace
        )
    return card


async def act_on_alert(session: AsyncSession, ctx: ServiceContext, *, alert_id: int, action: AlertAction) -> Acted:
    """Acknowledge, escalate, resolve or mark false positive."""
    step = TRANSITIONS[action]
    alert = await authorized_alert(session, ctx, alert_id)
    now, user_id = ctx.now(), ctx.user_id
    values: dict[str, Any] = {"status": step.to, "updated_at": now}
    if action == AlertAction.ACKNOWLEDGE:
        values["owner"] = user_id
    elif action == AlertAction.UNACKNOWLEDGE:
        values["owner"] = None
    elif action == AlertAction.ESCALATE:
        values["escalated_at"] = now
    else:
        values.update(closed_by=user_id, closed_at=now)
    if not await q.transition_alert(session, alert_id=alert_id, from_statuses=step.from_statuses, values=values):
        alert = await authorized_alert(session, ctx, alert_id)
        if alert.status == step.to and (action != AlertAction.ACKNOWLEDGE or alert.owner == user_id):
            raise AlreadyDone(f"Alert #{alert_id} is already {step.to.replace('_', ' ')}; nothing changed.")
        raise closed_error(alert)
    card = await after_change(session, ctx, alert_id, notes.action_note(user_id, step.verb))
    if action == AlertAction.ESCALATE:
        await tell_escalation(session, ctx, card, manual=True)
    details = {"org": alert.org_slug, "fingerprint": alert.fingerprint, "status": step.to}
    await record_audit(session, ctx, action=f"alert.{action}", subject=f"alert:{alert_id}", details=details)
    return Acted(alert_id=alert_id, user_id=user_id, verb=step.verb)


@dataclass(frozen=True)
class Snoozed:
    """An alert someone just snoozed, and until when."""

    alert_id: int
    user_id: str
    until: datetime


async def snooze_alert(session: AsyncSession, ctx: ServiceContext, *, alert_id: int, hours: int) -> Snoozed:
    """Mute the alert's repeats and escalation for `hours` (1, 4 or 24); audited, noted in its thread."""
    if hours not in SNOOZE_HOURS:
        raise InvalidInput(f"Snooze for {', '.join(str(h) for h in SNOOZE_HOURS)} hours; nothing changed.")
    alert = await authorized_alert(session, ctx, alert_id)
    now, user_id = ctx.now(), ctx.user_id
    until = now + timedelta(hours=hours)
    values = {"snoozed_until": until, "updated_at": now}
    if not await q.transition_alert(session, alert_id=alert_id, from_statuses=ACTIVE_ALERTS, values=values):
        raise closed_error(await authorized_alert(session, ctx, alert_id))
    await after_change(session, ctx, alert_id, notes.snooze_note(user_id, until))
    details = {"org": alert.org_slug, "fingerprint": alert.fingerprint, "hours": hours, "until": until.isoformat()}
    await record_audit(session, ctx, action="alert.snooze", subject=f"alert:{alert_id}", details=details)
    return Snoozed(alert_id=alert_id, user_id=user_id, until=until)


def _check_suspendable(alert: Alert) -> int:
    """The id of the alert's org, whose access can still be suspended for it; the refusal otherwise."""
    if alert.org_id is None:
        raise InvalidState(
            f"Alert #{alert.id} is for `{msg.clean(alert.org_slug, 64)}`, which is not in the directory: "
            "there is no access to suspend."
        )
    if alert.suspended_by:
        raise AlreadyDone(
            f"Access was already suspended for alert #{alert.id} by {mention(alert.suspended_by)}; nothing changed."
        )
    if alert.status not in ACTIVE_ALERTS:
        raise AlreadyDecided(f"Alert #{alert.id} is {alert.status.replace('_', ' ')}; nothing changed.")
    return alert.org_id


def _org_already_suspended(alert: Alert) -> AlreadyDone:
    return AlreadyDone(
        f"Every grant of `{msg.clean(alert.org_slug, 64)}` is already suspended by a security action; nothing changed."
    )


def _nothing_to_suspend(alert: Alert) -> InvalidState:
    return InvalidState(f"`{msg.clean(alert.org_slug, 64)}` has no live grants: there is no access to suspend.")


async def open_suspend(session: AsyncSession, ctx: ServiceContext, *, alert_id: int) -> msg.AlertCard:
    """What the **Suspend access** confirmation shows, after checking the clicker may suspend."""
    alert = await authorized_alert(session, ctx, alert_id)
    _check_suspendable(alert)
    card = (await load_cards(session, [alert]))[0]
    if msg.org_access_suspended(card):
        raise _org_already_suspended(alert)
    if not card.grants:
        raise _nothing_to_suspend(alert)
    return card


def _reason(text: str) -> str:
    reason = msg.strip_controls(text).strip()
    if not reason:
        raise InvalidInput("Give a reason for suspending access.", errors={Block.REASON: "Give a reason."})
    if len(reason) > msg.REASON_MAX:
        raise InvalidInput("Keep the reason short.", errors={Block.REASON: f"Keep it to {msg.REASON_MAX} characters."})
    return reason


async def suspend_access(session: AsyncSession, ctx: ServiceContext, *, alert_id: int, reason: str) -> Suspended:
    """Suspend the org's live grants for this alert, tell the rep and admins, audit, show it on the alert."""
    reason = _reason(reason)
    alert = await authorized_alert(session, ctx, alert_id)
    org_id = _check_suspendable(alert)
    now, user_id = ctx.now(), ctx.user_id
    values = {"suspended_by": user_id, "suspension_reason": reason, "updated_at": now}
    if not await q.transition_alert(
        session, alert_id=alert_id, from_statuses=ACTIVE_ALERTS, unsuspended=True, values=values
    ):
        _check_suspendable(await authorized_alert(session, ctx, alert_id))
        raise AlreadyDone(f"Alert #{alert_id} changed meanwhile; nothing changed.")
    # Suspending is acting on the alert: it counts as acknowledged, so it will not escalate.
    await q.take_ownership(session, alert_id=alert_id, user_id=user_id)
    grant_ids = await suspend_for_security(session, org_id=org_id, at=now, note=reason)
    if not grant_ids:  # roll this one back: another alert suspended the org meanwhile, or it has no access
        if await has_security_suspension(session, org_id=org_id):
            raise _org_already_suspended(alert)
        raise _nothing_to_suspend(alert)
    await grant_changed(session, ctx, grant_ids, GrantEvent.SUSPENDED)
    verb = f"suspended the org's access ({plural(len(grant_ids), 'active grant')})"
    card = await after_change(session, ctx, alert_id, notes.action_note(user_id, verb, reason))
    people = await org_people(session, org_id=org_id)
    note = notes.suspension_dm(card, user_id, reason, len(grant_ids))
    await dm_org_and_home(session, org_id, note, org_people=people.admins, home_people=[people.rep])
    await _rerender_org_alerts(session, ctx, org_id=org_id, except_id=alert_id)
    details = {"org": alert.org_slug, "grants": grant_ids, "reason": reason}
    await record_audit(session, ctx, action="alert.suspend_access", subject=f"alert:{alert_id}", details=details)
    return Suspended(alert_id=alert_id, org_slug=alert.org_slug, grant_ids=grant_ids)


async def _rerender_org_alerts(session: AsyncSession, ctx: ServiceContext, *, org_id: int, except_id: int) -> None:
    """The org's other active alerts stop offering **Suspend access** once its access is suspended."""
    others = [
        a for a in await q.list_active_alerts(session, org_ids=[org_id], include_unknown=False) if a.pk != except_id
    ]
    if others:
        await render_alerts(session, ctx, await load_cards(session, others))
