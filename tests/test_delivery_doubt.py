"""Exactly once through ambiguity: a post Slack carried out but whose answer was late, lost or never read
is found by its metadata and recorded, not posted twice; Slack's refusals still reach people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.support.delivery_helpers import make_worker, queue, rows
from trustbot.delivery.slack_writes import EVENT_TYPE
from trustbot.standin.sample import DEV
from trustbot.storage.database import Database
from trustbot.storage.tables import OutboxMessage, OutboxStatus, SlackMessage


def posted(fake_slack: Any, channel: str) -> list[Any]:
    """Every message in a channel (or DM), thread replies included."""
    return [m for m in fake_slack.all_messages() if m.channel == fake_slack._resolve(channel)]


async def saved(db: Database, key: str) -> tuple[str, str] | None:
    async with db.sessions() as session:
        message = await session.get(SlackMessage, key)
    return (message.channel, message.ts) if message else None


async def test_every_post_carries_metadata_naming_its_row(db: Database, fake_slack: Any) -> None:
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "hello"}))
    await make_worker(db, fake_slack).drain(timeout=10)
    [row] = await rows(db)
    [message] = fake_slack.messages("C1")
    assert message.metadata == {
        "event_type": EVENT_TYPE,
        "event_payload": {"outbox_row": row.id, "queued_at": row.created_at.isoformat()},
    }
    assert row.doubt_since is None


async def test_a_post_answered_after_the_timeout_is_found_not_sent_again(db: Database, fake_slack: Any) -> None:
    fake_slack.answer_late("chat.postMessage", seconds=2.5)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "once"}))
    await make_worker(db, fake_slack, timeout=1).drain(timeout=20)
    assert [m.text for m in fake_slack.messages("C1")] == ["once"]
    [row] = await rows(db)
    assert (row.status, row.attempts, row.doubt_since) == (OutboxStatus.SENT, 2, None)
    assert await saved(db, "k") == ("C1", fake_slack.messages("C1")[0].ts)
    assert [c.method for c in fake_slack.calls] == ["chat.postMessage", "conversations.history"]


async def test_a_dropped_connection_after_sending_is_found_in_the_thread(db: Database, fake_slack: Any) -> None:
    await queue(db, ("post_message", {"channel": "C1", "key": "parent", "message": "parent"}))
    await make_worker(db, fake_slack).drain(timeout=10)
    fake_slack.drop_after("chat.postMessage")
    await queue(db, ("reply_in_thread", {"channel": "C1", "parent_key": "parent", "message": "reply", "key": "r"}))
    await make_worker(db, fake_slack).drain(timeout=20)
    [parent] = fake_slack.messages("C1")
    assert [m.text for m in fake_slack.replies("C1", parent.ts)] == ["reply"]
    assert "conversations.replies" in [c.method for c in fake_slack.calls]
    assert (await saved(db, "r")) == ("C1", fake_slack.replies("C1", parent.ts)[0].ts)


async def test_a_dm_never_answered_is_found_through_its_dm_channel(db: Database, fake_slack: Any) -> None:
    fake_slack.answer_never("chat.postMessage")
    await queue(db, ("send_dm", {"user": DEV, "message": "just once"}))
    worker = make_worker(db, fake_slack, timeout=1)
    await worker.drain(timeout=3)
    fake_slack.release()
    await worker.drain(timeout=20)
    assert [m.text for m in fake_slack.dms(DEV)] == ["just once"]
    methods = [c.method for c in fake_slack.calls]
    assert methods.count("chat.postMessage") == 1 and "conversations.open" in methods
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT


async def test_a_worker_that_died_holding_a_post_leaves_it_in_doubt_and_it_is_found(
    db: Database, fake_slack: Any
) -> None:
    """The process was killed after Slack posted but before the row was marked sent."""
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "survivor"}))
    [row] = await rows(db)
    started = datetime.now(UTC) - timedelta(seconds=30)
    metadata = {
        "event_type": EVENT_TYPE,
        "event_payload": {"outbox_row": row.id, "queued_at": row.created_at.isoformat()},
    }
    fake_slack._post("C1", "survivor", None, None, False, metadata)
    async with db.transaction() as session:  # claimed by a worker that then died
        await session.execute(
            update(OutboxMessage).values(claimed_by="dead", lease_until=started, attempts=1, doubt_since=started)
        )
    await make_worker(db, fake_slack).drain(timeout=10)
    assert [m.text for m in fake_slack.messages("C1")] == ["survivor"]
    assert "chat.postMessage" not in [c.method for c in fake_slack.calls]
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT


async def test_a_message_from_another_row_with_the_same_text_is_not_mistaken_for_it(
    db: Database, fake_slack: Any
) -> None:
    fake_slack.answer_late("chat.postMessage", seconds=2.5, times=1)
    await queue(db, ("post_message", {"channel": "C1", "key": "a", "message": "same"}))
    worker = make_worker(db, fake_slack, timeout=1)
    await worker.drain(timeout=1.5)  # the first attempt timed out; its post landed
    fake_slack._post("C1", "same", None, None, False, {"event_type": EVENT_TYPE, "event_payload": {"outbox_row": 999}})
    await worker.drain(timeout=20)
    ours = [m for m in fake_slack.messages("C1") if m.metadata["event_payload"]["outbox_row"] != 999]
    assert len(ours) == 1


async def test_when_history_cannot_be_read_the_post_is_sent_again(db: Database, fake_slack: Any) -> None:
    """Without the history scope there is no way to look; the message must still arrive (a copy is possible)."""
    fake_slack.answer_late("chat.postMessage", seconds=2.5)
    fake_slack.fail("conversations.history", error="missing_scope")
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "maybe twice"}))
    await make_worker(db, fake_slack, timeout=1).drain(timeout=20)
    assert [m.text for m in fake_slack.messages("C1")] == ["maybe twice", "maybe twice"]
    [row] = await rows(db)
    assert row.status == OutboxStatus.SENT


async def test_a_history_read_slack_throttles_is_retried_before_posting(db: Database, fake_slack: Any) -> None:
    fake_slack.answer_late("chat.postMessage", seconds=2.5)
    fake_slack.fail("conversations.history", status=429, retry_after=0)
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "once"}))
    await make_worker(db, fake_slack, timeout=1).drain(timeout=20)
    assert [m.text for m in fake_slack.messages("C1")] == ["once"]
    assert [c.method for c in fake_slack.calls].count("conversations.history") == 2


async def test_blocks_slack_refuses_are_replaced_by_the_plain_text_version(db: Database, fake_slack: Any) -> None:
    too_long = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    await queue(db, ("post_message", {"channel": "C1", "key": "k", "message": "the plain version"}))
    async with db.transaction() as session:
        await session.execute(update(OutboxMessage).values(payload={"text": "the plain version", "blocks": too_long}))
    await make_worker(db, fake_slack).drain(timeout=10)
    [message] = fake_slack.messages("C1")
    assert (message.text, message.blocks) == ("the plain version", [])
    assert [m for m, _ in fake_slack.rejected] == ["chat.postMessage"]
    async with db.sessions() as session:
        [row] = (await session.scalars(select(OutboxMessage))).all()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)


@pytest.mark.slow
async def test_rows_waiting_for_a_send_slot_past_their_lease_are_not_posted_by_a_second_replica(
    db: Database, fake_slack: Any
) -> None:
    """A pass claims up to 100 rows and sends 16 at a time; behind a slow Slack the last ones wait past
    their lease. A replica starting then must not take them: the first worker renews them before sending."""
    import asyncio
    from collections import Counter

    from trustbot.standin.fake_faults import Fault

    channels = [f"C{i:03d}" for i in range(80)]
    await queue(db, *[("post_message", {"channel": c, "key": f"k-{c}", "message": f"to {c}"}) for c in channels])
    fake_slack.faults.queued.append(Fault("chat.postMessage", times=10_000, late=0.5))  # done, answered in 0.5 s
    first = make_worker(db, fake_slack, lease_seconds=1)
    second = make_worker(db, fake_slack, lease_seconds=1)

    async def second_replica() -> int:
        await asyncio.sleep(1.2)  # the first worker's third wave of sends waits for slots, its lease run out
        return await second.drain(timeout=15)

    await asyncio.gather(first.drain(timeout=15), second_replica())
    copies = Counter(m.text for c in channels for m in fake_slack.messages(c))
    assert sorted(copies) == sorted(f"to {c}" for c in channels)
    assert [text for text, n in copies.items() if n > 1] == []
    assert {row.status for row in await rows(db)} == {OutboxStatus.SENT}
