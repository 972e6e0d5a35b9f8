"""`POST /alerts` end to end: signed HTTP into a running Trustbot, assertions on the database and
on what reached the fake Slack. Every status code README "Ingest" lists, and bad input of every kind."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.bots import INGEST_SECRET, RunningBot, count, start_bot
from tests.support.ingest import alert, alerts, post
from trustbot.clock import FixedClock
from trustbot.handlers.ingest import parse_items
from trustbot.services.alerts.ingest import AlertIn
from trustbot.standin.producers import ingest_headers
from trustbot.standin.sample import REP
from trustbot.storage.tables import Alert, AlertOccurrence, OutboxMessage


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot that accepts alerts; updates are not debounced unless a test asks."""
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS=0)
    yield running
    await running.driver.close()
    await running.server.stop()


def texts(fake: Any, channel: str) -> list[str]:
    """Everything visible in each top-level message of a channel (text and blocks)."""
    return [m.text + json.dumps(m.blocks or []) for m in fake.messages(channel)]


# -- status codes --------------------------------------------------------------------------


async def test_single_alert_is_accepted_and_posted(abot: RunningBot) -> None:
    status, answer = await post(abot, alert("a-1"))
    assert (status, answer) == (202, {"accepted": 1, "duplicates": 0})
    await abot.settle()
    shown = texts(abot.slack, "C0ACMESEC")
    assert len(shown) == 1 and "Acme Security" in shown[0] and "exfiltration" in shown[0]


async def test_missing_secret_is_503(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_INGEST_SECRET=None)
    try:
        status, _ = await post(running, alert("a-1"))
        assert status == 503
        assert await count(running, AlertOccurrence) == 0
    finally:
        await running.driver.close()
        await running.server.stop()


@pytest.mark.parametrize("case", ["missing", "wrong", "wrong-secret", "stale", "future", "garbage-ts"])
async def test_bad_signatures_are_401(abot: RunningBot, case: str) -> None:
    raw = json.dumps(alert("a-1")).encode()
    now = int(time.time())
    if case == "missing":
        status, _ = await post(abot, body=raw, headers={"X-Trustbot-Signature": "", "X-Trustbot-Timestamp": ""})
    elif case == "wrong":
        status, _ = await post(abot, body=raw, headers={"X-Trustbot-Signature": "v0=" + "0" * 64})
    elif case == "wrong-secret":
        status, _ = await post(abot, body=raw, secret="not-the-secret")
    elif case == "stale":
        status, _ = await post(abot, body=raw, timestamp=now - 301)
    elif case == "future":
        status, _ = await post(abot, body=raw, timestamp=now + 301)
    else:
        status, _ = await post(abot, body=raw, headers={"X-Trustbot-Timestamp": "yesterday"})
    assert status == 401
    assert await count(abot, AlertOccurrence) == 0


async def test_a_tampered_body_is_401(abot: RunningBot) -> None:
    raw = json.dumps(alert("a-1")).encode()
    headers = ingest_headers(INGEST_SECRET, raw)
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{abot.server.url}/alerts", data=raw.replace(b"medium", b"low"), headers=headers) as r,
    ):
        assert r.status == 401


async def test_timestamp_within_window_is_fine(abot: RunningBot) -> None:
    status, _ = await post(abot, alert("a-1"), timestamp=int(time.time()) - 290)
    assert status == 202


async def test_wrong_content_type_is_415(abot: RunningBot) -> None:
    status, _ = await post(abot, alert("a-1"), headers={"Content-Type": "text/plain"})
    assert status == 415
    status, _ = await post(abot, alert("a-1"), headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 415


async def test_not_json_is_400(abot: RunningBot) -> None:
    for raw in (b"{not json", b"", b"\xff\xfe\x00", b'{"id": "a", '):
        status, _ = await post(abot, body=raw)
        assert status == 400, raw


async def test_oversized_body_is_413(abot: RunningBot) -> None:
    big = {"alerts": [alert("x", summary="s")], "padding": "x" * (1024 * 1024)}
    status, _ = await post(abot, big)
    assert status == 413
    assert await count(abot, AlertOccurrence) == 0


async def test_batch_of_501_is_413_and_500_is_fine(abot: RunningBot) -> None:
    status, _ = await post(abot, {"alerts": [alert(f"b-{i}") for i in range(501)]})
    assert status == 413
    assert await count(abot, AlertOccurrence) == 0
    status, answer = await post(abot, {"alerts": [alert(f"b-{i}", actor=f"u{i % 7}") for i in range(500)]})
    assert (status, answer) == (202, {"accepted": 500, "duplicates": 0})
    assert await count(abot, AlertOccurrence) == 500
    assert await count(abot, Alert) == 7  # grouped by org:actor:signal


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"summary": None}, "summary"),
        ({"id": None}, "id"),
        ({"occurred_at": None}, "occurred_at"),
        ({"severity": 3}, "severity"),
        ({"severity": "urgent"}, "severity"),
        ({"score": "0.5"}, "score"),
        ({"score": 1.5}, "score"),
        ({"org": 42}, "org"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"occurred_at": "2026-11-02T08:59:00"}, "occurred_at"),
        ({"evidence_url": "http://mon.example/e/1"}, "evidence_url"),
        ({"evidence_url": "javascript:alert(1)"}, "evidence_url"),
        ({"details": {"blob": "x" * 8200}}, "details"),
        ({"details": ["not", "an", "object"]}, "details"),
        ({"id": "x" * 129}, "id"),
        ({"signal": "s" * 65}, "signal"),
        ({"summary": "s" * 501}, "summary"),
        ({"actor": "mallory\x00"}, "actor"),
    ],
)
async def test_invalid_item_is_422_naming_index_and_field_and_nothing_is_stored(
    abot: RunningBot, bad: dict, field: str
) -> None:
    items = [alert("ok-0"), alert("ok-1"), {**alert("bad-2"), **bad}]
    items[2] = {k: v for k, v in items[2].items() if v is not None}
    status, answer = await post(abot, {"alerts": items})
    assert status == 422
    assert answer["item"] == 2 and answer["field"] == field, answer
    assert "item 2" in answer["message"] and field in answer["message"]
    assert await count(abot, AlertOccurrence) == 0 and await count(abot, Alert) == 0
    assert await count(abot, OutboxMessage) == 0


