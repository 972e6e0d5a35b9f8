"""`bench/ack_latency.py`: the load generator, its rounds and their statistics.

Requests are signed as Slack signs them (a fresh signature each) and sent by `concurrency`
workers over keep-alive connections; latency is from send to response fully read.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from ack_latency_report import print_round
from ack_latency_servers import SECRET

from trustbot.standin.sample import REP
from trustbot.standin.slack_requests import FORM, block_actions_body, sign_request, slash_command_body


@dataclass
class Round:
    scenario: str
    target: str
    latencies: list[float]
    statuses: Counter[int]
    wall: float
    starts: list[float] = field(default_factory=list)  # send time of each request, from the round's start
    post_ack: float | None = None  # approve on Trustbot: round start → last response_url answer
    concurrency: int = 0

    @property
    def throughput(self) -> float:
        """Requests answered per second over the round."""
        return len(self.latencies) / self.wall if self.wall else 0.0

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


def click_body(fake: Any, message: Any) -> tuple[bytes, str]:
    """One Approve click on `message` as the fake Slack holds it, and the token of its response_url."""
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
    response_url = fake.new_response_url(REP, message.channel, message.ts)
    body = block_actions_body(
        user_id=REP,
        action_id=button["action_id"],
        value=button["value"],
        block_id=button.get("block_id", "b"),
        channel_id=message.channel,
        message_ts=message.ts,
        message=as_json,
        response_url=response_url,
        trigger_id=fake.new_trigger_id(REP),
        text="Approve",
    )
    return body, response_url.rsplit("/", 1)[1]


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
            body, token = click_body(self.fake, self.click_messages[request_id])
            bodies.append(body)
            tokens.append(token)
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
        result.scenario, result.target, result.concurrency = scenario, target, self.concurrency
        if tokens is not None:  # Trustbot approving: wait for the work after the ack to finish
            last, kinds = await self.wait_responses(tokens)
            result.post_ack = last - started
            if kinds != Counter({"approved": len(tokens)}):
                print(f"    ! {scenario}/{target}: response_url answers {dict(kinds)}", flush=True)
        await asyncio.sleep(0.3)
        return result

    async def approve(self, target: str, request_ids: list[int]) -> Round:
        """An Approve round; on Trustbot it also waits for every approval's response_url answer."""
        bodies, tokens = self.approve_bodies(request_ids)
        return await self.run("approve", target, bodies, tokens if target == "real" else None)


async def warm_up(bench: Bench, n: int, next_id: Iterator[int]) -> None:
    print(f"warm-up: {n} requests per scenario and target", flush=True)
    for target in ("bare", "real"):
        await bench.run("help", target, bench.help_bodies(n))
    warm_ids = [next(next_id) for _ in range(n)]
    for target in ("bare", "real"):
        await bench.approve(target, warm_ids)


async def measure(
    bench: Bench, repeats: int, requests: int, approvals: int, next_id: Iterator[int], levels: list[int]
) -> list[Round]:
    """At each concurrency in `levels`: `repeats` rounds of each scenario per target, the order of the
    targets alternating round by round."""
    rounds: list[Round] = []
    for level in levels:
        bench.concurrency = level
        for repeat in range(repeats):
            order = ("bare", "real") if repeat % 2 == 0 else ("real", "bare")
            for target in order:
                rounds.append(await bench.run("help", target, bench.help_bodies(requests)))
                print_round(repeat, rounds[-1])
            round_ids = [next(next_id) for _ in range(approvals)]
            for target in order:
                rounds.append(await bench.approve(target, round_ids))
                print_round(repeat, rounds[-1])
    return rounds
