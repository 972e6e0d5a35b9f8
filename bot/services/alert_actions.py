"""What security leads and operators do with alerts: the five buttons, `/trust alerts`, and the
`alert-escalation` job. Every state change is a conditional update, so double clicks and racing
clicks change nothing twice; each one re-renders the message in place and records who did what
in its thread and in the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from slack_sdk.models.views import View
from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.ids import Block
from bot.messages import alerts as msg
from bot.messages.text import Rendered, format_datetime, mention, plural
from bot.services import outbox
from bot.services.alert_rendering import flush_held_back, load_cards, render_alerts
from bot.services.audit import record_audit
from bot.services.errors import (
    AlreadyDecided,
    AlreadyDone,
    InvalidInput,
    InvalidState,
    NotFound,
    NotSecurityLead,
    UnknownUser,
)
from bot.services.people import Actor, operator_ids, org_people, resolve_actor
from storage.database import Database
from storage.queries import alerts as q
from storage.queries.directory import get_directory_state, get_org, orgs_by_ids
from storage.tables import Alert, AlertStatus, Role, Severity

ACTIVE = q.ACTIVE_ALERT_STATUSES


@dataclass(frozen=True)
class _Transition:
    from_statuses: tuple[str, ...]
    to: str
    verb: str


TRANSITIONS = {
    "acknowledge": _Transition(
        (AlertStatus.OPEN, AlertStatus.ESCALATED), AlertStatus.ACKNOWLEDGED, "acknowledged this alert and owns it"
    ),
    "escalate": _Transition(
        (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED), AlertStatus.ESCALATED, "escalated this alert"
    ),
    "resolve": _Transition(ACTIVE, AlertStatus.RESOLVED, "resolved this alert"),
    "false_positive": _Transition(ACTIVE, AlertStatus.FALSE_POSITIVE, "marked this alert a false positive"),
}


async def _load(session: AsyncSession, alert_id: int) -> Alert:
    alert = await q.get_alert(session, alert_id=alert_id)
    if alert is None:
        raise NotFound(f"There is no alert #{alert_id}.")
    return alert


async def _authorize(session: AsyncSession, settings: Settings, user_id: str, alert: Alert) -> Actor:
    """Only the alert's org's security leads, and operators, pass (deny by default)."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(settings.operators))
    if actor.is_operator or (alert.org_id is not None and actor.is_security_lead_of(alert.org_id)):
        return actor
    if not actor.is_known:
        raise UnknownUser("You're not in the Trustbot directory, so you can't act on alerts.")
    whose = (
        f"{alert.org_slug}'s security leads"
        if alert.org_id is not None
        else "operators (the org is not in the directory)"
    )
    raise NotSecurityLead(f"Only {whose} or operators can act on alert #{alert.id}; nothing changed.")


def _closed_error(alert: Alert, tz: Any) -> AlreadyDecided:
    who = f" by {mention(alert.closed_by or alert.owner or '')}" if (alert.closed_by or alert.owner) else ""
    when = f" on {format_datetime(alert.closed_at, tz)}" if alert.closed_at else ""
    return AlreadyDecided(f"Alert #{alert.id} is already {alert.status.replace('_', ' ')}{who}{when}; nothing changed.")


async def _after_change(
    session: AsyncSession, clock: Clock, settings: Settings, alert_id: int, note: Rendered
) -> msg.AlertCard:
    """Re-render the message in place (at once) and record the action in its thread."""
    alert = await _load(session, alert_id)
    card = (await load_cards(session, [alert]))[0]
    await render_alerts(session, clock, settings, [card], immediate=True)
    if alert.message_key and alert.channel:
        outbox.reply_in_thread(
            session, clock, channel=alert.channel, parent_key=alert.message_key, text=note.text, blocks=note.blocks
        )
    return card


