"""A running Trustbot with SCIM tokens for two orgs, and a SCIM client speaking real HTTP to it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import system
from trustbot.clock import FixedClock
from trustbot.services.identity.scim_common import issue_token

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@dataclass
class Scim:
    """SCIM calls as one org's IdP makes them."""

    http: aiohttp.ClientSession
    base: str
    token: str

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> tuple[int, Any, Any]:
        """(status, JSON body or None, headers)."""
        send = {
            "Authorization": f"Bearer {self.token if token is None else token}",
            "Content-Type": "application/scim+json",
        }
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        async with self.http.request(method, self.base + path, data=data, headers={**send, **(headers or {})}) as resp:
            text = await resp.text()
            if text:
                assert resp.content_type == "application/scim+json", text
            return resp.status, (json.loads(text) if text else None), resp.headers


def user(name: str, **extra: Any) -> dict[str, Any]:
    """A User as Okta sends it."""
    return {
        "schemas": [USER_SCHEMA],
        "userName": name,
        "active": True,
        "name": {"givenName": "A", "familyName": "B"},
        "emails": [{"value": name, "primary": True, "type": "work"}],
        **extra,
    }


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp."""
    return {"schemas": [PATCH_SCHEMA], "Operations": list(ops)}


@asynccontextmanager
async def scim_bot(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> AsyncIterator[tuple[RunningBot, Scim, Scim]]:
    """Trustbot, and SCIM clients for acme and globex."""
    running = await start_bot(database_url, fake_slack, clock)
    tokens = []
    for slug in ("acme", "globex"):
        async with running.rt.db.transaction() as session:
            tokens.append(await issue_token(session, system(clock, as_user="test"), org_slug=slug))
    http = aiohttp.ClientSession()
    base = running.server.url + "/scim/v2"
    try:
        yield running, Scim(http, base, tokens[0]), Scim(http, base, tokens[1])
    finally:
        await http.close()
        await running.close()
