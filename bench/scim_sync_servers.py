"""The two servers `scim_sync.py` loads, each in its own process: a real Trustbot set up for acme's IdP, and the
minimal SCIM handler (parse the JSON, write one row) it is compared with."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import uuid
from datetime import UTC, datetime
from typing import Any

from common import start_trustbot

# acme with three admins (the digest's recipients), a rep, a security lead.
DIRECTORY = """
operators: [U0OPS1]
reps_channel: C0REPS
security_channel: C0SEC
orgs:
  - {slug: acme, name: Acme Security, domains: [acme.com], rep: U0REP1, admins: [U0ADM1, U0ADM2, U0ADM3],
     security_leads: [U0SEC1], security_channel: C0ACMESEC, verified_until: 2030-06-30}
"""
GROUP_GRANTED = "Group 00"  # the IdP group a grant covers, made before the sync (the IdP then fills it)


async def _setup(server: Any) -> tuple[str, str]:
    """A SCIM token, a live blanket grant and a live grant covering an (empty) IdP group; (token, group id)."""
    import repo_root  # noqa: F401  (tests.support)

    from tests.support.factories import make_grant, system
    from trustbot.services.identity.scim_common import issue_token
    from trustbot.services.identity.scim_groups import create_group
    from trustbot.storage.queries.directory import get_org
    from trustbot.storage.tables import AccessRequest, Grant

    rt, clock = server.rt, server.rt.clock
    async with rt.db.transaction() as session:
        token = await issue_token(session, system(clock, rt.settings, as_user="bench"), org_slug="acme")
    await make_grant(rt.db, clock, members=(), blanket=True, due=_days(150), expires=_days(300))
    grant_id = await make_grant(rt.db, clock, members=(), tier="enhanced", due=_days(150), expires=_days(300))
    async with rt.db.transaction() as session:
        org = await get_org(session, slug="acme")
        assert org is not None
        body, _ = await create_group(
            session,
            system(clock, rt.settings, as_user="bench"),
            org=org,
            body={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": GROUP_GRANTED},
            base_url="",
        )
        from trustbot.storage.queries.scim import get_group

        group = await get_group(session, org_id=org.pk, scim_id=body["id"])
        grant = await session.get(Grant, grant_id)
        assert group is not None and grant is not None
        grant.scim_group_id = group.pk
        request = await session.get(AccessRequest, grant.request_id)
        assert request is not None
        request.scim_group_id = group.pk
    return token, str(body["id"])


def _days(n: int) -> Any:
    from datetime import timedelta

    return timedelta(days=n)


async def _serve_trustbot(url: str, slack_api: str, webhook_url: str, webhook_secret: str, ready: Any) -> None:
    server = await start_trustbot(
        api_url=slack_api,
        database_url=url,
        ingest_secret="bench-ingest-secret",
        directory=DIRECTORY,
        token="xoxb-bench",
        TRUSTBOT_LOG_LEVEL="WARNING",
        TRUSTBOT_OUTBOX_POLL_SECONDS=0.2,
        TRUSTBOT_WEBHOOK_URL=webhook_url,
        TRUSTBOT_WEBHOOK_SECRET=webhook_secret,
    )
    token, group = await _setup(server)
    ready.send({"base": server.url + "/scim/v2", "token": token, "group": group})
    await asyncio.Event().wait()


async def _serve_minimal(url: str, ready: Any) -> None:
    """One aiohttp route for every SCIM call: bearer check, JSON parse, one row written in one transaction."""
    from aiohttp import web
    from sqlalchemy import Column, Integer, MetaData, String, Table, Text, delete, insert, update

    from trustbot.storage.database import Database

    db = Database(url)
    table = Table(
        "minimal_scim",
        MetaData(),
        Column("id", String(64), primary_key=True),
        Column("kind", String(16)),
        Column("name", String(256), unique=True),
        Column("body", Text),
        Column("version", Integer),
    )
    async with db.engine.begin() as connection:
        await connection.run_sync(table.metadata.drop_all)
        await connection.run_sync(table.metadata.create_all)
    token = "minimal-token"

    async def handler(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {token}":
            return web.json_response({"status": "401"}, status=401)
        raw = await request.read()
        data = json.loads(raw) if raw else {}
        parts = [p for p in request.match_info["tail"].split("/") if p]
        kind, rid = parts[0], parts[1] if len(parts) > 1 else None
        async with db.transaction() as session:
            if request.method == "POST":
                rid = str(uuid.uuid4())
                name = data.get("userName") or data.get("displayName")
                await session.execute(insert(table).values(id=rid, kind=kind, name=name, body=raw.decode(), version=1))
                status = 201
            elif request.method == "DELETE":
                await session.execute(delete(table).where(table.c.id == rid))
                return web.Response(status=204)
            else:
                await session.execute(
                    update(table).where(table.c.id == rid).values(body=raw.decode(), version=table.c.version + 1)
                )
                status = 200
        stamp = datetime.now(UTC).isoformat()
        out = {**data, "id": rid, "meta": {"resourceType": kind[:-1], "created": stamp, "lastModified": stamp}}
        return web.Response(status=status, text=json.dumps(out), content_type="application/scim+json")

    app = web.Application()
    for method in ("POST", "PATCH", "PUT", "DELETE"):
        app.router.add_route(method, "/scim/v2/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    ready.send({"base": f"http://127.0.0.1:{runner.addresses[0][1]}/scim/v2", "token": token, "group": None})
    await asyncio.Event().wait()


def _child(kind: str, args: tuple[Any, ...], ready: Any) -> None:
    import logging

    logging.basicConfig(level=logging.ERROR)
    if kind == "trustbot":
        asyncio.run(_serve_trustbot(*args, ready))
    else:
        asyncio.run(_serve_minimal(*args, ready))


async def start_server(kind: str, *args: Any) -> tuple[mp.Process, dict[str, Any]]:
    """Run one server in its own process; return it and what it sent back (SCIM base URL, token, group id).

    The wait runs off the event loop: the Trustbot child's preflight calls the fake Slack served by this loop."""
    parent, child = mp.Pipe()
    process = mp.get_context("spawn").Process(target=_child, args=(kind, args, child), daemon=True)
    process.start()
    if not await asyncio.to_thread(parent.poll, 180):
        raise SystemExit(f"{kind} server did not start")
    return process, parent.recv()
