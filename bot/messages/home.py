"""Block Kit for the App Home tab: one view per person, sections by role.

Pure: `HomeData` in, a `home` `View` out. Every list is capped and says "and N more"; the whole
view stays under Slack's 100-block limit. Org names, tier names, alert signals and summaries are
text someone typed (or a producer sent), so all of it is escaped before it reaches mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from trustbot.messages.alerts import SEVERITY_EMOJI, clean, one_line, severity_label
from trustbot.messages.grants import GrantRow, RequestRow, grant_line, request_line
from trustbot.messages.reverification import reverify_button
from trustbot.messages.text import format_date, format_datetime, money, plural, safe, truncate
from trustbot.storage.tables import Alert, AlertStatus, CreditGrant, GrantStatus, SuspensionReason

MAX_BLOCKS = 100  # Slack's limit for a Home tab view
MAX_AWAITING = 10
MAX_ALERTS = 15
MAX_REQUESTS = 10
MAX_GRANTS = 10
MAX_CREDITS = 8
REVERIFY_SOON = timedelta(days=14)  # matches the first re-verification reminder
MISSED_REVERIFICATION = SuspensionReason.MISSED_REVERIFICATION

NOT_IN_PROGRAM = (
    "You're not part of the trusted-access program, so there is nothing to show you here.\n\n"
    "If your company takes part, ask your company's enterprise admin — or your account rep at the "
    "provider — to add you to the Trustbot directory. Until then Trustbot shows no org's requests, "
    "grants, credits or alerts."
)

_ALERT_STATUS: dict[str, str] = {
    AlertStatus.OPEN: "open",
    AlertStatus.ACKNOWLEDGED: "acknowledged",
    AlertStatus.ESCALATED: "escalated",
}


@dataclass(frozen=True)
class CreditLine:
    """One credit grant of an admin's org, with what has been used of it."""

    org_name: str
    credit: CreditGrant
    used: Decimal
    lapsed: bool = False


@dataclass(frozen=True)
class AlertLine:
    """One active alert; `org_name` is None when the directory has no such org."""

    alert: Alert
    org_name: str | None


@dataclass(frozen=True)
class HomeCounts:
    """Operators' overview across every org."""

    orgs: int
    requests_by_status: dict[str, int] = field(default_factory=dict)
    grants_by_status: dict[str, int] = field(default_factory=dict)
    alerts_by_severity: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HomeData:
    """Everything one person's Home tab shows; sections are empty for roles they don't hold."""

    user_id: str
    known: bool
    now: datetime
    is_operator: bool = False
    roles: tuple[str, ...] = ()
    admin_org_names: tuple[str, ...] = ()
    admin_requests: tuple[RequestRow, ...] = ()
    admin_grants: tuple[GrantRow, ...] = ()
    credits: tuple[CreditLine, ...] = ()
    credits_total: int = 0
    is_rep: bool = False
    awaiting: tuple[RequestRow, ...] = ()
    show_alerts: bool = False
    alerts: tuple[AlertLine, ...] = ()
    alerts_total: int = 0
    counts: HomeCounts | None = None


def _md(text: str, limit: int = 3000) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, limit)))


def _context(text: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(text, 3000))])


def _header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=truncate(text, 150)))


def _more(total: int, shown: int, what: str = "") -> list[Block]:
    if total <= shown:
        return []
    return [_context(f"… and {total - shown} more{' ' + what if what else ''} not shown here.")]


