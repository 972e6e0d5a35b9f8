"""Ack latency of `trustbot serve` against a bare Bolt app that only acks.

Two scenarios, each against two targets in the same run:

* `help`    — `/trust help` (Trustbot acks with the help blocks; no database work).
* `approve` — a rep clicks **Approve** on a different pending request each time. Trustbot acks,
  then approves: the transaction creates a grant, audits, queues 5 Slack writes in the outbox,
  and answers on the click's response_url. That post-ack work runs in the same process and
  event loop as the next acks — the realistic heavy path.

Targets: `trustbot serve` (`python -m bot.cli serve`, its own process, SQLite, default channel
pace) and `bench/bare_bolt_app.py` (its own process; same Bolt, same aiohttp adapter). Both talk
to one FakeSlack that runs in this process, next to the load generator.

Requests are signed as Slack signs them (a fresh signature each), sent by `--concurrency`
workers over keep-alive connections; latency is from send to response fully read. Each scenario
runs a warm-up, then `--repeats` rounds per target with the order of targets alternating, and
reports the median p50/p99 over the rounds. Between rounds the bench waits for Trustbot's
post-ack work to finish (every response_url answered), so each round starts quiet.

The pending requests for `approve` are seeded before measuring: `submit_request` in this process
on the server's SQLite file, delivered to the fake Slack by a first `trustbot serve` run at
pace 0 (so the clicks carry real message payloads), which is then stopped; the measured server
starts on that database with an empty outbox. At the end the bench polls the outbox for the
approvals' Slack writes to drain (at most `--drain-timeout` s; at the default pace of ~1 write/s
per channel the reps channel takes ~3 s per approval, so a projection is printed).

    .venv/bin/python bench/ack_latency.py [--requests 1000] [--approvals 500] [--concurrency 50 | 1,10,50]
                                          [--repeats 3] [--warmup 50] [--pace SECONDS] [--drain-timeout 60]
                                          [--json FILE]

With a list of concurrencies the rounds run at each level in turn, on the same two servers.

Its parts are modules next to this script: `ack_latency_servers` (the server processes, seeding,
the outbox), `ack_latency_load` (the load generator, its rounds and percentiles) and
`ack_latency_report` (what is printed, and `--dump`).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import repo_root  # noqa: F401  (the repository root on sys.path, for tests.support)
from ack_latency_load import Bench, Round, measure, warm_up
from ack_latency_report import print_summary, print_table, write_dump, write_json
from ack_latency_servers import PySpy, Workspace, count_rows, seed, start_measured, watch_drain

from tests.support.processes import ServerProcess
from trustbot.standin.sample import PEOPLE


async def main(args: argparse.Namespace) -> int:
    from trustbot.standin.fake_slack import FakeSlack

    ws = Workspace(Path(tempfile.mkdtemp(prefix="trustbot-ack-")))
    fake = FakeSlack(users=dict(PEOPLE))
    await fake.start()
    children: list[ServerProcess] = []
    sessions: dict[str, aiohttp.ClientSession] = {}
    profiler = PySpy(args.py_spy, args.py_spy_output, ws.tmp / "py-spy.log")
    try:
        # 1. Seed pending requests and deliver their Slack messages with a pace-0 server.
        levels = args.levels
        ids, click_messages = await seed(fake, ws, args.warmup + args.repeats * args.approvals * len(levels), children)
        # 2. The measured servers.
        targets = await start_measured(fake, ws, args.pace, children)
        for name in ("bare", "real"):
            sessions[name] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=max(levels)), timeout=aiohttp.ClientTimeout(total=60)
            )
        urls = {name: server.url for name, server in targets.items()}
        bench = Bench(fake, max(levels), sessions, urls, click_messages)
        calls_before = len(fake.calls)
        assert targets["real"].proc is not None
        await profiler.start(targets["real"].proc.pid)  # sample the measured server's stacks while under load
        # 3. Warm-up, then interleaved rounds.
        load_before, rounds = await run_rounds(bench, ids, args)
        measured_end = time.monotonic()
        await profiler.finish()
        # 4. Drain: Slack writes the approvals queued, delivered at the server's pace.
        drain = await watch_drain(ws.db_path, measured_end, args.drain_timeout)
        writes = len(fake.calls) - calls_before
        grants = count_rows(ws.db_path, "SELECT count(*) FROM access_grant")
        if args.dump:
            write_dump(args.dump, rounds)
        if args.json:
            write_json(args.json, rounds)
        # 5. Report.
        print_table(rounds, args)
        print_summary(rounds, args, load_before, grants, drain, writes)
        return 0
    finally:
        await shut_down(profiler, sessions, children, fake)
        if args.keep_tmp:
            print(f"kept {ws.tmp}")
        else:
            shutil.rmtree(ws.tmp, ignore_errors=True)


async def run_rounds(bench: Bench, ids: list[int], args: argparse.Namespace) -> tuple[float, list[Round]]:
    """The warm-up, then the measured rounds; returns the load average before them, and the rounds."""
    load_before = os.getloadavg()[0]
    next_id = iter(ids)
    await warm_up(bench, args.warmup, next_id)
    return load_before, await measure(bench, args.repeats, args.requests, args.approvals, next_id, args.levels)


async def shut_down(
    profiler: PySpy, sessions: dict[str, aiohttp.ClientSession], children: list[ServerProcess], fake: Any
) -> None:
    await profiler.close()
    for session in sessions.values():
        await session.close()
    for child in reversed(children):
        await child.stop()
    await fake.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="`/trust help` requests per round (default 1000)")
    parser.add_argument("--approvals", type=int, default=500, help="Approve clicks per round (default 500)")
    parser.add_argument(
        "--concurrency", default="50", help="concurrent clients; a comma-separated list runs each level (1,10,50)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument(
        "--pace",
        type=float,
        default=None,
        help="TRUSTBOT_CHANNEL_PACE_SECONDS for the measured server (default: the product's default)",
    )
    parser.add_argument("--drain-timeout", type=float, default=60.0, help="seconds to wait for the outbox to drain")
    parser.add_argument("--py-spy", metavar="BIN", help="py-spy binary: record the measured server during the rounds")
    parser.add_argument("--py-spy-output", default="ack_latency.pyspy.txt", metavar="FILE")
    parser.add_argument("--dump", metavar="FILE", help="write every request's send time and latency as JSON lines")
    parser.add_argument("--keep-tmp", action="store_true", help="keep the database and server logs")
    parser.add_argument(
        "--json", metavar="FILE", help="write the ratios per scenario and concurrency (bench/report.py)"
    )
    args = parser.parse_args(argv)
    args.levels = [int(level) for level in str(args.concurrency).split(",")]
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
