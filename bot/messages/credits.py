"""Block Kit for credits: `/trust credits`, threshold and expiry notices, the weekly digest.

Pure: data in, `Rendered` out. Org names and credit ids are directory text, escaped before mrkdwn.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from decimal import Decimal

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from trustbot.messages.alerts import clean
from trustbot.messages.text import Rendered, format_date, money, plural, safe, truncate
from trustbot.storage.tables import CreditGrant, Org

MAX_ROWS = 40  # sections per message (Slack allows 50 blocks)


@dataclass(frozen=True)
class CreditStatus:
    """One credit grant with its usage, burn rate and projection at `now`."""

    credit: CreditGrant
    org: Org
    used: Decimal
    burn_per_day: Decimal
    now: datetime

    @property
    def amount(self) -> Decimal:
        return Decimal(self.credit.amount_usd)

    @property
    def remaining(self) -> Decimal:
        return max(self.amount - self.used, Decimal(0))

    @property
    def percent_used(self) -> Decimal:
        return (self.used / self.amount * 100) if self.amount > 0 else Decimal(100)

    @property
    def lapsed(self) -> bool:
        return self.credit.expires <= self.now.date()

    @property
    def days_to_expiry(self) -> int:
        return (self.credit.expires - self.now.astimezone(UTC).date()).days

    @property
    def exhaustion(self) -> date | None:
        """When the credit runs out at the current burn rate (None: no burn, or not before expiry)."""
        if self.remaining <= 0:
            return self.now.date()
        if self.burn_per_day <= 0:
            return None
        days = int(self.remaining / self.burn_per_day)
        try:
            return self.now.astimezone(UTC).date() + timedelta(days=days)
        except OverflowError:
            return None


def _md(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_md(truncate(text, 3000)))


def _projection(status: CreditStatus) -> str:
    if status.remaining <= 0:
        return "exhausted"
    end = status.exhaustion
    if end is None:
        return "no usage in the burn window"
    if end >= status.credit.expires:
        return f"lasts past expiry at this rate (runs out {format_date(end)})"
    return f"runs out around {format_date(end)}"


def credit_line(status: CreditStatus, *, with_org: bool = True) -> str:
    """Amount, used (%), remaining, burn rate, projection and expiry of one credit grant."""
    credit = status.credit
    state = f"expired {format_date(credit.expires)}" if status.lapsed else f"expires {format_date(credit.expires)}"
    org = f" · {safe(status.org.name, 200)}" if with_org else ""
    return (
        f"*{clean(credit.id, 128)}*{org} · {money(status.amount)}\n"
        f"used {money(status.used)} ({status.percent_used:.1f}%) · {money(status.remaining)} remaining\n"
        f"burn {money(status.burn_per_day)}/day · {_projection(status)} · {state}"
    )


def build_credit_list(statuses: list[CreditStatus], title: str) -> Rendered:
    """`/trust credits [org]`: each credit grant's balance, burn rate and expiry (`title` is raw text)."""
    if not statuses:
        text = f"*{safe(title, 200)}*\nNo credit grants."
        return Rendered(text=f"{safe(title, 200)}: no credit grants", blocks=[_section(text)])
    blocks: list[Block] = [_section(f"*{safe(title, 200)}* — {plural(len(statuses), 'credit grant')}")]
    for status in statuses[:MAX_ROWS]:
        blocks.append(_section(credit_line(status)))
    if len(statuses) > MAX_ROWS:
        blocks.append(ContextBlock(elements=[_md(f"…and {len(statuses) - MAX_ROWS} more.")]))
    blocks.append(
        ContextBlock(elements=[_md("Burn rate: average per day over the last 30 days (or since the credit started).")])
    )
    text = f"{safe(title, 200)}: " + "; ".join(
        f"{clean(s.credit.id, 128)} {money(s.used)} of {money(s.amount)} used" for s in statuses[:10]
    )
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def build_threshold_notice(status: CreditStatus, threshold: int) -> Rendered:
    """DM to admins and rep: a usage threshold was crossed."""
    head = (
        f":bar_chart: {safe(status.org.name, 200)} has used {threshold}% or more of credit "
        f"*{clean(status.credit.id, 128)}*."
    )
    text = f"{head}\n{credit_line(status, with_org=False)}"
    return Rendered(text=truncate(text, 3000), blocks=[_section(text)])


def build_expiry_notice(status: CreditStatus, days_left: int) -> Rendered:
    """DM to admins and rep: credit expires soon with unused credit."""
    head = (
        f":hourglass_flowing_sand: Credit *{clean(status.credit.id, 128)}* of {safe(status.org.name, 200)} expires "
        f"{format_date(status.credit.expires)} (in {plural(days_left, 'day')}) with {money(status.remaining)} unused."
    )
    text = f"{head}\n{credit_line(status, with_org=False)}"
    return Rendered(text=truncate(text, 3000), blocks=[_section(text)])


def build_digest(statuses: list[CreditStatus], now: datetime, tz: tzinfo | str | None = None) -> Rendered:
    """The weekly digest for the reps channel: every org's live credits."""
    title = f":moneybag: Weekly credit digest — {format_date(now, tz)}"
    if not statuses:
        return Rendered(text=f"{title}: no live credit grants", blocks=[_section(f"*{title}*\nNo live credit grants.")])
    blocks: list[Block] = [_section(f"*{title}* — {plural(len(statuses), 'credit grant')}")]
    ordered = sorted(statuses, key=lambda s: (s.org.name, s.credit.expires, s.credit.id))
    shown = 0
    for status in ordered[:MAX_ROWS]:
        blocks.append(_section(credit_line(status)))
        shown += 1
    if len(statuses) > shown:
        blocks.append(ContextBlock(elements=[_md(f"…and {len(statuses) - shown} more.")]))
    text = "Weekly credit digest: " + "; ".join(
        f"{safe(s.org.name, 200)} {clean(s.credit.id, 128)}: {money(s.used)} used, {money(s.remaining)} left, "
        f"{money(s.burn_per_day)}/day, expires {format_date(s.credit.expires)}"
        for s in ordered[:10]
    )
    return Rendered(text=truncate(text, 3000), blocks=blocks)
