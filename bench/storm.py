"""Alert storm: 10,000 alerts in 60 s over 50 fingerprints for one channel, against the fake
Slack enforcing ~1 write/s per channel with 429s.

Prints alerts stored, Slack writes per channel per second, messages at the end (and whether
each shows the right count), 429s seen, and the time from the last alert to a drained outbox.
Checks nothing was lost or duplicated. `--hard-limit N` additionally makes Slack answer 429 to
every write in the channel for N seconds mid-storm, to show the circuit breaker summarising
and catching up.

The drain is also given as a ratio to the time Slack's pace alone needs after the last alert (one
write per message, at 1 write/s), and the process's RSS at the end (an upper bound for Trustbot's,
since the fake Slack and the load generator share the process).

    .venv/bin/python bench/storm.py [--alerts 10000] [--seconds 60] [--fingerprints 50] [--hard-limit 0]
                                    [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import ACME_DIRECTORY, start_trustbot

SECRET = "bench-storm-secret"
CHANNEL = "C0ACMESEC"
SLACK_WRITES_PER_SECOND = 1.0  # what the fake Slack allows per channel before answering 429
DIRECTORY = ACME_DIRECTORY
_COUNT = re.compile(r"\*Occurrences\*\\n(\d+)")


def rss_mb() -> float:
    """This process's resident set size in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Storm:
    """The server under the storm, the fake Slack it writes to, and what was sent."""

    args: argparse.Namespace
    server: Any
    fake: Any
    expected: Counter[str] = field(default_factory=Counter)  # occurrences sent, per signal
    failures: int = 0  # requests not answered 202
    started: float = 0.0
    sent_done: float = 0.0

    async def escalate(self) -> None:
        """What the scheduler's alert job does: escalation plus catching up held-back messages."""
        from trustbot.scheduler.jobs import run_alert_escalation
        from trustbot.services.context import system_context

        await run_alert_escalation(self.server.rt.db, system_context(self.server.rt.clock, self.server.settings))

    def shown_counts(self) -> dict[str, int]:
        """The occurrence count each alert message in the channel shows, per signal."""
        counts = {}
        for message in self.fake.messages(CHANNEL):
            match = _COUNT.search(json.dumps(message.blocks))
            signal = re.search(r"sig-\d+", message.text)
            if match and signal:
                counts[signal.group(0)] = int(match.group(1))
        return counts


async def set_up(args: argparse.Namespace) -> Storm:
    """The fake Slack (1 write/s per channel) and a Trustbot on a fresh database with the acme directory."""
    from trustbot.standin.fake_slack import FakeSlack

    fake = FakeSlack()
    await fake.start()
    fake.rate_limit_channels(per_second=SLACK_WRITES_PER_SECOND)
    db_url = args.database_url or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp(prefix='trustbot-storm-')) / 'storm.db'}"
    server = await start_trustbot(
        api_url=fake.api_url,
        database_url=db_url,
        ingest_secret=SECRET,
        directory=DIRECTORY,
        token="xoxb-storm",
        TRUSTBOT_OUTBOX_POLL_SECONDS=0.2,
    )
    return Storm(args, server, fake)


def alert_items(run: Storm, first: int) -> list[dict[str, Any]]:
    """The alerts of the request starting at alert `first`, counted in `run.expected`."""
    args = run.args
    items = []
    for i in range(first, min(first + args.batch, args.alerts)):
        fp = i % args.fingerprints
        run.expected[f"sig-{fp}"] += 1
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
    return items


async def hard_limit(run: Storm) -> None:
    """A quarter into the storm, Slack answers 429 to every write in the channel for `--hard-limit` s."""
    await asyncio.sleep(run.args.seconds / 4)
    run.fake.fail("chat.postMessage", status=429, retry_after=1, times=10**6, channel=CHANNEL)
    run.fake.fail("chat.update", status=429, retry_after=1, times=10**6, channel=CHANNEL)
    await asyncio.sleep(run.args.hard_limit)
    run.fake.reset_faults()  # Slack recovers; resetting also ends the rate limit, so set it again
    run.fake.rate_limit_channels(per_second=SLACK_WRITES_PER_SECOND)


async def drive(run: Storm) -> None:
    """Send the alerts, one request every `seconds / alerts * batch` s, without waiting for answers."""
    import aiohttp

    from trustbot.standin.producers import ingest_headers as sign

    args = run.args
    interval = args.seconds / args.alerts * args.batch

    async def send(http: aiohttp.ClientSession, first: int) -> None:
        items = alert_items(run, first)
        body = json.dumps(items[0] if len(items) == 1 else {"alerts": items}).encode()
        async with http.post(f"{run.server.url}/alerts", data=body, headers=sign(SECRET, body)) as response:
            if response.status != 202:
                run.failures += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:
        tasks = []
        for n, first in enumerate(range(0, args.alerts, args.batch)):
            delay = run.started + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(http, first)))
        await asyncio.gather(*tasks)
    run.sent_done = time.monotonic()


