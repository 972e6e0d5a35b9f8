"""The webhook drill: the gateway answers 500 for a while, then recovers; every grant change event must
arrive, in order per org, each `webhook-id` once after deduplication, every signature valid.

Requests are submitted and approved (`grant.activated`) and then revoked (`grant.revoked`) while the
gateway is down; the outbox retries with backoff. The check compares the events the gateway kept
(first receipt of each `webhook-id`) with the outbox rows, lane by lane. Run it at full size with
`python -m tests.support.drill_webhooks`; `tests/test_webhooks.py` runs the short version.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.drill_runtime import settle, start_inprocess
from tests.support.drill_workload import FULL, QUICK, Workload
from tests.support.drill_workspaces import two_workspace_fake
from tests.support.queries import all_grant_ids, webhook_rows
from trustbot.services.access.grants import revoke_grant
from trustbot.services.context import Person
from trustbot.standin.gateway import SECRET, FakeGateway
from trustbot.standin.sample import OPERATOR
from trustbot.storage.migrate import upgrade
from trustbot.storage.tables import OutboxStatus


@dataclass
class WebhookTally:
    """What the gateway got against what was queued."""

    queued: int = 0
    kept: int = 0
    deliveries: int = 0
    refused_500: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    bad_signatures: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated, reordered or forged."""
        return not (self.lost or self.duplicated or self.out_of_order or self.bad_signatures or self.problems)


async def _revoke_all(server: Any) -> None:
    """The operator revokes every grant, one at a time (each a `grant.revoked` behind its `grant.activated`)."""
    rt = server.rt
    async with rt.db.sessions() as session:
        ids = await all_grant_ids(session)
    person = Person(OPERATOR, rt.clock, rt.settings)
    for grant_id in ids:
        async with rt.db.transaction() as session:
            await revoke_grant(session, await person.context(session), grant_id=grant_id, reason="webhook drill")


async def _count(db: Any, gateway: FakeGateway, tally: WebhookTally) -> None:
    async with db.sessions() as session:
        rows = await webhook_rows(session)
    tally.queued = len(rows)
    tally.problems += [f"outbox row {r.id} is {r.status}" for r in rows if r.status != OutboxStatus.SENT]
    kept_ids = [str(e["id"]) for e in gateway.events]
    tally.kept = len(kept_ids)
    tally.duplicated = len(kept_ids) - len(set(kept_ids))
    tally.lost = len({str(r.payload["id"]) for r in rows} - set(kept_ids))
    by_lane: dict[str, list[str]] = {}
    for row in rows:
        by_lane.setdefault(row.channel, []).append(str(row.payload["id"]))
    lane_of = {event_id: lane for lane, ids in by_lane.items() for event_id in ids}
    received: dict[str, list[str]] = {}
    for event_id in kept_ids:
        received.setdefault(lane_of.get(event_id, "?"), []).append(event_id)
    tally.out_of_order = sum(1 for lane, ids in by_lane.items() if received.get(lane, []) != ids)
    tally.deliveries = len(gateway.deliveries)
    tally.refused_500 = sum(1 for d in gateway.deliveries if d.status == 500)
    tally.bad_signatures = gateway.bad_signatures
    for event in gateway.events:
        if event["type"] not in ("grant.activated", "grant.revoked"):
            tally.problems.append(f"unexpected event {event['type']}")


async def run_webhook_drill(database_url: str, *, quick: bool, outage: float | None = None) -> WebhookTally:
    """Run the drill on a migrated, empty database."""
    size = QUICK if quick else FULL
    down = outage if outage is not None else (3.0 if quick else 30.0)
    tally = WebhookTally()
    started = time.monotonic()
    gateway = await FakeGateway().start()
    fake = await two_workspace_fake().start()
    server = await start_inprocess(database_url, fake, TRUSTBOT_WEBHOOK_URL=gateway.url, TRUSTBOT_WEBHOOK_SECRET=SECRET)
    work = Workload(fake, [server.url], size, seed=7)
    try:
        await work.submit_requests()
        cards = await work.wait_for_cards(size.requests)
        gateway.fail_for(down)
        await work.decide_all(cards, deny=False)
        await server.rt.post_ack.wait(30)
        await _revoke_all(server)
        await asyncio.sleep(max(0.0, down - (time.monotonic() - started)))
        tally.problems += await settle(server.rt.db, server.settings, timeout=60 if quick else 300)
        await _count(server.rt.db, gateway, tally)
    finally:
        await work.close()
        await server.stop()
        await fake.stop()
        await gateway.stop()
    tally.seconds = time.monotonic() - started
    return tally


async def _main() -> int:
    with tempfile.TemporaryDirectory() as workdir:
        url = f"sqlite+aiosqlite:///{Path(workdir) / 'drill.db'}"
        await upgrade(url)
        tally = await run_webhook_drill(url, quick="--quick" in sys.argv)
    print(
        f"webhook drill: {tally.queued} events queued, {tally.kept} kept by the gateway after dedup, "
        f"{tally.deliveries} deliveries ({tally.refused_500} answered 500), lost {tally.lost}, duplicated "
        f"{tally.duplicated}, lanes out of order {tally.out_of_order}, bad signatures {tally.bad_signatures}, "
        f"{tally.seconds:.1f}s {'CLEAN' if tally.clean else 'PROBLEMS: ' + '; '.join(tally.problems)}"
    )
    return 0 if tally.clean else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main()))
