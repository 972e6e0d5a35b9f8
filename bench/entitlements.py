"""`GET /v1/entitlements` on Trustbot vs a bare aiohttp handler doing the same indexed lookup, same run.

10,000 grants over 20 orgs (one in 50 blanket), each naming one person with an email at its org's
domain. The bare handler checks the bearer token and runs the two indexed lookups the question
needs (the address's org by `org_domain`, the grants naming it or blanket for that org) on the same
database through the same engine setup, and answers `{"entitled": …}`. Trustbot answers the full
contract (grant objects, tier order, reasons). Each server runs in its own process; the load
generator asks for random seeded addresses (a tenth of them unknown) at a fixed concurrency.

    .venv/bin/python bench/entitlements.py [--grants 10000] [--requests 4000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import multiprocessing as mp
import random
import socket
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import insert, text

from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade
from trustbot.storage.queries.directory import list_orgs
from trustbot.storage.tables import AccessRequest, Grant, GrantMember

TOKEN = "bench-api-token"
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
ORGS = 20


def directory_yaml() -> str:
    """20 orgs, each with its own domain."""
    orgs = "\n".join(
        f"  - {{slug: org{i}, name: Org {i}, domains: [org{i}.example], rep: U0REP{i:03d}, admins: [U0ADA{i:03d}], "
        "verified_until: 2030-01-01}"
        for i in range(ORGS)
    )
    return f"operators: [U0OPS1]\nreps_channel: C0REPS\nsecurity_channel: C0SEC\norgs:\n{orgs}\n"


def email_of(i: int) -> str:
    """The address named by grant `i`."""
    return f"person{i}@org{i % ORGS}.example"


async def seed(url: str, total: int) -> None:
    """Migrate and insert `total` active grants with their named members."""
    from common import apply_bench_directory

    await upgrade(url)
    db = Database(url)
    async with db.transaction() as session:
        await apply_bench_directory(session, FixedClock(NOW), Settings(_env_file=None), directory_yaml())
        org_ids = [o.id for o in sorted(await list_orgs(session), key=lambda o: int(o.slug[3:]))]
    requests, grants, members = [], [], []
    for i in range(1, total + 1):
        org_id, user = org_ids[i % ORGS], f"U{i:08d}"
        requests.append({"id": i, "org_id": org_id, "requester": "U0ADA000", "members": [user], "member_emails": {},
                         "blanket": i % 50 == 0, "tier_id": ("standard", "enhanced", "frontier")[i % 3],
                         "use_case": "bench", "justification": "bench" * 5, "duration_days": 365, "status": "approved",
                         "created_at": NOW, "updated_at": NOW})  # fmt: skip
        grants.append({"id": i, "request_id": i, "org_id": org_id, "members": [user], "blanket": i % 50 == 0,
                       "tier_id": requests[-1]["tier_id"], "status": "active", "starts_at": NOW,
                       "expires_at": NOW + timedelta(days=3650), "reverify_due_at": NOW + timedelta(days=3000),
                       "updated_at": NOW + timedelta(seconds=i)})  # fmt: skip
        members.append({"grant_id": i, "slack_id": user, "email": email_of(i)})
    async with db.transaction() as session:
        await session.execute(insert(AccessRequest), requests)
        await session.execute(insert(Grant), grants)
        await session.execute(insert(GrantMember), members)
    await db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_trustbot(url: str, port: int) -> None:
    """Trustbot's web app (no Slack, no delivery): the real `/v1/entitlements`."""
    from trustbot.app import build_runtime, build_web_app

    settings = Settings(_env_file=None, DATABASE_URL=url, TRUSTBOT_API_TOKEN=TOKEN, TRUSTBOT_SCHEDULER_ENABLED=False)
    web.run_app(build_web_app(build_runtime(settings), None), host="127.0.0.1", port=port, print=None,
                access_log=None)  # fmt: skip


BARE_SQL = text(
    "SELECT g.id FROM access_grant g WHERE g.status = 'active' AND (g.id IN (SELECT grant_id FROM grant_member "
    "WHERE email = :email) OR (g.blanket AND g.org_id IN (SELECT org_id FROM org_domain WHERE domain = :domain)))"
)


def serve_bare(url: str, port: int) -> None:
    """The floor: token check, the same indexed lookup, a one-field answer."""
    db = Database(url)

    async def handler(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), f"Bearer {TOKEN}".encode()):
            return web.json_response({"error": "unauthorized"}, status=401)
        email = request.query.get("email", "").lower()
        async with db.sessions() as session:
            found = (await session.execute(BARE_SQL, {"email": email, "domain": email.rpartition("@")[2]})).all()
        return web.json_response({"email": email, "entitled": bool(found)})

    app = web.Application()
    app.router.add_get("/v1/entitlements", handler)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def load(port: int, total: int, requests: int, concurrency: int) -> dict[str, float]:
    """Ask `requests` questions at `concurrency`; requests/s and latency percentiles (ms)."""
    rng = random.Random(7)
    addresses = [email_of(rng.randint(1, total)) if rng.random() > 0.1 else f"nobody{i}@org1.example"
                 for i in range(requests)]  # fmt: skip
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {TOKEN}"}
    base = f"http://127.0.0.1:{port}/v1/entitlements"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as client:
        for _ in range(50):  # the server is up and warm
            try:
                async with client.get(base, params={"email": addresses[0]}, headers=headers) as r:
                    await r.read()
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
        queue = iter(addresses)

        async def worker() -> None:
            for address in queue:
                started = time.perf_counter()
                async with client.get(base, params={"email": address}, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, response.status
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000}  # fmt: skip


def measure(target: Any, url: str, args: argparse.Namespace) -> dict[str, float]:
    port = free_port()
    process = mp.get_context("spawn").Process(target=target, args=(url, port), daemon=True)
    process.start()
    try:
        time.sleep(1.5)
        return asyncio.run(load(port, args.grants, args.requests, args.concurrency))
    finally:
        process.terminate()
        process.join(5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=4_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'entitlements.db'}"
        asyncio.run(seed(url, args.grants))
        bare = measure(serve_bare, url, args)
        trustbot = measure(serve_trustbot, url, args)
    print(f"{args.grants} grants, {args.requests} requests, concurrency {args.concurrency} (SQLite)")
    print(f"{'':10} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in (("bare", bare), ("trustbot", trustbot)):
        print(f"{name:10} {row['rps']:8.0f} {row['p50']:8.2f} {row['p99']:8.2f}")
    print(f"trustbot/bare: {trustbot['rps'] / bare['rps']:.2f} x requests/s, "
          f"{trustbot['p99'] / bare['p99']:.2f} x p99 (target: >= 0.50 x requests/s)")  # fmt: skip


if __name__ == "__main__":
    main()
