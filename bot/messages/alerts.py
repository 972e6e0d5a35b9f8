"""Block Kit for suspicious-activity alerts: the channel message, thread notes, DMs, the
suspend-confirmation modal, the `/trust alerts` list and the circuit-breaker summary.

Pure functions: data in, `Rendered(text, blocks)` or a `View` out. Everything a producer sent
(summary, actor, signal, fingerprint, details) is untrusted: control characters are stripped,
mrkdwn is escaped and lengths are cut before it reaches Slack.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import tzinfo
from urllib.parse import urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.ids import Action
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
SEVERITY_EMOJI: dict[str, str] = {
    Severity.LOW: ":white_circle:",
    Severity.MEDIUM: ":large_yellow_circle:",
    Severity.HIGH: ":large_orange_circle:",
    Severity.CRITICAL: ":red_circle:",
}
STATUS_LABEL: dict[str, str] = {
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


def strip_controls(text: str | None) -> str:
    """Drop control and format characters (keeping newlines and tabs) from untrusted text."""
    if not text:
        return ""
    if text.replace("\n", " ").replace("\t", " ").isprintable():  # none of Cc, Cf, Cs: checked in C
        return text
    return "".join(c for c in text if c in "\n\t" or unicodedata.category(c) not in ("Cc", "Cf", "Cs"))


def clean(text: str | None, limit: int) -> str:
    """Untrusted text made safe for mrkdwn: control characters stripped, escaped, cut."""
    return safe(strip_controls(text), limit)


def one_line(text: str | None, limit: int) -> str:
    return clean(" ".join(strip_controls(text).split()), limit)


def severity_label(severity: str) -> str:
    """`HIGH`: the producer's severity upper-cased, escaped (ingest validates it; this keeps it inert anyway)."""
    return clean(severity.upper(), 16)


def severity_rank(severity: str) -> int:
    """0 for low … 3 for critical (unknown values rank as medium)."""
    return SEVERITY_RANK.get(severity, 1)


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def context_line(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(truncate(text, 3000))])


def org_text(card: AlertCard) -> str:
    """`*Acme Security* (acme)`, or the slug marked as unknown to the directory."""
    if card.org is None:
        return f"`{one_line(card.alert.org_slug, 64)}` :warning: *unknown org* (not in the directory)"
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
        return context_line(f"Evidence: {link}")
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
    parts = [f"*Status:* {STATUS_LABEL.get(alert.status, alert.status)}"]
    if alert.owner:
        parts.append(f"owner {mention(alert.owner)}")
    if alert.status == AlertStatus.ESCALATED and alert.escalated_at:
        parts.append(f"escalated {format_datetime(alert.escalated_at, tz)}")
    if alert.closed_by:
        parts.append(f"by {mention(alert.closed_by)} {format_datetime(alert.closed_at, tz)}")
    line = " · ".join(parts)
    if alert.suspended_by:
        line += (
            f"\n:lock: *Access suspended* by {mention(alert.suspended_by)}: {one_line(alert.suspension_reason, 500)}"
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
    head = f"{SEVERITY_EMOJI.get(sev, ':grey_question:')} *{severity_label(sev)}* alert #{alert.id} · {org_text(card)}"
    notify = ""
    if severity_rank(sev) >= 2 and card.security_leads and alert.status in ACTIVE_STATUSES:
        notify = f"\n{mentions(list(card.security_leads))}"
    summary = clean(alert.summary, 600) or "—"
    fields = [
        mrkdwn(f"*Signal*\n{one_line(alert.signal, 64)}"),
        mrkdwn(f"*Actor*\n{one_line(alert.actor, 256) or '—'}"),
        mrkdwn(f"*Occurrences*\n{alert.occurrences}"),
        mrkdwn(f"*First seen*\n{format_datetime(alert.first_seen, tz)}"),
        mrkdwn(f"*Last seen*\n{format_datetime(alert.last_seen, tz)}"),
    ]
    if alert.score is not None:
        fields.append(mrkdwn(f"*Score*\n{alert.score:.2f}"))
    blocks: list[Block] = [
        SectionBlock(text=mrkdwn(truncate(f"{head}{notify}\n>{summary}", 3000))),
        SectionBlock(fields=fields),
    ]
    if card.unknown_org:
        blocks.append(context_line(":warning: This org is not in the directory; no grants or leads are known."))
    else:
        shown = [grant_line(line, tz) for line in card.grants[:MAX_GRANTS_SHOWN]]
        more = len(card.grants) - len(shown)
        grants = "\n".join(f"• {g}" for g in shown) + (f"\n…and {more} more" if more > 0 else "")
        blocks.append(SectionBlock(text=mrkdwn(truncate(f"*Access at stake*\n{grants or 'No active grants.'}", 3000))))
    evidence = _evidence_block(alert.evidence_url)
    if evidence is not None:
        blocks.append(evidence)
    if alert.reroute_note:
        # Trustbot's own words (a channel id and Slack's error code), mrkdwn on purpose: the channel links.
        blocks.append(context_line(f":warning: {truncate(alert.reroute_note, 300)}"))
    blocks.append(context_line(status_text(alert, tz)))
    if alert.status in ACTIVE_STATUSES:
        blocks.append(alert_buttons(alert.id or 0))
    blocks.append(
        context_line(
            f"fingerprint `{one_line(alert.fingerprint, 200)}` · first event `{one_line(alert.event_id, 128)}`"
        )
    )
    org_name = card.org.name if card.org else f"{strip_controls(alert.org_slug)} (unknown org)"
    text = (
        f"{severity_label(sev)} alert #{alert.id} for {safe(org_name, 200)}: {one_line(alert.signal, 64)} — "
        f"{one_line(alert.summary, 300)} ({plural(alert.occurrences, 'occurrence')}, "
        f"{STATUS_LABEL.get(alert.status, alert.status).lower()})"
    )
    if notify:
        text += f" {mentions(list(card.security_leads))}"
    return Rendered(text=truncate(text, 3000), blocks=blocks)
