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

from trustbot.messages import alert_lists as lists
from trustbot.messages import alerts as msg
from trustbot.messages.text import Rendered
from trustbot.services import outbox
from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.people import list_operators
from trustbot.slack.errors import RATE_LIMIT_ERRORS
from trustbot.storage.queries import alerts as q
from trustbot.storage.queries import outbox as outbox_q
from trustbot.storage.queries.directory import get_directory_state, orgs_by_ids, orgs_with_roles
from trustbot.storage.queries.grants import grants_with_tier_names
from trustbot.storage.tables import LIVE_GRANTS, Alert, Role

DEFAULT_SECURITY_CHANNEL = "C0SEC"  # used only when the directory names no security channel
BREAKER_BACKLOG = 150  # pending rows in one channel's lane that open the breaker
BREAKER_RECOVER = 20  # … and the backlog under which it closes again
BREAKER_RATE_LIMITED = 6  # attempts of a rate-limited head row (≈6 s of 429s) that open the breaker
CATCH_UP_BATCH = 50  # held-back alerts rendered per call once the breaker closes


async def _tell_operators_undeliverable(session: AsyncSession, ctx: ServiceContext, alert_ids: list[int]) -> None:
    """Slack refused an alert's post every time: operators must know, since no channel shows it."""
    text = (
        f":rotating_light: Slack refused to post alert(s) {', '.join(f'#{i}' for i in alert_ids)} "
        f"{q.MAX_REPOSTS} times (channel missing, or the bot not in it). See `/trust alerts` and check the channels."
    )
    outbox.dm_all(session, await list_operators(session, ctx.settings.operators), text)
    await record_audit(session, ctx, action="alert.undeliverable", subject="alerts", details={"alerts": alert_ids})


async def default_channel(session: AsyncSession) -> str:
    """Where alerts go when their org has no security channel (or Slack refused the org's)."""
    state = await get_directory_state(session)
    return state.security_channel or DEFAULT_SECURITY_CHANNEL


async def load_cards(session: AsyncSession, alerts: Sequence[Alert]) -> list[msg.AlertCard]:
    """What each alert's message shows: org, grants at stake, security leads, rep (batched)."""
    org_ids = {a.org_id for a in alerts if a.org_id is not None}
    orgs = await orgs_by_ids(session, org_ids=org_ids)
    roles = await orgs_with_roles(session, org_ids=org_ids)
    grants = await grants_with_tier_names(session, org_ids=org_ids, statuses=LIVE_GRANTS)
    cards = []
    for alert in alerts:
        if alert.org_id is None:  # an org the directory lacks: nobody and no grants to show
            cards.append(msg.AlertCard(alert=alert, org=None))
            continue
        people = roles.get(alert.org_id, {})
        reps = people.get(Role.REP, [])
        lines = tuple(msg.GrantLine(g, name) for g, name in grants.get(alert.org_id, []))
        leads = tuple(people.get(Role.SECURITY_LEAD, []))
        card = msg.AlertCard(
            alert=alert, org=orgs.get(alert.org_id), grants=lines, security_leads=leads, rep=reps[0] if reps else None
        )
        cards.append(card)
    return cards


# -- rendering: debounce and circuit breaker --------------------------------------------------


def message_key(alert: Alert) -> str:
    """Outbox key of an alert's channel message."""
    return alert.message_key or f"alert:{alert.pk}"


def _wall() -> datetime:
    # Delivery schedules on the wall clock even when the domain clock is moved (see `trustbot.services.outbox`).
    return datetime.now(UTC)


async def render_alerts(
    session: AsyncSession, ctx: ServiceContext, cards: Sequence[msg.AlertCard], *, immediate: bool = False
) -> None:
    """Queue each card's current rendering: rewrite a queued render, post, edit (debounced) or hold back."""
    wall = _wall()
    todo = [c for c in cards if c.alert.channel and (c.alert.message_key or msg.severity_rank(c.alert.severity) >= 1)]
    if not todo:
        return
    # Only an alert whose post was queued can have a queued render (a never-posted or re-posting
    # alert has no key yet; edits still queued for a failed post are doomed, never rewritten).
    keys = [c.alert.message_key for c in todo if c.alert.message_key]
    pending = await outbox_q.pending_renders(session, keys=keys, now=wall)
    rewrites: dict[int, dict[str, Any]] = {}
    need_row: list[tuple[msg.AlertCard, Rendered]] = []
    for card in todo:
        rendered = msg.build_alert_message(card, now=ctx.now())
        row_id = pending.get(card.alert.message_key) if card.alert.message_key else None
        if row_id is not None:
            rewrites[row_id] = outbox.payload_of(rendered)
            card.alert.render_pending = False
        else:
            need_row.append((card, rendered))
    await outbox_q.rewrite_payloads(session, payloads=rewrites)
    if immediate:
        await outbox_q.expedite(session, row_ids=list(rewrites), at=wall)
    if need_row:
        await _queue_or_hold(session, ctx, need_row, wall, immediate=immediate)


