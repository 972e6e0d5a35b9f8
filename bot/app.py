"""Composition: build the runtime, the Bolt `AsyncApp` and the aiohttp web app around it."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock, SystemClock
from trustbot.config import Settings
from trustbot.delivery.verdicts import FailureHandler
from trustbot.delivery.worker import DeliveryWorker
from trustbot.logs import BOLT_TOKEN_WARNING, bind_log_context
from trustbot.metrics import Metrics
from trustbot.runtime import Runtime
from trustbot.services.context import Person, system_context
from trustbot.services.undelivered import handle_undelivered
from trustbot.slack.client import build_slack_client
from trustbot.slack.gate import ACTING_TEAM, payload_gate
from trustbot.slack.payloads import typed
from trustbot.storage.database import Database
from trustbot.storage.queries.events import record_event
from trustbot.storage.tables import OutboxMessage

if TYPE_CHECKING:
    from trustbot.slack.installations import EncryptedInstallationStore

log = logging.getLogger(__name__)
SLACK_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
Next = Callable[[], Awaitable[BoltResponse | None]]
PayloadStep = Callable[[dict[str, Any], Next], Awaitable[BoltResponse | None]]
ContextStep = Callable[[AsyncBoltContext, Next], Awaitable[BoltResponse | None]]
EveryPayload = Callable[[dict[str, Any], AsyncBoltContext, Next], Awaitable[BoltResponse | None]]
ErrorHandler = Callable[[Exception, dict[str, Any], AsyncRespond, AsyncWebClient], Awaitable[None]]


def build_runtime(settings: Settings, *, clock: Clock | None = None, db: Database | None = None) -> Runtime:
    """Wire settings, database, Slack client, delivery worker and metrics for one process."""
    metrics = Metrics()
    database = db or Database(settings.database_url)
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else "xoxb-unset"
    client = build_slack_client(
        token, settings.slack_api_url, settings.slack_timeout_seconds, seconds=metrics.slack_api_seconds
    )

    delivery = DeliveryWorker(
        database, client, SystemClock(), settings, metrics=metrics, on_failure=undelivered_handler(settings)
    )
    database.on_outbox_commit(delivery.wake)
    return Runtime(
        settings=settings,
        db=database,
        clock=clock or SystemClock(),
        client=client,
        delivery=delivery,
        metrics=metrics,
        installations=_installation_store(settings, database),
    )


def _installation_store(settings: Settings, database: Database) -> EncryptedInstallationStore | None:
    """The store of customer workspaces' installations, when every setting installs need is set (`serve` checks)."""
    if not (settings.slack_client_id and settings.slack_client_secret and settings.secrets_key and settings.public_url):
        return None
    from trustbot.secrets import SecretBox
    from trustbot.slack.installations import EncryptedInstallationStore

    box = SecretBox(settings.secrets_key.get_secret_value())
    return EncryptedInstallationStore(client_id=settings.slack_client_id, engine=database.engine, box=box)


def undelivered_handler(settings: Settings) -> FailureHandler:
    """What delivery does with a row it gives up on: audit it, and tell the people concerned another way."""

    async def undelivered(session: AsyncSession, row: OutboxMessage, error: str) -> None:
        await handle_undelivered(session, system_context(SystemClock(), settings), row, error)

    return undelivered


# What Bolt's AsyncApp reads from the environment to turn on an OAuth flow of its own.
_BOLT_OAUTH_ENVIRONMENT = ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET")


def build_bolt_app(rt: Runtime) -> AsyncApp:
    """The Bolt app with every Slack listener registered."""
    app = _bolt_app(rt)
    app.middleware(_every_payload(rt))
    app.error(_refusal_replier())

    from trustbot.handlers import alerts, commands, credits, holds, home, identity, requests, reverification

    for feature in (commands, requests, reverification, alerts, credits, home, identity, holds):
        feature.register(app, rt)
    if rt.installations is not None:
        from trustbot.handlers import installs

        installs.register(app, rt)
    _acknowledge_the_unknown(app)
    return app


def _bolt_app(rt: Runtime) -> AsyncApp:
    """The bare AsyncApp: home's client; no OAuth settings of its own, whatever the environment holds.

    Bolt builds default OAuth settings when `SLACK_CLIENT_ID`/`SLACK_CLIENT_SECRET` are in the environment
    (as they are for `serve` with customer workspaces on): a file installation store, and per-team
    authorization that drops every payload of a team not in that file — the home workspace's included.
    Installs are served by Trustbot's own flow (`trustbot.handlers.installs`) and each payload's client is
    picked by the payload gate, so Bolt is built without seeing those two variables.
    """
    settings = rt.settings
    signing_secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    logging.getLogger("trustbot.bolt").addFilter(BOLT_TOKEN_WARNING)
    hidden = {name: os.environ.pop(name) for name in _BOLT_OAUTH_ENVIRONMENT if name in os.environ}
    try:
        # `name` given: without it Bolt derives it from the caller's file name ("app.py") through
        # inspect.stack(), which reads the source of every frame on the stack (~0.1 s of start-up).
        return AsyncApp(
            name="app.py",
            client=rt.client,
            signing_secret=signing_secret,
            # HTTP mode: handlers/http.py refuses every request whose signature does not verify before
            # it reaches Bolt (the only way in), so Bolt checking the same HMAC again is pure cost.
            request_verification_enabled=False,
            process_before_response=False,
            logger=logging.getLogger("trustbot.bolt"),
        )
    finally:
        os.environ.update(hidden)


