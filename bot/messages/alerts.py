"""Block Kit for suspicious-activity alerts: the channel message, thread notes, DMs, the
suspend-confirmation modal, the `/trust alerts` list and the circuit-breaker summary.

Pure functions: data in, `Rendered(text, blocks)` or a `View` out. Everything a producer sent
(summary, actor, signal, fingerprint, details) is untrusted: control characters are stripped,
mrkdwn is escaped and lengths are cut before it reaches Slack.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import tzinfo
from urllib.parse import urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot.ids import Action, Element
from bot.ids import Block as BlockId
from bot.ids import View as ViewId
from bot.messages.text import (
    BUTTON_URL,
    CONTEXT_TEXT,
    OPTION_TEXT,
    Rendered,
    format_date,
    format_datetime,
    mention,
    mentions,
    plural,
    quote,
    safe,
    truncate,
)
from bot.payloads import AlertRef
from storage.tables import Alert, AlertStatus, Grant, GrantStatus, Org, Severity

ACKNOWLEDGE, ESCALATE, SUSPEND, FALSE_POSITIVE, RESOLVE = (
    "Acknowledge",
    "Escalate",
    "Suspend access",
    "False positive",
    "Resolve",
)
ACTIVE_STATUSES: tuple[str, ...] = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.ESCALATED)
SEVERITY_RANK: dict[str, int] = {Severity.LOW: 0, Severity.MEDIUM: 1, Severity.HIGH: 2, Severity.CRITICAL: 3}
_EMOJI: dict[str, str] = {
    Severity.LOW: ":white_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.CRITICAL: ":red_circle:",
}
_STATUS_LABEL: dict[str, str] = {
    AlertStatus.OPEN: "Open",
    AlertStatus.ACKNOWLEDGED: "Acknowledged",
    AlertStatus.ESCALATED: "Escalated",
    AlertStatus.RESOLVED: "Resolved",
    AlertStatus.FALSE_POSITIVE: "False positive",
}
MAX_GRANTS_SHOWN = 10
MAX_LIST_ROWS = 20
REASON_MAX = 3000


@dataclass(frozen=True)
class GrantLine:
    """One of the org's grants as the alert shows it: what access is at stake."""

    grant: Grant
    tier_name: str


@dataclass(frozen=True)
class AlertCard:
    """Everything an alert message shows."""

    alert: Alert
    org: Org | None
    grants: tuple[GrantLine, ...] = ()
    security_leads: tuple[str, ...] = ()
    rep: str | None = None

    @property
    def unknown_org(self) -> bool:
        """True when the directory has no org with the alert's slug."""
        return self.org is None


@dataclass(frozen=True)
class SummaryLine:
    """One fingerprint in the circuit-breaker summary."""

    alert_id: int
    org_slug: str
    signal: str
    severity: str
    occurrences: int


@dataclass(frozen=True)
class ChannelSummary:
    """What the circuit-breaker summary message shows for one channel."""

    lines: tuple[SummaryLine, ...]
    total_alerts: int
    recovered: bool = False
    extra: dict[str, int] = field(default_factory=dict)


def strip_controls(text: str | None) -> str:
    """Drop control and format characters (keeping newlines and tabs) from untrusted text."""
    if not text:
        return ""
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))


def clean(text: str | None, limit: int) -> str:
    """Untrusted text made safe for mrkdwn: control characters stripped, escaped, cut."""
    return safe(strip_controls(text), limit)


def _one_line(text: str | None, limit: int) -> str:
    return clean(" ".join(strip_controls(text).split()), limit)


def severity_rank(severity: str) -> int:
    """0 for low … 3 for critical (unknown values rank as medium)."""
    return SEVERITY_RANK.get(severity, 1)


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[_md(truncate(text, 3000))])


def org_text(card: AlertCard) -> str:
    """`*Acme Security* (acme)`, or the slug marked as unknown to the directory."""
    if card.org is None:
        return f"`{_one_line(card.alert.org_slug, 64)}` :warning: *unknown org* (not in the directory)"
    return f"*{safe(card.org.name, 200)}* ({safe(card.org.slug, 64)})"


