"""What every SCIM service shares: its error, the token check, the filter's bounds and parsing, and paging."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from scim2_models import ScimFilter
from scim2_models.path.expressions import FilterNode
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.errors import NotFound
from trustbot.storage.queries import directory as dq
from trustbot.storage.queries import scim as q
from trustbot.storage.queries.scim_filters import BadFilter, where_of
from trustbot.storage.tables import Org

MAX_COUNT = 200  # a larger `count` is clamped to this, as RFC 7644 says
MAX_FILTER_CHARS = 1000


class ScimError(Exception):
    """A SCIM error object to answer: its HTTP status, scimType and detail."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status, self.detail, self.scim_type = status, detail, scim_type


def not_found(what: str) -> ScimError:
    """The 404 for a resource the org does not have (another org's id looks just the same)."""
    return ScimError(404, f"{what} not found")


def hash_token(token: str) -> str:
    """The stored form of a SCIM token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def org_for_token(session: AsyncSession, *, token: str) -> Org:
    """The org this bearer token belongs to, or a 401."""
    digest = hash_token(token)
    found = await q.org_by_token_hash(session, token_sha256=digest) if token else None
    if found is None or not hmac.compare_digest(found[1], digest):
        raise ScimError(401, "a valid SCIM bearer token is required")
    return found[0]


async def issue_token(session: AsyncSession, ctx: ServiceContext, *, org_slug: str) -> str:
    """A new SCIM token for the org, replacing its old one; only its hash is kept."""
    org = await dq.get_org(session, slug=org_slug)
    if org is None or org.id is None:
        raise NotFound(f"no org {org_slug!r}")
    token = "scim_" + secrets.token_urlsafe(32)
    await q.replace_token(session, org_id=org.id, token_sha256=hash_token(token), at=ctx.now())
    await record_audit(session, ctx, action="scim.token_issued", subject=f"org:{org.slug}")
    return token


@dataclass(frozen=True)
class Page:
    """A 1-based start index and a count, clamped."""

    start: int
    count: int


def page_from(params: dict[str, str]) -> Page:
    """`startIndex`/`count` from a query: below 1 is 1, `count` is clamped to 0‥MAX_COUNT."""
    try:
        start = int(params.get("startIndex", "1"))
        count = int(params.get("count", str(MAX_COUNT)))
    except ValueError:
        raise ScimError(400, "startIndex and count must be integers", "invalidValue") from None
    return Page(start=max(start, 1), count=min(max(count, 0), MAX_COUNT))


def filter_where(text: str | None, *, users: bool) -> ColumnElement[bool] | None:
    """The SQL condition for a SCIM filter over users or groups; anything it cannot express is a 400."""
    if text is None:
        return None
    if len(text) > MAX_FILTER_CHARS or text.count("(") > 10:
        raise ScimError(400, "filter is too long or too deeply nested", "invalidFilter")
    try:
        ast: FilterNode = ScimFilter(text).ast
    except Exception:  # the parser's own errors vary; any of them means a bad filter
        raise ScimError(400, "filter could not be parsed", "invalidFilter") from None
    try:
        return where_of(ast, users=users)
    except BadFilter as problem:
        raise ScimError(400, str(problem), "invalidFilter") from None