async def test_single_invalid_object_names_item_0(abot: RunningBot) -> None:
    status, answer = await post(abot, alert("a", severity=None))
    assert status == 422 and answer["item"] == 0 and answer["field"] == "severity"
    status, answer = await post(abot, [alert("a")])
    assert status == 422 and answer["field"] == "body"
    status, answer = await post(abot, {"alerts": "nope"})
    assert status == 422 and answer["field"] == "alerts"


async def test_details_at_8_kib_are_fine(abot: RunningBot) -> None:
    details = {"blob": "x" * (8 * 1024 - 12)}
    assert len(json.dumps(details, separators=(",", ":"))) <= 8 * 1024
    status, _ = await post(abot, alert("a", details=details))
    assert status == 202


async def test_control_characters_and_mrkdwn_in_summary(abot: RunningBot) -> None:
    summary = "Ping <!channel> and <@U0OPS1>: <https://evil.example|click here> & \x07\x1b[31mred\x00"
    status, _ = await post(abot, alert("a-1", summary=summary, severity="high"))
    assert status == 202
    stored = (await alerts(abot))[0]
    assert "\x07" not in stored.summary and "\x00" not in stored.summary and "\x1b" not in stored.summary
    await abot.settle()
    [shown] = texts(abot.slack, "C0ACMESEC")
    assert "<!channel>" not in shown and "<@U0OPS1>" not in shown and "<https://evil" not in shown
    assert "&lt;!channel&gt;" in shown


# -- idempotency and routing ---------------------------------------------------------------


async def test_resent_id_is_a_duplicate_never_a_second_alert(abot: RunningBot) -> None:
    assert await post(abot, alert("a-1")) == (202, {"accepted": 1, "duplicates": 0})
    assert await post(abot, alert("a-1")) == (202, {"accepted": 0, "duplicates": 1})
    assert await post(abot, {"alerts": [alert("a-1"), alert("a-2"), alert("a-2")]}) == (
        202,
        {"accepted": 1, "duplicates": 2},
    )
    assert await count(abot, AlertOccurrence) == 2
    [stored] = await alerts(abot)
    assert stored.occurrences == 2
    await abot.settle()
    assert len(abot.slack.messages("C0ACMESEC")) == 1


async def test_unknown_org_is_accepted_and_posted_to_the_default_channel(abot: RunningBot) -> None:
    assert (await post(abot, alert("u-1", org="initech", severity="low")))[0] == 202
    assert (await post(abot, alert("u-2", org="initech", signal="scan", severity="medium")))[0] == 202
    await abot.settle()
    [shown] = texts(abot.slack, "C0SEC")
    assert "initech" in shown and "unknown org" in shown
    assert abot.slack.messages("C0ACMESEC") == []
    assert len(await alerts(abot)) == 2  # the low one is stored, not posted


async def test_org_without_a_security_channel_uses_the_default(abot: RunningBot) -> None:
    await post(abot, alert("g-1", org="globex", severity="high"))
    await abot.settle()
    [shown] = texts(abot.slack, "C0SEC")
    assert "Globex" in shown and "unknown org" not in shown


async def test_severity_policy(abot: RunningBot) -> None:
    await post(
        abot,
        {
            "alerts": [
                alert("l", signal="low-sig", severity="low"),
                alert("m", signal="med-sig", severity="medium"),
                alert("h", signal="high-sig", severity="high"),
                alert("c", signal="crit-sig", severity="critical"),
            ]
        },
    )
    await abot.settle()
    shown = texts(abot.slack, "C0ACMESEC")
    assert len(shown) == 3 and not any("low-sig" in s for s in shown)
    by_signal = {sig: next(s for s in shown if sig in s) for sig in ("med-sig", "high-sig", "crit-sig")}
    assert "<@U0SEC1>" not in by_signal["med-sig"]
    assert "<@U0SEC1>" in by_signal["high-sig"] and "<@U0SEC1>" in by_signal["crit-sig"]
    rep_dms = [m.text for m in abot.slack.messages(REP)]
    assert len(rep_dms) == 1 and "crit-sig" in rep_dms[0]


def test_parse_items_accepts_rfc3339_offsets() -> None:
    items, refusal = parse_items(
        json.dumps(alert("a", occurred_at="2026-11-02T10:59:00.123+02:00")).encode(), AlertIn, "alerts", "alert"
    )
    assert refusal is None and items and items[0].occurred_at.hour == 8


@settings(max_examples=200, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=6),
        max_leaves=20,
    )
)
def test_any_json_is_either_parsed_or_refused_with_a_client_status(value: Any) -> None:
    for body in (value, {"alerts": value}, {**alert("x"), "details": value}):
        items, refusal = parse_items(json.dumps(body).encode(), AlertIn, "alerts", "alert")
        assert (items is None) != (refusal is None)
        if refusal is not None:
            # Valid JSON of at most a handful of items is never 400 (unparseable) nor 413 (too many items):
            # whatever is wrong with it is an invalid item or body.
            assert refusal.status == 422
