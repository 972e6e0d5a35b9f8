"""Who may be a named member: a verified person of the org, as Slack shows them.

A member must be a real, active person whose email Slack shows at one of the org's verified
domains. The facts come from `users.info` (looked up before the modal's service runs, outside
its transaction, see `trustbot.slack.people`) or from a `user_change` event; the rules are here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Profile:
    """What Slack says about one person; `found` is False when Slack could not tell us, and `unreachable`
    when that is because Slack did not answer (an outage, a rate limit, too slow) rather than that it
    knows no such person."""

    user_id: str
    name: str
    email: str | None = None
    deleted: bool = False
    is_bot: bool = False
    found: bool = True
    unreachable: bool = False


def profile_from_user(user: Mapping[str, Any]) -> Profile:
    """A `Profile` from a Slack user object (`users.info`'s `user`, or a `user_change` event's)."""
    raw = user.get("profile")
    profile: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    name = str(
        profile.get("real_name") or user.get("real_name") or profile.get("display_name") or user.get("name") or ""
    )
    email = profile.get("email")
    return Profile(
        user_id=str(user.get("id") or ""),
        name=name or str(user.get("id") or "someone"),
        email=str(email).strip().lower() if isinstance(email, str) and email.strip() else None,
        deleted=bool(user.get("deleted")),
        is_bot=bool(user.get("is_bot")) or str(user.get("id") or "") == "USLACKBOT",
    )


def domain_of(email: str) -> str:
    """The part after the last @, lower case."""
    return email.rpartition("@")[2].lower()


def membership_problem(profile: Profile | None, domains: Iterable[str]) -> str | None:
    """Why this person cannot be a named member of an org with these domains (None: they can)."""
    allowed = sorted({d.lower() for d in domains})
    if profile is None or not profile.found:
        return "could not be looked up in Slack"
    if profile.deleted:
        return "is deactivated"
    if profile.is_bot:
        return "is a bot"
    if not profile.email:
        return "has no email that Slack shows"
    if domain_of(profile.email) not in allowed:
        where = ", ".join(allowed) or "none"
        return f"has an email ({profile.email}) outside the org's domains ({where})"
    return None


def check_members(
    members: Sequence[str], profiles: Mapping[str, Profile] | None, domains: Iterable[str]
) -> tuple[dict[str, str], str | None]:
    """(each member's email, one inline sentence naming everyone refused, or None)."""
    allowed = list(domains)
    emails: dict[str, str] = {}
    refused: list[str] = []
    for member in members:
        profile = (profiles or {}).get(member)
        problem = membership_problem(profile, allowed)
        if problem is None and profile is not None and profile.email:
            emails[member] = profile.email
        else:
            refused.append(f"{profile.name if profile and profile.found else member} {problem}")
    if not refused:
        return emails, None
    shown = "; ".join(refused[:5]) + (f"; and {len(refused) - 5} more" if len(refused) > 5 else "")
    return emails, f"Only verified people of the org can be named: {shown}."[:1900]


@dataclass(frozen=True)
class Recheck:
    """The named members of a request looked up again: who still qualifies, who is left out and why."""

    emails: dict[str, str]  # member -> the email Slack shows now
    left_out: dict[str, str]  # member -> "Dana Dev is deactivated"
    unreachable: tuple[str, ...]  # members Slack gave no answer about: nothing may be decided on them


def recheck_members(members: Sequence[str], profiles: Mapping[str, Profile] | None, domains: Iterable[str]) -> Recheck:
    """Check each named member again against what Slack shows now and the org's current domains."""
    allowed = list(domains)
    emails: dict[str, str] = {}
    left_out: dict[str, str] = {}
    unreachable: list[str] = []
    for member in members:
        profile = (profiles or {}).get(member)
        if profile is None or profile.unreachable:
            unreachable.append(member)
        elif not profile.found:
            left_out[member] = f"{member} is no longer in Slack"
        elif (problem := membership_problem(profile, allowed)) is not None or not profile.email:
            left_out[member] = f"{profile.name} {problem}"
        else:
            emails[member] = profile.email
    return Recheck(emails=emails, left_out=left_out, unreachable=tuple(unreachable))