async def _queue_or_hold(
    session: AsyncSession,
    ctx: ServiceContext,
    need_row: list[tuple[msg.AlertCard, Rendered]],
    wall: datetime,
    *,
    immediate: bool,
) -> None:
    channels = {c.alert.channel for c, _ in need_row if c.alert.channel}
    breaker = await _breaker_states(session, channels)
    tripped: set[str] = set()
    for card, rendered in need_row:
        alert, channel = card.alert, card.alert.channel or ""
        held, is_open = breaker[channel]
        if is_open and not immediate:
            alert.render_pending = True
            if not held:
                tripped.add(channel)
            continue
        _queue(session, ctx, alert, rendered, wall, immediate=immediate)
    await session.flush()
    workspaces = {c.alert.channel: c.alert.workspace for c, _ in need_row}
    for channel in channels:
        held, is_open = breaker[channel]
        if is_open:
            await refresh_summary(session, ctx, channel, workspaces[channel], new_episode=channel in tripped)
        elif held:
            await catch_up(session, ctx, channel)


def _queue(
    session: AsyncSession, ctx: ServiceContext, alert: Alert, rendered: Rendered, wall: datetime, *, immediate: bool
) -> None:
    channel = alert.channel or ""
    if alert.message_key is None:
        # A re-post (the first post's delivery failed) needs a key of its own.
        alert.message_key = f"alert:{alert.pk}" if alert.rendered_at is None else f"alert:{alert.pk}:{time.time_ns()}"
        outbox.post_message(
            session, channel=channel, key=alert.message_key, message=rendered, workspace=alert.workspace
        )
        delay = 0.0
    else:
        since = (wall - alert.rendered_at).total_seconds() if alert.rendered_at else float("inf")
        delay = 0.0 if immediate else max(0.0, ctx.settings.alert_update_seconds - since)
        outbox.update_message(
            session,
            channel=channel,
            key=alert.message_key,
            message=rendered,
            delay_seconds=delay,
            workspace=alert.workspace,
        )
    alert.rendered_at = wall + timedelta(seconds=delay)
    alert.render_pending = False


async def _breaker_states(session: AsyncSession, channels: set[str]) -> dict[str, tuple[int, bool]]:
    """For each channel: (alerts held back, whether the breaker is open)."""
    backlog = await outbox_q.channel_backlog(session, channels=channels, rate_limit_errors=RATE_LIMIT_ERRORS)
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
    ctx: ServiceContext,
    channel: str,
    workspace: str | None,
    *,
    new_episode: bool = False,
    recovered: bool = False,
) -> None:
    """Post or re-render the channel's single circuit-breaker summary, through the channel's `workspace` (its
    alerts'; None: home)."""
    prefix = f"alert-summary:{channel}:"
    key = None if new_episode else await outbox_q.latest_post_key(session, channel=channel, prefix=prefix)
    if recovered and key is None:
        return
    held = await q.held_back_alerts(session, channel=channel)
    lines = tuple(
        lists.SummaryLine(a.pk, a.org_slug, a.signal, a.severity, a.occurrences) for a in held[: msg.MAX_LIST_ROWS]
    )
    rendered = lists.build_channel_summary(
        lists.ChannelSummary(lines=lines, total_alerts=len(held), recovered=recovered)
    )
    if key is None:
        outbox.post_message(
            session, channel=channel, key=f"{prefix}{time.time_ns()}", message=rendered, workspace=workspace
        )
        return
    pending = await outbox_q.pending_renders(session, keys=[key], now=_wall())
    if key in pending:
        await outbox_q.rewrite_payloads(session, payloads={pending[key]: outbox.payload_of(rendered)})
        return
    delay = 0 if recovered else ctx.settings.alert_update_seconds
    outbox.update_message(session, channel=channel, key=key, message=rendered, delay_seconds=delay, workspace=workspace)


async def catch_up(session: AsyncSession, ctx: ServiceContext, channel: str) -> int:
    """Render a bounded batch of held-back alerts of a channel whose breaker closed; return how many."""
    batch = await q.held_back_alerts(session, channel=channel, limit=CATCH_UP_BATCH)
    if not batch:
        return 0
    wall = _wall()
    for card in await load_cards(session, batch):
        _queue(session, ctx, card.alert, msg.build_alert_message(card, now=ctx.now()), wall, immediate=False)
    await session.flush()
    remaining = (await q.held_back_counts(session, channels=[channel]))[channel]
    await refresh_summary(session, ctx, channel, batch[0].workspace, recovered=remaining == 0)
    return len(batch)


async def flush_held_back(session: AsyncSession, ctx: ServiceContext) -> int:
    """Catch up every channel whose breaker has closed (run by the `alert-escalation` job); return alerts rendered.

    Alerts whose post delivery gave up on (Slack refused it for too long) are posted again.
    """
    abandoned = await q.reset_failed_posts(session, fallback_channel=await default_channel(session))
    if abandoned:
        await _tell_operators_undeliverable(session, ctx, abandoned)
    channels = set(await q.channels_held_back(session))
    if not channels:
        return 0
    done = 0
    for channel, (_held, is_open) in (await _breaker_states(session, channels)).items():
        if not is_open:
            done += await catch_up(session, ctx, channel)
    return done
