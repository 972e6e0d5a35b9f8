"""Scheduler infrastructure: slot claims across runners, crash recovery, the APScheduler setup, `trustbot jobs`."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from tests.support.bots import START, make_settings
from tests.support.factories import make_grant, seed_directory, settings, system
from tests.support.job_helpers import dms, outbox
from trustbot.cli import main as cli
from trustbot.clock import FixedClock
from trustbot.scheduler import jobs as jobs_mod
from trustbot.scheduler.jobs import JOBS, run_reverification
from trustbot.scheduler.runs import FAILED, FINISHED, RUNNING, claim_slot, get_run, run_job
from trustbot.standin.sample import ADMIN, ADMIN2
from trustbot.storage.database import Database
from trustbot.storage.tables import JobRun

SLOT = START


async def test_a_slot_runs_once_and_a_crashed_or_failed_run_is_reclaimed(db: Database) -> None:
    first = await claim_slot(db, job="reverification", slot_at=SLOT, owner="a")
    assert first is not None and first.status == RUNNING
    assert await claim_slot(db, job="reverification", slot_at=SLOT, owner="b") is None  # live lease
    async with db.transaction() as session:  # simulate a crash: the lease ran out, nobody finished
        await session.execute(update(JobRun).values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))
    again = await claim_slot(db, job="reverification", slot_at=SLOT, owner="c")
    assert again is not None and again.claimed_by == "c"
    async with db.transaction() as session:
        await session.execute(update(JobRun).values(status=FAILED))
    assert await claim_slot(db, job="reverification", slot_at=SLOT, owner="d") is not None
    async with db.transaction() as session:
        await session.execute(update(JobRun).values(status=FINISHED))
    assert await claim_slot(db, job="reverification", slot_at=SLOT, owner="e") is None
    assert await claim_slot(db, job="reverification", slot_at=SLOT + timedelta(hours=1), owner="e") is not None


async def test_two_runners_same_slot_send_each_reminder_exactly_once(database_url: str, clock: FixedClock) -> None:
    dbs = [Database(database_url) for _ in range(2)]
    try:
        await seed_directory(dbs[0], clock)
        grants = [await make_grant(dbs[0], clock, due=timedelta(days=3)) for _ in range(5)]
        results = await asyncio.gather(*(run_job(d, clock, settings(), "reverification", slot_at=SLOT) for d in dbs))
        assert sorted(r.status for r in results) == ["finished", "skipped"]
        assert [r.outcome for r in results if r.status == "finished"] == [f"{2 * len(grants)} reminders"]
        # Also without the slot claim (overlapping slots, `jobs run` beside the scheduler): notices are once-only.
        clock.advance(timedelta(minutes=1))
        assert await asyncio.gather(*(run_reverification(d, system(clock)) for d in dbs)) == ["nothing due"] * 2
        sent = dms(await outbox(dbs[0]))
        assert {u: len(t) for u, t in sent.items()} == {ADMIN: len(grants), ADMIN2: len(grants)}
    finally:
        for d in dbs:
            await d.dispose()


async def test_two_racing_runs_without_slot_claims_split_the_work_exactly_once(
    database_url: str, clock: FixedClock
) -> None:
    dbs = [Database(database_url) for _ in range(2)]
    try:
        await seed_directory(dbs[0], clock)
        for _ in range(20):
            await make_grant(dbs[0], clock, due=timedelta(days=3))
        for _ in range(5):
            await make_grant(dbs[0], clock, due=timedelta(days=-1))
        outcomes = await asyncio.gather(*(run_reverification(d, system(clock)) for d in dbs))
        rows = await outbox(dbs[0])
        reminders = [r for r in rows if r.op == "dm" and "Re-verification of" in r.payload["text"]]
        suspensions = [r for r in rows if r.op == "reply"]
        assert len(reminders) == 40 and len({(r.channel, r.payload["text"]) for r in reminders}) == 40
        assert len(suspensions) == 5, outcomes
    finally:
        for d in dbs:
            await d.dispose()


async def test_one_bad_item_does_not_stop_the_batch(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trustbot.messages import reverification as msg

    await seed_directory(db, clock)
    good = [await make_grant(db, clock, due=timedelta(days=3)) for _ in range(3)]
    bad = await make_grant(db, clock, due=timedelta(days=3))
    real = msg.build_reminder_dm

    def flaky(info: Any, *args: Any, **kwargs: Any) -> Any:
        if info.grant.id == bad:
            raise RuntimeError("boom")
        return real(info, *args, **kwargs)

    monkeypatch.setattr(msg, "build_reminder_dm", flaky)
    result = await run_job(db, clock, settings(), "reverification")
    assert result.status == "finished" and result.outcome == "6 reminders, 1 failed"
    texts = dms(await outbox(db))[ADMIN]
    assert sorted(int(t.split("grant #")[1].split(" ")[0]) for t in texts) == good


async def test_a_job_that_raises_is_recorded_failed_and_retried(
    db: Database, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_: Any) -> str:
        raise RuntimeError("database on fire")

    monkeypatch.setitem(
        JOBS, "reverification", jobs_mod.JobSpec("reverification", "every hour", broken, cron={"minute": 0})
    )
    result = await run_job(db, clock, settings(), "reverification")
    assert result.status == FAILED and "database on fire" in result.outcome
    run = await get_run(db, job="reverification", slot_at=SLOT)
    assert run is not None and run.status == FAILED and run.finished_at is not None
    monkeypatch.undo()
    assert (await run_job(db, clock, settings(), "reverification")).status == FINISHED


async def test_a_countdown_warns_only_within_its_largest_offset_and_ends_what_is_due(
    db: Database, clock: FixedClock
) -> None:
    from collections import Counter

    from trustbot.scheduler.countdown import Countdown, run_countdown

    asked: list[datetime] = []
    warned: list[int] = []
    ended: list[int] = []

    async def upcoming(_: Any, until: datetime) -> list[int]:
        asked.append(until)
        return [0, 3, 14, 15, 20]  # days left of each candidate

    async def overdue(_: Any) -> list[int]:
        return [-1, -2]

    async def warn(_: Any, items: Any) -> Counter[str]:
        warned.extend(items)
        return Counter(warnings=len(items))

    async def end(_: Any, items: Any) -> Counter[str]:
        ended.extend(items)
        return Counter(ended=len(items))

    countdown = Countdown(
        name="test",
        offsets=[14, 3, 0, -1],
        upcoming=upcoming,
        overdue=overdue,
        days_left=lambda d: d,
        warn=warn,
        end=end,
        labels=("warnings", "ended"),
    )
    assert await run_countdown(db, countdown, now=clock.now()) == "3 warnings, 2 ended"
    assert asked == [clock.now() + timedelta(days=15)]  # the largest offset bounds the query (negatives ignored)
    assert warned == [0, 3, 14] and ended == [-1, -2]


def test_slots_are_the_latest_scheduled_moment() -> None:
    now = datetime(2026, 11, 2, 9, 7, 30, tzinfo=UTC)
    mine = ("reverification", "grant-expiry", "request-sla", "org-verification")
    got = {name: JOBS[name].slot_for(now, settings()) for name in mine}
    assert got == {
        "reverification": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "grant-expiry": datetime(2026, 11, 2, 9, 5, tzinfo=UTC),
        "request-sla": datetime(2026, 11, 2, 9, 0, tzinfo=UTC),
        "org-verification": datetime(2026, 11, 2, 0, 10, tzinfo=UTC),
    }
    berlin = JOBS["org-verification"].slot_for(now, settings(TRUSTBOT_TIMEZONE="Europe/Berlin"))
    assert berlin == datetime(2026, 11, 1, 23, 10, tzinfo=UTC)


async def test_scheduler_registers_each_job_once_and_runs_with_the_moved_clock(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    from trustbot.scheduler.setup import start_scheduler
    from trustbot.web.server import TrustbotServer

    server = TrustbotServer(make_settings(database_url, fake_slack.api_url), clock=clock)
    await server.start(migrate=False)
    try:
        await seed_directory(server.rt.db, clock)
        await make_grant(server.rt.db, clock, due=timedelta(days=3))
        scheduler = await start_scheduler(server.rt)
        try:
            registered = scheduler.get_jobs()
            assert sorted(j.id for j in registered) == sorted(JOBS)
            assert all(j.coalesce and j.max_instances == 1 and j.misfire_grace_time for j in registered)
            clock.advance(timedelta(days=1, minutes=20))  # the domain clock moves; the scheduler fires now
            scheduler.get_job("reverification").modify(next_run_time=datetime.now(UTC))
            slot = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
            for _ in range(200):
                run = await get_run(server.rt.db, job="reverification", slot_at=slot)
                if run is not None and run.status == FINISHED:
                    break
                await asyncio.sleep(0.02)
            assert run is not None and run.outcome == "2 reminders"
            await server.rt.delivery.drain()
            assert (
                "due in 2 days" in fake_slack.dms(ADMIN)[-1].text and "due in 2 days" in fake_slack.dms(ADMIN2)[-1].text
            )
        finally:
            scheduler.shutdown(wait=False)
    finally:
        await server.stop()


def _env(monkeypatch: pytest.MonkeyPatch, database_url: str, api_url: str) -> None:
    for key, value in {
        "DATABASE_URL": database_url,
        "SLACK_API_URL": api_url,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "TRUSTBOT_CHANNEL_PACE_SECONDS": "0",
        "TRUSTBOT_OUTBOX_POLL_SECONDS": "0.05",
    }.items():
        monkeypatch.setenv(key, value)


async def test_cli_rejects_unknown_jobs_and_bad_times(
    monkeypatch: pytest.MonkeyPatch, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, database_url, "http://127.0.0.1:9/api/")
    assert await asyncio.to_thread(cli.main, ["jobs", "run", "nope"]) == 2
    assert await asyncio.to_thread(cli.main, ["jobs", "run", "reverification", "--now", "tomorrow"]) == 2
    assert await asyncio.to_thread(cli.main, ["jobs", "run", "reverification", "--now", "2026-11-02T09:00:00"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "unknown job 'nope'" in err[0]
    assert "'tomorrow' is not an RFC 3339 time" in err[1] and "'2026-11-02T09:00:00' is not an RFC 3339 time" in err[2]


async def test_cli_run_delivers_once_per_moment_and_list_shows_it(
    monkeypatch: pytest.MonkeyPatch,
    db: Database,
    database_url: str,
    fake_slack: Any,
    clock: FixedClock,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await seed_directory(db, clock)
    await make_grant(db, clock, due=timedelta(days=3))
    _env(monkeypatch, database_url, fake_slack.api_url)
    argv = ["jobs", "run", "reverification", "--now", "2026-11-02T09:30:00Z"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert "reverification at 2026-11-02T09:30:00Z: 2 reminders (2 Slack messages delivered)" in capsys.readouterr().out
    assert len(fake_slack.dms(ADMIN)) == len(fake_slack.dms(ADMIN2)) == 1
    assert await asyncio.to_thread(cli.main, argv) == 0
    assert "already finished: 2 reminders; nothing sent again" in capsys.readouterr().out
    assert await asyncio.to_thread(cli.main, [*argv[:3], "--now", "2026-11-02T10:30:00Z"]) == 0
    assert len(fake_slack.dms(ADMIN)) == len(fake_slack.dms(ADMIN2)) == 1
    assert await asyncio.to_thread(cli.main, ["jobs", "list"]) == 0
    out = capsys.readouterr().out
    assert "reverification" in out and "2026-11-02T10:30:00Z" in out and "finished" in out and "request-sla" in out


_RUNNER = """
import asyncio, sys
from trustbot.clock import FixedClock, parse_rfc3339
from trustbot.config import Settings
from trustbot.scheduler.runs import run_job
from trustbot.storage.database import Database

