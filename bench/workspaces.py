"""Customer workspaces at scale: 200 installed workspaces, Slack writes spread over them (each a post
to that workspace's security channel, sent with its own token), delivered by one replica and by two
replicas (two delivery workers, each with its own engine and per-installation clients) sharing one
PostgreSQL database. Prints the writes per second of each and the ratio two/one.

Both runs in one invocation, against the fake Slack on 127.0.0.1, on a database you give (it is
emptied: use a scratch one), at a channel pace of `--pace` s (Slack's real one is 1 s per channel; each
workspace's channel is its own lane, so the pace only binds when one workspace gets many writes).

    TEST_DATABASE_URL=postgresql+asyncpg://… .venv/bin/python bench/workspaces.py [--workspaces 200] [--writes 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from datetime import UTC, datetime

import repo_root  # noqa: F401  (tests.support on sys.path)
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store.models.installation import Installation
from sqlalchemy import text

from tests.support.bots import make_settings
from trustbot.clock import SystemClock
from trustbot.delivery.worker import DeliveryWorker
from trustbot.delivery.workspaces import WorkspaceClients
from trustbot.secrets import SecretBox
from trustbot.services import outbox
from trustbot.slack.client import build_slack_client
from trustbot.slack.installations import EncryptedInstallationStore
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.fake_workspaces import CLIENT_ID, FakeWorkspace
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade
from trustbot.storage.tables import Workspace, WorkspaceStatus

KEY = Fernet.generate_key().decode()


async def install(db: Database, fake: FakeSlack, count: int) -> list[str]:
    """`count` active installations with tokens the fake knows, each with a security channel of its own."""
    store = EncryptedInstallationStore(client_id=CLIENT_ID, engine=db.engine, box=SecretBox(KEY))
    now = datetime.now(UTC)
    keys = []
    async with db.transaction() as session:
        for n in range(count):
            team = f"T{n:05d}"
            workspace = fake.workspaces.add(FakeWorkspace(team_id=team, name=f"Customer {n}"))
            token = f"xoxb-{team.lower()}-{secrets.token_hex(8)}"
            fake.workspaces.tokens[token] = workspace
            fake.add_channel(f"C{team}", team=team)
            session.add(Workspace(key=f":{team}", team_id=team, status=WorkspaceStatus.ACTIVE, installed_at=now))
            keys.append(team)
    for team in keys:
        token = next(t for t, w in fake.workspaces.tokens.items() if w.team_id == team)
        await store.async_save(
            Installation(app_id="A0APP", team_id=team, user_id="U0INSTALLER", bot_token=token, bot_user_id="UBOT")
        )
    return keys


async def queue(db: Database, teams: list[str], writes: int) -> int:
    """`writes` posts per workspace, interleaved (traffic spread over every workspace)."""
    async with db.transaction() as session:
        for i in range(writes):
            for team in teams:
                outbox.post_message(
                    session, channel=f"C{team}", key=f"b:{team}:{i}", message=f"alert {i}", workspace=f":{team}"
                )
    return writes * len(teams)


async def one_run(url: str, replicas: int, count: int, writes: int, pace: float) -> float:
    """Writes per second delivered by `replicas` workers."""
    fake = await FakeSlack().start()
    settings = make_settings(url, fake.api_url, TRUSTBOT_CHANNEL_PACE_SECONDS=pace)
    setup = Database(url)
    async with setup.transaction() as session:
        await session.execute(
            text("TRUNCATE outbox, slack_message, workspace, slack_installations, slack_bots RESTART IDENTITY CASCADE")
        )
    teams = await install(setup, fake, count)
    total = await queue(setup, teams, writes)
    workers, dbs = [], []
    for _ in range(replicas):
        db = Database(url)
        home = build_slack_client("xoxb-home", fake.api_url, 10)
        worker = DeliveryWorker(db, home, SystemClock(), settings)
        store = EncryptedInstallationStore(client_id=CLIENT_ID, engine=db.engine, box=SecretBox(KEY))
        worker.workspaces = WorkspaceClients(db, store, base_url=fake.api_url, timeout=10)
        workers.append(worker)
        dbs.append(db)
    started = time.monotonic()
    await asyncio.gather(*(w.drain(timeout=300) for w in workers))
    while len(fake.calls_to("chat.postMessage")) < total and time.monotonic() - started < 300:
        await asyncio.gather(*(w.drain(timeout=5) for w in workers))
    elapsed = time.monotonic() - started
    sent = len([c for c in fake.calls_to("chat.postMessage") if c.ok])
    assert sent == total, f"{sent} of {total} delivered"
    for worker, db in zip(workers, dbs, strict=True):
        await worker.stop()
        await db.dispose()
    await setup.dispose()
    await fake.stop()
    return total / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspaces", type=int, default=200)
    parser.add_argument("--writes", type=int, default=5, help="writes per workspace")
    parser.add_argument("--pace", type=float, default=0.05)
    args = parser.parse_args()
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        raise SystemExit("set TEST_DATABASE_URL to a scratch PostgreSQL database")
    await upgrade(url)
    one = await one_run(url, 1, args.workspaces, args.writes, args.pace)
    two = await one_run(url, 2, args.workspaces, args.writes, args.pace)
    print(f"{args.workspaces} workspaces, {args.writes} writes each, pace {args.pace}s per channel")
    print(f"one replica:  {one:8.1f} writes/s")
    print(f"two replicas: {two:8.1f} writes/s  (ratio two/one {two / one:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
