"""The outbox worker: order, pacing, retries, permanent failures and exactly-once claims."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.clock import FixedClock, SystemClock
from bot.delivery import DeliveryWorker, build_slack_client
from bot.services import outbox
from bot.services.audit import verify_audit_chain
from storage.database import Database
from storage.tables import AuditEvent, OutboxMessage, OutboxStatus, SlackMessage


def make_worker(db: Database, fake_slack: Any, **kwargs: Any) -> DeliveryWorker:
    kwargs.setdefault("pace_seconds", 0.0)
    kwargs.setdefault("lease_seconds", 5.0)
    client = build_slack_client("xoxb-test", fake_slack.api_url, kwargs.pop("timeout", 5.0))
    return DeliveryWorker(db, client, SystemClock(), **kwargs)


async def queue(db: Database, clock: FixedClock, *writes: tuple[str, dict[str, Any]]) -> None:
    async with db.transaction() as session:
        for op, args in writes:
            getattr(outbox, op)(session, clock, **args)


async def statuses(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id))).all())


async def test_post_reply_and_update_arrive_in_order_and_in_the_thread(db, fake_slack, clock) -> None:
    await queue(
        db,
        clock,
        ("post_message", {"channel": "C1", "key": "request:1", "text": "parent"}),
        ("reply_in_thread", {"channel": "C1", "parent_key": "request:1", "text": "reply"}),
        ("update_message", {"channel": "C1", "key": "request:1", "text": "parent, decided"}),
        ("send_dm", {"user": "U0DEV1", "text": "hello"}),
    )
    worker = make_worker(db, fake_slack)
    await worker.drain(timeout=10)
    [parent] = fake_slack.messages("C1")
    assert parent.text == "parent, decided" and [e.text for e in parent.edits][:1] == ["parent"]
    assert [r.text for r in fake_slack.replies("C1", parent.ts)] == ["reply"]
    assert [m.text for m in fake_slack.dms("U0DEV1")] == ["hello"]
    async with db.sessions() as session:
        saved = await session.get(SlackMessage, "request:1")
    assert (saved.channel, saved.ts) == ("C1", parent.ts)
    assert await statuses(db) == [OutboxStatus.SENT] * 4


async def test_429_waits_for_retry_after_then_sends_once(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=1, times=1)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    worker = make_worker(db, fake_slack)
    started = time.monotonic()
    await worker.drain(timeout=10)
    attempts = fake_slack.calls_to("chat.postMessage")
    assert len(attempts) == 2 and attempts[0].status == 429
    assert attempts[1].at - attempts[0].at >= 0.9
    assert time.monotonic() - started >= 0.9
    assert len(fake_slack.messages("C1")) == 1


async def test_server_errors_back_off_and_recover(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", status=503, times=2)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    await make_worker(db, fake_slack).drain(timeout=15)
    assert [c.status for c in fake_slack.calls_to("chat.postMessage")] == [503, 503, 200]
    assert len(fake_slack.messages("C1")) == 1


async def test_permanent_error_fails_at_once_is_audited_and_fails_dependents(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", error="channel_not_found", times=1)
    await queue(
        db,
        clock,
        ("post_message", {"channel": "C404", "key": "k", "text": "hi"}),
        ("reply_in_thread", {"channel": "C404", "parent_key": "k", "text": "reply"}),
    )
    await make_worker(db, fake_slack).drain(timeout=10)
    assert await statuses(db) == [OutboxStatus.FAILED, OutboxStatus.FAILED]
    assert len(fake_slack.calls_to("chat.postMessage")) == 1
    async with db.sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action))).all()
        assert actions.count("delivery.failed") == 2
        assert (await verify_audit_chain(session)).intact


async def test_message_limit_exceeded_is_retried_not_dropped(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", error="message_limit_exceeded", times=1)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    worker = make_worker(db, fake_slack)
    await worker.deliver_once()
    async with db.sessions() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert row.status == OutboxStatus.PENDING and row.last_error == "message_limit_exceeded"
    assert row.available_at > datetime.now(UTC) + timedelta(seconds=30)


async def test_gives_up_after_max_attempts(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", status=500, times=10)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    worker = make_worker(db, fake_slack, max_attempts=3)
    for _ in range(3):
        await worker.deliver_once()
        async with db.transaction() as session:  # skip the backoff wait
            await session.execute(
                update(OutboxMessage).values(available_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        worker._lane_ready.clear()
    assert await statuses(db) == [OutboxStatus.FAILED]
    assert len(fake_slack.calls_to("chat.postMessage")) == 3


async def test_only_the_newest_queued_edit_is_sent(db, fake_slack, clock) -> None:
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "a", "text": "v0"}))
    worker = make_worker(db, fake_slack)
    await worker.drain()
    await queue(db, clock, *[("update_message", {"channel": "C1", "key": "a", "text": f"v{i}"}) for i in range(1, 6)])
    await worker.drain()
    assert len(fake_slack.calls_to("chat.update")) == 1
    assert fake_slack.messages("C1")[0].text == "v5"


async def test_each_channel_is_paced_but_channels_proceed_in_parallel(db, fake_slack, clock) -> None:
    await queue(
        db,
        clock,
        *[
            ("post_message", {"channel": ch, "key": f"{ch}{i}", "text": str(i)})
            for i in range(3)
            for ch in ("C1", "C2")
        ],
    )
    await make_worker(db, fake_slack, pace_seconds=0.4).drain(timeout=10)
    for channel in ("C1", "C2"):
        times = [c.at for c in fake_slack.calls_to("chat.postMessage") if c.args.get("channel") == channel]
        assert len(times) == 3
        assert all(b - a >= 0.35 for a, b in zip(times, times[1:]))
    first = {c.args["channel"]: c.at for c in reversed(fake_slack.calls_to("chat.postMessage"))}
    assert abs(first["C1"] - first["C2"]) < 0.3


async def test_two_workers_never_send_the_same_row(database_url, fake_slack, clock) -> None:
    db_a, db_b = Database(database_url), Database(database_url)
    try:
        await queue(
            db_a,
            clock,
            *[("post_message", {"channel": f"C{i % 7}", "key": f"k{i}", "text": f"m{i}"}) for i in range(60)],
        )
        a, b = make_worker(db_a, fake_slack), make_worker(db_b, fake_slack)
        await asyncio.gather(a.drain(timeout=20), b.drain(timeout=20))
        texts = [c.args["text"] for c in fake_slack.calls_to("chat.postMessage")]
        assert sorted(texts) == sorted(f"m{i}" for i in range(60))
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_row_of_a_dead_worker_is_sent_after_its_lease(db, fake_slack, clock) -> None:
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    async with db.transaction() as session:  # claimed by a worker that then died
        await session.execute(
            update(OutboxMessage).values(
                claimed_by="dead", attempts=1, lease_until=datetime.now(UTC) + timedelta(seconds=1)
            )
        )
    worker = make_worker(db, fake_slack)
    assert await worker.deliver_once() == 0
    await asyncio.sleep(1.1)
    await worker.drain()
    assert len(fake_slack.messages("C1")) == 1


async def test_timeout_is_retried(db, fake_slack, clock) -> None:
    fake_slack.hang("chat.postMessage", times=1)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    worker = make_worker(db, fake_slack, timeout=1)
    await worker.drain(timeout=15)
    assert len(fake_slack.messages("C1")) == 1


async def test_rolled_back_change_sends_nothing(db, fake_slack, clock) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            outbox.post_message(session, clock, channel="C1", key="k", text="never")
            raise RuntimeError
    await make_worker(db, fake_slack).drain()
    assert fake_slack.calls_to("chat.postMessage") == []
    async with db.sessions() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_rate_limits_never_exhaust_attempts(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=0, times=5)
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "k", "text": "hi"}))
    await make_worker(db, fake_slack, max_attempts=2).drain(timeout=10)
    assert len(fake_slack.messages("C1")) == 1


async def test_a_rate_limit_holds_every_row_of_the_lane(db, fake_slack, clock) -> None:
    fake_slack.fail("chat.postMessage", status=429, retry_after=30, times=1)
    await queue(db, clock, *[("post_message", {"channel": "C1", "key": f"k{i}", "text": str(i)}) for i in range(3)])
    await make_worker(db, fake_slack).deliver_once()
    other_replica = make_worker(db, fake_slack)
    assert await other_replica.deliver_once() == 0
    async with db.sessions() as session:
        due = (await session.scalars(select(OutboxMessage.available_at))).all()
    assert all(at > datetime.now(UTC) + timedelta(seconds=20) for at in due)


async def test_a_debounced_edit_does_not_hold_up_the_channel(db, fake_slack, clock) -> None:
    await queue(db, clock, ("post_message", {"channel": "C1", "key": "a", "text": "v0"}))
    worker = make_worker(db, fake_slack)
    await worker.drain()
    await queue(
        db,
        clock,
        ("update_message", {"channel": "C1", "key": "a", "text": "v1", "delay_seconds": 30}),
        ("post_message", {"channel": "C1", "key": "b", "text": "next alert"}),
    )
    await worker.drain(timeout=2)
    assert [m.text for m in fake_slack.messages("C1")] == ["v0", "next alert"]
