"""`bench/ack_latency.py`: the server processes, the seeded requests and the outbox they fill.

The two measured targets run as child processes (`trustbot serve` and `bench/bare_bolt_app.py`),
both talking to the FakeSlack in the bench process. Before them, a pace-0 `trustbot serve`
delivers the seeded requests' Slack messages, so the Approve clicks carry real message payloads.
"""

from __future__ import annotations

import asyncio
import gc
import json
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import repo_root  # noqa: F401  (the repository root on sys.path, for tests.support)

from tests.support.processes import ServerProcess, clean_env, free_port
from trustbot.standin.sample import ADMIN, DEV
from trustbot.standin.sample import DIRECTORY_YAML as SAMPLE_DIRECTORY

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-ack-signing-secret"
TOKEN = "xoxb-bench"
REPS_CHANNEL = "C0REPS"


@dataclass
class Workspace:
    """The run's temporary directory: the SQLite database, the directory file, the server logs."""

    tmp: Path

    def __post_init__(self) -> None:
        self.directory.write_text(SAMPLE_DIRECTORY)

    @property
    def db_path(self) -> Path:
        return self.tmp / "bench.db"

    @property
    def db_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_path}"

    @property
    def directory(self) -> Path:
        return self.tmp / "directory.yml"


# ---------------------------------------------------------------------------- processes


def serve_env(fake: Any, db_url: str, directory: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        **clean_env(),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "DATABASE_URL": db_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "TRUSTBOT_DIRECTORY": str(directory),
        "TRUSTBOT_SCHEDULER_ENABLED": "false",
        "TRUSTBOT_LOG_LEVEL": "WARNING",
        **extra,
    }


def trustbot_serve(name: str, fake: Any, ws: Workspace, log: str, **extra: str) -> ServerProcess:
    """`python -m bot.cli serve` on the workspace's database and directory, on a free port."""
    port = free_port()
    return ServerProcess(
        name,
        [sys.executable, "-m", "trustbot", "serve"],
        serve_env(fake, ws.db_url, ws.directory, port, **extra),
        port,
        ws.tmp / log,
    )


def bare_bolt(fake: Any, ws: Workspace) -> ServerProcess:
    """`bench/bare_bolt_app.py` on a free port."""
    port = free_port()
    env = {
        **clean_env(),
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
    }
    return ServerProcess(
        "bare Bolt app", [sys.executable, str(ROOT / "bench" / "bare_bolt_app.py")], env, port, ws.tmp / "bare.log"
    )


async def start_measured(fake: Any, ws: Workspace, pace: float | None, children: list[ServerProcess]) -> dict[str, Any]:
    """Start the two targets (appended to `children` so the caller stops them); return them by name."""
    extra = {} if pace is None else {"TRUSTBOT_CHANNEL_PACE_SECONDS": str(pace)}
    real = trustbot_serve("trustbot serve", fake, ws, "serve.log", **extra)
    bare = bare_bolt(fake, ws)
    children += [real, bare]
    await asyncio.gather(real.start(), bare.start())
    return {"bare": bare, "real": real}


@dataclass
class PySpy:
    """`py-spy record` on the measured server while the rounds run (nothing when `binary` is None)."""

    binary: str | None
    output: str
    log: Path
    proc: asyncio.subprocess.Process | None = field(default=None, init=False)

    async def start(self, pid: int) -> None:
        if not self.binary:
            return
        self.proc = await asyncio.create_subprocess_exec(
            self.binary,
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--threads",
            "--gil",
            "--format",
            "raw",
            "--output",
            str(Path(self.output).resolve()),
            "--nonblocking",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=self.log.open("ab"),
        )

    async def finish(self) -> None:
        """Stop recording (py-spy writes its file on SIGINT) and say where the stacks are."""
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(self.proc.wait(), 60)
        self.proc = None
        print(f"py-spy stacks of trustbot serve (raw/collapsed): {self.output}", flush=True)

    async def close(self) -> None:
        """On the way out after a failure: stop a recording still running."""
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            await self.proc.wait()


# ---------------------------------------------------------------------------- database