def evidence_host(url: str) -> str:
    """The host an evidence link points at, shown as its label."""
    return urlsplit(url).hostname or "evidence"


def evidence_link(url: str | None) -> str:
    """A mrkdwn link to the evidence labelled by its host, with characters that would break `<url|text>` encoded."""
    if not url:
        return "—"
    encoded = strip_controls(url).replace("|", "%7C").replace(" ", "%20")
    target = encoded.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E")
    return f"<{target}|{safe(evidence_host(url), 253)}>"


def _evidence_block(url: str | None) -> Block | None:
    """Where the evidence is: a link in a context line, or a link button when escaping made it too long for one."""
    if not url:
        return None
    link = evidence_link(url)
    if len(link) <= CONTEXT_TEXT - 20:
        return _context(f"Evidence: {link}")
    button = ButtonElement(
        text=PlainTextObject(text=truncate(f"Evidence ({evidence_host(url)})", OPTION_TEXT)),
        url=strip_controls(url)[:BUTTON_URL],
        action_id=Action.ALERT_EVIDENCE,
    )
    return ActionsBlock(elements=[button])


def grant_line(line: GrantLine, tz: tzinfo | str | None) -> str:
    """`#12 Enhanced — blanket + 3 people — expires 2027-01-01` (status noted when not active)."""
    grant = line.grant
    scope = []
    if grant.blanket:
        scope.append("blanket")
    if grant.members:
        scope.append(plural(len(grant.members), "person", "people"))
    status = "" if grant.status == GrantStatus.ACTIVE else f" — *{grant.status}*"
    return (
        f"#{grant.id} {safe(line.tier_name, 100)} — {' + '.join(scope) or 'nobody'} — "
        f"expires {format_date(grant.expires_at, tz)}{status}"
    )


def status_text(alert: Alert, tz: tzinfo | str | None) -> str:
    """Where the alert stands: status, owner, who closed it, any suspension."""
    parts = [f"*Status:* {_STATUS_LABEL.get(alert.status, alert.status)}"]
    if alert.owner:
        parts.append(f"owner {mention(alert.owner)}")
    if alert.status == AlertStatus.ESCALATED and alert.escalated_at:
        parts.append(f"escalated {format_datetime(alert.escalated_at, tz)}")
    if alert.closed_by:
        parts.append(f"by {mention(alert.closed_by)} {format_datetime(alert.closed_at, tz)}")
    line = " · ".join(parts)
    if alert.suspended_by:
        line += (
            f"\n:lock: *Access suspended* by {mention(alert.suspended_by)}: {_one_line(alert.suspension_reason, 500)}"
        )
    return line


def alert_buttons(alert_id: int) -> ActionsBlock:
    """The five alert actions, each carrying `AlertRef` as its value."""
    value = AlertRef(alert_id=alert_id).model_dump_json()

    def button(text: str, action: Action, style: str | None = None) -> ButtonElement:
        return ButtonElement(text=PlainTextObject(text=text), action_id=action, value=value, style=style)

    return ActionsBlock(
        block_id=f"alert_actions:{alert_id}",
        elements=[
            button(ACKNOWLEDGE, Action.ALERT_ACKNOWLEDGE, "primary"),
            button(ESCALATE, Action.ALERT_ESCALATE),
            button(SUSPEND, Action.ALERT_SUSPEND, "danger"),
            button(FALSE_POSITIVE, Action.ALERT_FALSE_POSITIVE),
            button(RESOLVE, Action.ALERT_RESOLVE),
        ],
    )


