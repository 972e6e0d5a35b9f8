"""One Web API client per customer installation, for delivery: each built with that installation's bot
token (opened from the sealed store) and cached until the installation changes.

The cache is keyed by the installation and the time it was installed, read from its status row before
each send: a reinstall (here or in another replica) brings a new token and so a new client, and an
installation that is no longer active gets none — its rows are held, not sent with a stale token. A
token Slack refuses is checked against the store before the installation is called broken: a reinstall
the status row cannot tell apart (the same second) has left a new token there.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import Histogram
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.slack.client import build_slack_client
from trustbot.storage.database import Database
from trustbot.storage.queries import installs as installs_q
from trustbot.storage.tables import WorkspaceStatus


class NoToken(Exception):
    """An active installation whose bot token is not in the store (deleted, or sealed with a key no longer listed)."""


class WorkspaceClients:
    """Clients by installation key (`E…:T…`), built from the installation store's tokens."""

    def __init__(
        self,
        db: Database,
        store: AsyncInstallationStore,
        *,
        base_url: str,
        timeout: float,
        seconds: Histogram | None = None,
    ) -> None:
        self.db = db
        self.store = store
        self.base_url = base_url
        self.timeout = timeout
        self.seconds = seconds
        self._clients: dict[str, tuple[datetime, AsyncWebClient]] = {}

    async def client_for(self, key: str) -> AsyncWebClient | None:
        """The client of an active installation; None when it is not active, NoToken when its token is missing."""
        async with self.db.sessions() as session:
            row = await installs_q.workspace_row(session, key=key)
        if row is None or row.status != WorkspaceStatus.ACTIVE:
            self.drop(key)
            return None
        cached = self._clients.get(key)
        if cached is not None and cached[0] == row.installed_at:
            return cached[1]
        bot = await self.store.async_find_bot(
            enterprise_id=row.enterprise_id,
            team_id=None if row.is_enterprise_install else row.team_id,
            is_enterprise_install=row.is_enterprise_install,
        )
        if bot is None or not bot.bot_token:
            self.drop(key)
            raise NoToken(key)
        client = build_slack_client(bot.bot_token, self.base_url, self.timeout, seconds=self.seconds)
        self._clients[key] = (row.installed_at, client)
        return client

    async def replaced(self, key: str, refused: AsyncWebClient) -> bool:
        """Slack refused `refused`'s token: True (and the new client cached) when the store holds another one
        by now — reinstalled through another replica, or within the same second — so nothing is broken."""
        self.drop(key)
        try:
            fresh = await self.client_for(key)
        except NoToken:
            return False
        if fresh is None or fresh.token == refused.token:
            self.drop(key)
            return False
        return True

    def drop(self, key: str) -> None:
        """Forget an installation's client (uninstalled, or its token refused)."""
        self._clients.pop(key, None)
