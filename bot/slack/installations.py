"""Slack installations stored with their tokens encrypted at rest (`TRUSTBOT_SECRETS_KEY`).

slack_sdk's `AsyncSQLAlchemyInstallationStore` fits our async engine (it opens its own connections on
the `AsyncEngine` it is given), so it does the SQL, over the tables the migrations build
(`storage/tables/installs.py`); this wrapper seals every token before it reaches it and opens them on the
way out. It wraps rather than subclasses: the inner store compares bot tokens between its two tables
when it looks an installation up, and sealed values (fresh ciphertext each time) must be compared as
they are stored, never half opened.
"""

from __future__ import annotations

import copy
import logging
from typing import TypeVar

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from sqlalchemy.ext.asyncio import AsyncEngine

from trustbot.secrets import SecretBox

log = logging.getLogger(__name__)
TOKEN_FIELDS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
Record = TypeVar("Record", Installation, Bot)


def _with(record: Record, change: SecretBox, *, sealing: bool) -> Record:
    """A copy of `record` with each token sealed (or opened)."""
    out = copy.copy(record)
    for name in TOKEN_FIELDS:
        value = getattr(out, name, None)
        if isinstance(value, str) and value:
            setattr(out, name, change.seal(value) if sealing else change.open(value))
    return out


class EncryptedInstallationStore(AsyncInstallationStore):
    """The `AsyncInstallationStore` Bolt's OAuth flow (and `authorize`) uses, tokens sealed at rest."""

    def __init__(self, *, client_id: str, engine: AsyncEngine, box: SecretBox) -> None:
        self._inner = AsyncSQLAlchemyInstallationStore(client_id=client_id, engine=engine, logger=log)
        self._box = box

    @property
    def logger(self) -> logging.Logger:
        """The store's logger."""
        return log

    async def async_save(self, installation: Installation) -> None:
        """Store an installation (and its bot), tokens sealed."""
        await self._inner.async_save(_with(installation, self._box, sealing=True))

    async def async_save_bot(self, bot: Bot) -> None:
        """Store a bot (after a token refresh), tokens sealed."""
        await self._inner.async_save_bot(_with(bot, self._box, sealing=True))

    async def async_find_bot(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None = False
    ) -> Bot | None:
        """The latest bot of a workspace (or Grid org), tokens opened."""
        bot = await self._inner.async_find_bot(
            enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=is_enterprise_install
        )
        return None if bot is None else _with(bot, self._box, sealing=False)

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The latest installation of a workspace (or Grid org, or one installer), tokens opened."""
        found = await self._inner.async_find_installation(
            enterprise_id=enterprise_id, team_id=team_id, user_id=user_id, is_enterprise_install=is_enterprise_install
        )
        return None if found is None else _with(found, self._box, sealing=False)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget a workspace's bot tokens."""
        await self._inner.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Forget a workspace's installations (or one installer's)."""
        await self._inner.async_delete_installation(enterprise_id=enterprise_id, team_id=team_id, user_id=user_id)
