"""One SCIM request routed to the service that answers it, and the answer rendered as SCIM JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from scim2_models import Error
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.context import ServiceContext
from trustbot.services.identity import scim_discovery, scim_groups, scim_users
from trustbot.services.identity.scim_common import ScimError, page_from
from trustbot.services.identity.scim_projection import project
from trustbot.storage.tables import Org

LIST_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
Answer = tuple[int, Any, str | None]


@dataclass(frozen=True)
class ScimRequest:
    """What a handler hands over: the raw body, the query, If-Match and the endpoint's base URL."""

    raw: bytes
    query: dict[str, str]
    if_match: str | None
    base_url: str

    def json(self) -> Any:
        """The body as JSON, or 400 invalidSyntax."""
        try:
            return json.loads(self.raw)
        except (ValueError, UnicodeDecodeError):
            raise ScimError(400, "the body is not valid JSON", "invalidSyntax") from None


def error_body(error: ScimError) -> dict[str, Any]:
    """The SCIM error object for `error`."""
    return Error(status=error.status, scim_type=error.scim_type, detail=error.detail).model_dump(mode="json")


def _list(total: int, start: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [LIST_SCHEMA],
        "totalResults": total,
        "startIndex": start,
        "itemsPerPage": len(items),
        "Resources": items,
    }


async def _users(
    session: AsyncSession, ctx: ServiceContext, org: Org, req: ScimRequest, method: str, rid: str | None
) -> Answer:
    if rid is None and method == "GET":
        page = page_from(req.query)
        total, rows = await scim_users.search_users(session, org=org, filter_text=req.query.get("filter"), page=page)
        return 200, _list(total, page.start, [r.body for r in rows]), None
    if rid is None and method == "POST":
        row = await scim_users.create_user(session, ctx, org=org, body=req.json(), base_url=req.base_url)
        return 201, row.body, scim_users.etag(row.version)
    if rid is None:
        raise ScimError(405, f"{method} is not allowed on /Users")
    if method == "GET":
        row = await scim_users.get_user(session, org=org, scim_id=rid)
    elif method == "PUT":
        row = await scim_users.replace_user(
            session, ctx, org=org, scim_id=rid, body=req.json(), if_match=req.if_match, base_url=req.base_url
        )
    elif method == "PATCH":
        row = await scim_users.patch_user(
            session, ctx, org=org, scim_id=rid, body=req.json(), if_match=req.if_match, base_url=req.base_url
        )
    elif method == "DELETE":
        await scim_users.delete_user(session, ctx, org=org, scim_id=rid, if_match=req.if_match)
        return 204, None, None
    else:
        raise ScimError(405, f"{method} is not allowed on a User")
    return 200, row.body, scim_users.etag(row.version)


async def _groups(
    session: AsyncSession, ctx: ServiceContext, org: Org, req: ScimRequest, method: str, rid: str | None
) -> Answer:
    if rid is None and method == "GET":
        page = page_from(req.query)
        total, items = await scim_groups.search_groups(
            session, org=org, filter_text=req.query.get("filter"), page=page, base_url=req.base_url
        )
        return 200, _list(total, page.start, items), None
    if rid is None and method == "POST":
        body, version = await scim_groups.create_group(session, ctx, org=org, body=req.json(), base_url=req.base_url)
        return 201, body, scim_users.etag(version)
    if rid is None:
        raise ScimError(405, f"{method} is not allowed on /Groups")
    if method == "GET":
        body, version = await scim_groups.read_group(session, org=org, scim_id=rid, base_url=req.base_url)
    elif method in ("PUT", "PATCH"):
        body, version = await scim_groups.change_group(
            session,
            ctx,
            org=org,
            scim_id=rid,
            body=req.json(),
            patch=method == "PATCH",
            if_match=req.if_match,
            base_url=req.base_url,
        )
    elif method == "DELETE":
        await scim_groups.delete_group(session, ctx, org=org, scim_id=rid, if_match=req.if_match)
        return 204, None, None
    else:
        raise ScimError(405, f"{method} is not allowed on a Group")
    return 200, body, scim_users.etag(version)


Call = Callable[[AsyncSession, ServiceContext, Org, ScimRequest], Awaitable[Answer]]
Kind = Callable[[AsyncSession, ServiceContext, Org, ScimRequest, str, str | None], Awaitable[Answer]]
SEARCH_KEYS = ("filter", "startIndex", "count", "attributes", "excludedAttributes")


def _search_query(body: Any) -> dict[str, str]:
    """A SearchRequest (RFC 7644 §3.4.3) as the query parameters of the same GET."""
    if not isinstance(body, dict):
        raise ScimError(400, "a SearchRequest is a JSON object", "invalidSyntax")
    query: dict[str, str] = {}
    for key in SEARCH_KEYS:
        value = body.get(key)
        if isinstance(value, list):
            query[key] = ",".join(str(v) for v in value)
        elif value is not None:
            query[key] = str(value)
    return query


def _resource_call(kind: Kind, method: str, rid: str | None) -> Call:
    """The call for a resource endpoint, its answer cut to the `attributes`/`excludedAttributes` asked for."""

    async def call(session: AsyncSession, ctx: ServiceContext, org: Org, req: ScimRequest) -> Answer:
        verb, ident = method, rid
        if rid == ".search":
            if method != "POST":
                raise ScimError(405, f"{method} is not allowed on .search")
            req, verb, ident = replace(req, query=_search_query(req.json())), "GET", None
        status, body, etag = await kind(session, ctx, org, req, verb, ident)
        attributes, excluded = req.query.get("attributes"), req.query.get("excludedAttributes")
        if isinstance(body, dict) and (attributes or excluded):
            if "Resources" in body:
                body = {
                    **body,
                    "Resources": [project(r, attributes=attributes, excluded=excluded) for r in body["Resources"]],
                }
            else:
                body = project(body, attributes=attributes, excluded=excluded)
        return status, body, etag

    return call


def route(method: str, tail: str) -> Call:
    """The call answering `method` on `/scim/v2/<tail>`, or a 404 (405 for a method the endpoint lacks)."""
    parts = [p for p in tail.split("/") if p]
    if parts == [".search"]:
        raise ScimError(
            501, "searching Users and Groups at once is not supported; POST /Users/.search or /Groups/.search"
        )
    if not parts or len(parts) > 2:
        raise ScimError(404, "no such endpoint")
    kind, rid = parts[0], (parts[1] if len(parts) == 2 else None)
    if kind == "Users":
        return _resource_call(_users, method, rid)
    if kind == "Groups":
        return _resource_call(_groups, method, rid)
    if kind in scim_discovery.ENDPOINTS:
        if method != "GET":
            raise ScimError(405, f"{method} is not allowed on /{kind}")
        return lambda _s, _c, _o, r: scim_discovery.answer(kind, rid, r.base_url)
    raise ScimError(404, "no such endpoint")
