"""Escalation of alerts: by a security lead's click, or by the `alert-escalation` job when nobody acknowledged
a high or critical alert within `TRUSTBOT_ALERT_ESCALATE_MINUTES` (a snoozed alert waits until its snooze ends)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import alert_notes as notes
from trustbot.messages import alerts as msg
from trustbot.messages.text import mention
from trustbot.services import outbox
from trustbot.services.alerts.rendering import flush_held_back, load_cards, render_alerts
from trustbot.services.alerts.snooze import end_snoozes
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import list_operators
from trustbot.storage.queries import alerts as q
from trustbot.storage.tables import AlertStatus, Severity


async def tell_escalation(session: AsyncSession, ctx: ServiceContext, card: msg.AlertCard, *, manual: bool) -> None:
    """Mention leads and rep in the alert's thread; DM the operators."""
    alert = card.alert
    minutes = ctx.settings.alert_escalate_minutes
    people = [*card.security_leads, *([card.rep] if card.rep else [])]
    if alert.message_key and alert.channel and (people or not manual):
        note = (
            notes.build_alert_note(f":rotating_light: Escalated: {', '.join(mention(p) for p in people)}")
            if manual
            else notes.escalation_note(card, minutes, people)
        )
        outbox.reply_in_thread(
            session, channel=alert.channel, parent_key=alert.message_key, message=note, workspace=alert.workspace
        )
    outbox.dm_all(session, await list_operators(session, ctx.settings.operators), notes.escalation_dm(card, minutes))


async def escalate_overdue(session: AsyncSession, ctx: ServiceContext) -> str:
    """Escalate unacknowledged high/critical alerts past the delay; catch up held-back messages. Returns the outcome."""
    now = ctx.now()
    minutes = ctx.settings.alert_escalate_minutes
    escalated = 0
    ended = await end_snoozes(session, ctx)  # first, so an alert whose snooze ran out escalates in this run
    overdue = await q.overdue_alerts(
        session, before=now - timedelta(minutes=minutes), severities=[Severity.HIGH, Severity.CRITICAL], now=now
    )
    for alert in overdue:
        values = {"status": AlertStatus.ESCALATED, "escalated_at": now, "updated_at": now}
        if alert.suspended_by or not await q.transition_alert(
            session, alert_id=alert.pk, from_statuses=(AlertStatus.OPEN,), values=values
        ):
            continue
        fresh = await q.get_alert(session, alert_id=alert.pk)
        if fresh is None:
            continue
        card = (await load_cards(session, [fresh]))[0]
        await render_alerts(session, ctx, [card], immediate=True)
        await tell_escalation(session, ctx, card, manual=False)
        details = {"org": alert.org_slug, "reason": "unacknowledged", "minutes": minutes}
        await record_audit(session, ctx, action="alert.escalate", subject=f"alert:{alert.pk}", details=details)
        escalated += 1
    caught_up = await flush_held_back(session, ctx)
    outcome = f"escalated {escalated} alert(s); {caught_up} held-back alert message(s) caught up"
    return outcome + (f"; {ended} snooze(s) ended" if ended else "")
