"""What more than one bench needs: the one-org directory and an in-process Trustbot on it.

Imported as a sibling module (`from common import …`): the benches are run as scripts,
`.venv/bin/python bench/<name>.py`, so `bench/` is the first entry of `sys.path`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from trustbot.clock import Clock
    from trustbot.config import Settings
    from trustbot.web.server import TrustbotServer

# One org, acme, whose security channel gets the alerts (storm and ingest).
ACME_DIRECTORY = """
operators: [U0OPS1]
reps_channel: C0REPS
security_channel: C0SEC
orgs:
  - {slug: acme, name: Acme Security, domains: [acme.com], rep: U0REP1, admins: [U0ADM1],
     security_leads: [U0SEC1], security_channel: C0ACMESEC, verified_until: 2027-06-30}
"""


async def apply_bench_directory(session: AsyncSession, clock: Clock, settings: Settings, yaml: str) -> None:
    """Apply a directory file's text in `session`, as the user "bench"."""
    from trustbot.services.context import system_context
    from trustbot.services.directory.apply import apply_directory, parse_directory

    await apply_directory(session, system_context(clock, settings, as_user="bench"), parse_directory(yaml))


async def start_trustbot(
    *, api_url: str, database_url: str, ingest_secret: str, directory: str, token: str, **extra: Any
) -> TrustbotServer:
    """A Trustbot server in this process on 127.0.0.1 (any free port), migrated, `directory` applied.

    The scheduler is off; `extra` are further settings (e.g. `TRUSTBOT_OUTBOX_POLL_SECONDS=0.2`).
    """
    from trustbot.clock import SystemClock
    from trustbot.config import Settings
    from trustbot.web.server import TrustbotServer

    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN=token,
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=api_url,
        DATABASE_URL=database_url,
        HOST="127.0.0.1",
        PORT=0,
        TRUSTBOT_INGEST_SECRET=ingest_secret,
        TRUSTBOT_SCHEDULER_ENABLED=False,
        **extra,
    )
    server = TrustbotServer(settings, clock=SystemClock())
    await server.start(migrate=True)
    async with server.rt.db.transaction() as session:
        await apply_bench_directory(session, server.rt.clock, settings, directory)
    return server
