"""`/v1/entitlements` and `/v1/grants`: who may use which tier right now, and every grant in change order.

Both read only; an address is answered with a handful of indexed queries whatever the number of
grants (see `trustbot.storage.queries.entitlements`). The sync cursor is opaque to the gateway: the
(updated_at, id) position of the last grant it got, base64url-encoded, so paging is stable while
grants keep changing (a grant that changes again moves behind the cursor and comes once more).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import parse_rfc3339
from trustbot.services.context import ServiceContext
from trustbot.services.directory.file import SLUG_RE
from trustbot.services.entitlements.grant_view import blocked, entitles, grant_object, reason_for, rfc3339
from trustbot.services.entitlements.idp import identity_of, idp_problem
from trustbot.services.errors import InvalidInput
from trustbot.slack.payloads import ID_MAX
from trustbot.storage.queries import entitlements as q
from trustbot.storage.queries import identity as idq
from trustbot.storage.queries.directory import get_org, list_tiers, orgs_by_ids
from trustbot.storage.tables import Grant, GrantStatus

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
# Deliberately plain: one @, no spaces or control characters, a dotted domain. Slack already verified the real ones.
ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f\ud800-\udfff]{1,64}@([A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+)$")


def parse_address(raw: str | None) -> tuple[str, str]:
    """(address, domain), lower case; `InvalidInput` when it is missing or not an address."""
    email = (raw or "").strip().lower()
    match = ADDRESS.match(email) if len(email) <= 320 else None
    if match is None:
        raise InvalidInput("email is missing or not an address" if email else "email is required")
    return email, match.group(1)


async def check_address(session: AsyncSession, ctx: ServiceContext, *, email: str) -> dict[str, Any]:
    """Whether an active grant covers `email` now, its highest tier, the grants covering it, and why not.

    Each grant object names only this address among its members: the gateway asked about one person.
    """
    address, domain = parse_address(email)
    now = ctx.now()
    today = now.astimezone(ctx.tz).date()
    orgs = await q.orgs_for_domain(session, domain=domain)
    grants = await q.grants_for_address(session, email=address, org_ids=[o.pk for o in orgs])
    by_id = {o.pk: o for o in orgs}
    by_id.update(await orgs_by_ids(session, org_ids={g.org_id for g in grants} - set(by_id)))
    standing = await idq.standing_of(session, org_ids=[o for o, org in by_id.items() if org.scim_since], email=address)
    in_groups = {g for s in standing.values() for g in s.group_ids}
    known = {g.pk for g in grants}
    grants += [g for g in await idq.grants_of_groups(session, group_ids=in_groups) if g.pk not in known]
    grants.sort(key=lambda g: g.pk, reverse=True)
    by_id.update(await orgs_by_ids(session, org_ids={g.org_id for g in grants} - set(by_id)))
    holds = await idq.holds_on(session, org_ids=list(by_id), email=address)
    problems = {
        org_id: idp_problem(org, _active(standing.get(org_id)), [h for h in holds if h.org_id == org_id])
        for org_id, org in by_id.items()
    }
    emails = await q.member_emails(session, grant_ids=[g.pk for g in grants])
    blocks = {
        g.pk: blocked(g, by_id.get(g.org_id), domain, now, today, problems.get(g.org_id))
        for g in grants
        if entitles(g, now)
    }
    entitling = [g for g in grants if g.pk in blocks and blocks[g.pk] is None]
    rank = {t.id: t.rank for t in await list_tiers(session)}
    best = max(entitling, key=lambda g: (rank.get(g.tier_id, -1), g.pk), default=None)
    org = orgs[0] if orgs else (by_id.get(grants[0].org_id) if grants else None)
    idp = await identity_of(session, grants, by_id, emails, for_address=address)
    shown = [
        grant_object(g, by_id.get(g.org_id), emails.get(g.pk, {}), for_address=address, idp=idp.get(g.pk))
        for g in grants
    ]
    return {
        "email": address,
        "org": org.slug if org else None,
        "entitled": best is not None,
        "tier": best.tier_id if best else None,
        "grants": shown,
        "reason": None if best else reason_for(grants, org, today, [b for b in blocks.values() if b]),
        "checked_at": rfc3339(now),
    }


def _active(standing: idq.Standing | None) -> bool | None:
    return None if standing is None else standing.active


@dataclass(frozen=True)
class GrantQuery:
    """The filters and position of one `/v1/grants` page, as typed by the gateway."""

    org: str | None = None
    status: str | None = None
    updated_since: str | None = None
    cursor: str | None = None
    limit: str | None = None


def encode_cursor(grant: Grant) -> str:
    """The opaque position after `grant`."""
    raw = json.dumps([rfc3339(grant.updated_at), grant.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """The position a cursor names; `InvalidInput` when it is not one of ours."""
    try:
        at, grant_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(grant_id, int) or isinstance(grant_id, bool) or not 0 <= grant_id <= ID_MAX:
            raise ValueError(cursor)
        if not isinstance(at, str):
            raise ValueError(cursor)
        return parse_rfc3339(at), grant_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise InvalidInput("cursor is not one this API gave out") from None


def _limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:  # "²".isdigit() is true
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(raw)


def _since(raw: str | None) -> datetime | None:
    if not raw:
        return None
    try:
        return parse_rfc3339(raw)
    except (ValueError, OverflowError):
        raise InvalidInput("updated_since must be an RFC 3339 time such as 2026-11-02T09:00:00Z") from None


async def list_changes(session: AsyncSession, *, query: GrantQuery) -> dict[str, Any]:
    """One page of grants, oldest change first, and the cursor of the next page (None: up to date)."""
    limit = _limit(query.limit)
    after = decode_cursor(query.cursor) if query.cursor else None
    if query.status is not None and query.status not in {s.value for s in GrantStatus}:
        raise InvalidInput(f"status must be one of {', '.join(s.value for s in GrantStatus)}")
    org_id: int | None = None
    if query.org is not None:
        if not SLUG_RE.fullmatch(query.org):
            raise InvalidInput("org must be an org's slug (lowercase letters, digits and dashes)")
        org = await get_org(session, slug=query.org)
        if org is None:
            return {"grants": [], "next_cursor": None}
        org_id = org.pk
    grants = await q.page_grants(
        session,
        org_id=org_id,
        status=query.status,
        updated_since=_since(query.updated_since),
        after=after,
        limit=limit + 1,
    )
    page, more = grants[:limit], len(grants) > limit
    orgs = await orgs_by_ids(session, org_ids={g.org_id for g in page})
    emails = await q.member_emails(session, grant_ids=[g.pk for g in page])
    idp = await identity_of(session, page, orgs, emails)
    return {
        "grants": [grant_object(g, orgs.get(g.org_id), emails.get(g.pk, {}), idp=idp.get(g.pk)) for g in page],
        "next_cursor": encode_cursor(page[-1]) if more else None,
    }
