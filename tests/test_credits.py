"""Credits: `POST /usage` through signed HTTP, `/trust credits`, the `credit-usage` and
`credit-digest` jobs (each notice once), and the shared usage attribution rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import aiohttp
from sqlalchemy import select

import handlers.credits  # noqa: F401  (registers `/trust credits` until bot/app.py lists the feature)
from bot.clock import FixedClock
from bot.config import Settings
from bot.services.credits import credit_statuses, credit_usage
from bot.services.directory import apply_directory, parse_directory
from handlers.ingest import sign
from storage.database import Database
from storage.queries.directory import get_org
from storage.tables import (
    AuditEvent,
    CreditGrant,
    OutboxMessage,
    SentNotice,
    UsageRecord,
)
from tests.conftest import DIRECTORY_YAML, INGEST_SECRET, RunningBot

ADM1, ADM2, REP1, OUT, OPS = "U0ADM1", "U0ADM2", "U0REP1", "U0OUT1", "U0OPS1"


def usage(id: str, **overrides: Any) -> dict[str, Any]:
    item = {"id": id, "org": "acme", "amount_usd": 125.5, "occurred_at": "2026-11-01T12:00:00Z"}
    item.update(overrides)
    return {k: v for k, v in item.items() if v is not None}


async def post_usage(bot: RunningBot, payload: Any, *, secret: str = INGEST_SECRET) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(payload).encode()
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{bot.server.url}/usage", data=raw, headers=sign(secret, raw)) as response,
    ):
        text = await response.text()
        return response.status, (json.loads(text) if text.startswith("{") else {"raw": text})


async def records(db: Database) -> list[UsageRecord]:
    async with db.sessions() as session:
        return list((await session.scalars(select(UsageRecord).order_by(UsageRecord.id))).all())


# -- POST /usage -------------------------------------------------------------------------------


async def test_usage_is_accepted_and_duplicates_counted(bot: RunningBot) -> None:
    status, answer = await post_usage(
        bot, {"usage": [usage("u-1"), usage("u-2", credit_grant="acme-2026", amount_usd=10)]}
    )
    assert (status, answer) == (202, {"accepted": 2, "duplicates": 0})
    status, answer = await post_usage(bot, {"usage": [usage("u-1"), usage("u-3"), usage("u-3")]})
    assert (status, answer) == (202, {"accepted": 1, "duplicates": 2})
    status, answer = await post_usage(bot, usage("u-2"))
    assert (status, answer) == (202, {"accepted": 0, "duplicates": 1})
    rows = await records(bot.rt.db)
    assert [r.id for r in rows] == ["u-1", "u-2", "u-3"]
    assert Decimal(rows[0].amount_usd) == Decimal("125.5") and rows[1].credit_grant_id == "acme-2026"


async def test_usage_unknown_org_or_credit_grant_is_422_and_stores_nothing(bot: RunningBot) -> None:
    status, answer = await post_usage(bot, {"usage": [usage("ok-1"), usage("bad-1", org="initech")]})
    assert status == 422 and answer["item"] == 1 and answer["field"] == "org"
    status, answer = await post_usage(bot, {"usage": [usage("bad-2", credit_grant="nope")]})
    assert status == 422 and answer["item"] == 0 and answer["field"] == "credit_grant"
    # Another org's credit grant is not this org's.
    status, answer = await post_usage(bot, {"usage": [usage("bad-3", org="globex", credit_grant="acme-2026")]})
    assert status == 422 and answer["field"] == "credit_grant"
    assert await records(bot.rt.db) == []


async def test_usage_validation_and_signature(bot: RunningBot) -> None:
    for bad, field in (
        (usage("x", amount_usd=0), "amount_usd"),
        (usage("x", amount_usd="5"), "amount_usd"),
        (usage("x", amount_usd=True), "amount_usd"),
        (usage("x", occurred_at="yesterday"), "occurred_at"),
        (usage("x" * 129), "id"),
    ):
        status, answer = await post_usage(bot, bad)
        assert status == 422 and answer["field"] == field, (bad, answer)
    status, _ = await post_usage(bot, usage("u-1"), secret="wrong-secret")
    assert status == 401
    assert await records(bot.rt.db) == []


# -- /trust credits ----------------------------------------------------------------------------


def last_response(bot: RunningBot) -> str:
    return json.dumps(bot.slack.responses[-1]) if bot.slack.responses else ""


async def test_credits_command_for_admin_and_refusal_for_outsider(bot: RunningBot) -> None:
    await post_usage(bot, {"usage": [usage("u-1", amount_usd=3000, occurred_at="2026-10-20T00:00:00Z")]})
    await bot.driver.command(ADM1, "credits")
    await bot.settle()
    shown = last_response(bot)
    assert "acme-2026" in shown and "$250,000.00" in shown and "$3,000.00" in shown and "$247,000.00" in shown
    assert "$100.00/day" in shown  # $3,000 over the last 30 days
    assert bot.slack.responses[-1]["body"].get("response_type") == "ephemeral"
    await bot.driver.command(OUT, "credits acme")
    await bot.settle()
    refused = last_response(bot)
    assert "acme-2026" not in refused and "directory" in refused
    await bot.driver.command("U0GLX1", "credits acme")
    await bot.settle()
    assert "acme-2026" not in last_response(bot) and "Only" in last_response(bot)
    await bot.driver.command(OPS, "credits acme")
    await bot.settle()
    assert "acme-2026" in last_response(bot)


# -- jobs --------------------------------------------------------------------------------------


def settings(**overrides: Any) -> Settings:
    return Settings(_env_file=None, **overrides)  # type: ignore[call-arg]


async def seed(db: Database, clock: FixedClock) -> int:
    async with db.transaction() as session:
        await apply_directory(session, clock, parse_directory(DIRECTORY_YAML), actor="test")
        org = await get_org(session, slug="acme")
        assert org is not None and org.id is not None
        return org.id


async def add_usage(db: Database, org_id: int, id: str, amount: int, at: datetime) -> None:
    async with db.transaction() as session:
        session.add(UsageRecord(id=id, org_id=org_id, amount_usd=Decimal(amount), occurred_at=at, received_at=at))


async def run(db: Database, clock: FixedClock, name: str) -> str:
    from scheduler.jobs import run_job

    result = await run_job(db, clock, settings(), name)
    assert result.status == "finished", result
    return result.outcome


async def outbox(db: Database) -> list[OutboxMessage]:
    async with db.sessions() as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


def dms(rows: Sequence[OutboxMessage]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for row in rows:
        if row.op == "dm":
            result.setdefault(row.channel, []).append(row.payload["text"])
    return result


async def test_credit_usage_job_announces_each_notice_once(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "big", 200_000, datetime(2026, 10, 1, tzinfo=UTC))  # 80%: 50 and 75 crossed at once
    assert await run(db, clock, "credit-usage") == "1 threshold notice"
    told = dms(await outbox(db))
    assert set(told) == {ADM1, ADM2, REP1}
    assert all(len(texts) == 1 and "75%" in texts[0] for texts in told.values())
    async with db.sessions() as session:
        keys = sorted((await session.scalars(select(SentNotice.key))).all())
        actions = [e.action for e in (await session.scalars(select(AuditEvent))).all()]
    assert "credit:acme-2026:pct:50" in keys and "credit:acme-2026:pct:75" in keys  # 50 retired unsent
    assert actions.count("credit.threshold") == 1

    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "credit-usage") == "nothing due"
    assert len(await outbox(db)) == 3

    # 30 days before expiry, unused credit left; and 90% crossed: both announced once.
    clock.set(datetime(2026, 12, 5, 9, 0, tzinfo=UTC))
    await add_usage(db, org_id, "more", 26_000, datetime(2026, 12, 1, tzinfo=UTC))  # 90.4%
    outcome = await run(db, clock, "credit-usage")
    assert outcome == "1 threshold notice, 1 expiry warning"
    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "credit-usage") == "nothing due"
    told = dms(await outbox(db))
    assert all(len(texts) == 3 for texts in told.values())
    assert any("90%" in t for t in told[ADM1]) and any("2027-01-01" in t and "expires" in t for t in told[ADM1])

    # 7 days ahead: the second warning, once.
    clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=UTC))
    assert await run(db, clock, "credit-usage") == "1 expiry warning"
    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "credit-usage") == "nothing due"
    assert len(dms(await outbox(db))[REP1]) == 4


async def test_no_expiry_warning_once_credit_is_used_up(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "all", 250_000, datetime(2026, 10, 1, tzinfo=UTC))
    clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=UTC))
    assert await run(db, clock, "credit-usage") == "1 threshold notice"  # 100% only; no expiry warning
    assert all("100%" in t[0] for t in dms(await outbox(db)).values())


async def test_credit_digest_posts_one_message_to_the_reps_channel(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "u", 1_500, datetime(2026, 10, 20, tzinfo=UTC))
    outcome = await run(db, clock, "credit-digest")
    assert "posted" in outcome
    posts = [r for r in await outbox(db) if r.op == "post"]
    assert len(posts) == 1 and posts[0].channel == "C0REPS"
    text = posts[0].payload["text"]
    assert "Acme Security" in text and "acme-2026" in text and "$1,500.00 used" in text and "2027-01-01" in text
    from scheduler.jobs import run_job

    again = await run_job(db, clock, settings(), "credit-digest")
    assert again.status == "skipped"
    assert len([r for r in await outbox(db) if r.op == "post"]) == 1


async def test_usage_attribution_names_grant_else_soonest_expiring_covering(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    async with db.transaction() as session:
        session.add(
            CreditGrant(
                id="acme-bonus",
                org_id=org_id,
                amount_usd=Decimal(1000),
                starts=date(2026, 10, 1),
                expires=date(2026, 12, 1),
            )
        )
    await add_usage(db, org_id, "in-overlap", 100, datetime(2026, 10, 15, tzinfo=UTC))  # → acme-bonus (expires first)
    await add_usage(db, org_id, "before", 50, datetime(2026, 9, 15, tzinfo=UTC))  # → acme-2026
    async with db.transaction() as session:
        session.add(
            UsageRecord(
                id="named",
                org_id=org_id,
                credit_grant_id="acme-2026",
                amount_usd=Decimal(7),
                occurred_at=datetime(2026, 10, 15, tzinfo=UTC),
                received_at=clock.now(),
            )
        )
    async with db.sessions() as session:
        grants = list((await session.scalars(select(CreditGrant))).all())
        used = await credit_usage(session, credit_grants=grants)
        statuses = {s.credit.id: s for s in await credit_statuses(session, credit_grants=grants, now=clock.now())}
    assert used == {"acme-bonus": Decimal(100), "acme-2026": Decimal(57)}
    assert statuses["acme-bonus"].remaining == Decimal(900)
    assert statuses["acme-2026"].burn_per_day == Decimal(7) / 30
