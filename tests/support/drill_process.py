"""The drills with a child `trustbot serve`: SIGKILL at random moments while alerts are ingested and
requests approved (restarted each time), and SIGTERM in the middle of a burst of commands."""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support import queries as inspection
from tests.support.drill_count import Tally, tally
from tests.support.drill_runtime import drill_settings, serve_process, settle
from tests.support.drill_workload import FULL, SIGNING_SECRET, Size, Workload
from tests.support.drill_workspaces import ACME_TEAM, HOME_TEAM, install_acme_child, two_workspace_fake
from tests.support.processes import ServerProcess
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, GLOBEX_ADMIN, OPERATOR, REP, SEC_LEAD
from trustbot.standin.slack_requests import SlackDriver, slash_command_body
from trustbot.storage.database import Database
from trustbot.storage.tables import RequestStatus

LEASE_SECONDS = "2"  # a row the killed process held is taken over this soon after


@dataclass
class Child:
    """A drill around child `trustbot serve` processes: the fake Slack, the servers, the database."""

    fake: FakeSlack
    servers: list[ServerProcess]
    db: Database
    work: Workload
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@contextlib.asynccontextmanager
async def child_servers(
    database_url: str, workdir: Path, size: Size, seed: int, replicas: int = 1
) -> AsyncIterator[Child]:
    """The fake Slack (two workspaces) and `replicas` started `trustbot serve` processes on one database,
    acme's workspace installed through the first one's HTTP."""
    fake = two_workspace_fake()
    await fake.start()
    servers = [
        serve_process(database_url, fake, workdir, f"serve-{n}", TRUSTBOT_OUTBOX_LEASE_SECONDS=LEASE_SECONDS)
        for n in range(replicas)
    ]
    db = Database(database_url)
    work = Workload(fake, [f"http://127.0.0.1:{s.port}" for s in servers], size, seed=seed)
    try:
        for server in servers:  # one at a time: each applies the directory and migrations at start
            await server.start()
        await install_acme_child(work.urls[0], servers[0].env, fake)
        yield Child(fake, servers, db, work)
    finally:
        await work.close()
        for server in servers:
            await server.stop()
        await db.dispose()
        await fake.stop()


async def wait_settled(child: Child, timeout: float) -> None:
    """Wait until every outbox row is settled (past a lease, so a copy would show)."""
    settings = drill_settings(child.db.url, child.fake.api_url)
    child.problems += await settle(child.db, settings, timeout=timeout, quiet=float(LEASE_SECONDS) + 1)


async def finish(child: Child, timeout: float) -> Tally:
    """Wait until every outbox row is settled, then count."""
    await wait_settled(child, timeout)
    result = await tally(child.db, child.fake)
    result.problems = child.problems + result.problems
    result.notes = child.notes + result.notes
    return result


async def decision_problems(db: Database, approved: set[int]) -> list[str]:
    """Each request in `approved` approved once (one grant, one `request.approved` event), no other grant."""
    async with db.sessions() as session:
        grants = Counter(await inspection.grant_request_ids(session))
        events = Counter(e.subject for e in await inspection.audit_events(session, action="request.approved"))
        statuses = await inspection.request_statuses(session)
    problems = [
        f"request #{r} is {statuses.get(r)}, not approved"
        for r in sorted(approved)
        if statuses.get(r) != RequestStatus.APPROVED
    ]
    problems += [f"request #{r} has {n} grants" for r, n in sorted(grants.items()) if n != 1 or r not in approved]
    problems += [f"{s} approved {n} times" for s, n in sorted(events.items()) if n != 1]
    return problems


async def pending_requests(db: Database) -> set[int]:
    """Ids of requests still awaiting a decision."""
    async with db.sessions() as session:
        statuses = await inspection.request_statuses(session)
    return {request_id for request_id, status in statuses.items() if status == RequestStatus.PENDING}


async def stored_alerts(db: Database) -> int:
    """Alert items stored (one occurrence each)."""
    async with db.sessions() as session:
        return await inspection.count_alert_occurrences(session)


# -- SIGKILL -------------------------------------------------------------------------------------


async def killer(child: Child, rng: random.Random, *, kills: int, spread: float) -> None:
    """SIGKILL the server `kills` times at random moments within about `spread` seconds, restarting it each time."""
    server, began = child.servers[0], time.monotonic()
    moments = []
    for _ in range(kills):
        await asyncio.sleep(rng.uniform(0.2, 2 * spread / kills))
        moments.append(time.monotonic() - began)
        await server.kill()
        await asyncio.sleep(rng.uniform(0.0, 0.5))
        await server.start()
    child.notes.append(f"SIGKILL {kills} times, at {', '.join(f'{m:.1f}' for m in moments)} s into the storm")


async def approve_over(work: Workload, cards: dict[int, Any], seconds: float, rng: random.Random) -> None:
    """Approve every request at a random moment within `seconds`."""

    async def one(request_id: int) -> None:
        await asyncio.sleep(rng.uniform(0, seconds))
        await work.decide(request_id, cards[request_id])

    await asyncio.gather(*(one(r) for r in cards))


