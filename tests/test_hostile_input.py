"""Hostile input: every case an attacker tried gets a documented 4xx, a refusal or exit 2 — never a 5xx, a
traceback, a partial batch, or a change made for another workspace."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.support.bots import INGEST_SECRET, SIGNING_SECRET, RunningBot, count
from tests.support.ingest import alert, post, post_usage, usage
from tests.support.slack_flows import GOOD, open_and_submit, request_messages
from trustbot.cli.main import main
from trustbot.messages.installs import NOT_CONNECTED
from trustbot.standin.producers import ingest_headers
from trustbot.standin.sample import ADMIN, REP
from trustbot.standin.slack_requests import FORM, sign_request, slash_command_body
from trustbot.storage.tables import AccessRequest, Alert, UsageRecord

GARBAGE_BODIES = [b"[1]", b"null", b"5", b"payload=null", b"[" * 5000 + b"]" * 5000, b"\xff\xfe not utf-8"]


def hostile_headers() -> list[dict[str, str]]:
    now = str(int(time.time()))
    return [
        {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": "", "X-Slack-Signature": ""},
        {"X-Slack-Request-Timestamp": "1e10", "X-Slack-Signature": "v0=" + "0" * 64},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=\u00e9\u00e9"},
        {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64},
        {},
    ]


async def test_unsigned_garbage_is_401_with_at_most_one_warning_line(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    for body in [*GARBAGE_BODIES, gzip.compress(b"x")[:5]]:
        for headers in hostile_headers():
            caplog.clear()
            with caplog.at_level(logging.INFO):
                answer = await bot.driver.post_raw(body, {"Content-Type": FORM, "Content-Encoding": "gzip", **headers})
            assert answer.status == 401, (body[:20], headers)
            lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(lines) <= 1 and not any(r.exc_info for r in caplog.records), [r.getMessage() for r in lines]


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"[1]", "application/json", 400),
        (b"null", "application/json", 400),
        (b"5", "application/json", 400),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b"payload=null", FORM, 400),
        (b"payload=%5B1%5D", FORM, 400),
        (b"\xff\xfe", FORM, 401),  # Slack signs UTF-8 only: these bytes cannot be its
        # Valid JSON in no shape Slack sends: refused as malformed.
        (b'{"type": "block_actions", "team": 5, "user": [], "actions": "x"}', "application/json", 400),
    ],
)
async def test_signed_but_malformed_bodies_are_answered_never_5xx(
    bot: RunningBot, body: bytes, content_type: str, status: int
) -> None:
    answer = await bot.driver.post_signed(body, content_type)
    assert answer.status == status


async def test_compressed_bodies_are_refused_not_inflated(bot: RunningBot) -> None:
    plain = slash_command_body(text="help", user_id=ADMIN, response_url=bot.slack.response_url_base + "x")
    signed = {**sign_request(SIGNING_SECRET, plain), "Content-Type": FORM, "Content-Encoding": "gzip"}
    assert (await bot.driver.post_raw(plain, signed)).status == 415  # signed, but we never inflate
    zipped = gzip.compress(plain)
    signed = {**sign_request(SIGNING_SECRET, zipped), "Content-Type": FORM, "Content-Encoding": "gzip"}
    assert (await bot.driver.post_raw(zipped, signed)).status == 401  # Slack signs UTF-8 text, never these bytes
    assert bot.slack.ephemerals(ADMIN) == []
    raw = json.dumps(alert("gz-1")).encode()
    zipped = gzip.compress(raw)
    signed_plain = {
        **ingest_headers(INGEST_SECRET, raw),
        "Content-Encoding": "gzip",
        "Content-Type": "application/json",
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.server.url}/alerts", data=zipped, headers=signed_plain) as response,
    ):
        assert response.status == 401  # the signature covers the bytes as sent, not what they inflate to
    status, answer = await post(bot, body=zipped, headers={"Content-Encoding": "gzip"})
    assert (status, answer["error"]) == (415, "Content-Encoding is not accepted; send the JSON uncompressed")
    assert await count(bot, Alert) == 0


@pytest.mark.parametrize("field", ["actor", "id", "org", "signal", "fingerprint"])
@pytest.mark.parametrize("bad", ["\ud800", "a\x00b"])
async def test_unstorable_characters_in_an_alert_are_422_naming_item_and_field(
    bot: RunningBot, field: str, bad: str
) -> None:
    good, poisoned = alert("fine-1"), {**alert("poisoned-1"), field: f"x{bad}y"}
    status, answer = await post(bot, {"alerts": [good, poisoned]})
    assert (status, answer["item"], answer["field"]) == (422, 1, field)
    assert await count(bot, Alert) == 0  # nothing of the batch


async def test_unstorable_characters_in_summary_and_details_are_dropped(bot: RunningBot) -> None:
    item = alert("clean-1", summary="bulk \ud800down\x00load", details={"k\ud800": ["v\x00", {"n": "\udfff"}]})
    status, _ = await post(bot, item)
    assert status == 202
    async with bot.rt.db.sessions() as session:
        stored = (await session.scalars(select(Alert))).one()
    assert (stored.summary, stored.details) == ("bulk download", {"k": ["v", {"n": ""}]})


@pytest.mark.parametrize("field", ["id", "org", "credit_grant"])
async def test_unstorable_characters_in_usage_are_422(bot: RunningBot, field: str) -> None:
    status, answer = await post_usage(bot, {"usage": [usage("u-1"), {**usage("u-2"), field: "x\ud800"}]})
    assert (status, answer["item"], answer["field"]) == (422, 1, field)
    assert await count(bot, UsageRecord) == 0


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z"])
async def test_moments_outside_the_calendar_are_422(bot: RunningBot, moment: str) -> None:
    status, answer = await post(bot, alert("edge-1", occurred_at=moment))
    assert (status, answer["field"]) == (422, "occurred_at")


async def test_the_same_usage_id_sent_at_once_is_stored_once(bot: RunningBot) -> None:
    answers = await asyncio.gather(*(post_usage(bot, usage("same-1")) for _ in range(8)))
    assert sorted(a[0] for a in answers) == [202] * 8
    assert sorted(a[1]["accepted"] for a in answers) == [0] * 7 + [1]
    assert await count(bot, UsageRecord) == 1


async def test_a_resent_usage_id_with_other_content_is_409_naming_it(bot: RunningBot) -> None:
    assert (await post_usage(bot, usage("money-1")))[0] == 202
    status, answer = await post_usage(bot, {"usage": [usage("new-1"), usage("money-1", amount_usd=999)]})
    assert (status, answer["id"], answer["item"]) == (409, "money-1", 1)
    assert await count(bot, UsageRecord) == 1  # nothing of the batch
    status, answer = await post_usage(bot, {"usage": [usage("twice-1"), usage("twice-1", amount_usd=2)]})
    assert (status, answer["id"]) == (409, "twice-1")


@pytest.mark.parametrize("text", ["revoke ² x", "revoke 99999999999999999999 x", "revoke -1 x", "revoke #0 x"])
async def test_ids_that_are_not_ids_get_the_usage_line(bot: RunningBot, text: str) -> None:
    assert (await bot.driver.command(REP, text)).status == 200
    await bot.settle()
    assert bot.slack.ephemerals(REP)[-1]["text"].startswith(":no_entry: Usage: `/trust revoke <grant-id> <reason>`")


async def test_a_forged_button_id_above_int64_is_out_of_date(bot: RunningBot) -> None:
    from trustbot.ids import Action

    value = json.dumps({"request_id": 2**63})
    await bot.driver.click_in_view(REP, {"id": "V1", "type": "modal", "blocks": []}, Action.REQUEST_APPROVE, value)
    await bot.settle()
    assert [m.text for m in bot.slack.dms(REP)] == [
        ":no_entry: That button or form is out of date. Please start again."
    ]


async def test_nul_and_surrogates_in_typed_text_are_dropped_not_500(bot: RunningBot) -> None:
    assert (await bot.driver.command(ADMIN, "status\x00")).status == 200  # form bodies are UTF-8: no surrogates
    await bot.driver.command(ADMIN, "request")
    await bot.settle()
    view = bot.slack.views(ADMIN)[-1]
    answer = await bot.driver.submit(
        ADMIN, view, **{**GOOD, "justification": "Our SOC \x00reverse-engineers \ud800samples."}
    )
    assert answer.status == 200 and not answer.body
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        request = (await session.scalars(select(AccessRequest))).one()
    assert request.justification == "Our SOC reverse-engineers samples."


async def test_the_same_view_submitted_twice_makes_one_request(bot: RunningBot) -> None:
    await bot.driver.command(ADMIN, "request")
    await bot.settle()
    view = bot.slack.views(ADMIN)[-1]
    answers = await asyncio.gather(bot.driver.submit(ADMIN, view, **GOOD), bot.driver.submit(ADMIN, view, **GOOD))
    assert [a.status for a in answers] == [200, 200]
    await bot.settle()
    assert await count(bot, AccessRequest) == 1
    assert len(bot.slack.messages("C0REPS")) == 1


async def test_a_submission_that_fails_unexpectedly_is_still_answered_inline(
    bot: RunningBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trustbot.services.access import requests

    async def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("boom")

    await bot.driver.command(ADMIN, "request")
    await bot.settle()
    monkeypatch.setattr(requests, "submit_request", broken)
    answer = await bot.driver.submit(ADMIN, bot.slack.views(ADMIN)[-1], **GOOD)
    assert answer.status == 200
    failed = {"justification": "Something went wrong on our side: nothing was saved."}
    assert answer.json == {"response_action": "errors", "errors": failed}


async def test_a_huge_command_is_refused_at_once(bot: RunningBot) -> None:
    started = time.monotonic()
    answer = await bot.driver.command(REP, "revoke 1 " + "x " * 50_000)
    assert answer.status == 200 and time.monotonic() - started < 2
    assert "longer than any `/trust` command" in answer.json["text"]
    assert (await bot.driver.command(REP, "revoke 1 " + "x " * 600_000)).status == 413  # past 1 MiB: not read on


async def test_a_click_from_another_workspace_changes_nothing(bot: RunningBot) -> None:
    from trustbot.standin.slack_requests import SlackDriver

    await open_and_submit(bot)
    _, actions = request_messages(bot)
    async with SlackDriver(bot.driver.url, SIGNING_SECRET, bot.slack, team_id="T0OTHER") as other:
        assert (await other.click(REP, actions, "Approve")).status == 200
        answer = await other.command(REP, "status")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        assert (await session.scalars(select(AccessRequest))).one().status == "pending"
    # Refused where Slack shows it, without naming any org: the same user id there is not our rep.
    assert answer.status == 200 and answer.json["text"] == NOT_CONNECTED
    assert [e["text"] for e in bot.slack.ephemerals(REP)] == [NOT_CONNECTED]


def test_jobs_run_at_the_end_of_time_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'j.db'}")
    assert main(["jobs", "run", "reverification", "--now", "9999-12-31T23:59:59Z"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["trustbot: --now '9999-12-31T23:59:59Z' is outside the years 1971 to 9000 that jobs can run as"]


def test_an_alias_bomb_in_the_directory_is_refused_at_once(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'd.db'}")
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"] + [
        f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 12)
    ]
    (tmp_path / "bomb.yml").write_text("\n".join(rows) + "\n")
    started = time.monotonic()
    assert main(["orgs", "apply", str(tmp_path / "bomb.yml")]) == 2
    assert time.monotonic() - started < 5
    assert "anchors and aliases (& and *) are not allowed" in capsys.readouterr().err
