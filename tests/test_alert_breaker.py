"""Alert debounce and circuit breaker at the service level, where timing and outbox rows matter:
repeats rewrite the queued render, edits are debounced, a rate-limited lane is summarised and
caught up, and a group commit still counts each request."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update

from tests.support.alert_helpers import CHANNEL
from tests.support.bots import make_settings
from tests.support.factories import seed_directory, system
from tests.support.installs import ACME_TEAM, BOUND_YAML
from trustbot.clock import FixedClock
from trustbot.services.alerts.ingest import AlertIn, ingest_alert_requests, ingest_alerts
from trustbot.services.alerts.rendering import BREAKER_RATE_LIMITED, flush_held_back
from trustbot.storage.database import Database
from trustbot.storage.tables import Alert, Org, OutboxMessage, OutboxStatus, Workspace

ACME_KEY = f":{ACME_TEAM}"


def _item(i: int, fp: int = 0, severity: str = "medium") -> AlertIn:
    return AlertIn.model_validate(
        {
            "id": f"s-{i}",
            "org": "acme",
            "signal": f"sig-{fp}",
            "severity": severity,
            "summary": "storm",
            "occurred_at": "2026-11-02T08:59:00Z",
        }
    )


async def _rows(db: Database, **where: Any) -> list[OutboxMessage]:
    async with db.sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list((await session.scalars(query)).all())


async def test_repeats_rewrite_the_queued_render_instead_of_queueing_more(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    ctx = system(clock, make_settings(db.url, "http://127.0.0.1:9/api/"))
    for i in range(30):
        async with db.transaction() as session:
            await ingest_alerts(session, ctx, [_item(i)])
    rows = await _rows(db, channel=CHANNEL)
    assert len(rows) == 1 and rows[0].op == "post" and "30 occurrences" in rows[0].payload["text"]


async def test_edits_after_the_post_are_debounced(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    ctx = system(clock, make_settings(db.url, "http://127.0.0.1:9/api/", TRUSTBOT_ALERT_UPDATE_SECONDS=10))
    async with db.transaction() as session:
        await ingest_alerts(session, ctx, [_item(0)])
    async with db.transaction() as session:  # delivery sent the post
        await session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    for i in range(1, 20):
        async with db.transaction() as session:
            await ingest_alerts(session, ctx, [_item(i)])
    [post_row, edit] = await _rows(db, channel=CHANNEL)
    assert edit.op == "update" and "20 occurrences" in edit.payload["text"]
    delay = (edit.available_at - edit.created_at).total_seconds()
    assert 9 <= delay <= 10.5  # at most one chat.update per message per TRUSTBOT_ALERT_UPDATE_SECONDS


async def test_breaker_summarises_while_slack_rate_limits_then_catches_up(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    ctx = system(clock, make_settings(db.url, "http://127.0.0.1:9/api/"))
    async with db.transaction() as session:
        await ingest_alerts(session, ctx, [_item(0, fp=0)])
    async with db.transaction() as session:  # Slack keeps answering 429 to the head of the lane
        await session.execute(update(OutboxMessage).values(attempts=BREAKER_RATE_LIMITED, last_error="ratelimited"))
    async with db.transaction() as session:
        await ingest_alerts(session, ctx, [_item(i, fp=i) for i in range(1, 40)])
    rows = await _rows(db, channel=CHANNEL)
    assert [r.op for r in rows] == ["post", "post"]  # the first alert, then one summary — not 39 posts
    assert rows[1].save_as.startswith(f"alert-summary:{CHANNEL}:") and "39 alerts" in rows[1].payload["text"]
    async with db.sessions() as session:
        held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
    assert held == 39
    async with db.transaction() as session:  # Slack recovered: the lane drained
        await session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    async with db.transaction() as session:
        assert await flush_held_back(session, ctx) == 39
    rows = [r for r in await _rows(db, channel=CHANNEL) if r.status == OutboxStatus.PENDING]
    assert sum(r.op == "post" for r in rows) == 39
    summary_edit = [r for r in rows if r.op == "update"]
    assert len(summary_edit) == 1 and "recovered" in summary_edit[0].payload["text"]
    async with db.sessions() as session:
        held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
    assert held == 0


async def test_group_commit_counts_each_request(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    ctx = system(clock, make_settings(db.url, "http://127.0.0.1:9/api/"))
    async with db.transaction() as session:
        results = await ingest_alert_requests(session, ctx, [[_item(1)], [_item(1), _item(2)], [_item(2)]])
    assert [(r.accepted, r.duplicates) for r in results] == [(1, 0), (1, 1), (0, 1)]


async def test_a_bound_orgs_channel_gets_its_breaker_summary_through_the_orgs_workspace(
    db: Database, clock: FixedClock
) -> None:
    """The summary is a message in acme's own channel: only acme's installation can post and edit it there."""
    await seed_directory(db, clock, BOUND_YAML)
    async with db.transaction() as session:
        org = (await session.scalars(select(Org).where(Org.slug == "acme"))).one()
        session.add(
            Workspace(key=ACME_KEY, team_id=ACME_TEAM, org_id=org.pk, status="active", installed_at=clock.now())
        )
    ctx = system(clock, make_settings(db.url, "http://127.0.0.1:9/api/"))
    async with db.transaction() as session:
        await ingest_alerts(session, ctx, [_item(0, fp=0)])
    async with db.transaction() as session:
        await session.execute(update(OutboxMessage).values(attempts=BREAKER_RATE_LIMITED, last_error="ratelimited"))
    async with db.transaction() as session:
        await ingest_alerts(session, ctx, [_item(i, fp=i) for i in range(1, 5)])
    async with db.transaction() as session:  # Slack recovered: the lane drained, the summary says so
        await session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    async with db.transaction() as session:
        assert await flush_held_back(session, ctx) == 4
    summaries = [
        r for r in await _rows(db, channel=CHANNEL) if (r.save_as or r.message_key or "").startswith("alert-summary")
    ]
    assert [(r.op, r.workspace) for r in summaries] == [("post", ACME_KEY), ("update", ACME_KEY)]
