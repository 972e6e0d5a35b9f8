"""HTTP endpoints: Slack's entry point, health, readiness and metrics."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from trustbot.handlers.ingest import read_body, register_ingest_routes
from trustbot.log_sampling import SampledWarning
from trustbot.logs import log_context
from trustbot.runtime import Runtime
from trustbot.services.installs.workspaces import held_writes
from trustbot.storage.migrate import is_up_to_date
from trustbot.storage.queries import outbox as outbox_q

log = logging.getLogger(__name__)


SLACK_BODY_MAX = 1024 * 1024
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")


def slack_signature_problem(verifier: SignatureVerifier | None, headers: Mapping[str, str], body: bytes) -> str | None:
    """None when Slack signed `body`, else why not. Shapes are checked first, so hostile headers or bytes
    never reach the verifier (which would raise on them)."""
    if verifier is None:
        return "no signing secret is configured"
    timestamp, signature = headers.get("X-Slack-Request-Timestamp", ""), headers.get("X-Slack-Signature", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return "missing or malformed signature headers"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return "body is not UTF-8"
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "signature does not match, or the timestamp is outside the 5-minute window"
    return None


def payload_shape_problem(body: dict[str, Any]) -> str | None:
    """Why a signed payload cannot be Slack's, for the containers Bolt's own middleware and matchers
    dereference without checking their type (`event`, `view` and its `callback_id`, `actions` and their
    `action_id`, the ids it matches listeners on); None when they are fine."""
    event, view, actions = body.get("event"), body.get("view"), body.get("actions")
    if any(not isinstance(body.get(key, ""), str) for key in ("type", "action_id", "callback_id", "command")):
        return "an id Bolt matches on is not text"
    if "event" in body and not isinstance(event, dict):
        return "event is not an object"
    if view is not None and not (
        isinstance(view, dict) and isinstance(view.get("callback_id", ""), str) and isinstance(view.get("type"), str)
    ):
        return "view is not an object with a text type and callback_id"
    if actions is not None and not (
        isinstance(actions, list)
        and actions  # Bolt reads actions[0] of every block_actions payload
        and all(isinstance(a, dict) and isinstance(a.get("action_id"), str) for a in actions)
    ):
        return "actions is not a non-empty list of objects with a text action_id"
    return None


# Routes that take new work; while shutting down they answer 503 so Slack and producers retry.
WORK_ROUTES = frozenset({"/slack/events", "/alerts", "/usage"})


def _refuse_while_draining(rt: Runtime) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if rt.draining and (request.path in WORK_ROUTES or request.path == "/readyz"):
            return web.json_response({"status": "shutting down"}, status=503, headers={"Retry-After": "5"})
        response: web.StreamResponse = await handler(request)
        return response

    return middleware


def _timed(rt: Runtime) -> Middleware:
    """HTTP request latency by route (the route's pattern, never the raw path) and status."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            rt.metrics.http_seconds.labels(route, str(status)).observe(time.perf_counter() - started)

    return middleware


def _bolt_request(request: web.Request, body: bytes) -> AsyncBoltRequest | None:
    """The signed body as Bolt reads it, or None (logged once) when it is not a payload Bolt can read.

    Only the parsing is guarded: a failure while handling a well-formed payload is a bug and shows as one.
    """
    try:
        bolt_request = AsyncBoltRequest(
            body=body.decode("utf-8"), query=request.query_string, headers=dict(request.headers)
        )
        shape = payload_shape_problem(bolt_request.body)
        if shape is not None:
            raise ValueError(shape)
    except Exception as exc:  # signed, yet malformed: say so without a traceback
        log.warning("malformed signed body on /slack/events from %s: %s", request.remote, type(exc).__name__)
        return None
    return bolt_request


async def _held_detail(rt: Runtime) -> dict[str, Any]:
    """Slack writes waiting for an uninstalled or broken workspace to come back: reported, yet still ready
    (this replica serves every other workspace; only a reinstall can release them)."""
    if rt.installations is None:
        return {}
    try:
        async with rt.db.sessions() as session:
            held = await held_writes(session)
    except Exception:  # the detail is a courtesy: readiness is the database answering, checked above
        log.exception("could not count held Slack writes for /readyz")
        return {}
    return {"held_writes": held} if held else {}


def _readiness(rt: Runtime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`/readyz`: 200 when the database answers at the head revision; a failure is logged when its reason changes."""
    failing: list[str] = []  # the reason last logged: a probe every few seconds logs a change, not each failure

    async def readyz(_: web.Request) -> web.Response:
        try:
            await rt.db.ping()
            migrated = await is_up_to_date(rt.db.engine)
        except Exception as exc:  # readiness reports, never raises
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if failing != [reason]:
                log.warning("readiness check failed: %s (logged again only when the reason changes)", reason)
                failing[:] = [reason]
            return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
        if failing:
            log.warning("readiness check passes again")
            failing.clear()
        if not migrated:
            return web.json_response({"status": "unavailable", "database": "not migrated"}, status=503)
        return web.json_response({"status": "ok", **await _held_detail(rt)})

    return readyz


def _slack_events(
    bolt: AsyncApp, verifier: SignatureVerifier | None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """`/slack/events`: a signed, well-formed body is dispatched to Bolt; anything else is refused before it."""
    unsigned = SampledWarning(log)  # anyone can send these: a flood logs a line a minute, not one each

    async def slack_events(request: web.Request) -> web.StreamResponse:
        body = await read_body(request, SLACK_BODY_MAX)
        if body is None:
            return web.json_response({"error": "body too large"}, status=413)
        problem = slack_signature_problem(verifier, request.headers, body)
        if problem is not None:
            unsigned.warn("refused an unsigned request on /slack/events from %s: %s", request.remote, problem)
            return web.json_response({"error": "invalid signature"}, status=401)
        if request.headers.get("Content-Encoding", "identity").lower() not in ("", "identity"):
            return web.json_response({"error": "Content-Encoding is not accepted"}, status=415)
        bolt_request = _bolt_request(request, body)
        if bolt_request is None:
            return web.json_response({"error": "malformed body"}, status=400)
        with log_context():  # the payload's fields, bound by Bolt middleware, end with its dispatch
            bolt_response = await bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(bolt_response)

    return slack_events


def _metrics(rt: Runtime) -> Callable[[web.Request], Awaitable[web.Response]]:
    """`/metrics`: the Prometheus text exposition, the outbox backlog counted at each scrape."""

    async def metrics(_: web.Request) -> web.Response:
        try:
            async with rt.db.sessions() as session:
                rt.metrics.set_outbox_backlog(await outbox_q.pending_by_op(session))
        except Exception as exc:  # the other metrics still say something while the database does not
            log.warning("could not count the outbox backlog: %s", exc)
        return web.Response(body=rt.metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return metrics


def build_metrics_app(rt: Runtime) -> web.Application:
    """The app of the separate metrics listener (TRUSTBOT_METRICS_PORT): `GET /metrics` and nothing else."""
    app = web.Application()
    app.router.add_get("/metrics", _metrics(rt))
    return app


def register_routes(app: web.Application, rt: Runtime, bolt: AsyncApp | None) -> None:
    """Mount every route; `/slack/events` only when Bolt serves HTTP (not Socket Mode)."""
    app.middlewares.append(_timed(rt))
    app.middlewares.append(_refuse_while_draining(rt))

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    if bolt is not None and not rt.settings.socket_mode:
        secret = rt.settings.slack_signing_secret
        verifier = SignatureVerifier(secret.get_secret_value()) if secret is not None else None
        app.router.add_post("/slack/events", _slack_events(bolt, verifier))
    register_ingest_routes(app, rt)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", _readiness(rt))
    if rt.settings.metrics_port is None:  # else only on its own listener (`build_metrics_app`): 404 here
        app.router.add_get("/metrics", _metrics(rt))
