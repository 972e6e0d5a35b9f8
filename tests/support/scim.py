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


async def changes(running: RunningBot) -> list[tuple[str, str | None]]:
    """The coverage changes kept for the digest: (kind, address), in order."""
    from sqlalchemy import select
    from sqlmodel import col

    from trustbot.storage.tables.identity import IdentityChange

    async with running.rt.db.sessions() as session:
        rows = await session.execute(
            select(col(IdentityChange.kind), col(IdentityChange.email)).order_by(col(IdentityChange.id))
        )
        return [(r[0], r[1]) for r in rows]


async def audit_actions(running: RunningBot) -> list[str]:
    """The audited actions, in order."""
    from sqlalchemy import select
    from sqlmodel import col

    from trustbot.storage.tables import AuditEvent

    async with running.rt.db.sessions() as session:
        return list(await session.scalars(select(col(AuditEvent.action)).order_by(col(AuditEvent.id))))


async def bulk_users(running: RunningBot, scim: Scim, count: int) -> list[str]:
    """`count` users of the client's org, written straight to the database (HTTP would take minutes); their ids."""
    import uuid

    from trustbot.services.identity.scim_common import org_for_token
    from trustbot.storage.tables.identity import ScimUser

    now = running.clock.now()
    async with running.rt.db.transaction() as session:
        org = await org_for_token(session, token=scim.token)
        users = [
            ScimUser(
                scim_id=str(uuid.uuid4()),
                org_id=org.id or 0,
                user_name=f"u{i}@acme.com",
                user_name_lc=f"u{i}@acme.com",
                body={},
                created_at=now,
                updated_at=now,
            )
            for i in range(count)
        ]
        session.add_all(users)
    return [u.scim_id for u in users]
