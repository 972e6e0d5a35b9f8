"""Block Kit for suspicious-activity alerts: the channel message, thread notes, DMs, the
suspend-confirmation modal, the `/trust alerts` list and the circuit-breaker summary.

Pure functions: data in, `Rendered(text, blocks)` or a `View` out. Everything a producer sent
(summary, actor, signal, fingerprint, details) is untrusted: control characters are stripped,
mrkdwn is escaped and lengths are cut before it reaches Slack.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    Option,
    PlainTextObject,
    SectionBlock,
    StaticSelectElement,
)

from trustbot.ids import Action
from trustbot.messages.text import (
    BUTTON_URL,
    CONTEXT_TEXT,
    OPTION_TEXT,
    Rendered,
    mention,
    mentions,
    plural,
    safe,
    slack_date,
    truncate,
)
from trustbot.slack.payloads import SNOOZE_HOURS, AlertRef, AlertSnooze
from trustbot.storage.tables import (
    ACTIVE_ALERTS,
    SEVERITY_RANK,
    Alert,
    AlertStatus,
    Grant,
    GrantStatus,
    Org,
    Severity,
    SuspensionReason,
)

ACKNOWLEDGE, UNACKNOWLEDGE, ESCALATE, SUSPEND, SNOOZE, FALSE_POSITIVE, RESOLVE = (
    "Acknowledge",
    "Unacknowledge",
    "Escalate",
    "Suspend access",
    "Snooze",
    "False positive",
    "Resolve",
)
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


def grant_line(line: GrantLine) -> str:
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
        f"expires {slack_date(grant.expires_at, with_time=False)}{status}"
    )


def is_snoozed(alert: Alert, now: datetime | None) -> bool:
    """True while a snooze of an active alert runs (`now` None: whatever is stored counts)."""
    until = alert.snoozed_until
    return until is not None and alert.status in ACTIVE_ALERTS and (now is None or until > now)


def org_access_suspended(card: AlertCard) -> bool:
    """True when every live grant of the org is under a security suspension: suspending again changes nothing."""
    return bool(card.grants) and all(
        g.grant.status == GrantStatus.SUSPENDED and g.grant.suspended_reason == SuspensionReason.SECURITY_ACTION
        for g in card.grants
    )


def can_suspend(card: AlertCard) -> bool:
    """Whether **Suspend access** means anything: an active alert of a known org with live grants (access)
    not yet all suspended."""
    alert = card.alert
    return (
        alert.status in ACTIVE_ALERTS
        and not card.unknown_org
        and not alert.suspended_by
        and bool(card.grants)
        and not org_access_suspended(card)
    )


def status_text(card: AlertCard, now: datetime | None = None) -> str:
    """Where the alert stands: status, owner, snooze, who closed it, any suspension."""
    alert = card.alert
    parts = [f"*Status:* {STATUS_LABEL.get(alert.status, alert.status)}"]
    if alert.owner:
        parts.append(f"owner {mention(alert.owner)}")
    if alert.status == AlertStatus.ESCALATED and alert.escalated_at:
        parts.append(f"escalated {slack_date(alert.escalated_at)}")
    if is_snoozed(alert, now):
        parts.append(f":zzz: snoozed until {slack_date(alert.snoozed_until)}")
    if alert.closed_by:
        parts.append(f"by {mention(alert.closed_by)} {slack_date(alert.closed_at)}")
    line = " · ".join(parts)
    if alert.suspended_by:
        line += (
            f"\n:lock: *Access suspended* by {mention(alert.suspended_by)}: {one_line(alert.suspension_reason, 500)}"
        )
    elif alert.status in ACTIVE_ALERTS and org_access_suspended(card):
        line += "\n:lock: The org's access is already suspended (every grant, by a security action)."
    return line


def offered_actions(card: AlertCard) -> list[Action]:
    """The actions that mean something in the alert's state, in the order they are shown."""
    status = card.alert.status
    if status not in ACTIVE_ALERTS:
        return []  # resolved or false positive: nothing left to do
    actions = [Action.ALERT_UNACKNOWLEDGE if status == AlertStatus.ACKNOWLEDGED else Action.ALERT_ACKNOWLEDGE]
    if status != AlertStatus.ESCALATED:
        actions.append(Action.ALERT_ESCALATE)
    if can_suspend(card):
        actions.append(Action.ALERT_SUSPEND)
    return [*actions, Action.ALERT_SNOOZE, Action.ALERT_FALSE_POSITIVE, Action.ALERT_RESOLVE]


BUTTON_LABELS: dict[Action, tuple[str, str | None]] = {
    Action.ALERT_ACKNOWLEDGE: (ACKNOWLEDGE, "primary"),
    Action.ALERT_UNACKNOWLEDGE: (UNACKNOWLEDGE, None),
    Action.ALERT_ESCALATE: (ESCALATE, None),
    Action.ALERT_SUSPEND: (SUSPEND, "danger"),
    Action.ALERT_FALSE_POSITIVE: (FALSE_POSITIVE, None),
    Action.ALERT_RESOLVE: (RESOLVE, None),
}


