"""What every SCIM service shares: its error, the token check, the filter turned into SQL, and paging."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scim2_models import ScimFilter
from scim2_models.path.expressions import Comparison, FilterNode, LogicalExpr, Not, Present
from scim2_models.path.visitor import FilterVisitor
from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.errors import NotFound
from trustbot.storage.queries import directory as dq
from trustbot.storage.queries import scim as q
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import ScimAddress, ScimGroup, ScimUser

MAX_COUNT = 200  # a larger `count` is clamped to this, as RFC 7644 says
MAX_FILTER_CHARS = 1000
MAX_FILTER_TERMS = 20


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


_USER_COLUMNS: dict[str, Any] = {
    "username": col(ScimUser.user_name_lc),
    "externalid": col(ScimUser.external_id),
    "displayname": col(ScimUser.display_name_lc),
    "id": col(ScimUser.scim_id),
}
_GROUP_COLUMNS: dict[str, Any] = {
    "displayname": col(ScimGroup.display_name_lc),
    "externalid": col(ScimGroup.external_id),
    "id": col(ScimGroup.scim_id),
}
_LOWERED = {"username", "displayname", "emails.value", "emails"}


class _SqlVisitor(FilterVisitor[ColumnElement[bool]]):
    def __init__(self, columns: dict[str, Any], *, users: bool) -> None:
        self.columns, self.users, self.terms = columns, users, 0

    def _column(self, node: Comparison | Present) -> tuple[str, Any]:
        path = node.attr_path
        name = (path.attr + (f".{path.sub_attr}" if path.sub_attr else "")).lower()
        if self.users and name in ("emails.value", "emails"):
            return name, None
        if name not in self.columns:
            raise ScimError(400, f"cannot filter on {path}", "invalidFilter")
        return name, self.columns[name]

    def visit_comparison(self, node: Comparison) -> ColumnElement[bool]:
        self.terms += 1
        if self.terms > MAX_FILTER_TERMS:
            raise ScimError(400, "filter has too many terms", "invalidFilter")
        name, column = self._column(node)
        value = node.value
        if not isinstance(value, str):
            raise ScimError(400, f"{node.attr_path} compares with a string", "invalidFilter")
        if name in _LOWERED:
            value = value.lower()
        if column is None:
            return exists(
                select(col(ScimAddress.user_id)).where(
                    col(ScimAddress.user_id) == col(ScimUser.id), _op(col(ScimAddress.email), node.op.value, value)
                )
            )
        return _op(column, node.op.value, value)

    def visit_present(self, node: Present) -> ColumnElement[bool]:
        name, column = self._column(node)
        if column is None:
            return exists(select(col(ScimAddress.user_id)).where(col(ScimAddress.user_id) == col(ScimUser.id)))
        present: ColumnElement[bool] = column.is_not(None)
        return present

    def visit_not(self, node: Not) -> ColumnElement[bool]:
        return not_(self.visit(node.expr))

    def visit_logical_expr(self, node: LogicalExpr) -> ColumnElement[bool]:
        parts = [self.visit(t) for t in node.terms]
        return and_(*parts) if node.op.value == "and" else or_(*parts)

    def visit_value_path(self, node: Any) -> ColumnElement[bool]:  # noqa: ARG002
        raise ScimError(400, "value paths are not supported in filters", "invalidFilter")


def _op(column: Any, op: str, value: str) -> ColumnElement[bool]:
    ops: dict[str, Callable[[], ColumnElement[bool]]] = {
        "eq": lambda: column == value,
        "ne": lambda: column != value,
        "co": lambda: column.contains(value, autoescape=True),
        "sw": lambda: column.startswith(value, autoescape=True),
        "ew": lambda: column.endswith(value, autoescape=True),
    }
    if op in ops:
        return ops[op]()
    raise ScimError(400, f"operator {op} is not supported here", "invalidFilter")


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
    where = _SqlVisitor(_USER_COLUMNS if users else _GROUP_COLUMNS, users=users).visit(ast)
    return where if where is not None else false()
