"""A SCIM initial sync (5,000 users, 10 groups) and a 500-change burst on Trustbot vs a minimal handler, same run.

Trustbot runs in its own process on a fresh database (SQLite file, or PostgreSQL), acme with three admins, a
live blanket grant and a live grant covering an IdP group, so that every provisioning changes coverage. The
fake Slack and a verifying gateway (webhook receiver) run in this process. The IdP is played as Okta and
Entra ID do it: one request per user, `--concurrency` in flight; groups created empty, then their members added
by PATCH in chunks (one group's PATCHes one after another). The burst mixes Entra's `active: "False"`, Okta's
`replace` without a path (new email), group member add / remove by PATCH, and deletes, in shuffled order.

After each phase: wait until the outbox is empty (the webhooks delivered), run the `identity-digest` job as the
scheduler would once the burst has been quiet for `TRUSTBOT_IDENTITY_DIGEST_QUIET_SECONDS` (its clock moved on
past the quiet period), wait again, and count what reached the fake Slack and the gateway in the phase.

The baseline, in the same invocation: the same requests against one aiohttp route that checks the bearer token,
parses the JSON and writes one row in one transaction to the same kind of database (a separate SQLite file; or
the same PostgreSQL database). Order: minimal sync, Trustbot sync, Trustbot burst, minimal burst.

    .venv/bin/python bench/scim_sync.py [--database sqlite|postgresql|both] [--users 5000] [--changes 500]
                                        [--groups 10] [--chunk 100] [--concurrency 8] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import repo_root  # noqa: F401  (tests.support)
from scim_sync_servers import start_server

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/bench_scim"


@dataclass
class Call:
    """One SCIM request: method, path under the base, JSON body."""

    method: str
    path: str
    body: Any = None


@dataclass
class Run:
    """What one load run measured."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[int] = field(default_factory=Counter)

    def pct(self, q: float) -> float:
        """The q-quantile in ms."""
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def user_body(i: int) -> dict[str, Any]:
    """User `i` as Okta sends it."""
    name = f"user{i:05d}@acme.com"
    return {"schemas": [USER], "userName": name, "externalId": f"00u{i:08d}", "active": True,
            "displayName": f"User {i}", "name": {"givenName": "User", "familyName": f"{i}"},
            "emails": [{"value": name, "primary": True, "type": "work"}]}  # fmt: skip


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    """A PatchOp body."""
    return {"schemas": [PATCH], "Operations": list(ops)}


async def send(http: aiohttp.ClientSession, base: str, token: str, call: Call, run: Run) -> Any:
    """One request; its JSON answer (None for 204 or a failure)."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    data = None if call.body is None else json.dumps(call.body)
    started = time.perf_counter()
    async with http.request(call.method, base + call.path, data=data, headers=headers) as response:
        text = await response.text()
    run.latencies.append(time.perf_counter() - started)
    if response.status >= 300:
        run.failures[response.status] += 1
        return None
    return json.loads(text) if text else None


async def load(base: str, token: str, queues: list[list[Call]], concurrency: int, run: Run) -> list[Any]:
    """Send every queue's calls in order (one queue at a time per worker), `concurrency` workers; the answers."""
    answers: list[Any] = []
    pending = list(reversed(queues))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def worker() -> None:
            while pending:
                for call in pending.pop():
                    answers.append(await send(http, base, token, call, run))

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        run.seconds += time.perf_counter() - started
    return answers


async def initial_sync(server: dict[str, Any], args: argparse.Namespace) -> tuple[Run, list[str], list[str]]:
    """Users one request each, then the groups (created empty), then members by PATCH in chunks.

    Returns the run, the user ids and the group ids."""
    run = Run()
    base, token = server["base"], server["token"]
    answers = await load(base, token, [[Call("POST", "/Users", user_body(i))] for i in range(args.users)],
                         args.concurrency, run)  # fmt: skip
    by_name = {a["userName"]: a["id"] for a in answers if a}
    users = [by_name.get(f"user{i:05d}@acme.com", "") for i in range(args.users)]
    made = await load(base, token, [[Call("POST", "/Groups", {"schemas": [GROUP], "displayName": f"Group {g:02d}"})]
                                    for g in range(1, args.groups)], args.concurrency, run)  # fmt: skip
    groups = [server["group"] or "", *[a["id"] if a else "" for a in made]]
    if server["group"] is None:  # the minimal handler has no group made before the sync
        first = await load(base, token, [[Call("POST", "/Groups", {"schemas": [GROUP], "displayName": "Group 00"})]],
                           1, run)  # fmt: skip
        groups[0] = first[0]["id"]
    per_group: list[list[Call]] = []
    for g, gid in enumerate(groups):
        members = [users[i] for i in range(g, args.users, args.groups)]
        chunks = [members[c : c + args.chunk] for c in range(0, len(members), args.chunk)]
        per_group.append([Call("PATCH", f"/Groups/{gid}", patch({"op": "add", "path": "members",
                          "value": [{"value": m} for m in chunk]})) for chunk in chunks])  # fmt: skip
    await load(base, token, per_group, args.concurrency, run)
    return run, users, groups


