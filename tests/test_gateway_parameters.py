"""`/v1/*` parameters an attacker shapes: absurd `limit` and `cursor` values and look-alike addresses
are a 400 with a reason, never a 500 and never someone else's answer."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bots import RunningBot
from tests.support.factories import make_grant
from tests.support.gateway_helpers import gateway_bot
from trustbot.clock import FixedClock
from trustbot.standin.gateway import FakeGateway


@pytest.fixture
async def api(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[tuple[RunningBot, FakeGateway]]:
    async with gateway_bot(database_url, fake_slack, clock) as pair:
        yield pair


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "1" * 4301},  # past Python's int() digit limit
        {"limit": "0" * 5000 + "7"},
        {"limit": "٧" * 1000},  # Arabic-Indic digits (4,301 of them pass the 8 KiB request line)
        {"cursor": "[" * 2000},
        {"cursor": base64.urlsafe_b64encode(b"[" * 2000).decode().rstrip("=")},  # nesting past the JSON parser's depth
        {"cursor": base64.urlsafe_b64encode(b"[" * 800 + b'"2026-11-02T09:00:00Z",1' + b"]" * 800).decode()},
    ],
    ids=["limit-4301-digits", "limit-leading-zeros", "limit-arabic-digits", "cursor-brackets", "cursor-deep-json",
         "cursor-nested-position"],
)  # fmt: skip
async def test_absurd_limit_or_cursor_is_400_with_a_reason(
    api: tuple[RunningBot, FakeGateway], params: dict[str, str]
) -> None:
    _, gateway = api
    status, body = await gateway.get("/v1/grants", params)
    assert status == 400, (status, body)
    assert ("limit" if "limit" in params else "cursor") in body["error"]


async def test_a_real_cursor_and_limit_still_page(api: tuple[RunningBot, FakeGateway], clock: FixedClock) -> None:
    bot, gateway = api
    for _ in range(3):
        await make_grant(bot.rt.db, clock)
    status, first = await gateway.get("/v1/grants", {"limit": "2"})
    assert status == 200 and len(first["grants"]) == 2 and first["next_cursor"]
    status, rest = await gateway.get("/v1/grants", {"limit": "500", "cursor": first["next_cursor"]})
    assert status == 200 and len(rest["grants"]) == 1


@pytest.mark.parametrize(
    "email",
    ["\u212aim@acme.com", "\u212aIM@ACME.COM", "d\u0130na@acme.com", "ｄａｎａ@acme.com", "ﬁona@acme.com",
     "dana@ac\u217fe.com", "\u017fam@acme.com"],
    ids=["kelvin", "kelvin-upper", "dotted-capital-i", "fullwidth", "fi-ligature", "roman-numeral-m", "long-s"],
)  # fmt: skip
async def test_a_look_alike_address_is_refused(
    api: tuple[RunningBot, FakeGateway], clock: FixedClock, email: str
) -> None:
    bot, gateway = api
    await make_grant(bot.rt.db, clock, blanket=True)  # everyone at acme.com is entitled
    status, body = await gateway.get("/v1/entitlements", {"email": email})
    assert status == 400 and "non-ASCII" in body["error"], (status, body)


async def test_the_kelvin_sign_never_answers_for_kim(api: tuple[RunningBot, FakeGateway], clock: FixedClock) -> None:
    bot, gateway = api
    await make_grant(bot.rt.db, clock, blanket=True)
    assert (await gateway.ask("kim@acme.com"))["entitled"] is True
    status, body = await gateway.get("/v1/entitlements", {"email": "\u212aim@acme.com"})
    assert status == 400 and "entitled" not in body


async def test_an_address_with_other_non_ascii_is_answered(api: tuple[RunningBot, FakeGateway]) -> None:
    _, gateway = api
    # é stays é under every folding: it can only ever match itself, so it is asked, not refused.
    status, body = await gateway.get("/v1/entitlements", {"email": "josé@acme.com"})
    assert status == 200 and body["email"] == "josé@acme.com", (status, body)