def snooze_select(alert_id: int) -> StaticSelectElement:
    """**Snooze** for 1 hour, 4 hours or 24 hours; each option carries `AlertSnooze` as its value."""
    options = [
        Option(
            text=PlainTextObject(text=plural(hours, "hour")),
            value=AlertSnooze(alert_id=alert_id, hours=hours).model_dump_json(),
        )
        for hours in SNOOZE_HOURS
    ]
    return StaticSelectElement(placeholder=PlainTextObject(text=SNOOZE), action_id=Action.ALERT_SNOOZE, options=options)


def alert_buttons(card: AlertCard) -> ActionsBlock | None:
    """The actions offered in the alert's state (see `offered_actions`); None once it is closed."""
    alert_id = card.alert.pk
    value = AlertRef(alert_id=alert_id).model_dump_json()
    elements: list[ButtonElement | StaticSelectElement] = []
    for action in offered_actions(card):
        if action == Action.ALERT_SNOOZE:
            elements.append(snooze_select(alert_id))
            continue
        text, style = BUTTON_LABELS[action]
        elements.append(ButtonElement(text=PlainTextObject(text=text), action_id=action, value=value, style=style))
    return ActionsBlock(block_id=f"alert_actions:{alert_id}", elements=elements) if elements else None


def _main_blocks(card: AlertCard) -> list[Block]:
    """Headline, summary and the facts (signal, actor, counts, when)."""
    alert = card.alert
    sev = alert.severity
    head = f"{SEVERITY_EMOJI.get(sev, ':grey_question:')} *{severity_label(sev)}* alert #{alert.id} · {org_text(card)}"
    notify = f"\n{mentions(list(card.security_leads))}" if _notifies(card) else ""
    summary = clean(alert.summary, 600) or "—"
    fields = [
        mrkdwn(f"*Signal*\n{one_line(alert.signal, 64)}"),
        mrkdwn(f"*Actor*\n{one_line(alert.actor, 256) or '—'}"),
        mrkdwn(f"*Occurrences*\n{alert.occurrences}"),
        mrkdwn(f"*First seen*\n{slack_date(alert.first_seen)}"),
        mrkdwn(f"*Last seen*\n{slack_date(alert.last_seen)}"),
    ]
    if alert.score is not None:
        fields.append(mrkdwn(f"*Score*\n{alert.score:.2f}"))
    return [SectionBlock(text=mrkdwn(truncate(f"{head}{notify}\n>{summary}", 3000))), SectionBlock(fields=fields)]


def _notifies(card: AlertCard) -> bool:
    """High and critical alerts mention the org's security leads while they are active."""
    alert = card.alert
    return severity_rank(alert.severity) >= 2 and bool(card.security_leads) and alert.status in ACTIVE_ALERTS


def _grants_block(card: AlertCard) -> Block:
    if card.unknown_org:
        return context_line(":warning: This org is not in the directory; no grants or leads are known.")
    shown = [grant_line(line) for line in card.grants[:MAX_GRANTS_SHOWN]]
    more = len(card.grants) - len(shown)
    grants = "\n".join(f"• {g}" for g in shown) + (f"\n…and {more} more" if more > 0 else "")
    return SectionBlock(text=mrkdwn(truncate(f"*Access at stake*\n{grants or 'No active grants.'}", 3000)))


def build_alert_message(card: AlertCard, *, now: datetime | None = None) -> Rendered:
    """The channel message of one alert (one per open fingerprint): the actions its state offers.

    Dates are Slack `<!date>` tokens, so each reader sees their own time zone; `now` decides
    whether a snooze still runs. The ids people do not read (fingerprint, first event) sit in
    the last context line, out of the main text.
    """
    alert = card.alert
    blocks = [*_main_blocks(card), _grants_block(card)]
    evidence = _evidence_block(alert.evidence_url)
    if evidence is not None:
        blocks.append(evidence)
    if alert.reroute_note:
        # Trustbot's own words (a channel id and Slack's error code), mrkdwn on purpose: the channel links.
        blocks.append(context_line(f":warning: {truncate(alert.reroute_note, 300)}"))
    blocks.append(context_line(status_text(card, now)))
    actions = alert_buttons(card)
    if actions is not None:
        blocks.append(actions)
    blocks.append(
        context_line(
            f"fingerprint `{one_line(alert.fingerprint, 200)}` · first event `{one_line(alert.event_id, 128)}`"
        )
    )
    org_name = card.org.name if card.org else f"{strip_controls(alert.org_slug)} (unknown org)"
    state = STATUS_LABEL.get(alert.status, alert.status).lower() + (", snoozed" if is_snoozed(alert, now) else "")
    text = (
        f"{severity_label(alert.severity)} alert #{alert.id} for {safe(org_name, 200)}: {one_line(alert.signal, 64)} — "
        f"{one_line(alert.summary, 300)} ({plural(alert.occurrences, 'occurrence')}, {state})"
    )
    if _notifies(card):
        text += f" {mentions(list(card.security_leads))}"
    return Rendered(text=truncate(text, 3000), blocks=blocks)