async def sigkill_drill(database_url: str, workdir: Path, quick: bool, seed: int) -> Tally:
    """An alert storm with approvals in flight while the server is SIGKILLed at random (seeded) moments,
    2 times (6 full size) and restarted each time; every expected message must arrive exactly once."""
    size = Size(requests=4, alerts=60, fingerprints=10) if quick else FULL
    kills, spread = (2, 3.0) if quick else (6, 20.0)
    rng = random.Random(seed)
    async with child_servers(database_url, workdir, size, seed) as child:
        work = child.work
        await work.submit_requests()
        cards = await work.wait_for_cards(size.requests)
        await asyncio.gather(
            work.send_alerts(size.alerts, seconds=spread, concurrency=2),
            approve_over(work, cards, spread, rng),
            killer(child, rng, kills=kills, spread=spread),
        )
        cut_short = await pending_requests(child.db)  # acked clicks whose work a kill cut short: clicked again
        for request_id in cut_short:
            await work.decide(request_id, cards[request_id])
        child.notes.append(f"{len(cut_short)} approval(s) clicked again after a kill")
        result = await finish(child, 60 if quick else 300)
        result.problems += await decision_problems(child.db, set(cards))
        if (stored := await stored_alerts(child.db)) != size.alerts:
            result.problems.append(f"{stored} of {size.alerts} alerts stored")
        return result


# -- SIGTERM -------------------------------------------------------------------------------------


@dataclass
class Burst:
    """Commands sent during a shutdown, by response_url token: the HTTP status of each, and those
    answered in the acknowledgement itself (help is)."""

    acked: dict[str, int] = field(default_factory=dict)
    inline: set[str] = field(default_factory=set)


async def command_burst(
    drivers: dict[str, SlackDriver], fake: FakeSlack, burst: Burst, count: int, seconds: float
) -> None:
    """`count` `/trust status` and `/trust help` commands from people in the directory, over `seconds`,
    each typed in its person's workspace (`drivers` by team)."""
    people = [ADMIN, ADMIN2, GLOBEX_ADMIN, REP, BACKUP_REP, SEC_LEAD, OPERATOR]

    async def one(n: int) -> None:
        await asyncio.sleep(seconds * n / count)
        user = people[n % len(people)]
        team = fake.user_teams.get(user, HOME_TEAM)
        url = fake.new_response_url(user, "C0GENERAL")
        body = slash_command_body(
            text=("status", "help")[n % 2],
            user_id=user,
            team_id=team,
            response_url=url,
            trigger_id=fake.new_trigger_id(user),
        )
        token = url.rsplit("/", 1)[1]
        try:
            response = await drivers[team].post_signed(body)
        except OSError:  # the server had stopped listening: not acknowledged
            return
        burst.acked[token] = response.status
        if isinstance(response.json, dict) and (response.json.get("text") or response.json.get("blocks")):
            burst.inline.add(token)

    await asyncio.gather(*(one(n) for n in range(count)))


def burst_problems(fake: FakeSlack, burst: Burst) -> list[str]:
    """Every acknowledged command answered exactly once."""
    answers = Counter(r["token"] for r in fake.responses) + Counter(burst.inline)
    acked = [t for t, status in burst.acked.items() if status == 200]
    problems = [f"{sum(1 for t in acked if not answers[t])} acknowledged command(s) never answered"]
    problems += [f"{sum(1 for t in acked if answers[t] > 1)} command(s) answered more than once"]
    return [p for p in problems if not p.startswith("0 ")]


async def sigterm_drill(database_url: str, workdir: Path, quick: bool, seed: int) -> Tally:
    """SIGTERM in the middle of a burst of commands, approvals and alerts: every acknowledged command gets
    its answer, the process exits 0, and the outbox rows due were delivered before it did."""
    size = Size(requests=3, alerts=24, fingerprints=6) if quick else Size(requests=12, alerts=120, fingerprints=20)
    async with child_servers(database_url, workdir, size, seed) as child:
        work, fake, server = child.work, child.fake, child.servers[0]
        await work.submit_requests()
        cards = await work.wait_for_cards(size.requests)
        fake.response_delay = 1.0  # every answer is still on its way when the signal comes
        fake.answer_late("chat.postMessage", seconds=0.5, times=5)
        work.patience = 0.0  # a request refused while stopping is not sent again
        burst, clicks, window = Burst(), {}, 1.0 if quick else 3.0
        home = SlackDriver(work.drivers[0].url, SIGNING_SECRET, fake)
        acme = SlackDriver(work.drivers[0].url, SIGNING_SECRET, fake, team_id=ACME_TEAM)
        async with home, acme:

            async def approve(n: int, request_id: int) -> None:
                await asyncio.sleep(window * n / len(cards) / 2)  # the first half: before the signal
                clicks[request_id] = (await work.decide(request_id, cards[request_id])).status

            sending = asyncio.gather(
                command_burst({HOME_TEAM: home, ACME_TEAM: acme}, fake, burst, 40 if quick else 160, window),
                *(approve(n, r) for n, r in enumerate(sorted(cards))),
                work.send_alerts(size.alerts, seconds=window),
                return_exceptions=True,
            )
            await asyncio.sleep(window / 2)
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            stopped = time.monotonic()
            await sending
            code = await asyncio.wait_for(server.proc.wait(), 30)
        child.problems += [f"exit code {code}"] if code != 0 else []
        child.problems += burst_problems(fake, burst)
        undecided = {r for r, status in clicks.items() if status == 200} & await pending_requests(child.db)
        child.problems += [f"acknowledged approval of request #{r} not carried out" for r in sorted(undecided)]
        result = await tally(child.db, fake)  # not settled first: what is pending now was not delivered
        result.problems = child.problems + result.problems
        took = time.monotonic() - stopped
        refused = sum(1 for status in burst.acked.values() if status != 200)
        result.notes.append(
            f"{len(burst.acked)} commands during SIGTERM: {len(burst.acked) - refused} acknowledged, "
            f"{refused} refused while stopping; exit {code} after {took:.1f}s"
        )
        result.problems += [f"took {took:.1f}s to stop after SIGTERM"] if took > 15 else []
        return result