async def pending(run: Storm) -> int:
    """Outbox rows still to send plus alerts whose message is held back (breaker open)."""
    from sqlalchemy import func, select

    from trustbot.storage.tables import Alert, OutboxMessage, OutboxStatus

    async with run.server.rt.db.sessions() as session:
        rows = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == OutboxStatus.PENDING)
        )
        held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
    return int(rows or 0) + int(held or 0)


async def watch_drain(run: Storm) -> float:
    """Wait until nothing is pending and every message shows its right count (or `--drain-timeout`)."""
    expected = dict(run.expected)
    deadline = run.sent_done + run.args.drain_timeout
    while time.monotonic() < deadline and (await pending(run) or run.shown_counts() != expected):
        await asyncio.sleep(0.5)
        if not await pending(run) and run.shown_counts() != expected:
            await run.escalate()
    return time.monotonic()


async def storm(args: argparse.Namespace) -> int:
    run = await set_up(args)

    async def job_loop() -> None:
        # What the scheduler does every minute: escalation plus catching up held-back messages.
        while True:
            await asyncio.sleep(60 if not args.hard_limit else 5)
            await run.escalate()

    run.started = time.monotonic()
    jobs = asyncio.create_task(job_loop())
    if args.hard_limit:
        asyncio.create_task(hard_limit(run))
    await drive(run)
    drained = await watch_drain(run)
    jobs.cancel()
    return await report(run, drained)


def print_drain(args: argparse.Namespace, drain: float) -> float:
    """The drain time against the floor Slack's pace sets, and this process's RSS; returns `drain`."""
    # Every fingerprint alerts within the storm's last second, so each of its messages needs one more
    # write after the last alert: at Slack's pace that alone takes fingerprints / pace seconds.
    floor = args.fingerprints / SLACK_WRITES_PER_SECOND
    print(f"time to drain:            {drain:.1f}s after the last alert ({drain / floor:.2f}× the {floor:.0f}s "
          f"that {args.fingerprints} writes at {SLACK_WRITES_PER_SECOND:g}/s take)")  # fmt: skip
    print(f"RSS of this process:      {rss_mb():.0f} MB (Trustbot, the fake Slack and the load generator together)")
    return drain


async def report(run: Storm, drained: float) -> int:
    """Count what arrived, stop the server and the fake Slack, print the results; 0 if nothing was lost."""
    from sqlalchemy import func, select

    from trustbot.storage.tables import Alert, AlertOccurrence, OutboxMessage, OutboxStatus

    args, fake = run.args, run.fake
    async with run.server.rt.db.sessions() as session:
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
    counts = run.shown_counts()
    correct = counts == dict(run.expected)
    await run.server.stop()
    await fake.stop()

    span = max(1, max(per_second) - min(per_second) + 1) if per_second else 1
    hard = f", plus 429 for every write for {args.hard_limit:g}s" if args.hard_limit else ""
    print(
        f"storm: {args.alerts} alerts over {args.fingerprints} fingerprints in {args.seconds:g}s "
        f"(sent in {run.sent_done - run.started:.1f}s, batch {args.batch}); fake Slack allows 1 write/s/channel{hard}"
    )
    print(f"alerts stored:            {stored} / {args.alerts} (rejected requests: {run.failures})")
    print(f"alert rows (fingerprints): {alert_rows}")
    print(f"Slack writes to {CHANNEL}: {len(ok_writes)} ok, {len(writes) - len(ok_writes)} answered 429")
    print(
        f"writes per second:        mean {len(ok_writes) / span:.2f}, max in any second "
        f"{max(per_second.values(), default=0)}"
    )
    print(f"messages at the end:      {len(messages)} alert messages (+{len(summaries)} breaker summary)")
    print(f"counts shown correct:     {correct} ({sum(counts.values())} occurrences shown)")
    print(f"outbox rows failed:       {failed_rows}")
    drain = print_drain(args, drained - run.sent_done)
    ok = (
        stored == args.alerts
        and alert_rows == args.fingerprints
        and len(messages) == args.fingerprints
        and correct
        and not run.failures
    )
    print("RESULT:", "ok — nothing lost, nothing duplicated" if ok else "PROBLEM")
    if args.json:
        floor, rss = args.fingerprints / SLACK_WRITES_PER_SECOND, rss_mb()
        result = {
            "drain": drain,
            "floor": floor,
            "ratio": drain / floor,
            "rss_mb": rss,
            "ok": ok,
            "429": len(writes) - len(ok_writes),
        }
        Path(args.json).write_text(json.dumps(result))
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
    parser.add_argument("--json", metavar="FILE", help="also write the drain ratio and RSS as JSON (bench/report.py)")
    import logging

    logging.basicConfig(level=logging.ERROR)
    raise SystemExit(asyncio.run(storm(parser.parse_args())))


if __name__ == "__main__":
    main()
