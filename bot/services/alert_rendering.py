"""How alerts reach Slack: severity policy, debounced edits, and a per-channel circuit breaker.

- One message per open alert (`alert:{id}`); `low` is stored and listed, never posted.
- Repeats re-render the message. If an unsent post/edit of it is still queued, that row's
  payload is rewritten in place, so a message never has more than one queued render and the
  newest count always wins; otherwise a new edit is queued no earlier than
  `TRUSTBOT_ALERT_UPDATE_SECONDS` after the previous one (`rendered_at` is when that previous
  render was due, on the wall clock delivery runs on).
- Circuit breaker, per channel: when the channel's outbox backlog is large or Slack keeps
  answering 429, new posts and edits are held back (`render_pending`) and one summary message
  (`alert-summary:{channel}:{n}`) lists them instead. When the backlog drains, held-back alerts
  are posted or updated (a bounded batch per call) and the summary says delivery recovered.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import alerts as msg
from bot.messages.text import Rendered
from bot.services import outbox
from bot.services.audit import record_audit
from storage.queries import alerts as q
from storage.queries.directory import get_directory_state, orgs_with_roles
from storage.tables import Alert, GrantStatus, Org, Role

DEFAULT_SECURITY_CHANNEL = "C0SEC"  # used only when the directory names no security channel
BREAKER_BACKLOG = 150  # pending rows in one channel's lane that open the breaker
BREAKER_RECOVER = 20  # … and the backlog under which it closes again
BREAKER_RATE_LIMITED = 6  # attempts of a rate-limited head row (≈6 s of 429s) that open the breaker
CATCH_UP_BATCH = 50  # held-back alerts rendered per call once the breaker closes


async def _tell_operators_undeliverable(
    session: AsyncSession, clock: Clock, settings: Settings, alert_ids: list[int]
) -> None:
    """Slack refused an alert's post every time: operators must know, since no channel shows it."""
    state = await get_directory_state(session)
    text = (
        f":rotating_light: Slack refused to post alert(s) {', '.join(f'#{i}' for i in alert_ids)} "
        f"{q.MAX_REPOSTS} times (channel missing, or the bot not in it). See `/trust alerts` and check the channels."
    )
    for operator in dict.fromkeys([*settings.operators, *state.operators]):
        outbox.send_dm(session, clock, user=operator, text=text)
    await record_audit(
        session, clock, actor="trustbot", action="alert.undeliverable", subject="alerts", details={"alerts": alert_ids}
    )


async def default_channel(session: AsyncSession) -> str:
    """Where alerts go when their org has no security channel (or Slack refused the org's)."""
    state = await get_directory_state(session)
    return state.security_channel or DEFAULT_SECURITY_CHANNEL


async def load_cards(session: AsyncSession, alerts: Sequence[Alert]) -> list[msg.AlertCard]:
    """What each alert's message shows: org, grants at stake, security leads, rep (batched)."""
    org_ids = {a.org_id for a in alerts if a.org_id is not None}
    from storage.queries.directory import orgs_by_ids

    orgs = await orgs_by_ids(session, org_ids=org_ids)
    roles = await orgs_with_roles(session, org_ids=org_ids)
    grants = await q.grants_by_org(session, org_ids=org_ids, statuses=[GrantStatus.ACTIVE, GrantStatus.SUSPENDED])
    cards = []
    for alert in alerts:
        org: Org | None = orgs.get(alert.org_id) if alert.org_id is not None else None
        people = roles.get(alert.org_id or -1, {})
        reps = people.get(Role.REP, [])
        cards.append(
            msg.AlertCard(
                alert=alert,
                org=org,
                grants=tuple(msg.GrantLine(g, name) for g, name in grants.get(alert.org_id or -1, [])),
                security_leads=tuple(people.get(Role.SECURITY_LEAD, [])),
                rep=reps[0] if reps else None,
            )
        )
    return cards


# -- rendering: debounce and circuit breaker --------------------------------------------------


def message_key(alert: Alert) -> str:
    """Outbox key of an alert's channel message."""
    return alert.message_key or f"alert:{alert.id}"


def _payload(rendered: Rendered) -> dict[str, Any]:
    return {"text": rendered.text[: outbox.MAX_TEXT], "blocks": [b.to_dict() for b in rendered.blocks]}


def _wall() -> datetime:
    # Delivery schedules on the wall clock even when the domain clock is moved (see outbox._add).
    return datetime.now(UTC)


async def render_alerts(
    session: AsyncSession, clock: Clock, settings: Settings, cards: Sequence[msg.AlertCard], *, immediate: bool = False
) -> None:
    """Queue each card's current rendering: rewrite a queued render, post, edit (debounced) or hold back."""
    wall = _wall()
    todo = [c for c in cards if c.alert.channel and (c.alert.message_key or msg.severity_rank(c.alert.severity) >= 1)]
    if not todo:
        return
    # Only an alert whose post was queued can have a queued render (a never-posted or re-posting
    # alert has no key yet; edits still queued for a failed post are doomed, never rewritten).
    pending = await q.pending_renders(
        session, keys=[c.alert.message_key for c in todo if c.alert.message_key], now=wall
    )
    rewrites: dict[int, dict[str, Any]] = {}
    need_row = []
    for card in todo:
        rendered = msg.build_alert_message(card, settings.tz)
        row_id = pending.get(card.alert.message_key) if card.alert.message_key else None
        if row_id is not None:
            rewrites[row_id] = _payload(rendered)
            card.alert.render_pending = False
        else:
            need_row.append((card, rendered))
    await q.rewrite_payloads(session, payloads=rewrites)
    if immediate:
        await q.expedite(session, row_ids=list(rewrites), at=wall)
    if not need_row:
        return
    channels = {c.alert.channel for c, _ in need_row}
    breaker = await _breaker_states(session, channels)  # type: ignore[arg-type]
    tripped: set[str] = set()
    for card, rendered in need_row:
        alert = card.alert
        held, is_open = breaker[alert.channel]  # type: ignore[index]
        if is_open and not immediate:
            alert.render_pending = True
            if not held:
                tripped.add(alert.channel)  # type: ignore[arg-type]
            continue
        _queue(session, clock, settings, alert, rendered, wall, immediate=immediate)
    await session.flush()
    for channel in channels:
        held, is_open = breaker[channel]  # type: ignore[index]
        if is_open:
            await refresh_summary(session, clock, settings, channel, new_episode=channel in tripped)  # type: ignore[arg-type]
        elif held:
            await catch_up(session, clock, settings, channel)  # type: ignore[arg-type]


