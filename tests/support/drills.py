"""Failure drills: Trustbot under a misbehaving Slack, crashes, shutdowns and replicas, checked
against its promise — no Slack message lost, none sent twice, in order per thread.

Each drill runs a workload (`tests.support.drill_workload`) while something goes wrong, waits until
every outbox row is sent or failed, then compares what reached the fake Slack with the outbox
(`tests.support.drill_count`). `run_drill(name, database_url, workdir, quick=…)` runs one;
`DRILLS` lists them in order. Used by `tests/test_drills.py` (short versions) and
`bench/drills.py` (full size, one table).

1–6 run an in-process `TrustbotServer`; 7 and 8 a child `trustbot serve`
(`tests.support.drill_process`); 9 and 10 two replicas on one PostgreSQL database (`tests.support.drill_replicas`),
the second with 10 % of writes answered 500.

The in-process drills (1–6) run with two workspaces (`tests.support.drill_workspaces`): home, and
acme's, installed through Trustbot's OAuth flow before the workload starts (the child `serve` drills
still run with the home workspace alone); acme's alerts and its people's DMs go out with
acme's token, the rest from home. A drill in which a workspace got no message, or (for the drills that
program Slack's faults) no fault, is not clean.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.drill_count import Tally, tally
from tests.support.drill_runtime import is_postgres, settle, start_inprocess
from tests.support.drill_workload import FULL, QUICK, Size, Workload
from tests.support.drill_workspaces import WORKSPACES, two_workspace_fake
from trustbot.standin.fake_slack import FakeSlack


@dataclass
class DrillResult:
    """One drill's outcome: its count (None when skipped), how long it took, and why it was skipped."""

    name: str
    database: str
    tally: Tally | None
    seconds: float
    skipped: str | None = None

    @property
    def clean(self) -> bool:
        """Skipped, or nothing lost, duplicated, out of order or otherwise wrong."""
        return self.tally is None or self.tally.clean


@dataclass(frozen=True)
class Drill:
    """A named scenario: `run(database_url, workdir, quick, seed)` returns its count."""

    name: str
    summary: str
    run: Callable[[str, Path, bool, int], Awaitable[Tally]]
    postgres_only: bool = False
    faults: bool = False  # the fake Slack misbehaves: both workspaces must meet it


@dataclass
class InProcess:
    """An in-process drill's moving parts."""

    fake: FakeSlack
    server: Any
    work: Workload
    problems: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def in_process(database_url: str, size: Size, seed: int, **settings: Any) -> AsyncIterator[InProcess]:
    """A fake Slack with two workspaces and an in-process Trustbot on `database_url` (acme's workspace
    installed); stopped (after an exception too) on exit."""
    fake = two_workspace_fake()
    await fake.start()
    try:
        server = await start_inprocess(database_url, fake, **settings)
        work = Workload(fake, [server.url], size, seed=seed)
        try:
            yield InProcess(fake, server, work)
        finally:
            await work.close()
            await server.stop()
    finally:
        await fake.stop()


async def finish(run: InProcess, timeout: float) -> Tally:
    """Wait for every listener and every outbox row, then count."""
    rt = run.server.rt
    if not await rt.post_ack.wait(timeout):
        run.problems.append("listeners still running after their ack")
    run.problems += await settle(rt.db, run.server.settings, timeout=timeout)
    result = await tally(rt.db, run.fake)
    result.problems = run.problems + result.problems
    return result


