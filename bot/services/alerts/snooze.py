"""The end of an alert's snooze (set by `actions.snooze_alert` for 1, 4 or 24 hours).

While an alert is snoozed its repeats are still stored, counted and grouped into it, but they
do not edit its message, post anything or DM anyone, and the `alert-escalation` job leaves it
alone. When the snooze ends (the same job, every minute) the message is re-rendered with the
count it reached and the thread says so; escalation then resumes as if it had never stopped.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import alert_notes as notes
from trustbot.services import outbox
from trustbot.services.alerts.rendering import load_cards, render_alerts
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.storage.queries import alerts as q
from trustbot.storage.tables import ACTIVE_ALERTS


async def end_snoozes(session: AsyncSession, ctx: ServiceContext) -> int:
    """Unmark every snooze that ran out; re-render and note the active ones. Returns how many ended."""
    ended = 0
    for alert in await q.ended_snoozes(session, now=ctx.now()):
        until = alert.snoozed_until
        if until is None or not await q.clear_snooze(session, alert_id=alert.pk, until=until):
            continue
        ended += 1
        alert.snoozed_until = None
        if alert.status not in ACTIVE_ALERTS:
            continue  # closed while snoozed: nothing left to announce
        await render_alerts(session, ctx, await load_cards(session, [alert]))
        if alert.message_key and alert.channel:
            note = notes.snooze_ended_note(alert)
            outbox.reply_in_thread(
                session, channel=alert.channel, parent_key=alert.message_key, message=note, workspace=alert.workspace
            )
        details = {"org": alert.org_slug, "until": until.isoformat()}
        await record_audit(session, ctx, action="alert.snooze_ended", subject=f"alert:{alert.pk}", details=details)
    return ended
