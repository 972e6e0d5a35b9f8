"""A grant as the gateway sees it (the object `/v1/entitlements`, `/v1/grants` and the change events carry), and
the words for why access is missing."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from trustbot.storage.tables import Grant, GrantStatus, Org, SuspensionReason

# Strongest first: a security action outranks a lapsed org verification, which outranks a missed re-verification.
SUSPENSION_WORDS: dict[str, str] = {
    SuspensionReason.SECURITY_ACTION: "grant suspended: security action",
    SuspensionReason.ORG_VERIFICATION_LAPSED: "org verification lapsed",
    SuspensionReason.MISSED_REVERIFICATION: "grant suspended: missed re-verification",
}


def rfc3339(moment: datetime | None) -> str | None:
    """`2026-12-02T18:00:00Z` (UTC, whole seconds kept as given), or None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def scope_of(grant: Grant) -> str:
    """`named`, `blanket` or `named+blanket`."""
    if grant.blanket and grant.members:
        return "named+blanket"
    return "blanket" if grant.blanket else "named"


def grant_object(grant: Grant, org: Org | None, emails: Mapping[str, str]) -> dict[str, Any]:
    """The JSON object for one grant; `emails` maps its members' Slack ids to their recorded addresses."""
    return {
        "id": grant.id,
        "org": org.slug if org else None,
        "tier": grant.tier_id,
        "status": grant.status,
        "scope": scope_of(grant),
        "members": [{"slack_id": m, "email": emails.get(m)} for m in grant.members],
        "domains": sorted(org.domains) if org and grant.blanket else [],
        "starts_at": rfc3339(grant.starts_at),
        "expires_at": rfc3339(grant.expires_at),
        "reverify_due_at": rfc3339(grant.reverify_due_at),
        "suspended_reason": grant.suspended_reason,
        "updated_at": rfc3339(grant.updated_at),
    }


def entitles(grant: Grant, now: datetime) -> bool:
    """An active grant not past its end."""
    return grant.status == GrantStatus.ACTIVE and grant.expires_at > now


def reason_for(grants: Sequence[Grant], org: Org | None, now: datetime) -> str:
    """Why none of these covering grants entitles the address, in words."""
    if not grants:
        return "no grant"
    suspended = {g.suspended_reason or "" for g in grants if g.status == GrantStatus.SUSPENDED}
    if (
        SuspensionReason.SECURITY_ACTION not in suspended
        and org
        and org.verified_until
        and org.verified_until < now.date()
    ):
        return "org verification lapsed"  # before the org-verification job has run
    for reason, words in SUSPENSION_WORDS.items():  # the strongest reason first
        if reason in suspended:
            return words
    if suspended:
        return "grant suspended"
    if any(g.status in (GrantStatus.ACTIVE, GrantStatus.EXPIRED) for g in grants):  # active here: past its end
        return "grant expired"
    return "grant revoked"