def burst_calls(users: list[str], groups: list[str], args: argparse.Namespace) -> list[list[Call]]:
    """`--changes` changes to distinct users: 40 % deactivate, 30 % new email, 10 % join, 10 % leave, 10 % delete."""
    n = args.changes
    shares = [int(n * 0.4), int(n * 0.3), int(n * 0.1), int(n * 0.1)]
    shares.append(n - sum(shares))
    rng = random.Random(17)
    picked = rng.sample(range(len(users)), n)
    calls: list[Call] = []
    for k, i in enumerate(picked):
        uid, own, other = users[i], groups[i % args.groups], groups[(i + 1) % args.groups]
        if k < shares[0]:
            calls.append(Call("PATCH", f"/Users/{uid}", patch({"op": "replace", "path": "active", "value": "False"})))
        elif k < sum(shares[:2]):
            email = {"value": f"user{i:05d}.moved@acme.com", "primary": True, "type": "work"}
            calls.append(Call("PATCH", f"/Users/{uid}", patch({"op": "replace", "value": {"emails": [email]}})))
        elif k < sum(shares[:3]):
            calls.append(Call("PATCH", f"/Groups/{other}", patch({"op": "add", "path": "members",
                                                                   "value": [{"value": uid}]})))  # fmt: skip
        elif k < sum(shares[:4]):
            calls.append(Call("PATCH", f"/Groups/{own}", patch({"op": "remove", "path": f'members[value eq "{uid}"]'})))
        else:
            calls.append(Call("DELETE", f"/Users/{uid}"))
    rng.shuffle(calls)
    return [[c] for c in calls]


async def outbox_left(db: Any) -> int:
    """Outbox rows not yet sent (or failed)."""
    from sqlalchemy import text

    async with db.sessions() as session:
        return int(await session.scalar(text("SELECT count(*) FROM outbox WHERE status = 'pending'")) or 0)


async def drain(db: Any, timeout: float = 600) -> float:
    """Wait until the outbox is empty; seconds waited."""
    started = time.perf_counter()
    while await outbox_left(db) and time.perf_counter() - started < timeout:
        await asyncio.sleep(0.1)
    return time.perf_counter() - started


async def digest(db: Any, url: str, at: datetime) -> tuple[str, float]:
    """Run `identity-digest` as the scheduler would at `at` (past the quiet period); its outcome and seconds."""
    from trustbot.clock import FixedClock
    from trustbot.config import Settings
    from trustbot.scheduler.runs import run_job

    settings = Settings(_env_file=None, DATABASE_URL=url)
    started = time.perf_counter()
    result = await run_job(db, FixedClock(at), settings, "identity-digest", slot_at=at)
    return f"{result.status}: {result.outcome}", time.perf_counter() - started


@dataclass
class Phase:
    """One phase on one server: the load, then (Trustbot) delivery, the digest and what reached Slack."""

    name: str
    server: str
    run: Run
    drain_s: float = 0.0
    digest: str = ""
    digest_s: float = 0.0
    slack: Counter[str] = field(default_factory=Counter)
    webhooks: int = 0


class Watch:
    """Counts what the fake Slack and the gateway received since it was made."""

    def __init__(self, slack: Any, gateway: Any) -> None:
        self.slack, self.gateway = slack, gateway
        self.calls, self.events = len(slack.calls), len(gateway.events)

    def done(self, phase: Phase) -> Phase:
        phase.slack = Counter(c.method for c in list(self.slack.calls)[self.calls :])
        phase.webhooks = sum(e["type"] == "grant.members_changed" for e in self.gateway.events[self.events :])
        return phase


async def settle(phase: Phase, db: Any, url: str) -> None:
    """Deliver what the phase queued, run the digest past the quiet period, deliver that."""
    phase.drain_s = await drain(db)
    quiet = timedelta(seconds=30 + 1)  # TRUSTBOT_IDENTITY_DIGEST_QUIET_SECONDS' default, and a second
    phase.digest, phase.digest_s = await digest(db, url, datetime.now(UTC) + quiet)
    phase.drain_s += await drain(db)
    await asyncio.sleep(0.5)  # the last answers reach the gateway's and Slack's records


