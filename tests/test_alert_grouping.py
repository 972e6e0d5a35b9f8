"""Alert grouping end to end: repeats of one alert share one Slack message until it is closed or
the dedup window ends, and a fingerprint shared by two orgs never merges their alerts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.alert_helpers import CHANNEL, alert_bot, raise_alert
from tests.support.bots import RunningBot
from tests.support.ingest import alert, alerts, post
from trustbot.clock import FixedClock
from trustbot.standin.sample import SEC_LEAD
from trustbot.storage.tables import AlertStatus


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    async with alert_bot(database_url, fake_slack, clock) as running:
        yield running


async def test_repeats_group_into_one_message_with_count_and_last_seen(abot: RunningBot) -> None:
    await raise_alert(abot, id="g-1")
    for i in range(2, 6):
        await post(abot, alert(f"g-{i}", severity="high", occurred_at=f"2026-11-02T09:0{i}:00Z"))
    await abot.settle()
    [message] = abot.slack.messages(CHANNEL)
    shown = json.dumps(message.blocks)
    assert "*Occurrences*\\n5" in shown and "2026-11-02 09:05 UTC" in shown


async def test_after_resolve_a_new_occurrence_opens_a_new_alert(abot: RunningBot) -> None:
    message = await raise_alert(abot, id="r-1")
    await abot.driver.click(SEC_LEAD, message, "Resolve")
    await abot.settle()
    await raise_alert(abot, id="r-2")
    assert len(abot.slack.messages(CHANNEL)) == 2
    assert [a.status for a in await alerts(abot)] == [AlertStatus.RESOLVED, AlertStatus.OPEN]


async def test_dedup_window_ends_grouping(abot: RunningBot) -> None:
    await raise_alert(abot, id="w-1")
    abot.clock.advance(timedelta(minutes=61))
    await raise_alert(abot, id="w-2")
    assert len(await alerts(abot)) == 2 and len(abot.slack.messages(CHANNEL)) == 2


async def test_a_fingerprint_shared_by_two_orgs_never_merges_them(abot: RunningBot) -> None:
    assert (await post(abot, alert("acme-1", fingerprint="exfil:bulk", summary="acme thing")))[0] == 202
    assert (await post(abot, alert("glx-1", org="globex", fingerprint="exfil:bulk", summary="GLOBEX SECRET")))[0] == 202
    await abot.settle()
    stored = sorted((a.org_slug, a.occurrences) for a in await alerts(abot))
    assert stored == [("acme", 1), ("globex", 1)]
    [acme_message] = abot.slack.messages(CHANNEL)
    [globex_message] = abot.slack.messages("C0SEC")  # globex has no security channel of its own
    assert "acme thing" in json.dumps(acme_message.blocks) and "GLOBEX" not in json.dumps(acme_message.blocks)
    assert "GLOBEX SECRET" in json.dumps(globex_message.blocks)
