"""A signed ingest body counts only where it was meant to go: the path-bound v1
signature, TRUSTBOT_INGEST_REQUIRE_PATH_SIGNATURE, and alert and usage bodies that never pass for
each other even under a valid v0."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from tests.support.bots import INGEST_SECRET, RunningBot, count, start_bot
from tests.support.ingest import alert, usage
from trustbot.clock import FixedClock
from trustbot.slack.signing import v0_signature, v1_signature
from trustbot.standin.producers import ingest_headers
from trustbot.storage.tables import Alert, UsageRecord


async def send(bot: RunningBot, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """POST `body` with `headers` to `path`; the status and JSON answer."""
    async with aiohttp.ClientSession() as http, http.post(bot.server.url + path, data=body, headers=headers) as r:
        return r.status, json.loads(await r.text())


def signed(signature: str, stamp: str) -> dict[str, str]:
    return {"X-Trustbot-Timestamp": stamp, "X-Trustbot-Signature": signature, "Content-Type": "application/json"}


def both_shapes(id: str) -> bytes:
    """One item that is a valid alert and, by its fields, also a valid usage record."""
    return json.dumps(alert(id) | {"amount_usd": 99.5}).encode()


async def test_an_item_of_both_shapes_is_refused_on_both_paths(bot: RunningBot) -> None:
    body = both_shapes("both-1")
    status, answer = await send(bot, "/usage", body, ingest_headers(INGEST_SECRET, body))
    assert status == 422 and answer["field"] == "actor" and "/alerts" in answer["message"], answer
    status, answer = await send(bot, "/alerts", body, ingest_headers(INGEST_SECRET, body))
    assert status == 422 and answer["field"] == "amount_usd" and "/usage" in answer["message"], answer
    assert await count(bot, UsageRecord) == 0 and await count(bot, Alert) == 0


async def test_a_batch_key_of_the_other_endpoint_is_refused(bot: RunningBot) -> None:
    for path, body in (
        ("/usage", {"alerts": [alert("a-1")], **usage("u-1")}),
        ("/alerts", {"usage": [usage("u-2")], **alert("a-2")}),
    ):
        raw = json.dumps(body).encode()
        status, answer = await send(bot, path, raw, ingest_headers(INGEST_SECRET, raw))
        assert status == 422 and answer["field"] in ("alerts", "usage") and answer["item"] is None, (path, answer)
    assert await count(bot, UsageRecord) == 0 and await count(bot, Alert) == 0


async def test_the_usual_bodies_still_pass(bot: RunningBot) -> None:
    raw = json.dumps({"alerts": [alert("a-ok")]}).encode()
    assert (await send(bot, "/alerts", raw, ingest_headers(INGEST_SECRET, raw)))[0] == 202
    raw = json.dumps({"usage": [usage("u-ok")]}).encode()
    assert (await send(bot, "/usage", raw, ingest_headers(INGEST_SECRET, raw)))[0] == 202


async def test_a_v1_signature_binds_the_path(bot: RunningBot) -> None:
    raw = json.dumps(alert("v1-1")).encode()
    stamp = ingest_headers(INGEST_SECRET, raw)["X-Trustbot-Timestamp"]  # the wall clock, as producers sign
    for_alerts = v1_signature(INGEST_SECRET, stamp, "/alerts", raw)
    status, answer = await send(bot, "/usage", raw, signed(for_alerts, stamp))
    assert status == 401 and "does not match" in answer["error"]
    assert (await send(bot, "/alerts", raw, signed(for_alerts, stamp)))[0] == 202


async def test_v0_and_v1_side_by_side_must_both_match(bot: RunningBot) -> None:
    raw = json.dumps(alert("v01-1")).encode()
    stamp = ingest_headers(INGEST_SECRET, raw)["X-Trustbot-Timestamp"]
    v0 = v0_signature(INGEST_SECRET, stamp, raw)
    wrong_v1 = v1_signature(INGEST_SECRET, stamp, "/usage", raw)
    assert (await send(bot, "/alerts", raw, signed(f"{v0}, {wrong_v1}", stamp)))[0] == 401
    for malformed in (f"{v0},{v0}", f"{v0},", f"{v0},v2={'0' * 64}", f"{v0}," + "," * 300):
        assert (await send(bot, "/alerts", raw, signed(malformed, stamp)))[0] == 401, malformed
    assert (await send(bot, "/alerts", raw, ingest_headers(INGEST_SECRET, raw, path="/alerts")))[0] == 202
    assert await count(bot, Alert) == 1


async def test_required_path_signature_refuses_v0_alone(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    bot = await start_bot(database_url, fake_slack, clock, TRUSTBOT_INGEST_REQUIRE_PATH_SIGNATURE=True)
    try:
        raw = json.dumps(alert("req-1")).encode()
        status, answer = await send(bot, "/alerts", raw, ingest_headers(INGEST_SECRET, raw))
        assert status == 401 and "v1" in answer["error"], answer
        assert await count(bot, Alert) == 0
        assert (await send(bot, "/alerts", raw, ingest_headers(INGEST_SECRET, raw, path="/alerts")))[0] == 202
        raw = json.dumps(usage("req-u")).encode()
        assert (await send(bot, "/usage", raw, ingest_headers(INGEST_SECRET, raw, path="/usage")))[0] == 202
    finally:
        await bot.close()
