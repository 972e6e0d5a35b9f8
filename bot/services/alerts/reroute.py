"""When Slack refuses an alert's channel: show the alert in the default security channel, say why, and tell
the people who must act (its org's security leads; operators too when it is critical or nowhere takes it)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import alert_notes as notes
from trustbot.messages.text import safe
from trustbot.services import outbox
from trustbot.services.alerts.rendering import default_channel, load_cards, render_alerts
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import list_operators
from trustbot.services.installs.routing import workspace_of_org_id
from trustbot.storage.queries import alerts as q
from trustbot.storage.tables import ACTIVE_ALERTS, Severity


async def reroute_refused_alert(
    session: AsyncSession, ctx: ServiceContext, *, key: str, channel: str, error: str
) -> None:
    """Slack gave up on posting the alert saved as `key` in `channel` because of `error`."""
    alert = await q.alert_by_message_key(session, key=key)
    if alert is None or alert.status not in ACTIVE_ALERTS:
        return
    fallback = await default_channel(session)
    rerouted = channel != fallback
    if rerouted:
        # A new key: edits still queued for the refused post fail with it, and the re-post is its own message.
        alert.channel, alert.message_key, alert.render_pending = fallback, None, False
        alert.workspace = None  # the default channel is the home workspace's
        alert.reroute_note = f"Shown here because Slack refused to post it in <#{channel}> ({safe(error, 60)})."
    else:
        alert.message_key, alert.render_pending = None, False  # nowhere takes it: people hear directly
    await session.flush()
    card = (await load_cards(session, [alert]))[0]
    if rerouted:
        await render_alerts(session, ctx, [card], immediate=True)
    leads = list(card.security_leads)
    operators = []
    if alert.severity == Severity.CRITICAL or not rerouted or not leads:
        operators = [o for o in await list_operators(session, ctx.settings.operators) if o not in leads]
    note = notes.refused_channel_dm(card, channel, error, shown_in=fallback if rerouted else None)
    outbox.dm_all(session, leads, note, workspace=await workspace_of_org_id(session, alert.org_id))
    outbox.dm_all(session, operators, note)  # operators are the home workspace's
    details = {
        "org": alert.org_slug,
        "refused_channel": channel,
        "error": error,
        "shown_in": fallback if rerouted else None,
    }
    await record_audit(session, ctx, action="alert.rerouted", subject=f"alert:{alert.pk}", details=details)
