"""Block Kit for grants and `/trust status`: grant lists (with **Revoke**), status, revocation notices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from trustbot.ids import Action
from trustbot.messages.requests import scope_summary
from trustbot.messages.text import Rendered, format_date, mention, plural, quote, safe, truncate
from trustbot.slack.payloads import GrantRef
from trustbot.storage.tables import LIVE_GRANTS, AccessRequest, Grant, GrantStatus, Org, RequestStatus

REVOKE = "Revoke"
MAX_ROWS = 20  # Slack allows 50 blocks per message; stay well under with headers and notes


@dataclass(frozen=True)
class GrantRow:
    """One grant as listed: its org, tier name, the request behind it, and whether the viewer may revoke it."""

    grant: Grant
    org: Org
    tier_name: str
    request: AccessRequest | None = None
    can_revoke: bool = False


@dataclass(frozen=True)
class GrantListing:
    """What `/trust grants [org]` shows."""

    title: str
    rows: tuple[GrantRow, ...]


@dataclass(frozen=True)
class RequestRow:
    """One open request as listed in `/trust status`."""

    request: AccessRequest
    org: Org
    tier_name: str
    approvals: int = 0
    approvals_needed: int = 1


@dataclass(frozen=True)
class StatusReport:
    """What `/trust status` shows one person."""

    user_id: str
    org_names: tuple[str, ...]
    open_requests: tuple[RequestRow, ...]
    awaiting_me: tuple[RequestRow, ...]
    grants: tuple[GrantRow, ...]


_STATUS_ICON: dict[str, str] = {
    GrantStatus.ACTIVE: ":large_green_circle:",
    GrantStatus.SUSPENDED: ":large_orange_circle:",
    GrantStatus.REVOKED: ":red_circle:",
    GrantStatus.EXPIRED: ":white_circle:",
}


def grant_line(row: GrantRow, tz: tzinfo | str | None = None) -> str:
    """`:green: *Grant #3* · Acme · Frontier · blanket (acme.com) · active until 2027-01-01`."""
    grant = row.grant
    icon = _STATUS_ICON.get(grant.status, ":grey_question:")
    scope = scope_summary(grant, row.org)  # the grant's own roster: re-verification may have trimmed it
    org, tier = safe(row.org.name, 200), safe(row.tier_name, 100)
    line = f"{icon} *Grant #{grant.id}* · {org} · {tier} · {scope} · {grant.status}"
    if grant.status in LIVE_GRANTS:
        line += (
            f" · expires {format_date(grant.expires_at, tz)} · re-verify by {format_date(grant.reverify_due_at, tz)}"
        )
    if grant.status == GrantStatus.SUSPENDED and grant.suspended_reason:
        line += f"\nSuspended: {safe(grant.suspended_reason, 64)}" + (
            f" — {safe(grant.suspension_note, 500)}" if grant.suspension_note else ""
        )
    if grant.status == GrantStatus.REVOKED:
        line += (
            f" by {mention(grant.ended_by or '?')} on {format_date(grant.ended_at, tz)}: {safe(grant.end_reason, 500)}"
        )
    return truncate(line, 3000)


def revoke_button(grant_id: int) -> ButtonElement:
    """The **Revoke** button carrying a `GrantRef`."""
    return ButtonElement(
        text=PlainTextObject(text=REVOKE),
        action_id=Action.GRANT_REVOKE,
        value=GrantRef(grant_id=grant_id).model_dump_json(),
        style="danger",
    )


def _grant_block(row: GrantRow, tz: tzinfo | str | None) -> SectionBlock:
    accessory = revoke_button(row.grant.pk) if row.can_revoke and row.grant.status in LIVE_GRANTS else None
    return SectionBlock(text=MarkdownTextObject(text=grant_line(row, tz)), accessory=accessory)


def _more(total: int, shown: int) -> list[Block]:
    if total <= shown:
        return []
    return [ContextBlock(elements=[MarkdownTextObject(text=f"… and {total - shown} more not shown.")])]


def build_grant_list(listing: GrantListing, tz: tzinfo | str | None = None) -> Rendered:
    """`/trust grants [org]`: each grant with status and dates; a Revoke button where the viewer may revoke."""
    title = truncate(f"Grants — {listing.title}", 150)
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=title))]
    if not listing.rows:
        blocks.append(SectionBlock(text=MarkdownTextObject(text="No grants yet.")))
    blocks += [_grant_block(row, tz) for row in listing.rows[:MAX_ROWS]]
    blocks += _more(len(listing.rows), MAX_ROWS)
    live = sum(1 for r in listing.rows if r.grant.status == GrantStatus.ACTIVE)
    text = f"{safe(title, 200)}: {plural(len(listing.rows), 'grant')}, {live} active"
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def request_line(row: RequestRow) -> str:
    """`*Request #5* · Acme · Frontier · 30 days · pending (1 of 2 approvals)`."""
    req = row.request
    state = req.status
    if req.status == RequestStatus.PENDING and row.approvals_needed > 1:
        state += f" ({row.approvals} of {row.approvals_needed} approvals)"
    if req.status == RequestStatus.INFO_REQUESTED:
        state = "waiting for the requester's answer"
    return (
        f"*Request #{req.id}* · {safe(row.org.name, 200)} · {safe(row.tier_name, 100)} · "
        f"{plural(req.duration_days, 'day')} · {scope_summary(req, row.org)} · by {mention(req.requester)} · {state}"
    )


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))


def build_status(report: StatusReport, tz: tzinfo | str | None = None) -> Rendered:
    """`/trust status`: what awaits the viewer (reps), open requests and grants of their orgs."""
    orgs = ", ".join(report.org_names) or "no orgs"
    blocks: list[Block] = [HeaderBlock(text=PlainTextObject(text=truncate(f"Trusted access — {orgs}", 150)))]
    if report.awaiting_me:
        blocks.append(
            _section(f"*Awaiting your decision ({len(report.awaiting_me)})* — decide in each request's thread")
        )
        blocks += [_section(request_line(row)) for row in report.awaiting_me[:10]]
        blocks += _more(len(report.awaiting_me), 10)
        blocks.append(DividerBlock())
    blocks.append(
        _section(f"*Open requests ({len(report.open_requests)})*" if report.open_requests else "*Open requests*\nNone.")
    )
    blocks += [_section(request_line(row)) for row in report.open_requests[:10]]
    blocks += _more(len(report.open_requests), 10)
    blocks.append(DividerBlock())
    blocks.append(
        _section(f"*Grants ({len(report.grants)})*" if report.grants else "*Grants*\nNo active or suspended grants.")
    )
    blocks += [_grant_block(row, tz) for row in report.grants[:15]]
    blocks += _more(len(report.grants), 15)
    text = (
        f"Trusted access for {safe(orgs, 1000)}: {plural(len(report.open_requests), 'open request')}, "
        f"{plural(len(report.grants), 'grant')}"
        + (f", {len(report.awaiting_me)} awaiting your decision" if report.awaiting_me else "")
    )
    return Rendered(text=truncate(text, 3000), blocks=blocks)


def build_revoked_dm(row: GrantRow, tz: tzinfo | str | None = None) -> Rendered:
    """DM to admins and the requester: a grant was revoked, by whom and why."""
    grant = row.grant
    text = (
        f":red_circle: Trusted-access grant #{grant.id} for {safe(row.org.name, 200)} ({safe(row.tier_name, 100)} "
        "tier) "
        f"was revoked by {mention(grant.ended_by or '?')} on "
        f"{format_date(grant.ended_at, tz)}.\n*Reason:*\n{quote(grant.end_reason, 2500)}"
    )
    return Rendered(text=truncate(text, 3000), blocks=[_section(text)])


def build_revoked_note(row: GrantRow, tz: tzinfo | str | None = None) -> Rendered:
    """Thread note under the request: its grant was revoked."""
    grant = row.grant
    text = (
        f":red_circle: Grant #{grant.id} was revoked by {mention(grant.ended_by or '?')} on "
        f"{format_date(grant.ended_at, tz)}.\n*Reason:*\n{quote(grant.end_reason, 2500)}"
    )
    return Rendered(text=truncate(text, 3000), blocks=[_section(text)])


def build_revoke_ack(row: GrantRow) -> Rendered:
    """Ephemeral answer to the person who revoked."""
    text = f"Grant #{row.grant.id} for {safe(row.org.name, 200)} is revoked. Admins and the requester are told."
    return Rendered(text=text, blocks=[_section(text)])
