"""`/v1/entitlements` and `/v1/grants`: what the provider's gateway asks, read-only.

Bearer token `TRUSTBOT_API_TOKEN`, compared in constant time; unset → 503 (the API is off, not
open). Reads use a plain session, not a write transaction, so on SQLite many gateway questions
run side by side with the bot's writes.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from aiohttp import web

from trustbot.handlers.common import Service
from trustbot.runtime import Runtime
from trustbot.services.context import system_context
from trustbot.services.entitlements.check import GrantQuery, check_address, list_changes
from trustbot.services.errors import InvalidInput

log = logging.getLogger(__name__)
BEARER = "bearer "


def authorization_problem(rt: Runtime, header: str | None) -> web.Response | None:
    """The refusal for a missing, malformed or wrong token (None: the caller may ask)."""
    token = rt.settings.api_token
    if token is None:
        return web.json_response({"error": "the entitlements API is not configured"}, status=503)
    given = header or ""
    offered = given[len(BEARER) :].strip() if given[: len(BEARER)].lower() == BEARER else ""
    # surrogatepass: header bytes that are not UTF-8 arrive as surrogates; they compare unequal, never raise.
    if not hmac.compare_digest(offered.encode("utf-8", "surrogatepass"), token.get_secret_value().encode()):
        return web.json_response(
            {"error": "missing or wrong bearer token"}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )
    return None


def register_gateway_routes(app: web.Application, rt: Runtime) -> None:
    """Mount `/v1/entitlements` and `/v1/grants`."""

    async def answer(request: web.Request, call: Service[dict[str, Any]]) -> web.Response:
        refusal = authorization_problem(rt, request.headers.get("Authorization"))
        if refusal is not None:
            return refusal
        try:
            async with rt.db.sessions() as session:
                body = await call(session, system_context(rt.clock, rt.settings))
        except InvalidInput as error:
            return web.json_response({"error": error.message}, status=400)
        return web.json_response(body)

    async def entitlements(request: web.Request) -> web.Response:
        email = request.query.get("email")
        return await answer(request, lambda s, ctx: check_address(s, ctx, email=email or ""))

    async def grants(request: web.Request) -> web.Response:
        query = GrantQuery(**{k: request.query.get(k) for k in ("org", "status", "updated_since", "cursor", "limit")})
        return await answer(request, lambda s, _: list_changes(s, query=query))

    app.router.add_get("/v1/entitlements", entitlements)
    app.router.add_get("/v1/grants", grants)
