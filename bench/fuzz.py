"""Fuzz every surface for longer than the suite does: the same strategies and checks as
`tests/test_fuzz.py`, with many more examples, random (not derandomised), every failure recorded.

    .venv/bin/python bench/fuzz.py [--examples N] [--surface NAME ...] [--database-url URL]

Prints, per surface, how many inputs were tried, how many failed, inputs per second, and the first
failures (input and what went wrong). Exit 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from pathlib import Path

import repo_root  # noqa: F401  (the repository root on sys.path, for tests.support)
from common import start_trustbot

INGEST_SECRET = "bench-ingest-secret"


async def fuzz(examples: int, surfaces: list[str], database_url: str) -> int:
    """Run each surface against one in-process Trustbot and the fake Slack; returns the failure count."""
    from tests.support.fuzzing import FuzzTarget, run_surface
    from trustbot.standin.fake_slack import FakeSlack
    from trustbot.standin.sample import DIRECTORY_YAML, PEOPLE

    fake = await FakeSlack(users=dict(PEOPLE)).start()
    server = await start_trustbot(
        api_url=fake.api_url, database_url=database_url, ingest_secret=INGEST_SECRET, directory=DIRECTORY_YAML,
        token="xoxb-bench", TRUSTBOT_CHANNEL_PACE_SECONDS=0, TRUSTBOT_OUTBOX_POLL_SECONDS=0.05,
    )  # fmt: skip
    rt = server.rt

    async def settle() -> None:
        await rt.post_ack.wait(30)
        await rt.delivery.drain(timeout=30)

    target = FuzzTarget(
        url=server.url, db=rt.db, signing_secret="s", ingest_secret=INGEST_SECRET, fake=fake, settle=settle,
        clock=rt.clock, config=rt.settings,
    )  # fmt: skip
    logging.getLogger().addHandler(target.logs)
    logging.getLogger().setLevel(logging.WARNING)
    failed = 0
    print(f"{'surface':<18} {'tried':>7} {'failed':>7} {'inputs/s':>9}")
    try:
        for surface in surfaces:
            started = time.monotonic()
            result = await asyncio.to_thread(run_surface, target, asyncio.get_running_loop(), surface, examples,
                                             collect=True)  # fmt: skip
            rate = result.tried / max(time.monotonic() - started, 1e-9)
            print(f"{surface:<18} {result.tried:>7} {len(result.failures):>7} {rate:>9.1f}", flush=True)
            for value, problems in result.failures[:5]:
                print(f"    {problems[:3]} for {value}")
            failed += len(result.failures)
    finally:
        logging.getLogger().removeHandler(target.logs)
        await target.close()
        await server.stop()
        await fake.stop()
    return failed


def main() -> int:
    """Parse arguments, fuzz, print the summary."""
    from tests.support.fuzzing import SURFACES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=1000, help="inputs per surface (default 1000)")
    parser.add_argument("--surface", action="append", choices=list(SURFACES), help="only these (repeatable)")
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(tmp) / 'fuzz.db'}"
        started = time.monotonic()
        failed = asyncio.run(fuzz(args.examples, args.surface or list(SURFACES), url))
    print(f"{failed} failing inputs in {time.monotonic() - started:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