async def standard_workload(run: InProcess, *, alert_seconds: float) -> None:
    """Requests submitted, alerts arriving, then the requests decided while more alerts arrive,
    and some alert messages acknowledged."""
    work, size = run.work, run.work.size
    await work.submit_requests()
    await work.send_alerts(size.alerts // 2, seconds=alert_seconds / 2)
    cards = await work.wait_for_cards(size.requests)
    await asyncio.gather(
        work.decide_all(cards), work.send_alerts(size.alerts - size.alerts // 2, seconds=alert_seconds / 2)
    )
    await asyncio.sleep(0.5)
    await work.acknowledge_some()


def chaos_drill(
    shares: dict[str, float], *, timeout: tuple[float, float] = (60, 300), **settings: Any
) -> Callable[[str, Path, bool, int], Awaitable[Tally]]:
    """A drill in which the fake Slack draws a fault for every write (`fake.chaos(**shares)`)."""

    async def run(database_url: str, _workdir: Path, quick: bool, seed: int) -> Tally:
        size = QUICK if quick else FULL
        async with in_process(database_url, size, seed, **settings) as drill:
            drill.fake.chaos(**shares, seed=seed)
            await standard_workload(drill, alert_seconds=2 if quick else 20)
            return await finish(drill, timeout[0] if quick else timeout[1])

    return run


async def message_limit_drill(database_url: str, workdir: Path, quick: bool, seed: int) -> Tally:
    """`ok:false message_limit_exceeded` (HTTP 200) on a share of writes; each holds its lane 60 s
    (2 s in the short version, which would otherwise wait minutes)."""
    hold = {"TRUSTBOT_MESSAGE_LIMIT_HOLD_SECONDS": 2.0} if quick else {}
    run = chaos_drill({"message_limit": 0.04 if quick else 0.01}, timeout=(60, 600), **hold)
    return await run(database_url, workdir, quick, seed)


async def outage_drill(database_url: str, _workdir: Path, quick: bool, seed: int) -> Tally:
    """Slack answers every Web API call 503 for a minute (3 s short), then comes back; the requests
    were submitted before, and are approved and alerts ingested during the outage."""
    outage = 3.0 if quick else 60.0
    size = QUICK if quick else FULL
    async with in_process(database_url, size, seed) as drill:
        work = drill.work
        await work.submit_requests()
        await work.send_alerts(size.alerts // 2, seconds=1)
        cards = await work.wait_for_cards(size.requests)
        await work.decide_all(cards, deny=True)  # denying opens a modal, which needs Slack
        await asyncio.sleep(0.5)
        await work.acknowledge_some()
        drill.fake.go_down()
        down_at = time.monotonic()
        await asyncio.gather(
            work.decide_all(cards, deny=False), work.send_alerts(size.alerts - size.alerts // 2, seconds=outage / 2)
        )
        await asyncio.sleep(max(0.0, down_at + outage - time.monotonic()))
        drill.fake.come_back()
        return await finish(drill, 90 if quick else 400)


def _process_drills() -> list[Drill]:
    from tests.support.drill_process import sigkill_drill, sigterm_drill
    from tests.support.drill_replicas import replicas_500_drill, replicas_drill

    return [
        Drill(
            "sigkill",
            "SIGKILL at random moments in an alert storm with approvals (child serve)",
            sigkill_drill,
        ),
        Drill("sigterm", "SIGTERM during a burst of commands (child serve)", sigterm_drill),
        Drill(
            "replicas",
            "two serve replicas on one database, racing jobs and clicks",
            replicas_drill,
            postgres_only=True,
        ),
        Drill(
            "replicas-500",
            "the replicas drill with 10 % of writes answered 500",
            replicas_500_drill,
            postgres_only=True,
            faults=True,
        ),
    ]


DRILLS: list[Drill] = [
    Drill("429", "30 % of writes answered 429 with Retry-After", chaos_drill({"rate_limited": 0.3}), faults=True),
    Drill("500", "10 % of writes answered 500", chaos_drill({"server_error": 0.1}), faults=True),
    Drill(
        "late",
        "15 % of writes carried out but answered 2 s late (client timeout 1 s)",
        chaos_drill({"late": 0.15, "late_seconds": 2.0}, TRUSTBOT_SLACK_TIMEOUT_SECONDS=1),
        faults=True,
    ),
    Drill(
        "dropped",
        "15 % of writes carried out, then the connection dropped",
        chaos_drill({"dropped": 0.15}),
        faults=True,
    ),
    Drill(
        "message_limit",
        "ok:false message_limit_exceeded (HTTP 200) on some writes",
        message_limit_drill,  # faults not required in both: its share is small enough to miss one workspace
    ),
    Drill("down", "Slack down (503) for a minute (3 s short), then back", outage_drill, faults=True),
    *_process_drills(),
]


def drill_named(name: str) -> Drill:
    """The drill called `name`."""
    for drill in DRILLS:
        if drill.name == name:
            return drill
    raise KeyError(f"no drill {name!r}; drills: {', '.join(d.name for d in DRILLS)}")


async def run_drill(name: str, database_url: str, workdir: Path, *, quick: bool, seed: int = 7) -> DrillResult:
    """Run one drill on a migrated, empty database (its PostgreSQL-only ones skip on SQLite)."""
    drill = drill_named(name)
    database = "postgresql" if is_postgres(database_url) else "sqlite"
    if drill.postgres_only and database != "postgresql":
        return DrillResult(name, database, None, 0.0, skipped="needs PostgreSQL (replicas share one database)")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result = await drill.run(database_url, workdir, quick, seed)
    # A short run makes too few writes per workspace for a 10 % fault to be sure to hit both (acme's ~12
    # writes miss a 10 % fault about one run in four): there only the delivery per workspace is required.
    result.problems += workspace_problems(result, faults=drill.faults and not quick)
    return DrillResult(name, database, result, time.monotonic() - started)


def workspace_problems(result: Tally, *, faults: bool) -> list[str]:
    """Each workspace got messages (and, in a drill of Slack's faults, met some): both were really drilled."""
    problems = [
        f"nothing delivered in {name}'s workspace" for team, name in WORKSPACES.items() if not result.delivered_in(team)
    ]
    if faults:
        problems += [
            f"no fault hit {name}'s workspace" for team, name in WORKSPACES.items() if not result.faulted_by[team]
        ]
    return problems
