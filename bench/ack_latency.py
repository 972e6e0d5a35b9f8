"""Ack latency of `trustbot serve` against a bare Bolt app that only acks (DESIGN §6, issue 2).

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

    .venv/bin/python bench/ack_latency.py [--requests 1000] [--approvals 500] [--concurrency 50]
                                          [--repeats 3] [--warmup 50] [--pace SECONDS] [--drain-timeout 60]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp

from bot.testing.processes import ServerProcess, clean_env, free_port
from bot.testing.sample import DIRECTORY_YAML as SAMPLE_DIRECTORY
from bot.testing.sample import PEOPLE
from bot.testing.slack_requests import (
    FORM,
    block_actions_body,
    sign_request,
    slash_command_body,
)

SECRET = "bench-ack-signing-secret"
TOKEN = "xoxb-bench"
REP, ADMIN, MEMBER = "U0REP1", "U0ADM1", "U0DEV1"
REPS_CHANNEL = "C0REPS"
TARGET_P99_RATIO = 1.5

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
    from bot.clock import SystemClock
    from bot.payloads import RequestSubmission
    from bot.services.requests import submit_request
    from storage.database import Database

    db = Database(db_url)
    clock = SystemClock()
    ids: list[int] = []
    try:
        for i in range(count):
            submission = RequestSubmission(
                org_slug="acme",
                members=[MEMBER],
                blanket=False,
                tier_id="standard",
                duration_days=30,
                use_case=f"Malware analysis for incident {i}",
                justification="Our SOC reverse-engineers samples daily and needs the standard tier.",
            )
            async with db.transaction() as session:
                result = await submit_request(
                    session, clock, user_id=ADMIN, operators=[], submission=submission, tz="UTC"
                )
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


# ---------------------------------------------------------------------------- load


@dataclass
class Round:
    scenario: str
    target: str
    latencies: list[float]
    statuses: Counter[int]
    wall: float
    starts: list[float] = field(default_factory=list)  # send time of each request, from the round's start
    post_ack: float | None = None  # approve on Trustbot: round start → last response_url answer

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)] * 1000


async def blast(session: aiohttp.ClientSession, url: str, bodies: list[bytes], concurrency: int) -> Round:
    """Send every body with `concurrency` workers; time each from send to response fully read."""
    latencies: list[float] = []
    starts: list[float] = []
    statuses: Counter[int] = Counter()
    queue = iter(bodies)
    round_start = time.perf_counter()

    async def worker() -> None:
        for body in queue:
            headers = {**sign_request(SECRET, body), "Content-Type": FORM}
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                elapsed = time.perf_counter() - started
                statuses[response.status] += 1
            latencies.append(elapsed)
            starts.append(started - round_start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Round("", "", latencies, statuses, time.perf_counter() - started, starts)


@dataclass
class Bench:
    fake: Any
    concurrency: int
    sessions: dict[str, aiohttp.ClientSession] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    click_messages: dict[int, Any] = field(default_factory=dict)

    def help_bodies(self, n: int) -> list[bytes]:
        return [
            slash_command_body(
                text="help",
                user_id=REP,
                channel_id="C0GENERAL",
                response_url=self.fake.new_response_url(REP, "C0GENERAL"),
                trigger_id=self.fake.new_trigger_id(REP),
            )
            for _ in range(n)
        ]

    def approve_bodies(self, request_ids: list[int]) -> tuple[list[bytes], list[str]]:
        """One Approve click per request, built from the buttons message as the fake Slack holds it."""
        bodies, tokens = [], []
        for request_id in request_ids:
            message = self.click_messages[request_id]
            button = message.button("Approve")
            as_json = {
                "type": "message",
                "user": message.user,
                "bot_id": "BBOT",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
                "team": "T0TEAM",
                "thread_ts": message.thread_ts,
            }
            response_url = self.fake.new_response_url(REP, message.channel, message.ts)
            tokens.append(response_url.rsplit("/", 1)[1])
            bodies.append(
                block_actions_body(
                    user_id=REP,
                    action_id=button["action_id"],
                    value=button["value"],
                    block_id=button.get("block_id", "b"),
                    channel_id=message.channel,
                    message_ts=message.ts,
                    message=as_json,
                    response_url=response_url,
                    trigger_id=self.fake.new_trigger_id(REP),
                    text="Approve",
                )
            )
        return bodies, tokens

    async def wait_responses(self, tokens: list[str], timeout: float = 120.0) -> tuple[float, Counter[str]]:
        """Wait until every response_url in `tokens` was answered; return when the last one was, and what they said."""
        wanted = set(tokens)
        deadline = time.monotonic() + timeout
        while True:
            seen = {r["token"]: r for r in self.fake.responses if r["token"] in wanted}
            if len(seen) == len(wanted) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        kinds: Counter[str] = Counter()
        for record in seen.values():
            text = str(record["body"].get("text", ""))
            kinds["approved" if text.startswith("Approved request") else text[:60]] += 1
        kinds["(no answer)"] += len(wanted) - len(seen)
        if not kinds["(no answer)"]:
            del kinds["(no answer)"]
        last = max((r["at"] for r in seen.values()), default=time.monotonic())
        return last, kinds

    async def run(self, scenario: str, target: str, bodies: list[bytes], tokens: list[str] | None = None) -> Round:
        # This process also hosts the fake Slack, whose recordings make a large heap: a full
        # collection here mid-round would add tens of ms to whichever target happens to be measured.
        gc.collect()
        gc.disable()
        try:
            started = time.monotonic()
            result = await blast(self.sessions[target], self.urls[target], bodies, self.concurrency)
        finally:
            gc.enable()
        result.scenario, result.target = scenario, target
        if tokens is not None:  # Trustbot approving: wait for the work after the ack to finish
            last, kinds = await self.wait_responses(tokens)
            result.post_ack = last - started
            if kinds != Counter({"approved": len(tokens)}):
                print(f"    ! {scenario}/{target}: response_url answers {dict(kinds)}", flush=True)
        await asyncio.sleep(0.3)
        return result


# ---------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> int:
    from bot.testing.fake_slack import FakeSlack

    tmp = Path(tempfile.mkdtemp(prefix="trustbot-ack-"))
    db_path = tmp / "bench.db"
    db_url = f"sqlite+aiosqlite:///{db_path}"
    directory = tmp / "directory.yml"
    directory.write_text(SAMPLE_DIRECTORY)
    python = sys.executable
    fake = FakeSlack(users=dict(PEOPLE))
    await fake.start()
    children: list[ServerProcess] = []
    sessions: dict[str, aiohttp.ClientSession] = {}
    profiler: asyncio.subprocess.Process | None = None
    n_approve_total = args.warmup + args.repeats * args.approvals
    try:
        # 1. Seed pending requests and deliver their Slack messages with a pace-0 server.
        port = free_port()
        seeder = ServerProcess(
            "trustbot serve (seeding)",
            [python, "-m", "bot.cli", "serve"],
            serve_env(
                fake, db_url, directory, port, TRUSTBOT_CHANNEL_PACE_SECONDS="0", TRUSTBOT_OUTBOX_POLL_SECONDS="0.1"
            ),
            port,
            tmp / "seed.log",
        )
        children.append(seeder)
        t0 = time.monotonic()
        await seeder.start()
        ids = await seed_requests(db_url, n_approve_total)
        seeded = time.monotonic() - t0
        delivered = await wait_drained(db_path, 600, "seeding")
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

        # 2. The measured servers.
        pace = {} if args.pace is None else {"TRUSTBOT_CHANNEL_PACE_SECONDS": str(args.pace)}
        port = free_port()
        real = ServerProcess(
            "trustbot serve",
            [python, "-m", "bot.cli", "serve"],
            serve_env(fake, db_url, directory, port, **pace),
            port,
            tmp / "serve.log",
        )
        port = free_port()
        bare_env = {
            **clean_env(),
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": fake.api_url,
            "HOST": "127.0.0.1",
            "PORT": str(port),
        }
        bare = ServerProcess(
            "bare Bolt app", [python, str(ROOT / "bench" / "bare_bolt_app.py")], bare_env, port, tmp / "bare.log"
        )
        children += [real, bare]
        await asyncio.gather(real.start(), bare.start())
        for name in ("bare", "real"):
            sessions[name] = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=args.concurrency), timeout=aiohttp.ClientTimeout(total=60)
            )
        bench = Bench(fake, args.concurrency, sessions, {"bare": bare.url, "real": real.url}, click_messages)
        calls_before = len(fake.calls)
        if args.py_spy:  # sample the measured server's stacks while it is under load
            assert real.proc is not None
            profiler = await asyncio.create_subprocess_exec(
                args.py_spy,
                "record",
                "--pid",
                str(real.proc.pid),
                "--rate",
                "250",
                "--threads",
                "--gil",
                "--format",
                "raw",
                "--output",
                str(Path(args.py_spy_output).resolve()),
                "--nonblocking",
                stdout=asyncio.subprocess.DEVNULL,
                stderr=(tmp / "py-spy.log").open("ab"),
            )

        # 3. Warm-up, then interleaved rounds.
        load_before = os.getloadavg()[0]
        next_id = iter(ids)
        print(f"warm-up: {args.warmup} requests per scenario and target", flush=True)
        for target in ("bare", "real"):
            await bench.run("help", target, bench.help_bodies(args.warmup))
        warm_ids = [next(next_id) for _ in range(args.warmup)]
        for target in ("bare", "real"):
            bodies, tokens = bench.approve_bodies(warm_ids)
            await bench.run("approve", target, bodies, tokens if target == "real" else None)

        rounds: list[Round] = []
        for repeat in range(args.repeats):
            order = ("bare", "real") if repeat % 2 == 0 else ("real", "bare")
            for target in order:
                rounds.append(await bench.run("help", target, bench.help_bodies(args.requests)))
                _print_round(repeat, rounds[-1])
            round_ids = [next(next_id) for _ in range(args.approvals)]
            for target in order:
                bodies, tokens = bench.approve_bodies(round_ids)
                rounds.append(await bench.run("approve", target, bodies, tokens if target == "real" else None))
                _print_round(repeat, rounds[-1])
        measured_end = time.monotonic()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            await asyncio.wait_for(profiler.wait(), 60)
            profiler = None
            print(f"py-spy stacks of trustbot serve (raw/collapsed): {args.py_spy_output}", flush=True)

        # 4. Drain: Slack writes the approvals queued, delivered at the server's pace.
        pending = outbox_pending(db_path)
        start_pending = sum(pending.values())
        drained: float | None = None
        while time.monotonic() - measured_end < args.drain_timeout:
            now_pending = outbox_pending(db_path)
            if not sum(now_pending.values()):
                drained = time.monotonic() - measured_end
                break
            await asyncio.sleep(0.5)
        waited = time.monotonic() - measured_end
        left = outbox_pending(db_path)
        writes = len(fake.calls) - calls_before
        grants = count_rows(db_path, "SELECT count(*) FROM access_grant")

        if args.dump:
            Path(args.dump).write_text(
                "".join(
                    json.dumps(
                        {
                            "round": i,
                            "scenario": r.scenario,
                            "target": r.target,
                            "post_ack": r.post_ack,
                            "starts": r.starts,
                            "latencies": r.latencies,
                        }
                    )
                    + "\n"
                    for i, r in enumerate(rounds)
                )
            )

        # 5. Report.
        _print_table(rounds, args)
        print(
            f"\nload average (1 min) before the rounds {load_before:.2f}, after {os.getloadavg()[0]:.2f} "
            f"on {os.cpu_count()} CPUs — other work on the machine shows up as noise in both targets"
        )
        approvals_real = args.warmup + args.repeats * args.approvals
        print(f"\ngrants created by the real server: {grants} (approvals clicked: {approvals_real})")
        posts = [r.post_ack for r in rounds if r.post_ack is not None]
        if posts:
            print(
                f"real approve rounds: last approval committed+answered {statistics.median(posts):.2f} s "
                f"(median) after the round started ({args.approvals / statistics.median(posts):.0f} approvals/s)"
            )
        print(
            f"outbox after the last round: {start_pending} Slack writes pending "
            f"({', '.join(f'{k}: {v}' for k, v in sorted(pending.items(), key=lambda kv: -kv[1]))})"
        )
        if drained is not None:
            print(f"drain time: {drained:.1f} s after the last round ({writes} Slack writes since warm-up)")
        else:
            delivered_n = start_pending - sum(left.values())
            rate = delivered_n / waited if waited else 0.0
            pace_s = args.pace if args.pace is not None else 1.0
            busiest = max(left.values(), default=0)
            print(
                f"drain: not finished after {waited:.0f} s; {delivered_n} delivered ({rate:.1f}/s), "
                f"{sum(left.values())} left, busiest lane {busiest} rows → ≈{busiest * pace_s / 60:.0f} min more "
                f"at {pace_s:g} s per write per channel"
            )
        return 0
    finally:
        if profiler is not None and profiler.returncode is None:
            profiler.send_signal(signal.SIGINT)
            await profiler.wait()
        for session in sessions.values():
            await session.close()
        for child in reversed(children):
            await child.stop()
        await fake.stop()
        if args.keep_tmp:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def _print_round(repeat: int, r: Round) -> None:
    extra = f", post-ack done {r.post_ack:.2f} s" if r.post_ack is not None else ""
    bad = {k: v for k, v in r.statuses.items() if k != 200}
    print(
        f"  round {repeat + 1} {r.scenario:7} {r.target:4}: n={len(r.latencies)} p50 {r.pct(0.5):6.1f} ms "
        f"p99 {r.pct(0.99):6.1f} ms max {max(r.latencies) * 1000:6.1f} ms{extra}"
        f"{f'  NON-200: {bad}' if bad else ''}",
        flush=True,
    )


def _print_table(rounds: list[Round], args: argparse.Namespace) -> None:
    print(
        f"\nack latency, concurrency {args.concurrency}, median of {args.repeats} rounds (per-round p99 in brackets)\n"
    )
    print(f"| scenario | target | requests | p50 ms | p99 ms | p99 real/bare | target ≤ {TARGET_P99_RATIO}× |")
    print("| --- | --- | ---: | ---: | ---: | ---: | --- |")
    for scenario in ("help", "approve"):
        p99s: dict[str, float] = {}
        for target in ("bare", "real"):
            mine = [r for r in rounds if r.scenario == scenario and r.target == target]
            p50 = statistics.median(r.pct(0.5) for r in mine)
            p99 = statistics.median(r.pct(0.99) for r in mine)
            p99s[target] = p99
            non200 = sum(v for r in mine for k, v in r.statuses.items() if k != 200)
            each = ", ".join(f"{r.pct(0.99):.1f}" for r in mine)
            name = "bare Bolt" if target == "bare" else "trustbot serve"
            if target == "bare":
                ratio = verdict = ""
            else:
                value = p99s["real"] / p99s["bare"]
                ratio, verdict = f"{value:.2f}×", "PASS" if value <= TARGET_P99_RATIO else "FAIL"
            errors = f" ({non200} non-200)" if non200 else ""
            print(
                f"| {scenario} | {name} | {len(mine[0].latencies)}{errors} | {p50:.1f} | {p99:.1f} [{each}] | {ratio} | {verdict} |"
            )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="`/trust help` requests per round (default 1000)")
    parser.add_argument("--approvals", type=int, default=500, help="Approve clicks per round (default 500)")
    parser.add_argument("--concurrency", type=int, default=50)
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
    return parser.parse_args(argv)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
