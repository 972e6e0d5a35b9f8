"""`POST /ssf/events`: Shared Signals push delivery (RFC 8935). 202 empty, or 400 with an RFC 8935 error."""

from __future__ import annotations

import logging

from aiohttp import web

from trustbot.runtime import Runtime
from trustbot.services.context import system_context
from trustbot.services.identity.jwks import JwksCache
from trustbot.services.identity.ssf import SetRejected, receive_set

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024


def _refuse(err: str, description: str) -> web.Response:
    return web.json_response({"err": err, "description": description}, status=400)


def register_ssf_routes(app: web.Application, rt: Runtime, cache: JwksCache | None = None) -> None:
    """Mount `POST /ssf/events`, with its own key cache unless one is given."""
    keys = cache or JwksCache()

    async def events(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_BODY:
            return _refuse("invalid_request", "the body is over 64 KiB")
        if request.content_type != "application/secevent+jwt":
            return _refuse("invalid_request", "Content-Type must be application/secevent+jwt")
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return _refuse("invalid_request", "the body is over 64 KiB")
        try:
            async with rt.db.transaction() as session:
                await receive_set(session, system_context(rt.clock, rt.settings), keys, body)
        except SetRejected as error:
            log.info("ssf event refused: %s (%s)", error.err, error.description)
            return _refuse(error.err, error.description)
        return web.Response(status=202)

    app.router.add_post("/ssf/events", events)