async def act_on_alert(
    session: AsyncSession, clock: Clock, settings: Settings, *, user_id: str, alert_id: int, action: str
) -> str:
    """Acknowledge, escalate, resolve or mark false positive; return the clicker's confirmation."""
    step = TRANSITIONS[action]
    alert = await _load(session, alert_id)
    await _authorize(session, settings, user_id, alert)
    now = clock.now()
    values: dict[str, Any] = {"status": step.to, "updated_at": now}
    if action == "acknowledge":
        values["owner"] = user_id
    elif action == "escalate":
        values["escalated_at"] = now
    else:
        values.update(closed_by=user_id, closed_at=now)
    if not await q.transition_alert(session, alert_id=alert_id, from_statuses=step.from_statuses, values=values):
        alert = await _load(session, alert_id)
        if alert.status == step.to and (action != "acknowledge" or alert.owner == user_id):
            raise AlreadyDone(f"Alert #{alert_id} is already {step.to.replace('_', ' ')}; nothing changed.")
        raise _closed_error(alert, settings.tz)
    card = await _after_change(session, clock, settings, alert_id, msg.action_note(alert, user_id, step.verb))
    if action == "escalate":
        await _tell_escalation(session, clock, settings, card, manual=True)
    await record_audit(
        session,
        clock,
        actor=user_id,
        action=f"alert.{action}",
        subject=f"alert:{alert_id}",
        details={"org": alert.org_slug, "fingerprint": alert.fingerprint, "status": step.to},
    )
    return f"Alert #{alert_id}: done — {mention(user_id)} {step.verb}."


async def open_suspend(session: AsyncSession, settings: Settings, *, user_id: str, alert_id: int) -> View:
    """The confirmation modal for **Suspend access**, after checking the clicker may suspend."""
    alert = await _load(session, alert_id)
    await _authorize(session, settings, user_id, alert)
    _check_suspendable(alert)
    return msg.build_suspend_modal((await load_cards(session, [alert]))[0])


def _check_suspendable(alert: Alert) -> None:
    if alert.org_id is None:
        raise InvalidState(
            f"Alert #{alert.id} is for `{alert.org_slug}`, which is not in the directory: there is no access to suspend."
        )
    if alert.suspended_by:
        raise AlreadyDone(
            f"Access was already suspended for alert #{alert.id} by {mention(alert.suspended_by)}; nothing changed."
        )
    if alert.status not in ACTIVE:
        raise AlreadyDecided(f"Alert #{alert.id} is {alert.status.replace('_', ' ')}; nothing changed.")


async def suspend_access(
    session: AsyncSession, clock: Clock, settings: Settings, *, user_id: str, alert_id: int, reason: str
) -> str:
    """Suspend the org's active grants for this alert, tell the rep and admins, audit, show it on the alert."""
    reason = msg.strip_controls(reason).strip()
    if not reason:
        raise InvalidInput("Give a reason for suspending access.", errors={Block.REASON: "Give a reason."})
    if len(reason) > msg.REASON_MAX:
        raise InvalidInput("Keep the reason short.", errors={Block.REASON: f"Keep it to {msg.REASON_MAX} characters."})
    alert = await _load(session, alert_id)
    await _authorize(session, settings, user_id, alert)
    _check_suspendable(alert)
    now = clock.now()
    won = await q.transition_alert(
        session,
        alert_id=alert_id,
        from_statuses=ACTIVE,
        unsuspended=True,
        values={"suspended_by": user_id, "suspension_reason": reason, "updated_at": now},
    )
    if not won:
        _check_suspendable(await _load(session, alert_id))
        raise AlreadyDone(f"Alert #{alert_id} changed meanwhile; nothing changed.")
    # Suspending is acting on the alert: it counts as acknowledged, so it will not escalate.
    await q.transition_alert(
        session,
        alert_id=alert_id,
        from_statuses=(AlertStatus.OPEN, AlertStatus.ESCALATED),
        values={"status": AlertStatus.ACKNOWLEDGED, "owner": func.coalesce(Alert.owner, user_id)},
    )
    grant_ids = await q.suspend_active_grants(
        session,
        org_id=alert.org_id or 0,
        values={
            "suspended_reason": "security_action",
            "suspended_at": now,
            "suspension_note": reason,
        },
    )
    card = await _after_change(
        session,
        clock,
        settings,
        alert_id,
        msg.action_note(
            alert, user_id, f"suspended the org's access ({plural(len(grant_ids), 'active grant')})", reason
        ),
    )
    people = await org_people(session, org_id=alert.org_id or 0)
    dm = msg.suspension_dm(card, user_id, reason, len(grant_ids))
    for person in dict.fromkeys([*([people.rep] if people.rep else []), *people.admins]):
        outbox.send_dm(session, clock, user=person, text=dm.text, blocks=dm.blocks)
    await record_audit(
        session,
        clock,
        actor=user_id,
        action="alert.suspend_access",
        subject=f"alert:{alert_id}",
        details={"org": alert.org_slug, "grants": grant_ids, "reason": reason},
    )
    return f"Suspended {len(grant_ids)} active grant(s) of {alert.org_slug}; the rep and admins were told."


async def _operators(session: AsyncSession, settings: Settings) -> list[str]:
    state = await get_directory_state(session)
    return sorted(operator_ids(settings.operators, state.operators or []))


