"""Block Kit for the scheduled jobs: grant expiry, request SLA, org verification.

Pure functions: data in, `Rendered(text, blocks)` out. Org names and other directory text are
escaped like anything typed, since the directory file is edited by people too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo

from slack_sdk.models.blocks import MarkdownTextObject, SectionBlock

from trustbot.messages.text import Rendered, format_date, mention, mentions, plural, safe, truncate
from trustbot.storage.tables import AccessRequest, Grant, Org

Tz = tzinfo | str | None
OrgNotice = Callable[[Org, list[int]], Rendered]


@dataclass(frozen=True)
class GrantInfo:
    """A grant with what its messages show: org and tier name."""

    grant: Grant
    org: Org
    tier_name: str


def note(text: str) -> Rendered:
    """A one-section message (`text` is mrkdwn the caller already escaped)."""
    text = truncate(text, 3000)
    return Rendered(text=text, blocks=[SectionBlock(text=MarkdownTextObject(text=text))])


def grant_label(info: GrantInfo) -> str:
    """`grant #3 for *Acme Security* (Frontier tier, 2 people)`, escaped."""
    grant = info.grant
    parts = (["blanket"] if grant.blanket else []) + (
        [plural(len(grant.members), "person", "people")] if grant.members else []
    )
    parts += ["IdP group"] if grant.scim_group_id is not None else []
    scope = " + ".join(parts) or "nobody named"
    return f"grant #{grant.id} for *{safe(info.org.name, 200)}* ({safe(info.tier_name, 100)} tier, {scope})"


def days_phrase(days: int) -> str:
    """`today`, `tomorrow`, `in 3 days`."""
    return "today" if days <= 0 else "tomorrow" if days == 1 else f"in {days} days"


# ---------------------------------------------------------------- grant expiry


def build_expiry_warning_dm(info: GrantInfo, days_left: int, tz: Tz = None) -> Rendered:
    """DM to admins: a grant ends soon; a new request is needed to continue."""
    return note(
        f":hourglass_flowing_sand: Trusted-access {grant_label(info)} expires {days_phrase(days_left)} "
        f"(*{format_date(info.grant.expires_at, tz)}*). To keep access after that, submit a new request with `/trust "
        "request`."
    )


def build_expired_dm(info: GrantInfo, tz: Tz = None) -> Rendered:
    """DM to admins and members: the grant ended; access ends with it."""
    return note(
        f":white_circle: Trusted-access {grant_label(info)} expired on {format_date(info.grant.expires_at, tz)}; "
        f"the access it gave has ended. Use `/trust request` to ask for new access."
    )


def build_expired_note(info: GrantInfo, rep: str | None, tz: Tz = None) -> Rendered:
    """Thread note under the request (mentioning the rep): its grant expired."""
    who = f"{mention(rep)}: " if rep else ""
    return note(
        f"{who}:white_circle: Grant #{info.grant.id} expired on {format_date(info.grant.expires_at, tz)}; its access "
        "has ended."
    )


# ---------------------------------------------------------------- request SLA


def build_nudge_note(request: AccessRequest, rep: str | None, hours: float) -> Rendered:
    """Thread nudge mentioning the rep: the request waits for a decision."""
    who = mention(rep) if rep else "Account reps"
    return note(
        f":alarm_clock: {who}, access request #{request.id} has waited more than {_hours(hours)} for a decision. "
        "Please decide in this thread."
    )


def build_escalation_note(request: AccessRequest, rep: str | None, backups: list[str], hours: float) -> Rendered:
    """Thread escalation mentioning the backup reps (operators when there are none)."""
    who = mentions(backups) if backups else "Operators"
    primary = f" ({mention(rep)} has not decided yet)" if rep else ""
    return note(
        f":rotating_light: {who}: access request #{request.id} has waited more than {_hours(hours)}{primary}. "
        f"Please step in and decide in this thread."
    )


def build_request_expired_note(request: AccessRequest, days: float) -> Rendered:
    """Thread note: the request expired without a decision."""
    return note(
        f":hourglass: Access request #{request.id} expired after {_days(days)} without a decision. Nothing was granted."
    )


def build_request_expired_dm(request: AccessRequest, org: Org | None, days: float) -> Rendered:
    """DM to the requester: their request expired undecided."""
    name = safe(org.name, 200) if org else "your org"
    return note(
        f":hourglass: Your access request #{request.id} for {name} expired after {_days(days)} without a decision, "
        f"so nothing was granted. Submit it again with `/trust request` if you still need access."
    )


def _hours(hours: float) -> str:
    return plural(int(hours), "hour") if float(hours).is_integer() else f"{hours:g} hours"


def _days(days: float) -> str:
    return plural(int(days), "day") if float(days).is_integer() else f"{days:g} days"


# ---------------------------------------------------------------- org verification


def build_org_verification_warning(org: Org, days_left: int) -> Rendered:
    """DM to the org's reps: its identity verification lapses soon."""
    return note(
        f":warning: {safe(org.name, 200)}'s identity verification ends {days_phrase(days_left)} "
        f"(verified until *{format_date(org.verified_until)}*). When it lapses, its grants are suspended. "
        f"Renew it and update `verified_until` in the directory."
    )


def build_org_lapsed(org: Org, grant_ids: list[int]) -> Rendered:
    """DM to admins and rep: verification lapsed and these grants are suspended."""
    grants = _grant_list(grant_ids)
    return note(
        f":large_orange_circle: {safe(org.name, 200)}'s identity verification lapsed on "
        f"{format_date(org.verified_until)}. "
        f"{grants} suspended until it is renewed; your account rep can update it in the directory."
    )


def build_org_restored(org: Org, grant_ids: list[int]) -> Rendered:
    """DM to admins and rep: verification renewed and these grants are active again."""
    return note(
        f":large_green_circle: {safe(org.name, 200)} is verified until {format_date(org.verified_until)}. "
        f"{_grant_list(grant_ids)} active again."
    )


def _grant_list(grant_ids: list[int]) -> str:
    shown = ", ".join(f"#{g}" for g in grant_ids[:30])
    more = f" and {len(grant_ids) - 30} more" if len(grant_ids) > 30 else ""
    return f"{'Grant' if len(grant_ids) == 1 else 'Grants'} {shown}{more} {'is' if len(grant_ids) == 1 else 'are'}"
