"""Block Kit for alerts in bulk: the `/trust alerts` list and the circuit-breaker summary of a channel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from slack_sdk.models.blocks import (
    Block,
    SectionBlock,
)

from trustbot.messages.alert_notes import build_alert_note
from trustbot.messages.alerts import (
    MAX_LIST_ROWS,
    SEVERITY_EMOJI,
    STATUS_LABEL,
    context_line,
    is_snoozed,
    mrkdwn,
    one_line,
    severity_label,
)
from trustbot.messages.text import Rendered, format_datetime, mention, plural, safe, slack_date, truncate
from trustbot.storage.tables import Alert


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


def build_alert_list(rows: list[tuple[Alert, str]], title: str, tz: tzinfo | str | None) -> Rendered:
    """`/trust alerts`: active alerts (low ones included), most severe and newest first.

    `title` and each row's org label are raw text (org names, typed slugs): they are escaped here.
    """
    if not rows:
        return build_alert_note(f"*{safe(title, 200)}*\nNo open alerts.")
    blocks: list[Block] = [SectionBlock(text=mrkdwn(f"*{safe(title, 200)}* — {plural(len(rows), 'open alert')}"))]
    for alert, org_label in rows[:MAX_LIST_ROWS]:
        blocks.append(
            SectionBlock(
                text=mrkdwn(
                    truncate(
                        f"{SEVERITY_EMOJI.get(alert.severity, '')} *#{alert.id} {severity_label(alert.severity)}* · "
                        f"{safe(org_label, 200)} · "
                        f"{one_line(alert.signal, 64)} · {STATUS_LABEL.get(alert.status, alert.status)}\n"
                        f"{one_line(alert.summary, 300)}\n{plural(alert.occurrences, 'occurrence')}, last seen "
                        f"{format_datetime(alert.last_seen, tz)}"
                        + (f", owner {mention(alert.owner)}" if alert.owner else "")
                        + (f", snoozed until {slack_date(alert.snoozed_until)}" if is_snoozed(alert, None) else ""),
                        3000,
                    )
                )
            )
        )
    if len(rows) > MAX_LIST_ROWS:
        blocks.append(context_line(f"…and {len(rows) - MAX_LIST_ROWS} more."))
    text = f"{safe(title, 200)}: {plural(len(rows), 'open alert')}"
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
        f"• #{line.alert_id} {severity_label(line.severity)} {one_line(line.org_slug, 64)} · "
        f"{one_line(line.signal, 64)} · {plural(line.occurrences, 'occurrence')}"
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
