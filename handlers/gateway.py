"""`/v1/entitlements` and `/v1/grants`: what the provider's gateway asks, read-only.

Bearer token `TRUSTBOT_API_TOKEN`, compared in constant time; unset → 503 (the API is off, not
open). Reads use a plain session, not a write transaction, so on SQLite many gateway questions
run side by side with the bot's writes.
"""

from __future__ import annotations

import hmac
import logging
import unicodedata
from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from trustbot.handlers.common import Service
from trustbot.runtime import Runtime
from trustbot.services.context import system_context
from trustbot.services.entitlements.check import MAX_LIMIT, GrantQuery, check_address, list_changes
from trustbot.services.errors import InvalidInput

log = logging.getLogger(__name__)
BEARER = "bearer "
# Far beyond anything this API gives out or takes (limit ≤ 500; a cursor is ~60 characters): longer
# values are refused before they are read, so no digit string or nesting depth reaches a parser.
LIMIT_MAX_CHARS = 6
CURSOR_MAX_CHARS = 256


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


def _folds_to_ascii(char: str) -> bool:
    """True for a non-ASCII character that some lower-casing or normalising reads as ASCII (`K` KELVIN SIGN)."""
    if char.isascii():
        return False
    folded = (char.lower(), char.upper(), char.casefold(), unicodedata.normalize("NFKC", char))
    return any(any(c.isascii() for c in form) for form in folded)


def parse_email(raw: str | None) -> str:
    """The `email` parameter; `InvalidInput` when it holds a look-alike that folds to ASCII (it would match another)."""
    email = raw or ""
    if any(_folds_to_ascii(char) for char in email):
        raise InvalidInput("email holds a non-ASCII character that reads as an ASCII one; send the address as it is")
    return email


def parse_grant_query(query: Mapping[str, str]) -> GrantQuery:
    """The `/v1/grants` parameters; `InvalidInput` for a limit or cursor longer than any real one."""
    values = {k: query.get(k) for k in ("org", "status", "updated_since", "cursor", "limit")}
    if len(values["limit"] or "") > LIMIT_MAX_CHARS:
        raise InvalidInput(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    if len(values["cursor"] or "") > CURSOR_MAX_CHARS:
        raise InvalidInput("cursor is not one this API gave out")
    return GrantQuery(**values)


def register_gateway_routes(app: web.Application, rt: Runtime) -> None:
    """Mount `/v1/entitlements` and `/v1/grants`."""

    async def answer(request: web.Request, parse: Callable[[web.Request], Service[dict[str, Any]]]) -> web.Response:
        refusal = authorization_problem(rt, request.headers.get("Authorization"))
        if refusal is not None:
            return refusal
        try:
            call = parse(request)  # after the token: an anonymous caller learns nothing of the parameters
            async with rt.db.sessions() as session:
                body = await call(session, system_context(rt.clock, rt.settings))
        except InvalidInput as error:
            return web.json_response({"error": error.message}, status=400)
        return web.json_response(body)

    def ask_address(request: web.Request) -> Service[dict[str, Any]]:
        email = parse_email(request.query.get("email"))
        return lambda s, ctx: check_address(s, ctx, email=email)

    def ask_changes(request: web.Request) -> Service[dict[str, Any]]:
        query = parse_grant_query(request.query)
        return lambda s, _: list_changes(s, query=query)

    async def entitlements(request: web.Request) -> web.Response:
        return await answer(request, ask_address)

    async def grants(request: web.Request) -> web.Response:
        return await answer(request, ask_changes)

    app.router.add_get("/v1/entitlements", entitlements)
    app.router.add_get("/v1/grants", grants)