async def bench_one(database: str, args: argparse.Namespace) -> list[Phase]:
    """Both servers on one kind of database, the four phases in ABBA order."""
    from trustbot.standin.fake_slack import FakeSlack
    from trustbot.standin.gateway import SECRET, FakeGateway
    from trustbot.storage.database import Database

    tmp = Path(tempfile.mkdtemp(prefix="trustbot-scim-bench-"))
    if database == "postgresql":
        await reset_schema(args.pg_url)
        urls = {"trustbot": args.pg_url, "minimal": args.pg_url}
    else:
        urls = {k: f"sqlite+aiosqlite:///{tmp / (k + '.db')}" for k in ("trustbot", "minimal")}
    slack = await FakeSlack().start()
    gateway = await FakeGateway().start()
    procs = []
    try:
        proc, bot = await start_server("trustbot", urls["trustbot"], slack.api_url, gateway.url, SECRET)
        procs.append(proc)
        proc, minimal = await start_server("minimal", urls["minimal"])
        procs.append(proc)
        db = Database(urls["trustbot"])
        await drain(db)
        phases = []
        m_sync, m_users, m_groups = await initial_sync(minimal, args)
        phases.append(Phase("initial sync", "minimal", m_sync))
        watch = Watch(slack, gateway)
        t_sync, t_users, t_groups = await initial_sync(bot, args)
        phase = Phase("initial sync", "trustbot", t_sync)
        await settle(phase, db, urls["trustbot"])
        phases.append(watch.done(phase))
        watch = Watch(slack, gateway)
        run = Run()
        await load(bot["base"], bot["token"], burst_calls(t_users, t_groups, args), args.concurrency, run)
        phase = Phase("burst", "trustbot", run)
        await settle(phase, db, urls["trustbot"])
        phases.append(watch.done(phase))
        run = Run()
        await load(minimal["base"], minimal["token"], burst_calls(m_users, m_groups, args), args.concurrency, run)
        phases.insert(2, Phase("burst", "minimal", run))
        await db.dispose()
        return phases
    finally:
        for proc in procs:
            proc.terminate()
        await gateway.stop()
        await slack.stop()


async def reset_schema(url: str) -> None:
    """An empty public schema in the bench's own PostgreSQL database."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


async def pg_reachable(url: str) -> bool:
    """Whether the PostgreSQL database answers."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


WRITES = ("chat.postMessage", "chat.update", "chat.postEphemeral", "chat.delete")


def print_table(database: str, phases: list[Phase], args: argparse.Namespace) -> None:
    """One line per phase and server, then the Trustbot / minimal ratios."""
    print(f"\nSCIM sync bench on {database}: {args.users} users, {args.groups} groups (member PATCHes of "
          f"{args.chunk}), {args.changes} changes, {args.concurrency} in flight")  # fmt: skip
    print(f"{'phase':<13} {'server':<9} {'requests':>8} {'wall s':>7} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'fail':>5} {'drain s':>8} {'webhooks':>8} {'Slack writes':>12}  digest")  # fmt: skip
    for p in phases:
        writes = sum(p.slack[m] for m in WRITES)
        extra = f"{p.drain_s:>8.1f} {p.webhooks:>8} {writes:>12}  {p.digest}" if p.server == "trustbot" else ""
        fails = sum(p.run.failures.values())
        print(f"{p.name:<13} {p.server:<9} {len(p.run.latencies):>8} {p.run.seconds:>7.1f} "
              f"{len(p.run.latencies) / p.run.seconds:>7.0f} {p.run.pct(0.5):>7.1f} {p.run.pct(0.99):>7.1f} "
              f"{fails:>5} {extra}")  # fmt: skip
    for name in ("initial sync", "burst"):
        t, m = (next(p for p in phases if p.name == name and p.server == s) for s in ("trustbot", "minimal"))
        print(f"{name:<13} trustbot/minimal: {t.run.seconds / m.run.seconds:.2f}x wall time, "
              f"p50 {t.run.pct(0.5) / m.run.pct(0.5):.2f}x, p99 {t.run.pct(0.99) / m.run.pct(0.99):.2f}x")  # fmt: skip
    for p in phases:
        if p.server == "trustbot":
            calls = ", ".join(f"{k} {v}" for k, v in sorted(p.slack.items())) or "none"
            print(f"{p.name:<13} Slack calls: {calls}; failures by status: {dict(p.run.failures) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=("sqlite", "postgresql", "both"), default="both",
                        help="both (default) skips PostgreSQL when it does not answer")  # fmt: skip
    parser.add_argument("--pg-url", default=PG_URL, help="a database of the bench's own: its schema is dropped")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--chunk", type=int, default=100, help="members per group PATCH in the initial sync")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    if "postgresql" in kinds and not asyncio.run(pg_reachable(args.pg_url)):
        if args.database == "postgresql":
            raise SystemExit(f"PostgreSQL does not answer at {args.pg_url}")
        print(f"PostgreSQL does not answer at {args.pg_url}: SQLite only")
        kinds.remove("postgresql")
    for kind in kinds:
        print_table(kind, asyncio.run(bench_one(kind, args)), args)


if __name__ == "__main__":
    main()