def outbox_pending(db_path: Path) -> dict[str, int]:
    """Pending outbox rows per lane, read with a plain read-only connection (takes no write lock)."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        rows = conn.execute("SELECT channel, count(*) FROM outbox WHERE status = 'pending' GROUP BY channel").fetchall()
    return {channel: n for channel, n in rows}


def count_rows(db_path: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


async def seed_requests(db_url: str, count: int) -> list[int]:
    """`count` pending requests for acme (tier standard: one approval), submitted by its admin."""
    from trustbot.clock import SystemClock
    from trustbot.config import Settings
    from trustbot.services.access.requests import submit_request
    from trustbot.services.context import Person
    from trustbot.slack.payloads import RequestSubmission
    from trustbot.standin.sample import sample_profiles
    from trustbot.storage.database import Database

    db = Database(db_url)
    clock = SystemClock()
    # Every seeded request stays pending until its click: far more than an org may normally have open.
    settings = Settings(_env_file=None, TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG=100_000)  # type: ignore[call-arg]
    ids: list[int] = []
    try:
        for i in range(count):
            submission = RequestSubmission(
                org_slug="acme",
                members=[DEV],
                blanket=False,
                tier_id="standard",
                duration_days=30,
                use_case=f"Malware analysis for incident {i}",
                justification="Our SOC reverse-engineers samples daily and needs the standard tier.",
            )
            async with db.transaction() as session:
                ctx = await Person(ADMIN, clock, settings).context(session)
                result = await submit_request(session, ctx, submission=submission, profiles=sample_profiles())
                ids.append(int(result.request.id or 0))
    finally:
        await db.dispose()
    return ids


async def wait_drained(db_path: Path, timeout: float, what: str) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if not sum(outbox_pending(db_path).values()):
            return time.monotonic() - started
        await asyncio.sleep(0.25)
    raise RuntimeError(f"{what}: outbox not drained after {timeout:.0f} s: {outbox_pending(db_path)}")


async def seed(fake: Any, ws: Workspace, count: int, children: list[ServerProcess]) -> tuple[list[int], dict[int, Any]]:
    """Seed `count` pending requests, deliver their Slack messages with a pace-0 server, stop it.

    Returns the request ids and, per id, the message in the reps channel that holds its Approve button.
    """
    seeder = trustbot_serve(
        "trustbot serve (seeding)",
        fake,
        ws,
        "seed.log",
        TRUSTBOT_CHANNEL_PACE_SECONDS="0",
        TRUSTBOT_OUTBOX_POLL_SECONDS="0.1",
    )
    children.append(seeder)
    t0 = time.monotonic()
    await seeder.start()
    ids = await seed_requests(ws.db_url, count)
    seeded = time.monotonic() - t0
    delivered = await wait_drained(ws.db_path, 600, "seeding")
    await seeder.stop()
    click_messages: dict[int, Any] = {}
    for parent in fake.messages(REPS_CHANNEL):
        for reply in fake.replies(REPS_CHANNEL, parent.ts):
            if "Approve" in reply.buttons():
                click_messages[json.loads(reply.button("Approve")["value"])["request_id"]] = reply
    missing = [i for i in ids if i not in click_messages]
    if missing:
        raise RuntimeError(f"{len(missing)} seeded requests have no Approve button in the fake Slack")
    gc.collect()
    gc.freeze()  # the fake's recordings so far: never scanned again by this process's collector
    print(
        f"seeded {len(ids)} pending requests in {seeded:.1f} s; their {len(fake.calls)} Slack writes delivered "
        f"in {delivered:.1f} s more",
        flush=True,
    )
    return ids, click_messages


@dataclass
class Drain:
    """The outbox after the last round, and how its draining went."""

    pending: dict[str, int]  # per lane, when the rounds ended
    left: dict[str, int]  # per lane, when the bench stopped waiting
    waited: float
    drained: float | None  # seconds after the last round, or None if not drained in time

    @property
    def start_pending(self) -> int:
        return sum(self.pending.values())


async def watch_drain(db_path: Path, measured_end: float, timeout: float) -> Drain:
    """Poll the outbox until empty or `timeout` s after `measured_end` (the approvals' writes, at the server's pace)."""
    pending = outbox_pending(db_path)
    drained: float | None = None
    while time.monotonic() - measured_end < timeout:
        if not sum(outbox_pending(db_path).values()):
            drained = time.monotonic() - measured_end
            break
        await asyncio.sleep(0.5)
    waited = time.monotonic() - measured_end
    return Drain(pending, outbox_pending(db_path), waited, drained)