def build_alert_message(card: AlertCard, tz: tzinfo | str | None) -> Rendered:
    """The channel message of one alert (one per open fingerprint), buttons while it is active."""
    alert = card.alert
    sev = alert.severity
    head = f"{_EMOJI.get(sev, ':grey_question:')} *{sev.upper()}* alert #{alert.id} · {org_text(card)}"
    notify = ""
    if severity_rank(sev) >= 2 and card.security_leads and alert.status in ACTIVE_STATUSES:
        notify = f"\n{mentions(list(card.security_leads))}"
    summary = clean(alert.summary, 600) or "—"
    fields = [
        _md(f"*Signal*\n{_one_line(alert.signal, 64)}"),
        _md(f"*Actor*\n{_one_line(alert.actor, 256) or '—'}"),
        _md(f"*Occurrences*\n{alert.occurrences}"),
        _md(f"*First seen*\n{format_datetime(alert.first_seen, tz)}"),
        _md(f"*Last seen*\n{format_datetime(alert.last_seen, tz)}"),
    ]
    if alert.score is not None:
        fields.append(_md(f"*Score*\n{alert.score:.2f}"))
    blocks: list[Block] = [
        SectionBlock(text=_md(truncate(f"{head}{notify}\n>{summary}", 3000))),
        SectionBlock(fields=fields),
    ]
    if card.unknown_org:
        blocks.append(_context(":warning: This org is not in the directory; no grants or leads are known."))
    else:
        shown = [grant_line(line, tz) for line in card.grants[:MAX_GRANTS_SHOWN]]
        more = len(card.grants) - len(shown)
        grants = "\n".join(f"• {g}" for g in shown) + (f"\n…and {more} more" if more > 0 else "")
        blocks.append(SectionBlock(text=_md(truncate(f"*Access at stake*\n{grants or 'No active grants.'}", 3000))))
    evidence = _evidence_block(alert.evidence_url)
    if evidence is not None:
        blocks.append(evidence)
    if alert.reroute_note:
        # Trustbot's own words (a channel id and Slack's error code), mrkdwn on purpose: the channel links.
        blocks.append(_context(f":warning: {truncate(alert.reroute_note, 300)}"))
    blocks.append(_context(status_text(alert, tz)))
    if alert.status in ACTIVE_STATUSES:
        blocks.append(alert_buttons(alert.id or 0))
    blocks.append(
        _context(f"fingerprint `{_one_line(alert.fingerprint, 200)}` · first event `{_one_line(alert.event_id, 128)}`")
    )
    org_name = card.org.name if card.org else f"{alert.org_slug} (unknown org)"
    text = (
        f"{sev.upper()} alert #{alert.id} for {safe(org_name, 200)}: {_one_line(alert.signal, 64)} — "
        f"{_one_line(alert.summary, 300)} ({plural(alert.occurrences, 'occurrence')}, "
        f"{_STATUS_LABEL.get(alert.status, alert.status).lower()})"
    )
    if notify:
        text += f" {mentions(list(card.security_leads))}"
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def build_alert_note(text: str) -> Rendered:
    """A thread reply or DM made of one mrkdwn section (text already escaped by the caller)."""
    return Rendered(text=truncate(text, 3000), blocks=[SectionBlock(text=_md(truncate(text, 3000)))])


def action_note(alert: Alert, user_id: str, verb: str, reason: str | None = None) -> Rendered:
    """Thread record of who did what: `@sam acknowledged this alert.`"""
    text = f"{mention(user_id)} {verb}."
    if reason:
        text += f"\n{quote(strip_controls(reason), 2500)}"
    return build_alert_note(text)


def critical_dm(card: AlertCard) -> Rendered:
    """What the rep reads when one of their orgs raises a critical alert."""
    alert = card.alert
    return build_alert_note(
        f":red_circle: *Critical alert* #{alert.id} for {org_text(card)}: {_one_line(alert.signal, 64)} — "
        f"{clean(alert.summary, 600)}\nThe security channel has the details and the actions."
    )


def suspension_dm(card: AlertCard, user_id: str, reason: str, count: int) -> Rendered:
    """What the rep and admins read when a security action suspends the org's access."""
    return build_alert_note(
        f":lock: {mention(user_id)} suspended {org_text(card)}'s trusted access "
        f"({plural(count, 'active grant')}) because of security alert #{card.alert.id} "
        f"({_one_line(card.alert.signal, 64)}).\n*Reason:*\n{quote(strip_controls(reason), 2500)}"
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
        f":rotating_light: {a.severity.upper()} alert #{a.id} for {org_text(card)} "
        f"({_one_line(a.signal, 64)}) has gone {minutes:g} minutes without acknowledgement."
    )