async def main(url, slot, now):
    db = Database(url)
    clock, settings = FixedClock(parse_rfc3339(now)), Settings(_env_file=None)
    result = await run_job(db, clock, settings, "reverification", slot_at=parse_rfc3339(slot))
    await db.dispose()
    print(result.status, result.outcome)

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("same_slot", [True, False])
async def test_two_processes_produce_each_reminder_exactly_once(
    db: Database, database_url: str, clock: FixedClock, same_slot: bool
) -> None:
    import sys

    await seed_directory(db, clock)
    for _ in range(10):
        await make_grant(db, clock, due=timedelta(days=3))
    slots = ["2026-11-02T09:00:00Z", "2026-11-02T09:00:00Z" if same_slot else "2026-11-02T09:00:01Z"]
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _RUNNER,
            database_url,
            slot,
            "2026-11-02T09:00:00Z",
            stdout=asyncio.subprocess.PIPE,
            cwd=str(Path(__file__).resolve().parents[1]),
        )
        for slot in slots
    ]
    outputs = sorted([(await p.communicate())[0].decode().strip() for p in procs])
    assert all(p.returncode == 0 for p in procs), outputs
    if same_slot:  # one run has the slot, the other finds it taken
        assert outputs[0] == "finished 20 reminders" and outputs[1].startswith("skipped")
    else:  # both run, and split the reminders between them
        counts = [re.fullmatch(r"finished (?:(\d+) reminders?|nothing due)", o) for o in outputs]
        assert all(counts) and sum(int(m.group(1) or 0) for m in counts if m) == 20, outputs
    sent = dms(await outbox(db))
    assert {u: len(t) for u, t in sent.items()} == {ADMIN: 10, ADMIN2: 10}
