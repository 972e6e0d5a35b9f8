"""The outbox worker: order, pacing, retries, permanent failures and exactly-once claims."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from tests.support.delivery_helpers import make_worker, queue, rows
from trustbot.services import outbox
from trustbot.services.audit import verify_audit_chain
from trustbot.standin.sample import DEV
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditEvent, OutboxMessage, OutboxStatus, SlackMessage

# The worker's old keyword arguments, as the settings that now tune it.


async def statuses(db: Database) -> list[str]:
    return [row.status for row in await rows(db)]


async def failures(db: Database) -> list[tuple[str, dict[str, Any]]]:
    async with db.sessions() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    return [(e.subject, e.details) for e in events if e.action == "delivery.failed"]


async def test_post_reply_and_update_arrive_in_order_and_in_the_thread(db, fake_slack) -> None:
    await queue(
        db,
        ("post_message", {"channel": "C1", "key": "request:1", "message": "parent"}),
        ("reply_in_thread", {"channel": "C1", "parent_key": "request:1", "message": "reply"}),
        ("update_message", {"channel": "C1", "key": "request:1", "message": "parent, decided"}),
        ("send_dm", {"user": DEV, "message": "hello"}),
    )
    worker = make_worker(db, fake_slack)
    assert await worker.drain(timeout=10) == 4
    [parent] = fake_slack.messages("C1")
    assert parent.text == "parent, decided" and [e.text for e in parent.edits] == ["parent"]
    assert [r.text for r in fake_slack.replies("C1", parent.ts)] == ["reply"]
    assert [m.text for m in fake_slack.dms(DEV)] == ["hello"]
    async with db.sessions() as session:
        saved = await session.get(SlackMessage, "request:1")
    assert saved is not None and (saved.channel, saved.ts) == ("C1", parent.ts)
    assert await statuses(db) == [OutboxStatus.SENT] * 4


async def test_429_waits_for_retry_after_then_sends_once(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    worker = make_worker(db, fake_slack)
    started = time.monotonic()
    await worker.drain(timeout=10)
    attempts = fake_slack.calls_to("chat.postMessage")
    assert [a.status for a in attempts] == [429, 200]
    assert attempts[1].at - attempts[0].at >= 0.9
    assert time.monotonic() - started >= 0.9
    assert [m.text for m in fake_slack.messages("C1")] == ["hi"]


async def test_server_errors_back_off_and_recover(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=503, times=2)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    await make_worker(db, fake_slack).drain(timeout=15)
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [503, 503, 200]
    assert [m.text for m in fake_slack.messages("C1")] == ["hi"]
    [row] = await rows(db)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 3)


async def test_permanent_error_fails_at_once_is_audited_and_fails_dependents(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found", times=1)
    await queue(
        db,
        ("post_message", {"channel": "C404", "key": "k", "message": "hi"}),
        ("reply_in_thread", {"channel": "C404", "parent_key": "k", "message": "reply"}),
    )
    await make_worker(db, fake_slack).drain(timeout=10)
    post, reply = await rows(db)
    assert (post.status, post.last_error) == (OutboxStatus.FAILED, "channel_not_found")
    assert (reply.status, reply.last_error) == (OutboxStatus.FAILED, "parent_message_failed")
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    assert await failures(db) == [
        (f"outbox:{post.id}", {"op": "post", "channel": "C404", "error": "channel_not_found", "attempts": 1}),
        (f"outbox:{reply.id}", {"op": "reply", "channel": "C404", "error": "parent_message_failed", "attempts": 1}),
    ]
    async with db.sessions() as session:
        assert (await verify_audit_chain(session)).intact


async def test_message_limit_exceeded_is_retried_not_dropped(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", error="message_limit_exceeded", times=1)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    worker = make_worker(db, fake_slack)
    assert await worker.deliver_once() == 0
    [row] = await rows(db)
    assert (row.status, row.last_error, row.attempts) == (OutboxStatus.PENDING, "message_limit_exceeded", 0)
    assert row.available_at > datetime.now(UTC) + timedelta(seconds=30)
    assert await failures(db) == []


async def test_gives_up_after_max_attempts(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=500, times=10)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    worker = make_worker(db, fake_slack, max_attempts=3)
    for attempt in range(1, 4):
        await worker.deliver_once()
        [row] = await rows(db)
        assert (row.attempts, row.last_error) == (attempt, "http_500")
        async with db.transaction() as session:  # skip the backoff wait
            await session.execute(update(OutboxMessage).values(available_at=datetime.now(UTC) - timedelta(seconds=1)))
        worker._lane_ready.clear()
    assert await statuses(db) == [OutboxStatus.FAILED]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3
    assert await failures(db) == [
        (f"outbox:{row.id}", {"op": "post", "channel": "C1", "error": "http_500", "attempts": 3})
    ]


async def test_only_the_newest_queued_edit_is_sent(db, fake_slack) -> None:
    await queue(db, ("post_message", {"channel": "C1", "key": "a", "message": "v0"}))
    worker = make_worker(db, fake_slack)
    await worker.drain()
    await queue(db, *[("update_message", {"channel": "C1", "key": "a", "message": f"v{i}"}) for i in range(1, 6)])
    await worker.drain()
    assert [c.args["text"] for c in fake_slack.calls_to("chat.update")] == ["v5"]
    assert fake_slack.messages("C1")[0].text == "v5"
    assert await statuses(db) == [OutboxStatus.SENT, *[OutboxStatus.SUPERSEDED] * 4, OutboxStatus.SENT]


async def test_each_channel_is_paced_but_channels_proceed_in_parallel(db, fake_slack) -> None:
    await queue(
        db,
        *[
            ("post_message", {"channel": ch, "key": f"{ch}{i}", "message": str(i)})
            for i in range(3)
            for ch in ("C1", "C2")
        ],
    )
    await make_worker(db, fake_slack, pace_seconds=0.4).drain(timeout=10)
    for channel in ("C1", "C2"):
        calls = [c for c in fake_slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]
        assert [c.args["text"] for c in calls] == ["0", "1", "2"]
        times = [c.at for c in calls]
        assert all(b - a >= 0.35 for a, b in zip(times, times[1:], strict=False))
    first = {c.args["channel"]: c.at for c in reversed(fake_slack.calls_to("chat.postMessage"))}
    assert abs(first["C1"] - first["C2"]) < 0.3


async def test_the_pace_counts_from_slacks_answer_not_from_the_send(db, fake_slack) -> None:
    # Slack takes 0.5 s to answer the first post: the next write in the lane waits a full pace after
    # that answer, or it could reach Slack less than a pace after the one before (and meet a 429).
    await queue(db, *[("post_message", {"channel": "C1", "key": f"k{i}", "message": str(i)}) for i in range(2)])
    fake_slack.answer_late("chat.postMessage", 0.5, channel="C1")
    await make_worker(db, fake_slack, pace_seconds=0.4).drain(timeout=10)
    first, second = fake_slack.calls_to("chat.postMessage")
    assert second.at - (first.at + 0.5) >= 0.35


async def test_two_workers_never_send_the_same_row(database_url, fake_slack) -> None:
    db_a, db_b = Database(database_url), Database(database_url)
    try:
        await queue(
            db_a,
            *[("post_message", {"channel": f"C{i % 7}", "key": f"k{i}", "message": f"m{i}"}) for i in range(60)],
        )
        a, b = make_worker(db_a, fake_slack), make_worker(db_b, fake_slack)
        await asyncio.gather(a.drain(timeout=20), b.drain(timeout=20))
        texts = [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")]
        assert sorted(texts) == sorted(f"m{i}" for i in range(60))
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_row_of_a_dead_worker_is_sent_after_its_lease(db, fake_slack) -> None:
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    async with db.transaction() as session:  # claimed by a worker that then died
        await session.execute(
            update(OutboxMessage).values(
                claimed_by="dead", attempts=1, lease_until=datetime.now(UTC) + timedelta(seconds=1)
            )
        )
    worker = make_worker(db, fake_slack)
    assert await worker.deliver_once() == 0
    assert fake_slack.calls_to("chat.postMessage") == []
    await asyncio.sleep(1.1)
    await worker.drain()
    assert [m.text for m in fake_slack.messages("C1")] == ["hi"]
    [row] = await rows(db)
    assert (row.status, row.claimed_by, row.attempts) == (OutboxStatus.SENT, worker.worker_id, 2)


async def test_timeout_is_retried(db, fake_slack) -> None:
    fake_slack.hang("chat.postMessage", times=1)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    worker = make_worker(db, fake_slack, timeout=1)
    await worker.drain(timeout=15)
    assert len(fake_slack.hung_calls) == 1
    assert [m.text for m in fake_slack.messages("C1")] == ["hi"]
    [row] = await rows(db)
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


async def test_rolled_back_change_sends_nothing(db, fake_slack) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            outbox.post_message(session, channel="C1", key="k", message="never")
            raise RuntimeError
    await make_worker(db, fake_slack).drain()
    assert fake_slack.calls_to("chat.postMessage") == []
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_rate_limits_never_exhaust_attempts(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0, times=5)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hi"}))
    await make_worker(db, fake_slack, max_attempts=2).drain(timeout=10)
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [429] * 5 + [200]
    assert [m.text for m in fake_slack.messages("C1")] == ["hi"]
    assert await statuses(db) == [OutboxStatus.SENT]


async def test_a_rate_limit_holds_every_row_of_the_lane(db, fake_slack) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=30, times=1)
    await queue(db, *[("post_message", {"channel": "C1", "key": f"k{i}", "message": str(i)}) for i in range(3)])
    await make_worker(db, fake_slack).deliver_once()
    other_replica = make_worker(db, fake_slack)
    assert await other_replica.deliver_once() == 0
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    held = await rows(db)
    assert [r.status for r in held] == [OutboxStatus.PENDING] * 3
    assert all(r.available_at > datetime.now(UTC) + timedelta(seconds=20) for r in held)


async def test_a_post_backing_off_after_a_500_holds_its_lane_for_every_worker(db, fake_slack) -> None:
    # The backoff of one worker (or a restarted process) lives in the table, not in its memory.
    fake_slack.fail("chat.postMessage", status=500, times=1)
    await queue(db, *[("post_message", {"channel": "C1", "key": f"k{i}", "message": str(i)}) for i in range(2)])
    await make_worker(db, fake_slack).deliver_once()
    [first, second] = await rows(db)
    assert first.available_at > datetime.now(UTC) and second.available_at <= datetime.now(UTC)
    other_replica = make_worker(db, fake_slack)
    assert await other_replica.deliver_once() == 0
    assert fake_slack.messages("C1") == []


async def test_a_debounced_edit_does_not_hold_up_the_channel(db, fake_slack) -> None:
    await queue(db, ("post_message", {"channel": "C1", "key": "a", "message": "v0"}))
    worker = make_worker(db, fake_slack)
    await worker.drain()
    await queue(
        db,
        ("update_message", {"channel": "C1", "key": "a", "message": "v1", "delay_seconds": 30}),
        ("post_message", {"channel": "C1", "key": "b", "message": "next alert"}),
    )
    await worker.drain(timeout=2)
    assert [m.text for m in fake_slack.messages("C1")] == ["v0", "next alert"]
    assert fake_slack.calls_to("chat.update") == []
    assert await statuses(db) == [OutboxStatus.SENT, OutboxStatus.PENDING, OutboxStatus.SENT]