def _acknowledge_the_unknown(app: AsyncApp) -> None:
    """Registered last: a click or submission nothing handles (a stale button) is logged and acked."""

    @app.action(re.compile(".*"))
    async def unknown_action(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        log.warning("no listener for action %r", [a.get("action_id") for a in body.get("actions") or []])

    @app.view(re.compile(".*"))
    async def unknown_view(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        log.warning("no listener for view %r", (body.get("view") or {}).get("callback_id"))


def _every_payload(rt: Runtime) -> EveryPayload:
    """The checks every payload passes, in order (with its log fields set), as one Bolt middleware: Bolt builds the
    arguments of each middleware by inspection on every request, which three of them made a visible
    share of the work of acking a command."""
    repeated = _skip_repeated_events(rt)
    gate = payload_gate(rt)
    person = _acting_person(rt)

    async def middleware(body: dict[str, Any], context: AsyncBoltContext, next: Next) -> BoltResponse | None:
        # Bolt hands listeners a fresh plain AsyncWebClient per request; ours (the same static token)
        # times every call, `views.*` included. The gate swaps in a customer installation's own client
        # for payloads that came through it.
        context["client"] = rt.client

        async def acting_person() -> BoltResponse | None:
            return await person(context, next)

        async def admitted() -> BoltResponse | None:
            return await gate(body, context, acting_person)

        _log_fields(body)
        return await repeated(body, admitted)

    return middleware


def _log_fields(body: dict[str, Any]) -> None:
    """Every line logged while handling this payload (in its listeners too) names team, user, action, event."""
    team, user, view = body.get("team"), body.get("user"), body.get("view")
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    bind_log_context(
        team=team.get("id") if isinstance(team, dict) else body.get("team_id"),
        user=user.get("id") if isinstance(user, dict) else body.get("user_id"),
        action_id=first.get("action_id"),
        callback_id=view.get("callback_id") if isinstance(view, dict) else body.get("callback_id"),
        event_id=body.get("event_id"),
    )


def _skip_repeated_events(rt: Runtime) -> PayloadStep:
    """Slack re-sends an event when it did not see our 200 in time; handle each `event_id` once."""

    async def middleware(body: dict[str, Any], next: Next) -> BoltResponse | None:
        rt.metrics.slack_requests.labels(body.get("type") or ("command" if "command" in body else "other")).inc()
        event_id = typed(str(body.get("event_id") or ""))  # NUL and lone surrogates cannot be stored
        if event_id:
            async with rt.db.transaction() as session:
                first = await record_event(session, event_id=event_id, at=rt.clock.now())
            if not first:
                log.info("event %s already handled; ignoring the retry", event_id)
                return BoltResponse(status=200, body="")
        return await next()

    return middleware


def _acting_person(rt: Runtime) -> ContextStep:
    """Who acts in this request, resolved against the directory once, by the first service call."""

    async def middleware(context: AsyncBoltContext, next: Next) -> BoltResponse | None:
        user = context.user_id if isinstance(context.user_id, str) and SLACK_USER_ID.fullmatch(context.user_id) else ""
        # no valid id: nobody, refused as unknown; the team is the side the gate admitted them on
        context["person"] = Person(user, rt.clock, rt.settings, team=context.get(ACTING_TEAM))
        return await next()

    return middleware


def _refusal_replier() -> ErrorHandler:
    """Last resort for errors outside guarded listeners (middleware); the reply is the same."""
    from trustbot.handlers.common import reply_refusal

    async def on_error(error: Exception, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient) -> None:
        await reply_refusal(error, body, respond, client)

    return on_error


def build_web_app(rt: Runtime, bolt: AsyncApp | None) -> web.Application:
    """The aiohttp app: `/slack/events` (HTTP mode), health, readiness and metrics."""
    from trustbot.handlers import gateway, http, scim, ssf

    # Bodies stay as sent (never inflated by aiohttp): signatures are checked on the raw bytes before
    # anything is parsed or decompressed, and compressed bodies are refused.
    app = web.Application(client_max_size=2 * 1024 * 1024, handler_args={"auto_decompress": False})
    http.register_routes(app, rt, bolt)
    gateway.register_gateway_routes(app, rt)
    scim.register_scim_routes(app, rt)
    ssf.register_ssf_routes(app, rt)
    if rt.installations is not None:
        from trustbot.handlers.installs import InstallFlow, register_install_routes

        register_install_routes(app, InstallFlow(rt, rt.installations))
    return app
