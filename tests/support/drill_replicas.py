"""Two `trustbot serve` replicas on one PostgreSQL database behind a round-robin client: every message
once, every job slot once (`trustbot jobs run` from both at the same moment), and two reps clicking
Approve on different replicas at the same instant make exactly one decision."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.support import queries as inspection
from tests.support.drill_count import Tally, outbox_rows
from tests.support.drill_process import Child, child_servers, decision_problems, finish, wait_settled
from tests.support.drill_workload import Size, wait_until
from trustbot.standin.sample import BACKUP_REP, REP

JOB = "reverification"


async def run_job_twice(child: Child, now: datetime) -> list[str]:
    """`trustbot jobs run reverification --now <now>` from both replicas' environments at once; their stdout."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")

    async def one(env: dict[str, str]) -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "trustbot",
            "jobs",
            "run",
            JOB,
            "--now",
            stamp,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        return f"exit {proc.returncode}: {out.decode().strip().splitlines()[-1] if out.strip() else ''}"

    return list(await asyncio.gather(*(one(server.env) for server in child.servers)))


async def job_slot_problems(child: Child) -> list[str]:
    """Run the job from both replicas for one slot: one run finishes, the other skips, each reminder once."""
    before = {r.id for r in await outbox_rows(child.db)}
    now = datetime.now(UTC) + timedelta(days=178)  # 2 days before re-verification of the drill's 200-day grants
    outputs = await run_job_twice(child, now)
    skipped = [o for o in outputs if o.startswith("exit 0") and "nothing sent again" in o]
    finished = [o for o in outputs if o.startswith("exit 0") and "nothing sent again" not in o]
    child.notes += [f"jobs run {JOB} from both replicas: {o}" for o in outputs]
    problems = [] if (len(finished), len(skipped)) == (1, 1) else [f"job runs: {outputs}"]
    async with child.db.sessions() as session:
        runs = await inspection.job_runs(session, job=JOB)
    problems += [f"{len(runs)} rows for the {JOB} slot"] if len(runs) != 1 else []
    reminders = [r for r in await outbox_rows(child.db) if r.id not in before and r.op == "dm"]
    twice = [k for k, n in Counter((r.channel, r.payload.get("text")) for r in reminders).items() if n > 1]
    problems += [f"reminder queued twice: {k}" for k in twice]
    problems += [] if reminders else ["the job sent no reminder: nothing was due"]
    child.notes.append(f"{len(reminders)} reminder DMs queued by the slot")
    return problems


async def approve_race(child: Child) -> tuple[int, list[str]]:
    """A fresh request; its rep and backup rep click Approve at the same instant, on different replicas."""
    work, fake = child.work, child.fake
    known = set(work.cards())
    await work.submit_requests(count=1)  # the first requester: acme, whose rep and backup rep may approve
    await wait_until(lambda: set(work.cards()) - known, 60, "the race's request card")
    [request_id] = set(work.cards()) - known
    card = work.cards()[request_id]
    seen = len(fake.responses)
    clicks = await asyncio.gather(
        work.drivers[0].click(REP, card, "Approve"), work.drivers[1].click(BACKUP_REP, card, "Approve")
    )
    problems = [f"click answered {c.status}" for c in clicks if c.status != 200]
    await wait_until(lambda: len(fake.responses) >= seen + 2, 30, "both clicks answered")
    texts = sorted(str(r["body"].get("text", "")) for r in fake.responses[seen:])
    won = [t for t in texts if t.startswith("Approved request")]
    lost = [t for t in texts if "already approved" in t]
    if (len(won), len(lost)) != (1, 1):
        problems.append(f"racing approvals answered {texts}")
    return request_id, problems


async def approved_events(child: Child, request_id: int) -> int:
    """`request.approved` audit events of one request."""
    async with child.db.sessions() as session:
        return len(await inspection.audit_events(session, action="request.approved", subject=f"request:{request_id}"))


async def replicas_drill(database_url: str, workdir: Path, quick: bool, seed: int) -> Tally:
    """Requests, decisions and alerts spread over two replicas; then a job slot and an approval raced."""
    return await _replicas(database_url, workdir, quick, seed, chaos=None)


async def replicas_500_drill(database_url: str, workdir: Path, quick: bool, seed: int) -> Tally:
    """The replicas drill while 10 % of Slack writes are answered 500 (a backoff in one replica)."""
    return await _replicas(database_url, workdir, quick, seed, chaos={"server_error": 0.1})


async def _replicas(database_url: str, workdir: Path, quick: bool, seed: int, chaos: dict[str, float] | None) -> Tally:
    size = Size(requests=4, alerts=40, fingerprints=8) if quick else Size(requests=16, alerts=300, fingerprints=24)
    async with child_servers(database_url, workdir, size, seed, replicas=2) as child:
        if chaos:
            child.fake.chaos(**chaos, seed=seed)
        work = child.work
        await work.submit_requests()
        await work.send_alerts(size.alerts // 2, seconds=1)
        cards = await work.wait_for_cards(size.requests)
        await asyncio.gather(work.decide_all(cards), work.send_alerts(size.alerts - size.alerts // 2, seconds=2))
        denied = {r for n, r in enumerate(sorted(cards)) if n % size.deny_every == size.deny_every - 1}
        await wait_settled(child, 120)
        request_id, raced = await approve_race(child)
        child.problems += raced
        await wait_settled(child, 120)
        child.problems += await job_slot_problems(child)
        child.problems += await decision_problems(child.db, (set(cards) - denied) | {request_id})
        events = await approved_events(child, request_id)
        child.problems += [f"the raced request has {events} request.approved events"] if events != 1 else []
        return await finish(child, 120)  # the reminders, delivered by the job runs and both replicas