def _queue(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    alert: Alert,
    rendered: Rendered,
    wall: datetime,
    *,
    immediate: bool,
) -> None:
    if alert.message_key is None:
        # A re-post (the first post's delivery failed) needs a key of its own.
        alert.message_key = f"alert:{alert.id}" if alert.rendered_at is None else f"alert:{alert.id}:{time.time_ns()}"
        outbox.post_message(
            session, clock, channel=alert.channel, key=alert.message_key, text=rendered.text, blocks=rendered.blocks
        )  # type: ignore[arg-type]
        delay = 0.0
    else:
        since = (wall - alert.rendered_at).total_seconds() if alert.rendered_at else float("inf")
        delay = 0.0 if immediate else max(0.0, settings.alert_update_seconds - since)
        outbox.update_message(
            session,
            clock,
            channel=alert.channel,
            key=alert.message_key,
            text=rendered.text,  # type: ignore[arg-type]
            blocks=rendered.blocks,
            delay_seconds=delay,
        )
    alert.rendered_at = wall + timedelta(seconds=delay)
    alert.render_pending = False


async def _breaker_states(session: AsyncSession, channels: set[str]) -> dict[str, tuple[int, bool]]:
    """For each channel: (alerts held back, whether the breaker is open)."""
    backlog = await q.channel_backlog(session, channels=channels)
    held = await q.held_back_counts(session, channels=channels)
    states = {}
    for channel in channels:
        rows, limited = backlog[channel]
        if held[channel]:  # open: stay open until the lane has really drained (hysteresis)
            is_open = rows >= BREAKER_RECOVER or limited >= BREAKER_RATE_LIMITED
        else:
            is_open = rows >= BREAKER_BACKLOG or limited >= BREAKER_RATE_LIMITED
        states[channel] = (held[channel], is_open)
    return states


async def refresh_summary(
    session: AsyncSession,
    clock: Clock,
    settings: Settings,
    channel: str,
    *,
    new_episode: bool = False,
    recovered: bool = False,
) -> None:
    """Post or re-render the channel's single circuit-breaker summary."""
    key = None if new_episode else await q.latest_summary_key(session, channel=channel)
    if recovered and key is None:
        return
    held = await q.held_back_alerts(session, channel=channel)
    summary = msg.ChannelSummary(
        lines=tuple(
            msg.SummaryLine(a.id or 0, a.org_slug, a.signal, a.severity, a.occurrences)
            for a in held[: msg.MAX_LIST_ROWS]
        ),
        total_alerts=len(held),
        recovered=recovered,
    )
    rendered = msg.build_channel_summary(summary)
    if key is None:
        key = f"alert-summary:{channel}:{time.time_ns()}"
        outbox.post_message(session, clock, channel=channel, key=key, text=rendered.text, blocks=rendered.blocks)
        return
    pending = await q.pending_renders(session, keys=[key], now=_wall())
    if key in pending:
        await q.rewrite_payloads(session, payloads={pending[key]: _payload(rendered)})
        return
    outbox.update_message(
        session,
        clock,
        channel=channel,
        key=key,
        text=rendered.text,
        blocks=rendered.blocks,
        delay_seconds=0 if recovered else settings.alert_update_seconds,
    )


async def catch_up(session: AsyncSession, clock: Clock, settings: Settings, channel: str) -> int:
    """Render a bounded batch of held-back alerts of a channel whose breaker closed; return how many."""
    batch = await q.held_back_alerts(session, channel=channel, limit=CATCH_UP_BATCH)
    if not batch:
        return 0
    wall = _wall()
    for card in await load_cards(session, batch):
        _queue(session, clock, settings, card.alert, msg.build_alert_message(card, settings.tz), wall, immediate=False)
    await session.flush()
    remaining = (await q.held_back_counts(session, channels=[channel]))[channel]
    await refresh_summary(session, clock, settings, channel, recovered=remaining == 0)
    return len(batch)


async def flush_held_back(session: AsyncSession, clock: Clock, settings: Settings) -> int:
    """Catch up every channel whose breaker has closed (run by the `alert-escalation` job); return alerts rendered.

    Alerts whose post delivery gave up on (Slack refused it for too long) are posted again.
    """
    abandoned = await q.reset_failed_posts(session, fallback_channel=await default_channel(session))
    if abandoned:
        await _tell_operators_undeliverable(session, clock, settings, abandoned)
    channels = set(await q.channels_held_back(session))
    if not channels:
        return 0
    done = 0
    for channel, (_held, is_open) in (await _breaker_states(session, channels)).items():
        if not is_open:
            done += await catch_up(session, clock, settings, channel)
    return done
