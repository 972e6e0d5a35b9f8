"""A grant as the gateway sees it (the object `/v1/entitlements`, `/v1/grants` and the change events carry), and
the words for why access is missing."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from trustbot.services.entitlements.idp import IDENTITY_REASONS, GrantIdentity
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


def _members(
    grant: Grant, emails: Mapping[str, str], idp: GrantIdentity, for_address: str | None
) -> list[dict[str, Any]]:
    """Named members, then the IdP group's people not also named, each with whether the IdP withholds them."""
    listed: list[tuple[str | None, str | None]] = [(m, emails.get(m)) for m in grant.members]
    named = {e for _, e in listed}
    listed += [(None, e) for e in idp.group_emails if e not in named]
    return [
        {"slack_id": slack_id, "email": email, "held": email in idp.problems, "reason": idp.problems.get(email or "")}
        for slack_id, email in listed
        if for_address is None or email == for_address
    ]


def grant_object(
    grant: Grant,
    org: Org | None,
    emails: Mapping[str, str],
    *,
    for_address: str | None = None,
    idp: GrantIdentity | None = None,
) -> dict[str, Any]:
    """The JSON object for one grant; `emails` maps its members' Slack ids to their recorded addresses.

    With `for_address` (an answer about one address) `members` holds only that address's own entry,
    so a gateway asking about one person never learns the rest of the roster. `idp`: what the org's
    identity provider says of its people (who is withheld and why, the IdP group the grant covers).
    """
    idp = idp or GrantIdentity()
    return {
        "id": grant.id,
        "org": org.slug if org else None,
        "tier": grant.tier_id,
        "status": grant.status,
        "scope": scope_of(grant),
        "members": _members(grant, emails, idp, for_address),
        "group": {"id": idp.group[0], "name": idp.group[1]} if idp.group else None,
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


OVERDUE = "re-verification overdue"
OFF_DOMAIN = "address not at the org's domains"


def lapsed(org: Org | None, today: date) -> bool:
    """The org's identity verification ended before `today` (the day in the display zone, as the job counts)."""
    return bool(org and org.verified_until and org.verified_until < today)


def blocked(
    grant: Grant, org: Org | None, domain: str, now: datetime, today: date, idp_problem: str | None = None
) -> str | None:
    """Why an active, unexpired grant still does not entitle an address at `domain` now (None: it does).

    Checked at question time, not left to the scheduled jobs (which may run up to a day later):
    a lapsed org verification, the org's IdP withholding the address (`idp_problem`), an overdue
    re-verification, an address off the org's current domains.
    """
    if org is None:
        return "org not in the directory"
    if lapsed(org, today):
        return "org verification lapsed"
    if idp_problem is not None:
        return idp_problem
    if grant.reverify_due_at <= now:
        return OVERDUE
    if domain not in {d.lower() for d in org.domains}:
        return OFF_DOMAIN
    return None


def reason_for(grants: Sequence[Grant], org: Org | None, today: date, blocks: Iterable[str] = ()) -> str:
    """Why none of these covering grants entitles the address, in words; `blocks` are `blocked`'s answers."""
    if not grants:
        return "no grant"
    suspended = {g.suspended_reason or "" for g in grants if g.status == GrantStatus.SUSPENDED}
    found = set(blocks)
    if SuspensionReason.SECURITY_ACTION not in suspended and (lapsed(org, today) or "org verification lapsed" in found):
        return "org verification lapsed"  # before the org-verification job has run
    for reason, words in SUSPENSION_WORDS.items():  # the strongest reason first
        if reason in suspended:
            return words
    for words in (*IDENTITY_REASONS, OVERDUE, OFF_DOMAIN, *sorted(found)):
        if words in found:
            return words
    if suspended:
        return "grant suspended"
    if any(g.status in (GrantStatus.ACTIVE, GrantStatus.EXPIRED) for g in grants):  # active here: past its end
        return "grant expired"
    return "grant revoked"
