"""Hostile webhook receivers: a redirect is never followed, a receiver that hangs holds no Slack post,
and an endless answer body is never read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.alert_helpers import CHANNEL
from tests.support.child_serve import wait_for
from tests.support.ingest import alert, post
from tests.support.receivers import Receiver, queue_grant_event, receiver_bot, webhook_row, webhook_status
from trustbot.clock import FixedClock
from trustbot.storage.tables import OutboxStatus


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_and_the_event_is_retried_not_sent(
    database_url: str, fake_slack: Any, clock: FixedClock, status: int
) -> None:
    elsewhere = await Receiver().start()
    redirecting = Receiver(redirect=(status, elsewhere.url))
    await redirecting.start()
    try:
        async with receiver_bot(database_url, fake_slack, clock, redirecting) as bot:
            await queue_grant_event(bot, clock)
            await wait_for(lambda: len(redirecting.hits) >= 2)  # the first attempt failed and was retried
            row = await webhook_row(bot)
    finally:
        await elsewhere.stop()
    assert elsewhere.hits == []  # neither a GET with the webhook headers nor the signed event re-POSTed
    assert {h.method for h in redirecting.hits} == {"POST"}
    assert row.status == OutboxStatus.PENDING and row.sent_at is None
    assert row.last_error == f"webhook redirect {status} refused"


async def test_a_hanging_receiver_holds_no_slack_post(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    hanging = Receiver(hold=True)
    await hanging.start()
    async with receiver_bot(database_url, fake_slack, clock, hanging, TRUSTBOT_WEBHOOK_TIMEOUT_SECONDS=60) as bot:
        await queue_grant_event(bot, clock)
        await wait_for(hanging.holding.is_set)  # the gateway has the event and does not answer
        for i in range(6):
            item = alert(f"h-{i}", fingerprint=f"fp-{i}", summary=f"Hanging gateway alert {i}", severity="high")
            assert (await post(bot, item))[0] == 202
        # Well inside the receiver's 60 s deadline: the Slack lane does not wait for the gateway's.
        await wait_for(lambda: len(fake_slack.messages(CHANNEL)) == 6, timeout=30)
        assert not hanging.released.is_set()
        shown = " ".join(m.text for m in fake_slack.messages(CHANNEL))
        assert all(f"Hanging gateway alert {i}" in shown for i in range(6)), shown
        assert (await webhook_row(bot)).status == OutboxStatus.PENDING
        hanging.released.set()
        assert await webhook_status(bot, OutboxStatus.SENT, timeout=30)  # the lane goes on once answered
    assert len(hanging.hits) == 1


@pytest.mark.parametrize("declared_length", [None, 1_500_000_000])
async def test_an_endless_answer_body_is_not_read(
    database_url: str, fake_slack: Any, clock: FixedClock, declared_length: int | None
) -> None:
    streaming = Receiver(stream=True, declared_length=declared_length)
    await streaming.start()
    async with receiver_bot(database_url, fake_slack, clock, streaming, TRUSTBOT_WEBHOOK_TIMEOUT_SECONDS=60) as bot:
        await queue_grant_event(bot, clock)

        # The 200 decides: recorded while the body streams on (for minutes, at its pace), not after it.
        assert await webhook_status(bot, OutboxStatus.SENT, timeout=30)
        await wait_for(streaming.cut.is_set, timeout=30)  # Trustbot closed the connection mid-body
    assert streaming.written < 16 * 1024 * 1024
