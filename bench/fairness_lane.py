"""The shared reps lane: acme files a burst of requests, then globex files one. How long does globex's
card wait behind acme's, with the orgs taking turns in the lane and without (plain id order, as before)?

Both runs in one invocation, on a fresh SQLite database each, against the fake Slack on 127.0.0.1,
with the delivery loop running at a channel pace (`--pace`, Slack's real one is 1 s; the bench uses
0.1 s so it ends in seconds, and the wait scales with the pace). Requests go through the real
signed HTTP modal flow. Prints, for each run, globex's wait from its submission to its card in
the reps channel, in reps-channel posts made meanwhile and in seconds, and the ratio.

    .venv/bin/python bench/fairness_lane.py [--burst 40] [--pace 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import repo_root  # noqa: F401  (tests.support on sys.path)

from tests.support.bots import RunningBot, start_bot
from tests.support.gateway_helpers import REQUEST
from trustbot.clock import FixedClock
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, GLOBEX_ADMIN, PEOPLE
from trustbot.storage.migrate import upgrade

REPS = "C0REPS"


async def _file(bot: RunningBot, user: str, **fields: object) -> None:
    await bot.driver.command(user, "request")
    await bot.rt.post_ack.wait(10)
    await bot.driver.submit(user, bot.slack.views(user)[-1], **{**REQUEST, **fields})


async def one_run(burst: int, pace: float, *, fair: bool) -> tuple[int, float]:
    """(globex's card's place among the reps-channel posts after it filed, seconds it waited)."""
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'bench.db'}"
        await upgrade(url)
        fake = await FakeSlack(users=dict(PEOPLE)).start()
        # The burst is more requests than an org may have open by default (TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG).
        settings = {"TRUSTBOT_CHANNEL_PACE_SECONDS": pace, "TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG": max(burst, 1)}
        bot = await start_bot(url, fake, FixedClock(datetime.now(UTC)), **settings)
        bot.rt.delivery.turns.enabled = fair  # without: every org's rows in one queue, oldest first
        try:
            for _ in range(burst):
                await _file(bot, ADMIN)
            before = len(fake.calls_to("chat.postMessage"))
            started = time.monotonic()
            await _file(bot, GLOBEX_ADMIN, members=[GLOBEX_ADMIN], tier="standard")
            while not any("Globex" in m.text for m in fake.messages(REPS)):
                await asyncio.sleep(0.005)
            waited = time.monotonic() - started
            posts = [c for c in fake.calls_to("chat.postMessage")[before:] if c.get("channel") == REPS]
            return len(posts), waited
        finally:
            await bot.close()
            await fake.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=40)
    parser.add_argument("--pace", type=float, default=0.1)
    args = parser.parse_args()
    plain_posts, plain_s = await one_run(args.burst, args.pace, fair=False)
    fair_posts, fair_s = await one_run(args.burst, args.pace, fair=True)
    print(f"acme files {args.burst} requests, then globex 1; reps lane paced at {args.pace:g} s")
    print(f"  without turns (id order): globex's card is reps post #{plain_posts} after it filed, {plain_s:.2f} s")
    print(f"  with turns per org:       globex's card is reps post #{fair_posts} after it filed, {fair_s:.2f} s")
    ratio_posts, ratio_s = fair_posts / max(plain_posts, 1), fair_s / plain_s
    print(f"  wait with / without: {ratio_posts:.3f}× in posts, {ratio_s:.3f}× in seconds")
    print(f"  at Slack's 1 s pace that is about {plain_s / args.pace:.0f} s against {fair_s / args.pace:.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
