"""Producers' side of the ingest endpoints: valid alert and usage items, and signed `POST /alerts` and
`POST /usage` into a running Trustbot."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlmodel import col

from tests.support.bots import INGEST_SECRET, RunningBot
from trustbot.standin.producers import ingest_headers
from trustbot.storage.tables import Alert


def alert(id: str, **overrides: Any) -> dict[str, Any]:
    """A valid alert item (an override of None leaves the field out)."""
    item: dict[str, Any] = {
        "id": id,
        "org": "acme",
        "signal": "exfiltration",
        "severity": "medium",
        "summary": "Bulk download",
        "occurred_at": "2026-11-02T08:59:00Z",
        "actor": "mallory@acme.com",
    }
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def usage(id: str, **overrides: Any) -> dict[str, Any]:
    """A valid usage record (an override of None leaves the field out)."""
    item: dict[str, Any] = {"id": id, "org": "acme", "amount_usd": 125.5, "occurred_at": "2026-11-01T12:00:00Z"}
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


def _answer(text: str) -> dict[str, Any]:
    answer: dict[str, Any] = json.loads(text) if text.startswith("{") else {"raw": text}
    return answer


async def post(
    bot: RunningBot,
    payload: Any = None,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    secret: str = INGEST_SECRET,
    timestamp: int | None = None,
) -> tuple[int, dict[str, Any]]:
    """Sign and POST to `/alerts`; return the status and the JSON answer."""
    raw = body if body is not None else json.dumps(payload).encode()
    sent = ingest_headers(secret, raw, timestamp)
    sent.update(headers or {})
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.server.url}/alerts", data=raw, headers=sent) as response,
    ):
        return response.status, _answer(await response.text())


async def post_usage(bot: RunningBot, payload: Any, *, secret: str = INGEST_SECRET) -> tuple[int, dict[str, Any]]:
    """Sign and POST to `/usage`; return the status and the JSON answer."""
    raw = json.dumps(payload).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.server.url}/usage", data=raw, headers=ingest_headers(secret, raw)) as response,
    ):
        return response.status, _answer(await response.text())


async def alerts(bot: RunningBot) -> list[Alert]:
    """Every stored alert, in id order."""
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(Alert).order_by(col(Alert.id)))).all())
