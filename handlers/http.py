"""HTTP endpoints: Slack's entry point, health, readiness and metrics."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime
from handlers.ingest import register_ingest_routes
from storage.migrate import is_up_to_date

log = logging.getLogger(__name__)


# Routes that take new work; while shutting down they answer 503 so Slack and producers retry.
WORK_ROUTES = frozenset({"/slack/events", "/alerts", "/usage"})


def _refuse_while_draining(rt: Runtime) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        if rt.draining and (request.path in WORK_ROUTES or request.path == "/readyz"):
            return web.json_response({"status": "shutting down"}, status=503, headers={"Retry-After": "5"})
        response: web.StreamResponse = await handler(request)
        return response

    return middleware


def register_routes(app: web.Application, rt: Runtime, bolt: AsyncApp | None) -> None:
    """Mount every route; `/slack/events` only when Bolt serves HTTP (not Socket Mode)."""
    app.middlewares.append(_refuse_while_draining(rt))

    async def slack_events(request: web.Request) -> web.Response:
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError:  # a body Slack would never send: not worth a stack trace
            log.warning("malformed body on /slack/events from %s", request.remote)
            return web.json_response({"error": "malformed body"}, status=400)
        bolt_response = await bolt.async_dispatch(bolt_request)  # type: ignore[union-attr]
        return await to_aiohttp_response(bolt_response)

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await rt.db.ping()
            migrated = await is_up_to_date(rt.db.engine)
        except Exception as exc:  # readiness reports, never raises
            log.warning("readiness check failed: %s", exc)
            return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
        if not migrated:
            return web.json_response({"status": "unavailable", "database": "not migrated"}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=rt.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    if bolt is not None and not rt.settings.socket_mode:
        app.router.add_post("/slack/events", slack_events)
    register_ingest_routes(app, rt)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