def age(since: datetime, now: datetime) -> str:
    """`less than a minute`, `12 minutes`, `5 hours`, `3 days`."""
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return "less than a minute"
    if seconds < 3600:
        return plural(seconds // 60, "minute")
    if seconds < 48 * 3600:
        return plural(seconds // 3600, "hour")
    return plural(seconds // 86400, "day")


def credit_text(line: CreditLine) -> str:
    """`*acme-2026* · Acme · $250,000.00 · used $1,200.00 (0%) · $248,800.00 left · expires 2027-01-01`."""
    credit = line.credit
    amount = Decimal(credit.amount_usd)
    used = Decimal(line.used)
    share = f" ({used / amount:.0%})" if amount > 0 else ""
    left = max(amount - used, Decimal(0))
    state = f"expired {format_date(credit.expires)}" if line.lapsed else f"expires {format_date(credit.expires)}"
    return (
        f"*{safe(credit.id, 128)}* · {safe(line.org_name, 200)} · {money(amount)} · used {money(used)}{share} · "
        f"{money(left)} left · {state}"
    )


def alert_text(line: AlertLine, tz: tzinfo | str | None) -> str:
    """Severity, org, signal, status, summary, occurrences and last seen of one active alert."""
    alert = line.alert
    org = safe(line.org_name, 200) if line.org_name else f"`{clean(alert.org_slug, 64)}` (unknown org)"
    summary = one_line(alert.summary, 300)
    return (
        f"{SEVERITY_EMOJI.get(alert.severity, ':grey_question:')} *#{alert.id} {severity_label(alert.severity)}* · "
        f"{org} · {clean(alert.signal, 64)} · {_ALERT_STATUS.get(alert.status, clean(alert.status, 32))}\n"
        f"{summary}\n{plural(alert.occurrences, 'occurrence')}, last seen {format_datetime(alert.last_seen, tz)}"
    )


def _grant_block(row: GrantRow, now: datetime, tz: tzinfo | str | None) -> SectionBlock:
    """An admin's grant; a **Re-verify** button when re-verification is due soon, overdue or why it is suspended."""
    grant = row.grant
    due = grant.reverify_due_at - now <= REVERIFY_SOON
    missed = grant.status == GrantStatus.SUSPENDED and grant.suspended_reason == MISSED_REVERIFICATION
    text = grant_line(row, tz)
    if grant.status == GrantStatus.ACTIVE and grant.reverify_due_at <= now:
        text += "\n:warning: Re-verification is overdue."
    show_button = (grant.status == GrantStatus.ACTIVE and due) or missed
    return SectionBlock(
        text=MarkdownTextObject(text=truncate(text, 3000)),
        accessory=reverify_button(grant.pk) if show_button else None,
    )


def _operator_section(counts: HomeCounts) -> list[Block]:
    req, grants, alerts = counts.requests_by_status, counts.grants_by_status, counts.alerts_by_severity
    active_alerts = sum(alerts.values())
    by_severity = ", ".join(f"{alerts[s]} {s}" for s in ("critical", "high", "medium", "low") if alerts.get(s))
    return [
        DividerBlock(),
        _md("*Across all orgs*"),
        SectionBlock(
            fields=[
                MarkdownTextObject(text=f"*Orgs*\n{counts.orgs}"),
                MarkdownTextObject(
                    text=f"*Open requests*\n{sum(req.values())}"
                    + (f" ({req.get('info_requested', 0)} waiting for an answer)" if req.get("info_requested") else "")
                ),
                MarkdownTextObject(text=f"*Active grants*\n{grants.get('active', 0)}"),
                MarkdownTextObject(text=f"*Suspended grants*\n{grants.get('suspended', 0)}"),
                MarkdownTextObject(
                    text=f"*Active alerts*\n{active_alerts}" + (f" ({by_severity})" if by_severity else "")
                ),
            ]
        ),
    ]


def _awaiting_section(data: HomeData) -> list[Block]:
    blocks: list[Block] = [DividerBlock()]
    if not data.awaiting:
        return blocks + [_md("*Awaiting your decision*\nNothing awaits you. :tada:")]
    blocks.append(
        _md(f"*Awaiting your decision ({len(data.awaiting)})* — decide in each request's thread in the reps channel")
    )
    for row in data.awaiting[:MAX_AWAITING]:
        blocks.append(_md(f"{request_line(row)} · waiting {age(row.request.created_at, data.now)}"))
    return blocks + _more(len(data.awaiting), MAX_AWAITING, "requests")


def _alerts_section(data: HomeData, tz: tzinfo | str | None) -> list[Block]:
    scope = "all orgs" if data.is_operator else "your orgs"
    blocks: list[Block] = [DividerBlock()]
    if not data.alerts:
        return blocks + [_md(f"*Active alerts — {scope}*\nNo open alerts.")]
    blocks.append(
        _md(
            f"*Active alerts — {scope} ({data.alerts_total})* — act on them in the security channel or with `/trust "
            "alerts`"
        )
    )
    blocks += [_md(alert_text(line, tz)) for line in data.alerts[:MAX_ALERTS]]
    return blocks + _more(data.alerts_total, min(len(data.alerts), MAX_ALERTS), "alerts")


def _admin_section(data: HomeData, tz: tzinfo | str | None) -> list[Block]:
    orgs = ", ".join(safe(n, 200) for n in data.admin_org_names)
    blocks: list[Block] = [DividerBlock(), _md(f"*Your org{'s' if len(data.admin_org_names) > 1 else ''}: {orgs}*")]
    if data.admin_requests:
        blocks.append(_md(f"*Open requests ({len(data.admin_requests)})*"))
        blocks += [
            _md(f"{request_line(row)} · opened {age(row.request.created_at, data.now)} ago")
            for row in data.admin_requests[:MAX_REQUESTS]
        ]
        blocks += _more(len(data.admin_requests), MAX_REQUESTS, "requests")
    else:
        blocks.append(_md("*Open requests*\nNone. Ask for access with `/trust request`."))
    if data.admin_grants:
        blocks.append(_md(f"*Grants ({len(data.admin_grants)})*"))
        blocks += [_grant_block(row, data.now, tz) for row in data.admin_grants[:MAX_GRANTS]]
        blocks += _more(len(data.admin_grants), MAX_GRANTS, "grants")
    else:
        blocks.append(_md("*Grants*\nNo active or suspended grants."))
    if data.credits:
        blocks.append(_md(f"*Credits ({data.credits_total})*"))
        blocks += [_md(credit_text(line)) for line in data.credits]
        blocks += _more(data.credits_total, len(data.credits), "credit grants")
    else:
        blocks.append(_md("*Credits*\nNo credit grants."))
    return blocks


def _fit(blocks: list[Block]) -> list[Block]:
    """Never more than Slack's limit: cut and say so (the per-list caps normally keep us well under)."""
    if len(blocks) <= MAX_BLOCKS:
        return blocks
    kept = blocks[: MAX_BLOCKS - 1]
    return kept + [
        _context(f"… {len(blocks) - len(kept)} more lines not shown. Use `/trust status` and `/trust alerts`.")
    ]


def build_home_view(data: HomeData, tz: tzinfo | str | None = None) -> View:
    """The Home tab for one person: their roles' sections, or an explanation when they are not in the program."""
    blocks: list[Block] = [_header("Trustbot — trusted access")]
    if not data.known:
        blocks.append(_md(NOT_IN_PROGRAM))
        return View(type="home", blocks=blocks)
    roles = "; ".join(safe(r, 600) for r in data.roles)
    blocks.append(_context(f"Your roles: {roles}. Updated {format_datetime(data.now, tz)}."))
    if data.counts is not None:
        blocks += _operator_section(data.counts)
    if data.is_rep or data.is_operator:
        blocks += _awaiting_section(data)
    if data.show_alerts:
        blocks += _alerts_section(data, tz)
    if data.admin_org_names:
        blocks += _admin_section(data, tz)
    blocks.append(
        _context("Commands: `/trust status` · `/trust grants` · `/trust credits` · `/trust alerts` · `/trust help`")
    )
    return View(type="home", blocks=_fit(blocks))