async def _tell_escalation(
    session: AsyncSession, clock: Clock, settings: Settings, card: msg.AlertCard, *, manual: bool
) -> None:
    """Mention leads and rep in the thread; DM the operators."""
    alert = card.alert
    minutes = settings.alert_escalate_minutes
    if alert.message_key and alert.channel and not manual:
        note = msg.escalation_note(card, minutes, [*card.security_leads, *([card.rep] if card.rep else [])])
        outbox.reply_in_thread(
            session, clock, channel=alert.channel, parent_key=alert.message_key, text=note.text, blocks=note.blocks
        )
    elif alert.message_key and alert.channel:
        people = [*card.security_leads, *([card.rep] if card.rep else [])]
        if people:
            note = msg.build_alert_note(f":rotating_light: Escalated: {', '.join(mention(p) for p in people)}")
            outbox.reply_in_thread(
                session, clock, channel=alert.channel, parent_key=alert.message_key, text=note.text, blocks=note.blocks
            )
    dm = msg.escalation_dm(card, minutes)
    for operator in await _operators(session, settings):
        outbox.send_dm(session, clock, user=operator, text=dm.text, blocks=dm.blocks)


async def escalate_overdue_alerts(db: Database, clock: Clock, settings: Settings) -> str:
    """The `alert-escalation` job: escalate unacknowledged high/critical alerts past the delay; catch up held-back messages."""
    now = clock.now()
    before = now - timedelta(minutes=settings.alert_escalate_minutes)
    async with db.transaction() as session:
        escalated = 0
        for alert in await q.overdue_alerts(session, before=before, severities=[Severity.HIGH, Severity.CRITICAL]):
            if alert.suspended_by or not await q.transition_alert(
                session,
                alert_id=alert.id or 0,
                from_statuses=(AlertStatus.OPEN,),
                values={"status": AlertStatus.ESCALATED, "escalated_at": now, "updated_at": now},
            ):
                continue
            fresh = await _load(session, alert.id or 0)
            card = (await load_cards(session, [fresh]))[0]
            await render_alerts(session, clock, settings, [card], immediate=True)
            await _tell_escalation(session, clock, settings, card, manual=False)
            await record_audit(
                session,
                clock,
                actor="trustbot",
                action="alert.escalate",
                subject=f"alert:{alert.id}",
                details={"org": alert.org_slug, "reason": "unacknowledged", "minutes": settings.alert_escalate_minutes},
            )
            escalated += 1
        caught_up = await flush_held_back(session, clock, settings)
    return f"escalated {escalated} alert(s); {caught_up} held-back alert message(s) caught up"


async def list_alerts(session: AsyncSession, settings: Settings, *, user_id: str, org_slug: str | None) -> Rendered:
    """`/trust alerts [org]`: active alerts, low ones included, for security leads (their orgs) and operators."""
    actor = await resolve_actor(session, user_id=user_id, settings_operators=list(settings.operators))
    if not actor.is_known:
        raise UnknownUser("You're not in the Trustbot directory, so I can't show alerts.")
    if org_slug:
        org = await get_org(session, slug=org_slug.lower())
        if org is None or org.id is None:
            if not actor.is_operator:
                raise NotFound(f"There is no org `{msg.clean(org_slug, 64)}`.")
            rows = [
                a
                for a in await q.list_active_alerts(session, org_ids=[], include_unknown=True)
                if a.org_slug == org_slug
            ]
            return msg.build_alert_list(
                [(a, f"{a.org_slug} (unknown org)") for a in rows], f"Open alerts for {org_slug}", settings.tz
            )
        if not (actor.is_operator or actor.is_security_lead_of(org.id)):
            raise NotSecurityLead(f"Only {org.name}'s security leads or operators can see its alerts.")
        org_ids: list[int] | None = [org.id]
        title = f"Open alerts for {org.name}"
    elif actor.is_operator:
        org_ids, title = None, "Open alerts, all orgs"
    else:
        org_ids, title = actor.org_ids(Role.SECURITY_LEAD), "Open alerts for your orgs"
        if not org_ids:
            raise NotSecurityLead("Only security leads and operators can list alerts.")
    alerts = await q.list_active_alerts(session, org_ids=org_ids, include_unknown=org_ids is None)
    orgs = await orgs_by_ids(session, org_ids={a.org_id for a in alerts if a.org_id is not None})
    rows = [(a, orgs[a.org_id].name if a.org_id in orgs else f"{a.org_slug} (unknown org)") for a in alerts]
    return msg.build_alert_list(rows, title, settings.tz)
