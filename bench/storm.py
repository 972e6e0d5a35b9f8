"""Alert storm: 10,000 alerts in 60 s over 50 fingerprints for one channel, against the fake
Slack enforcing ~1 write/s per channel with 429s (DESIGN §6, issue 4 "Storms").

Prints alerts stored, Slack writes per channel per second, messages at the end (and whether
each shows the right count), 429s seen, and the time from the last alert to a drained outbox.
Checks nothing was lost or duplicated. `--hard-limit N` additionally makes Slack answer 429 to
every write in the channel for N seconds mid-storm, to show the circuit breaker summarising
and catching up.

    .venv/bin/python bench/storm.py [--alerts 10000] [--seconds 60] [--fingerprints 50] [--hard-limit 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SECRET = "bench-storm-secret"
CHANNEL = "C0ACMESEC"
DIRECTORY = """
operators: [U0OPS1]
reps_channel: C0REPS
security_channel: C0SEC
orgs:
  - {slug: acme, name: Acme Security, domains: [acme.com], rep: U0REP1, admins: [U0ADM1], security_leads: [U0SEC1], security_channel: C0ACMESEC, verified_until: 2027-06-30}
"""
_COUNT = re.compile(r"\*Occurrences\*\\n(\d+)")


async def storm(args: argparse.Namespace) -> int:
    import aiohttp
    from sqlalchemy import func, select

    from bot.clock import SystemClock
    from bot.config import Settings
    from bot.server import TrustbotServer
    from bot.services.alert_actions import escalate_overdue_alerts
    from bot.services.directory import apply_directory, parse_directory
    from bot.testing.fake_slack import FakeSlack
    from handlers.ingest import sign
    from storage.tables import Alert, AlertOccurrence, OutboxMessage, OutboxStatus

    fake = FakeSlack()
    await fake.start()
    fake.rate_limit_channels(per_second=1.0)
    db_url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='trustbot-storm-')) / 'storm.db'}"
    settings = Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-storm",
        SLACK_SIGNING_SECRET="s",  # type: ignore[call-arg]
        SLACK_API_URL=fake.api_url,
        DATABASE_URL=db_url,
        HOST="127.0.0.1",
        PORT=0,
        TRUSTBOT_INGEST_SECRET=SECRET,
        TRUSTBOT_SCHEDULER_ENABLED=False,
        TRUSTBOT_OUTBOX_POLL_SECONDS=0.2,
    )
    server = TrustbotServer(settings, clock=SystemClock())
    await server.start(migrate=True)
    async with server.rt.db.transaction() as session:
        await apply_directory(session, server.rt.clock, parse_directory(DIRECTORY), actor="bench")

    expected: Counter[str] = Counter()
    failures = 0
    interval = args.seconds / args.alerts * args.batch
    started = time.monotonic()

    async def job_loop() -> None:
        # What the scheduler does every minute: escalation plus catching up held-back messages.
        while True:
            await asyncio.sleep(60 if not args.hard_limit else 5)
            await escalate_overdue_alerts(server.rt.db, server.rt.clock, settings)

    jobs = asyncio.create_task(job_loop())

    async def send(http: aiohttp.ClientSession, first: int) -> None:
        nonlocal failures
        items = []
        for i in range(first, min(first + args.batch, args.alerts)):
            fp = i % args.fingerprints
            expected[f"sig-{fp}"] += 1
            items.append(
                {
                    "id": f"storm-{i}",
                    "org": "acme",
                    "signal": f"sig-{fp}",
                    "severity": "high" if fp % 5 == 0 else "medium",
                    "summary": f"storm alert {i}",
                    "occurred_at": "2026-11-02T09:00:00Z",
                    "actor": "bot@acme.com",
                }
            )
        body = json.dumps(items[0] if len(items) == 1 else {"alerts": items}).encode()
        async with http.post(f"{server.url}/alerts", data=body, headers=sign(SECRET, body)) as response:
            if response.status != 202:
                failures += 1

    if args.hard_limit:

        async def hard_limit() -> None:
            await asyncio.sleep(args.seconds / 4)
            fake.fail("chat.postMessage", status=429, retry_after=1, times=10**6, channel=CHANNEL)
            fake.fail("chat.update", status=429, retry_after=1, times=10**6, channel=CHANNEL)
            await asyncio.sleep(args.hard_limit)
            fake._faults.clear()  # Slack recovers

        asyncio.create_task(hard_limit())

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
        tasks = []
        for n, first in enumerate(range(0, args.alerts, args.batch)):
            delay = started + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(http, first)))
        await asyncio.gather(*tasks)
    sent_done = time.monotonic()

    async def pending() -> int:
        async with server.rt.db.sessions() as session:
            rows = await session.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
            )
            held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
        return int(rows or 0) + int(held or 0)

    def shown_counts() -> dict[str, int]:
        counts = {}
        for message in fake.messages(CHANNEL):
            match = _COUNT.search(json.dumps(message.blocks))
            signal = re.search(r"sig-\d+", message.text)
            if match and signal:
                counts[signal.group(0)] = int(match.group(1))
        return counts

    deadline = sent_done + args.drain_timeout
    while time.monotonic() < deadline and (await pending() or shown_counts() != dict(expected)):
        await asyncio.sleep(0.5)
        if not await pending() and shown_counts() != dict(expected):
            await escalate_overdue_alerts(server.rt.db, server.rt.clock, settings)
    drained = time.monotonic()
    jobs.cancel()

    async with server.rt.db.sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(AlertOccurrence))
        alert_rows = await session.scalar(select(func.count()).select_from(Alert))
        failed_rows = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.FAILED)
        )
    writes = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update") and c.get("channel") == CHANNEL]
    ok_writes = [c for c in writes if c.ok]
    per_second = Counter(int(c.at - fake.calls[0].at) for c in ok_writes)
    messages = [m for m in fake.messages(CHANNEL) if not m.text.startswith(":construction:") and "sig-" in m.text]
    summaries = [m for m in fake.messages(CHANNEL) if m not in messages]
    counts = shown_counts()
    correct = counts == dict(expected)
    await server.stop()
    await fake.stop()

    span = max(1, max(per_second) - min(per_second) + 1) if per_second else 1
    hard = f", plus 429 for every write for {args.hard_limit:g}s" if args.hard_limit else ""
    print(
        f"storm: {args.alerts} alerts over {args.fingerprints} fingerprints in {args.seconds:g}s "
        f"(sent in {sent_done - started:.1f}s, batch {args.batch}); fake Slack allows 1 write/s/channel{hard}"
    )
    print(f"alerts stored:            {stored} / {args.alerts} (rejected requests: {failures})")
    print(f"alert rows (fingerprints): {alert_rows}")
    print(f"Slack writes to {CHANNEL}: {len(ok_writes)} ok, {len(writes) - len(ok_writes)} answered 429")
    print(
        f"writes per second:        mean {len(ok_writes) / span:.2f}, max in any second {max(per_second.values(), default=0)}"
    )
    print(f"messages at the end:      {len(messages)} alert messages (+{len(summaries)} breaker summary)")
    print(f"counts shown correct:     {correct} ({sum(counts.values())} occurrences shown)")
    print(f"outbox rows failed:       {failed_rows}")
    print(f"time to drain:            {drained - sent_done:.1f}s after the last alert")
    ok = (
        stored == args.alerts
        and alert_rows == args.fingerprints
        and len(messages) == args.fingerprints
        and correct
        and not failures
    )
    print("RESULT:", "ok — nothing lost, nothing duplicated" if ok else "PROBLEM")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--fingerprints", type=int, default=50)
    parser.add_argument("--batch", type=int, default=1, help="alerts per request (1 = single-alert requests)")
    parser.add_argument("--hard-limit", type=float, default=0, help="seconds of 429-for-everything mid-storm")
    parser.add_argument("--drain-timeout", type=float, default=300)
    parser.add_argument("--database-url")
    import logging

    logging.basicConfig(level=logging.ERROR)
    raise SystemExit(asyncio.run(storm(parser.parse_args())))


if __name__ == "__main__":
    main()
