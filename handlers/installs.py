"""Customer workspaces install Trustbot: `/slack/install` and `/slack/oauth_redirect` through Bolt's own
`AsyncOAuthFlow`, and the `app_uninstalled` / `tokens_revoked` events that end an installation.

The flow runs beside the Bolt app, not inside it: payloads are still answered with the home workspace's
token (a customer workspace's payloads are not routed by installation yet), so the app keeps its single
token and only the install pages and the two ending events use the installation store.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.common import guarded
from trustbot.runtime import Runtime
from trustbot.services.context import system_context
from trustbot.services.installs.links import InstallRefused, consume_state, issue_state, org_of_state
from trustbot.services.installs.workspaces import (
    InstalledTeam,
    InstallOutcome,
    end_installation,
    record_installation,
    workspace_key,
)
from trustbot.slack.installations import EncryptedInstallationStore
from trustbot.web.install_pages import failed_page, installed_page

log = logging.getLogger(__name__)
# The bot scopes of manifest.yml (tests/test_installs.py keeps them equal).
BOT_SCOPES = [
    "commands",
    "chat:write",
    "pins:write",
    "im:write",
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
    "channels:read",
    "groups:read",
    "users:read",
    "users:read.email",
]
INSTALL_PATH, REDIRECT_PATH = "/slack/install", "/slack/oauth_redirect"
_OUTCOME = "trustbot_install"


def _page(status: int, html: str) -> BoltResponse:
    return BoltResponse(status=status, body=html, headers={"Content-Type": "text/html; charset=utf-8"})


class LinkStateStore(AsyncOAuthStateStore):
    """OAuth states issued only for a visit of an org's install link, consumed once with that link."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    @property
    def logger(self) -> logging.Logger:
        """The store's logger."""
        return log

    async def async_issue(self, *_: Any, **kwargs: Any) -> str:
        """A state for the install link `link=` (InstallRefused when it cannot be used)."""
        async with self._rt.db.transaction() as session:
            return await issue_state(
                session, system_context(self._rt.clock, self._rt.settings), link_token=kwargs.get("link")
            )

    async def async_consume(self, state: str) -> bool:
        """True once for a state issued here, unexpired, whose link is still unused."""
        async with self._rt.db.transaction() as session:
            return await consume_state(session, system_context(self._rt.clock, self._rt.settings), state=state)


class InstallFlow(AsyncOAuthFlow):
    """Bolt's OAuth flow, with a state that names the org and the installation bound (or not) as it is stored."""

    def __init__(self, rt: Runtime, store: EncryptedInstallationStore) -> None:
        settings = rt.settings
        assert settings.slack_client_id and settings.slack_client_secret and settings.public_url  # require_for_serve
        self._rt = rt
        super().__init__(
            client=AsyncWebClient(base_url=settings.slack_api_url, timeout=int(settings.slack_timeout_seconds)),
            logger=log,
            settings=AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret.get_secret_value(),
                scopes=BOT_SCOPES,
                redirect_uri=settings.public_url + REDIRECT_PATH,
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                install_page_rendering_enabled=False,
                installation_store=store,
                installation_store_bot_only=True,
                state_store=LinkStateStore(rt),
                callback_options=AsyncCallbackOptions(success=_succeeded, failure=_failed),
                logger=log,
            ),
        )

    async def issue_new_state(self, request: AsyncBoltRequest) -> str:
        """A state for the link this visit came with."""
        links = request.query.get("link") or []
        return await self.settings.state_store.async_issue(link=links[0] if links else None)

    async def handle_installation(self, request: AsyncBoltRequest) -> BoltResponse:
        """Send the browser to Slack's consent screen, or explain why this link cannot be used."""
        try:
            return await super().handle_installation(request)
        except InstallRefused as refused:
            return _page(400, failed_page("invalid_link", str(refused)))

    async def store_installation(self, request: AsyncBoltRequest, installation: Installation) -> None:
        """Store the tokens (sealed), then record the installation and its binding."""
        await self.settings.installation_store.async_save(installation)
        state = (request.query.get("state") or [""])[0] or ""
        team = InstalledTeam(
            team_id=installation.team_id,
            enterprise_id=installation.enterprise_id,
            team_name=installation.team_name or installation.enterprise_name,
            is_enterprise_install=bool(installation.is_enterprise_install),
            scopes=",".join(installation.bot_scopes or []),
        )
        ctx = system_context(self._rt.clock, self._rt.settings)
        async with self._rt.db.transaction() as session:
            linked = await org_of_state(session, state=state)
            request.context[_OUTCOME] = await record_installation(session, ctx, team=team, linked_org_id=linked)


async def _succeeded(args: AsyncSuccessArgs) -> BoltResponse:
    outcome: InstallOutcome | None = args.request.context.get(_OUTCOME)
    installation = args.installation
    name = installation.team_name or installation.enterprise_name
    return _page(200, installed_page(name, outcome.org_slug if outcome else None))


async def _failed(args: AsyncFailureArgs) -> BoltResponse:
    log.warning("a Slack install failed: %s", args.reason)
    # The person cancelling in Slack is not an error; everything else is a refused request, never a 5xx.
    return _page(200 if args.reason == "access_denied" else 400, failed_page(args.reason))


def register_install_routes(app: web.Application, flow: InstallFlow) -> None:
    """Mount `/slack/install` and `/slack/oauth_redirect`."""

    def serve(step: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            try:
                bolt_request = await to_bolt_request(request)
                answer = await (flow.handle_installation if step == "install" else flow.handle_callback)(bolt_request)
            except Exception:  # Slack unreachable, the database refusing: the person sees a page, never a 5xx
                log.exception("the Slack install %s step failed", step)
                answer = _page(400, failed_page("error"))
            return await to_aiohttp_response(answer)

        return handler

    app.router.add_get(INSTALL_PATH, serve("install"))
    app.router.add_get(REDIRECT_PATH, serve("callback"))


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for the events that end an installation."""

    @app.event("app_uninstalled")
    @guarded(rt)
    async def uninstalled(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await _end(rt, body, "app_uninstalled")

    @app.event("tokens_revoked")
    @guarded(rt)
    async def revoked(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        tokens = (body.get("event") or {}).get("tokens") or {}
        if tokens.get("bot"):  # only user tokens revoked: the bot (all Trustbot uses) still works
            await _end(rt, body, "tokens_revoked")


async def _end(rt: Runtime, body: dict[str, Any], reason: str) -> None:
    """End the installation the event came from, then delete its tokens."""
    team_id, enterprise_id = body.get("team_id"), body.get("enterprise_id")
    auths = body.get("authorizations") or [{}]
    org_wide = bool(auths[0].get("is_enterprise_install")) if isinstance(auths[0], dict) else False
    team = None if org_wide else team_id
    async with rt.work_slots.slot("installations"), rt.db.transaction() as session:
        await end_installation(
            session, system_context(rt.clock, rt.settings), enterprise_id=enterprise_id, team_id=team, reason=reason
        )
    if rt.delivery.workspaces is not None:  # its rows are held now; a reinstall brings a new token
        rt.delivery.workspaces.drop(workspace_key(enterprise_id, team))
    if rt.installations is not None:
        await rt.installations.async_delete_all(enterprise_id=enterprise_id, team_id=team)
