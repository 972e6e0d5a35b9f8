"""`/scim/v2`: the SCIM 2.0 service provider. The bearer token names the org; every reply is `application/scim+json`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.runtime import Runtime
from trustbot.services.context import ServiceContext, system_context
from trustbot.services.identity import scim_api
from trustbot.services.identity.scim_common import ScimError, org_for_token
from trustbot.storage.tables import Org

SCIM_JSON = "application/scim+json"
Call = Callable[[AsyncSession, ServiceContext, Org, scim_api.ScimRequest], Awaitable[tuple[int, Any, str | None]]]


def reply(status: int, body: Any, etag: str | None = None) -> web.Response:
    """A SCIM response (204 has no body)."""
    headers = {"ETag": etag} if etag else {}
    if status == 204:
        return web.Response(status=204, headers=headers)
    return web.Response(status=status, text=json.dumps(body), content_type=SCIM_JSON, headers=headers)


def register_scim_routes(app: web.Application, rt: Runtime, prefix: str = "/scim/v2") -> None:
    """Mount the SCIM endpoints."""

    async def handle(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else ""
        try:
            raw = await request.read()
            async with rt.db.transaction() as session:
                org = await org_for_token(session, token=token)
                call = scim_api.route(request.method, request.match_info["tail"])
                ctx = system_context(rt.clock, rt.settings, as_user=f"scim:{org.slug}")
                req = scim_api.ScimRequest(
                    raw=raw,
                    query=dict(request.query),
                    if_match=request.headers.get("If-Match"),
                    base_url=(rt.settings.public_url or "") + prefix,
                )
                status, body, etag = await call(session, ctx, org, req)
        except ScimError as error:
            return reply(error.status, scim_api.error_body(error))
        return reply(status, body, etag)

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        app.router.add_route(method, prefix + "/{tail:.*}", handle)
