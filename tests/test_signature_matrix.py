"""The signature matrix: `/slack/events` (Slack's v0 scheme) and `/alerts`, `/usage` (the same scheme under
`X-Trustbot-*` headers, README "Ingest"), each with every way a signature can be missing, malformed, stale or
forged. Only a correct signature within five minutes is accepted; everything else is 401 and nothing
of the body is acted on."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
import pytest

from tests.support.bots import INGEST_SECRET, SIGNING_SECRET, RunningBot, count
from tests.support.ingest import alert, usage
from trustbot.slack.signing import v0_signature
from trustbot.standin.sample import REP
from trustbot.standin.slack_requests import FORM, slash_command_body
from trustbot.storage.tables import Alert, UsageRecord

# A forgery: given the right secret, the body and now, the (timestamp, signature, body) actually sent.
Forge = Callable[[str, bytes, int], tuple[str | None, str | None, bytes]]


def _signed(secret: str, stamp: int, body: bytes) -> str:
    return v0_signature(secret, str(stamp), body)


ROWS: list[tuple[str, Forge, bool]] = [
    ("correct", lambda s, b, t: (str(t), _signed(s, t, b), b), True),
    ("correct, timestamp 4 minutes old", lambda s, b, t: (str(t - 240), _signed(s, t - 240, b), b), True),
    ("timestamp missing", lambda s, b, t: (None, _signed(s, t, b), b), False),
    ("timestamp empty", lambda s, b, t: ("", _signed(s, t, b), b), False),
    ("timestamp not a number", lambda s, b, _t: ("abc", v0_signature(s, "abc", b), b), False),
    ("timestamp in exponent form", lambda s, b, _t: ("1e10", v0_signature(s, "1e10", b), b), False),
    ("timestamp with a fraction", lambda s, b, t: (f"{t}.5", v0_signature(s, f"{t}.5", b), b), False),
    ("timestamp 6 minutes old", lambda s, b, t: (str(t - 360), _signed(s, t - 360, b), b), False),
    ("timestamp 6 minutes ahead", lambda s, b, t: (str(t + 360), _signed(s, t + 360, b), b), False),
    ("timestamp other than the one signed", lambda s, b, t: (str(t + 1), _signed(s, t, b), b), False),
    ("signature missing", lambda _s, b, t: (str(t), None, b), False),
    ("signature empty", lambda _s, b, t: (str(t), "", b), False),
    ("signature with another secret", lambda s, b, t: (str(t), _signed(s + "x", t, b), b), False),
    ("signature v1= instead of v0=", lambda s, b, t: (str(t), "v1=" + _signed(s, t, b)[3:], b), False),
    ("signature without its prefix", lambda s, b, t: (str(t), _signed(s, t, b)[3:], b), False),
    ("signature truncated", lambda s, b, t: (str(t), _signed(s, t, b)[:-1], b), False),
    ("signature with a byte appended", lambda s, b, t: (str(t), _signed(s, t, b) + "0", b), False),
    ("signature over other bytes", lambda s, b, t: (str(t), _signed(s, t, b + b" "), b), False),
    ("body changed after signing", lambda s, b, t: (str(t), _signed(s, t, b), b.replace(b"1", b"2", 1)), False),
    ("body with bytes appended", lambda s, b, t: (str(t), _signed(s, t, b), b + b"&x=1"), False),
]


@dataclass(frozen=True)
class Surface:
    """An endpoint: its headers, its secret, what it is sent and what it answers when accepted."""

    path: str
    timestamp_header: str
    signature_header: str
    secret: str
    accepted: int


SURFACES = {
    "slack": Surface("/slack/events", "X-Slack-Request-Timestamp", "X-Slack-Signature", SIGNING_SECRET, 200),
    "alerts": Surface("/alerts", "X-Trustbot-Timestamp", "X-Trustbot-Signature", INGEST_SECRET, 202),
    "usage": Surface("/usage", "X-Trustbot-Timestamp", "X-Trustbot-Signature", INGEST_SECRET, 202),
}


def _body(surface: str, bot: RunningBot) -> tuple[bytes, str]:
    if surface == "slack":
        url = bot.slack.new_response_url(REP, "C0GENERAL")
        return slash_command_body(text="help 1", user_id=REP, response_url=url), FORM
    item = alert("sig-1") if surface == "alerts" else usage("sig-1")
    return json.dumps(item).encode(), "application/json"


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("case", "forge", "accepted"), ROWS, ids=[row[0] for row in ROWS])
async def test_signature_matrix(bot: RunningBot, surface: str, case: str, forge: Forge, accepted: bool) -> None:
    spec = SURFACES[surface]
    body, content_type = _body(surface, bot)
    stamp, signature, sent = forge(spec.secret, body, int(time.time()))
    headers = {"Content-Type": content_type}
    if stamp is not None:
        headers[spec.timestamp_header] = stamp
    if signature is not None:
        headers[spec.signature_header] = signature
    async with aiohttp.ClientSession() as http, http.post(bot.server.url + spec.path, data=sent, headers=headers) as r:
        status, text = r.status, await r.text()
    await bot.settle()
    assert status == (spec.accepted if accepted else 401), (case, text)
    if surface == "slack":
        assert ("Trustbot commands" in text) is accepted  # the help answer, only when the signature held
    else:
        assert await count(bot, Alert if surface == "alerts" else UsageRecord) == int(accepted)