def build_suspend_modal(card: AlertCard) -> View:
    """Confirmation modal for **Suspend access**: what will be suspended, and a required reason."""
    active = [g for g in card.grants if g.grant.status == GrantStatus.ACTIVE]
    at_stake = "\n".join(f"• {grant_line(g, None)}" for g in active[:MAX_GRANTS_SHOWN]) or "No active grants right now."
    return View(
        type="modal",
        callback_id=ViewId.ALERT_SUSPEND_CONFIRM,
        private_metadata=AlertRef(alert_id=card.alert.id or 0).model_dump_json(),
        title=PlainTextObject(text="Suspend access"),
        submit=PlainTextObject(text="Suspend"),
        close=PlainTextObject(text="Cancel"),
        blocks=[
            SectionBlock(
                text=_md(
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


def build_alert_list(rows: list[tuple[Alert, str]], title: str, tz: tzinfo | str | None) -> Rendered:
    """`/trust alerts`: active alerts (low ones included), most severe and newest first."""
    if not rows:
        return build_alert_note(f"*{safe(title, 200)}*\nNo open alerts.")
    blocks: list[Block] = [SectionBlock(text=_md(f"*{safe(title, 200)}* — {plural(len(rows), 'open alert')}"))]
    for alert, org_label in rows[:MAX_LIST_ROWS]:
        blocks.append(
            SectionBlock(
                text=_md(
                    truncate(
                        f"{_EMOJI.get(alert.severity, '')} *#{alert.id} {alert.severity.upper()}* · "
                        f"{safe(org_label, 200)} · "
                        f"{_one_line(alert.signal, 64)} · {_STATUS_LABEL.get(alert.status, alert.status)}\n"
                        f"{_one_line(alert.summary, 300)}\n{plural(alert.occurrences, 'occurrence')}, last seen "
                        f"{format_datetime(alert.last_seen, tz)}"
                        + (f", owner {mention(alert.owner)}" if alert.owner else ""),
                        3000,
                    )
                )
            )
        )
    if len(rows) > MAX_LIST_ROWS:
        blocks.append(_context(f"…and {len(rows) - MAX_LIST_ROWS} more."))
    text = f"{title}: {plural(len(rows), 'open alert')}"
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def build_channel_summary(summary: ChannelSummary) -> Rendered:
    """The circuit breaker's single message while Slack keeps rate-limiting the channel."""
    if summary.recovered:
        text = (
            ":white_check_mark: Slack delivery recovered; every alert below this summary is shown "
            "individually again with its current count."
        )
        return build_alert_note(text)
    lines = [
        f"• #{line.alert_id} {line.severity.upper()} {_one_line(line.org_slug, 64)} · "
        f"{_one_line(line.signal, 64)} · {plural(line.occurrences, 'occurrence')}"
        for line in summary.lines[:MAX_LIST_ROWS]
    ]
    more = summary.total_alerts - len(lines)
    text = (
        f":construction: Slack is rate-limiting this channel, so alerts are summarised here until it recovers "
        f"({plural(summary.total_alerts, 'alert')} waiting to be shown; nothing is lost):\n"
        + "\n".join(lines)
        + (f"\n…and {more} more" if more > 0 else "")
    )
    return build_alert_note(text)


def refused_channel_dm(card: AlertCard, channel: str, error: str, *, shown_in: str | None) -> Rendered:
    """What security leads (and operators) read when Slack refused an alert's channel."""
    alert = card.alert
    where = f"It is shown in <#{shown_in}> instead." if shown_in else "No channel would take it, so here it is."
    return build_alert_note(
        f":warning: Slack refused to post {alert.severity.upper()} alert #{alert.id} for {org_text(card)} in "
        f"<#{channel}> (`{safe(error, 60)}`): invite Trustbot there. {where}\n"
        f"*{_one_line(alert.signal, 64)}* — {clean(alert.summary, 600)}"
    )
