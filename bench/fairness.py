"""Org B's `/trust status` answer alone, and while org A's burst of `/trust status` is queued: with
Trustbot's per-org turns (`WorkSlots`), without them (the same slots, every piece of work under one key:
first come, first served), and as before this change (an `asyncio.Semaphore` of `WORK_SLOTS`, on every
database), in one invocation.

Org A has ten admins; the burst is `--burst` commands spread over them, all acknowledged before org B's
admin asks. Latency is from B's signed command leaving to its answer reaching the fake Slack's
`response_url`. Rounds alternate the two modes; medians are printed, and the ratios
(under burst / alone, and without / with fairness).

    .venv/bin/python bench/fairness.py [--burst 400] [--rounds 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

from common import start_trustbot

A_ADMINS = [f"U0AAA{i:02d}" for i in range(10)]
B_ADMIN = "U0BBB00"
DIRECTORY = f"""
operators: [U0OPS1]
reps_channel: C0REPS
security_channel: C0SEC
orgs:
  - {{slug: orga, name: Org A, domains: [a.example], rep: U0REPA, admins: [{", ".join(A_ADMINS)}],
     verified_until: 2030-01-01}}
  - {{slug: orgb, name: Org B, domains: [b.example], rep: U0REPB, admins: [{B_ADMIN}], verified_until: 2030-01-01}}
"""


MODES = ("fair", "one queue", "before")


class _Semaphore:
    """The slots as they were before per-org turns: one semaphore, whoever's work it is."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._semaphore = asyncio.Semaphore(size)

    @asynccontextmanager
    async def slot(self, _key: str) -> AsyncIterator[None]:
        async with self._semaphore:
            yield


@contextmanager
def mode_of(server: Any, mode: str) -> Iterator[None]:
    """Run the block in one of `MODES`."""
    from trustbot.handlers import common
    from trustbot.runtime import WORK_SLOTS

    real_key, real_slots = common.work_key, server.rt.work_slots

    async def same_key(_rt: Any, _user_id: str) -> str:
        return "everyone"

    if mode != "fair":
        common.work_key = same_key
    if mode == "before":
        server.rt.work_slots = _Semaphore(WORK_SLOTS)
    try:
        yield
    finally:
        common.work_key, server.rt.work_slots = real_key, real_slots


async def answered(fake: Any, user: str, after: int) -> float:
    """When the first answer to `user` past the first `after` responses reached the fake Slack."""
    while True:
        for record in fake.responses[after:]:
            if record["user"] == user:
                return float(record["at"])
        await asyncio.sleep(0.001)


async def b_latency(fake: Any, driver: Any) -> float:
    """Seconds from B's command leaving to its answer arriving."""
    seen = len(fake.responses)
    started = time.monotonic()
    assert (await driver.command(B_ADMIN, "status")).status == 200
    return await answered(fake, B_ADMIN, seen) - started


async def under_burst(server: Any, fake: Any, driver: Any, burst: int) -> float:
    """B's latency right after A's `burst` commands were all acknowledged (their work queued)."""
    acks = await asyncio.gather(*(driver.command(A_ADMINS[i % len(A_ADMINS)], "status") for i in range(burst)))
    assert all(a.status == 200 for a in acks)
    latency = await b_latency(fake, driver)
    assert await server.rt.post_ack.wait(600)
    return latency


async def run(args: argparse.Namespace) -> None:
    from trustbot.standin.fake_slack import FakeSlack
    from trustbot.standin.slack_requests import SlackDriver

    fake = await FakeSlack().start()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        server = await start_trustbot(
            api_url=fake.api_url, database_url=url, ingest_secret="x", directory=DIRECTORY, token="xoxb-bench"
        )
        await server.preflight_finished()
        driver = SlackDriver(f"{server.url}/slack/events", "s", fake)
        try:
            results: dict[str, list[float]] = {"alone": [], **{mode: [] for mode in MODES}}
            await b_latency(fake, driver)  # warm up
            for round_ in range(args.rounds):
                for _ in range(5):
                    results["alone"].append(await b_latency(fake, driver))
                for mode in MODES if round_ % 2 == 0 else reversed(MODES):
                    with mode_of(server, mode):
                        results[mode].append(await under_burst(server, fake, driver, args.burst))
            report(results, args, server.rt.work_slots.size)
        finally:
            await driver.close()
            await server.stop()
            await fake.stop()


def report(results: dict[str, list[float]], args: argparse.Namespace, slots: int) -> None:
    alone, fair, fifo, before = (statistics.median(results[k]) for k in ("alone", *MODES))
    runs = {k: ", ".join(f"{v:.3f}" for v in vs) for k, vs in results.items()}
    print(f"org B's /trust status answer, {args.burst} of org A's queued, {slots} work slot(s); medians (runs):")
    print(f"  alone                       {alone:7.3f} s   ({runs['alone']})")
    print(f"  under A's burst, fair turns {fair:7.3f} s   {fair / alone:7.1f}x alone   ({runs['fair']})")
    print(f"  under A's burst, one queue  {fifo:7.3f} s   {fifo / alone:7.1f}x alone   ({runs['one queue']})")
    print(f"  under A's burst, before     {before:7.3f} s   {before / alone:7.1f}x alone   ({runs['before']})")
    print(f"  one queue / fair turns      {fifo / fair:7.1f}x")
    print(f"  before / fair turns         {before / fair:7.1f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="default: a throw-away SQLite file")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
