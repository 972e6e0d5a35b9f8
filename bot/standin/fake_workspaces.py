"""Customer workspaces the fake Slack knows: Slack's OAuth code exchange (`oauth.v2.access`) and the bot
token each installation gets, which `auth.test` answers for with that workspace's team."""

from __future__ import annotations

import base64
import binascii
import itertools
import secrets
from dataclasses import dataclass
from typing import Any

CLIENT_ID = "1111.2222"
CLIENT_SECRET = "fake-client-secret"


@dataclass(frozen=True)
class FakeWorkspace:
    """A workspace (or, with `is_enterprise_install`, a whole Enterprise Grid org) that can install the app."""

    team_id: str | None
    name: str
    enterprise_id: str | None = None
    enterprise_name: str | None = None
    is_enterprise_install: bool = False
    installer: str = "U0INSTALLER"
    rotating: bool = False  # token rotation on: the answer carries a refresh token and expires_in
    scope: str = "commands,chat:write,im:write,users:read,users:read.email"

    @property
    def key(self) -> str:
        """How tests name it: its team id, or its Grid org id for an org-wide install."""
        return (self.enterprise_id if self.is_enterprise_install else self.team_id) or ""


class FakeWorkspaces:
    """Workspaces by key, the OAuth codes Slack handed out, and the bot tokens it issued."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.known: dict[str, FakeWorkspace] = {}
        self._codes: dict[str, str] = {}
        self.tokens: dict[str, FakeWorkspace] = {}
        self.revoked: set[str] = set()  # tokens issued, then revoked: Slack answers `invalid_auth`
        self._bots = itertools.count(1)

    def add(self, workspace: FakeWorkspace) -> FakeWorkspace:
        """Make a workspace known."""
        self.known[workspace.key] = workspace
        return workspace

    def approve(self, key: str) -> str:
        """The admin of workspace `key` clicked Allow: the one-time code Slack sends to the redirect URL."""
        code = f"code-{secrets.token_hex(8)}"
        self._codes[code] = key
        return code

    def revoke(self, key: str) -> None:
        """Slack revoked every token of workspace `key` (uninstalled): calls with them answer `invalid_auth`."""
        self.revoked.update(t for t, w in self.tokens.items() if w.key == key)
        self.tokens = {t: w for t, w in self.tokens.items() if w.key != key}

    def has_installed(self, team: str) -> bool:
        """True while workspace (or Grid org) `team` holds a token issued to the app: Slack delivers its slash
        commands there."""
        return any(team in (w.key, w.team_id, w.enterprise_id) for w in self.tokens.values())

    def team_of(self, token: str) -> str | None:
        """The workspace (team id, or Grid org id) a token issued here acts as; None: not one of these."""
        workspace = self.tokens.get(token)
        return workspace.key if workspace is not None else None

    def exchange(self, args: dict[str, Any], authorization: str) -> dict[str, Any]:
        """`oauth.v2.access`: client credentials (HTTP Basic) and a code → the installation, once per code."""
        if _basic(authorization) != (CLIENT_ID, CLIENT_SECRET):
            return {"ok": False, "error": "invalid_client_id"}
        key = self._codes.pop(str(args.get("code") or ""), None)
        workspace = self.known.get(key or "")
        if workspace is None:
            return {"ok": False, "error": "invalid_code"}
        token = f"xoxb-{(workspace.key).lower()}-{secrets.token_hex(12)}"
        self.tokens[token] = workspace
        answer: dict[str, Any] = {
            "ok": True,
            "app_id": self.app_id,
            "authed_user": {"id": workspace.installer},
            "scope": workspace.scope,
            "token_type": "bot",
            "access_token": token,
            "bot_user_id": f"UBOT{next(self._bots)}",
            "team": None if workspace.is_enterprise_install else {"id": workspace.team_id, "name": workspace.name},
            "enterprise": {"id": workspace.enterprise_id, "name": workspace.enterprise_name}
            if workspace.enterprise_id
            else None,
            "is_enterprise_install": workspace.is_enterprise_install,
        }
        if workspace.rotating:
            answer.update(refresh_token=f"xoxe-1-{secrets.token_hex(16)}", expires_in=43200)
        return answer

    def auth_test(self, token: str, url: str) -> dict[str, Any] | None:
        """`auth.test` for a token issued here (None: not one of these)."""
        workspace = self.tokens.get(token)
        if workspace is None:
            return None
        return {
            "ok": True,
            "url": url,
            "team": workspace.name,
            "user": "trustbot",
            "team_id": workspace.team_id,
            "enterprise_id": workspace.enterprise_id,
            "user_id": "UBOT",
            "bot_id": f"B{workspace.key}",
            "app_id": self.app_id,
            "is_enterprise_install": workspace.is_enterprise_install,
        }


def _basic(authorization: str) -> tuple[str, str] | None:
    if not authorization.startswith("Basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password
