"""Hostile input found by review after the first round: each was a 500 or a traceback, each is now a
documented 4xx, a refusal or exit 2."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from tests.support.bots import RunningBot, count
from tests.support.gateway_helpers import gateway_bot
from tests.support.ingest import alert, post
from trustbot.cli.main import main
from trustbot.services.fields import MAX_JSON_DEPTH
from trustbot.standin.gateway import FakeGateway
from trustbot.standin.sample import OPERATOR
from trustbot.standin.slack_requests import FORM
from trustbot.storage.tables import Alert


def _nested(depth: int, leaf: str = "1", *, as_list: bool = False) -> str:
    return ("[" * depth + leaf + "]" * depth) if as_list else ('{"a":' * depth + leaf + "}" * depth)


def _alert_with_details(details_json: str) -> bytes:
    return json.dumps(alert("deep-1")).encode()[:-1] + b', "details": ' + details_json.encode() + b"}"


@pytest.mark.parametrize("as_list", [False, True])
async def test_details_nested_deeper_than_allowed_are_422_naming_the_field(bot: RunningBot, as_list: bool) -> None:
    for depth in (MAX_JSON_DEPTH + 1, 900):
        inner = _nested(depth - 1, as_list=as_list)
        status, answer = await post(bot, body=_alert_with_details('{"k":' + inner + "}"))
        assert (status, answer["field"]) == (422, "details"), depth
        assert f"at most {MAX_JSON_DEPTH} levels" in answer["message"]
    status, _ = await post(bot, body=_alert_with_details('{"k":' + _nested(MAX_JSON_DEPTH - 1, as_list=as_list) + "}"))
    assert status == 202  # exactly at the limit is stored
    assert await count(bot, Alert) == 1


async def test_an_integer_longer_than_python_reads_is_400(bot: RunningBot) -> None:
    body = _alert_with_details('{"x": ' + "9" * 5000 + "}")
    status, answer = await post(bot, body=body)
    assert status == 400 and answer["error"].startswith("body is not valid JSON")


def _form(payload: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


async def test_a_view_without_a_type_is_400(bot: RunningBot) -> None:
    view = {"id": "V1", "callback_id": "grant.revoke_reason", "private_metadata": "{}", "state": {"values": {}}}
    payload = {"type": "view_submission", "team": {"id": "T0TEAM"}, "user": {"id": OPERATOR}, "view": view}
    assert (await bot.driver.post_signed(_form(payload))).status == 400
    assert (await bot.driver.post_signed(_form({**payload, "view": {**view, "type": "modal"}}))).status == 200


@pytest.mark.parametrize("odd", [{"a": 1}, ["E1"], 5])
async def test_workspace_ids_that_are_not_text_never_500(
    bot: RunningBot, odd: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = {"type": "app_home_opened", "user": OPERATOR, "tab": "home"}
    body = {"type": "event_callback", "team_id": "T0TEAM", "enterprise_id": odd, "event": event, "event_id": "Ev1"}
    action = {"action_id": "request.approve", "block_id": "b", "value": "{}", "type": "button"}
    team = {"id": ["T0TEAM"], "enterprise_id": odd}
    click = {"type": "block_actions", "team": team, "user": {"id": OPERATOR}, "actions": [action]}
    with caplog.at_level(logging.INFO):
        assert (await bot.driver.post_signed(json.dumps(body).encode(), "application/json")).status == 200
        assert (await bot.driver.post_signed(_form(click), FORM)).status == 200  # names no workspace: ignored
    assert not [r for r in caplog.records if r.exc_info]
    assert bot.slack.ephemerals(OPERATOR) == []


@pytest.fixture
async def api(database_url: str, fake_slack: Any, clock: Any) -> Any:
    async with gateway_bot(database_url, fake_slack, clock) as pair:
        yield pair


def _cursor(at: str, grant_id: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([at, grant_id]).encode()).decode().rstrip("=")


@pytest.mark.parametrize("grant_id", [2**70, 2**63, -5])
async def test_a_cursor_naming_an_id_out_of_range_is_400(api: tuple[RunningBot, FakeGateway], grant_id: int) -> None:
    _, gateway = api
    status, body = await gateway.get("/v1/grants", {"cursor": _cursor("2026-01-01T00:00:00Z", grant_id)})
    assert (status, body["error"]) == (400, "cursor is not one this API gave out")


async def _raw_get(url: str, path: str, authorization: bytes) -> bytes:
    parts = urlsplit(url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization)
    writer.write(b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer.split(b"\r\n", 1)[0]


@pytest.mark.parametrize("token", [b"Bearer \xff\xfe", b"Bearer \xed\xa0\x80", b"Bearer t\xc3\xa9"])
async def test_a_token_that_is_not_utf8_is_401(api: tuple[RunningBot, FakeGateway], token: bytes) -> None:
    running, _ = api
    assert await _raw_get(running.server.url, "/v1/entitlements?email=dana@acme.com", token) == (
        b"HTTP/1.1 401 Unauthorized"
    )


def test_audit_export_since_before_year_one_in_utc_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'a.db'}")
    assert main(["audit", "export", "--since", "0001-01-01T00:00:00+01:00"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["trustbot: --since '0001-01-01T00:00:00+01:00' is not an RFC 3339 time"]
