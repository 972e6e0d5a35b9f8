"""What every failure drill stands on: a fresh database, a Trustbot (in this process or a child
`trustbot serve`) with the sample directory (acme bound to its workspace) and customer installs
configured, and waiting until every outbox row is settled."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from tests.support import queries as inspection
from tests.support.drill_workload import INGEST_SECRET, SIGNING_SECRET
from tests.support.drill_workspaces import BOUND_YAML, INSTALL_SETTINGS, install_acme_inprocess
from tests.support.processes import ServerProcess, clean_env, free_port
from trustbot.clock import SystemClock
from trustbot.config import Settings
from trustbot.storage.database import Database
from trustbot.storage.migrate import upgrade

# Fast delivery, as in the tests: no pacing, quick polling, short leases, no background scheduler.
BASE_SETTINGS: dict[str, str] = {
    "TRUSTBOT_CHANNEL_PACE_SECONDS": "0",
    "TRUSTBOT_OUTBOX_POLL_SECONDS": "0.1",
    "TRUSTBOT_OUTBOX_LEASE_SECONDS": "3",
    "TRUSTBOT_SCHEDULER_ENABLED": "false",
    "TRUSTBOT_ALERT_UPDATE_SECONDS": "1",
}


def is_postgres(database_url: str) -> bool:
    """True for a PostgreSQL URL."""
    return database_url.startswith("postgresql")


async def fresh_database(database_url: str | None, workdir: Path, name: str) -> str:
    """A migrated, empty database for one drill: a new SQLite file in `workdir`, or the PostgreSQL
    database at `database_url` with its schema dropped and migrated again."""
    if database_url is None or not is_postgres(database_url):
        url = f"sqlite+aiosqlite:///{workdir / f'{name}.db'}"
    else:
        url = database_url
        database = Database(url)
        async with database.engine.begin() as connection:
            await inspection.drop_public_schema(connection)
        await database.dispose()
    await upgrade(url)
    return url


def drill_settings(database_url: str, api_url: str, **overrides: Any) -> Settings:
    """Settings of an in-process drill Trustbot on 127.0.0.1 (any free port)."""
    values: dict[str, Any] = {
        "SLACK_BOT_TOKEN": "xoxb-drill",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": api_url,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": 0,
        "TRUSTBOT_INGEST_SECRET": INGEST_SECRET,
        **INSTALL_SETTINGS,
        **BASE_SETTINGS,
        **INSTALL_SETTINGS,
        **overrides,
    }
    return Settings(_env_file=None, **values)


async def start_inprocess(database_url: str, fake: Any, **overrides: Any) -> Any:
    """A `TrustbotServer` in this process against the fake Slack, the sample directory applied and acme's
    workspace installed through its HTTP."""
    from trustbot.services.context import system_context
    from trustbot.services.directory.apply import apply_directory, parse_directory
    from trustbot.web.server import TrustbotServer

    settings = drill_settings(database_url, fake.api_url, **overrides)
    server = TrustbotServer(settings, clock=SystemClock())
    await server.start(migrate=False)
    async with server.rt.db.transaction() as session:
        ctx = system_context(server.rt.clock, settings, as_user="drill")
        await apply_directory(session, ctx, parse_directory(BOUND_YAML))
    await install_acme_inprocess(server, fake)
    return server


def serve_env(database_url: str, fake: Any, workdir: Path, port: int, **overrides: str) -> dict[str, str]:
    """The environment of a child `trustbot serve` (or `trustbot jobs run`) on the fake Slack."""
    directory = workdir / "directory.yml"
    directory.write_text(BOUND_YAML)  # acme bound to its own workspace, installed through the child's HTTP
    return {
        **clean_env(),
        "SLACK_BOT_TOKEN": "xoxb-drill",
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TRUSTBOT_DIRECTORY": str(directory),
        "TRUSTBOT_INGEST_SECRET": INGEST_SECRET,
        "TRUSTBOT_LOG_LEVEL": "INFO",
        **BASE_SETTINGS,
        **INSTALL_SETTINGS,
        **overrides,
    }


def serve_process(database_url: str, fake: Any, workdir: Path, name: str = "serve", **overrides: str) -> ServerProcess:
    """A child `trustbot serve` (not started yet), logging to `workdir/<name>.log`."""
    port = free_port()
    env = serve_env(database_url, fake, workdir, port, **overrides)
    argv = [sys.executable, "-m", "trustbot", "serve"]
    return ServerProcess(f"trustbot {name}", argv, env, port, workdir / f"{name}.log")


async def backlog(db: Database) -> tuple[int, int]:
    """(pending outbox rows, alerts whose message is held back by the circuit breaker)."""
    async with db.sessions() as session:
        return await inspection.backlog(session)


async def catch_up_held_back(db: Database, settings: Settings) -> None:
    """What the `alert-escalation` job does for held-back alert messages once a channel recovers."""
    from trustbot.services.alerts.rendering import flush_held_back
    from trustbot.services.context import system_context

    async with db.transaction() as session:
        await flush_held_back(session, system_context(SystemClock(), settings))


async def settle(db: Database, settings: Settings, *, timeout: float, quiet: float = 1.0) -> list[str]:
    """Wait until no outbox row is pending and no alert held back for `quiet` seconds; what is not, in words."""
    deadline = time.monotonic() + timeout
    calm_since: float | None = None
    rows, held = await backlog(db)
    while time.monotonic() < deadline:
        rows, held = await backlog(db)
        if rows or held:
            calm_since = None
            if held and not rows:
                await catch_up_held_back(db, settings)
        else:
            calm_since = calm_since or time.monotonic()
            if time.monotonic() - calm_since >= quiet:
                return []
        await asyncio.sleep(0.1)
    return [f"not settled after {timeout:g}s: {rows} outbox row(s) pending, {held} alert(s) held back"]
