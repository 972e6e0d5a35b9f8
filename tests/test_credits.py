"""Credits: `POST /usage` through signed HTTP, `/trust credits`, the `credit-usage` and
`credit-digest` jobs (each notice once), and the shared usage attribution rule."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.support.bots import RunningBot
from tests.support.factories import seed_directory, settings
from tests.support.ingest import post_usage, usage
from trustbot.clock import FixedClock
from trustbot.scheduler.runs import run_job
from trustbot.services.credits.usage import credit_statuses, credit_usage
from trustbot.standin.sample import ADMIN, ADMIN2, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP
from trustbot.storage.database import Database
from trustbot.storage.queries.directory import get_org
from trustbot.storage.tables import AuditEvent, CreditGrant, OutboxMessage, SentNotice, UsageRecord


async def records(db: Database) -> list[UsageRecord]:
    async with db.sessions() as session:
        return list((await session.scalars(select(UsageRecord).order_by(UsageRecord.id))).all())


def rejection(item: int, field: str, message: str) -> dict[str, Any]:
    """The 422 answer for a record naming something the directory does not know."""
    return {
        "error": "invalid",
        "message": f"item {item}, field {field}: {message}",
        "item": item,
        "field": field,
        "errors": [{"item": item, "field": field, "message": message}],
    }


# -- POST /usage -------------------------------------------------------------------------------


async def test_usage_is_accepted_and_duplicates_counted(bot: RunningBot) -> None:
    status, answer = await post_usage(
        bot, {"usage": [usage("u-1"), usage("u-2", credit_grant="acme-2026", amount_usd=10)]}
    )
    assert (status, answer) == (202, {"accepted": 2, "duplicates": 0})
    status, answer = await post_usage(bot, {"usage": [usage("u-1"), usage("u-3"), usage("u-3")]})
    assert (status, answer) == (202, {"accepted": 1, "duplicates": 2})
    status, answer = await post_usage(bot, usage("u-2", credit_grant="acme-2026", amount_usd=10))
    assert (status, answer) == (202, {"accepted": 0, "duplicates": 1})
    rows = await records(bot.rt.db)
    assert [(r.id, Decimal(r.amount_usd), r.credit_grant_id) for r in rows] == [
        ("u-1", Decimal("125.5"), None),
        ("u-2", Decimal("10"), "acme-2026"),
        ("u-3", Decimal("125.5"), None),
    ]


async def test_usage_unknown_org_or_credit_grant_is_422_and_stores_nothing(bot: RunningBot) -> None:
    status, answer = await post_usage(bot, {"usage": [usage("ok-1"), usage("bad-1", org="initech")]})
    assert (status, answer) == (422, rejection(1, "org", "unknown org `initech`"))
    status, answer = await post_usage(bot, {"usage": [usage("bad-2", credit_grant="nope")]})
    assert (status, answer) == (422, rejection(0, "credit_grant", "unknown credit grant `nope` for org `acme`"))
    # Another org's credit grant is not this org's.
    status, answer = await post_usage(bot, {"usage": [usage("bad-3", org="globex", credit_grant="acme-2026")]})
    assert (status, answer) == (
        422,
        rejection(0, "credit_grant", "unknown credit grant `acme-2026` for org `globex`"),
    )
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
        assert (status, answer["error"], answer["item"], answer["field"]) == (422, "invalid", 0, field), (bad, answer)
    status, _ = await post_usage(bot, usage("u-1"), secret="wrong-secret")
    assert status == 401
    assert await records(bot.rt.db) == []


# -- /trust credits ----------------------------------------------------------------------------

WHO_SEES = "Only an org's admins, account reps and security leads, and operators, can."


def last_body(bot: RunningBot) -> dict[str, Any]:
    assert bot.slack.responses, "no response_url answer"
    return bot.slack.responses[-1]["body"]


async def credits_as(bot: RunningBot, user: str, text: str = "credits") -> dict[str, Any]:
    before = len(bot.slack.responses)
    await bot.driver.command(user, text)
    await bot.settle()
    assert len(bot.slack.responses) == before + 1
    body = last_body(bot)
    assert body["response_type"] == "ephemeral"
    return body


def shown(body: dict[str, Any]) -> str:
    return json.dumps(body.get("blocks", []), ensure_ascii=False)


async def test_credits_command_for_admin_and_operator(bot: RunningBot) -> None:
    await post_usage(bot, {"usage": [usage("u-1", amount_usd=3000, occurred_at="2026-10-20T00:00:00Z")]})
    mine = await credits_as(bot, ADMIN)
    assert mine["text"] == "Credits of your orgs: acme-2026 $3,000.00 of $250,000.00 used"
    blocks = shown(mine)
    assert "*acme-2026* · Acme Security · $250,000.00" in blocks
    assert "used $3,000.00 (1.2%) · $247,000.00 remaining" in blocks
    assert "burn $100.00/day" in blocks  # $3,000 over the last 30 days
    assert "expires 2027-01-01" in blocks

    named = await credits_as(bot, OPERATOR, "credits acme")
    assert named["text"] == "Credits of Acme Security: acme-2026 $3,000.00 of $250,000.00 used"
    everything = await credits_as(bot, OPERATOR)
    assert everything["text"] == "Credits, all orgs: acme-2026 $3,000.00 of $250,000.00 used"


async def test_credits_refusals_are_neutral_and_show_nothing(bot: RunningBot) -> None:
    outsider = await credits_as(bot, OUTSIDER, "credits acme")
    assert outsider == {
        "text": ":no_entry: You're not in the Trustbot directory, so I can't show credits. "
        "Ask your account rep to add you.",
        "response_type": "ephemeral",
        "replace_original": False,
    }
    # Another org's admin: the same refusal whether or not the org exists.
    for slug in ("acme", "initech"):
        refused = await credits_as(bot, GLOBEX_ADMIN, f"credits {slug}")
        assert refused["text"] == f":no_entry: You can't see credits of `{slug}`. {WHO_SEES}"
        assert "blocks" not in refused
    # Operators may see any org, so for them an unknown org is simply not there.
    missing = await credits_as(bot, OPERATOR, "credits initech")
    assert missing["text"] == ":no_entry: There is no org `initech` in the directory."


# -- jobs --------------------------------------------------------------------------------------


async def seed(db: Database, clock: FixedClock) -> int:
    await seed_directory(db, clock)
    async with db.sessions() as session:
        org = await get_org(session, slug="acme")
    assert org is not None and org.id is not None
    return org.id


async def add_usage(db: Database, org_id: int, id: str, amount: int, at: datetime) -> None:
    async with db.transaction() as session:
        session.add(UsageRecord(id=id, org_id=org_id, amount_usd=Decimal(amount), occurred_at=at, received_at=at))


async def run(db: Database, clock: FixedClock, name: str) -> str:
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


async def notice_keys(db: Database) -> list[str]:
    async with db.sessions() as session:
        return sorted((await session.scalars(select(SentNotice.key))).all())


async def audit_actions(db: Database) -> list[str]:
    async with db.sessions() as session:
        return list((await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


async def test_credit_usage_job_announces_each_notice_once(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "big", 200_000, datetime(2026, 10, 1, tzinfo=UTC))  # 80%: 50 and 75 crossed at once
    assert await run(db, clock, "credit-usage") == "1 threshold notice"
    told = dms(await outbox(db))
    assert set(told) == {ADMIN, ADMIN2, REP}
    first = ":bar_chart: Acme Security has used 75% or more of credit *acme-2026*."
    assert all(len(texts) == 1 and texts[0].startswith(first + "\n") for texts in told.values())
    assert await notice_keys(db) == ["credit:acme-2026:pct:50", "credit:acme-2026:pct:75"]  # 50 retired unsent
    assert (await audit_actions(db)).count("credit.threshold") == 1

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
    assert set(told) == {ADMIN, ADMIN2, REP} and all(texts == told[ADMIN] for texts in told.values())
    assert len(told[ADMIN]) == 3
    assert told[ADMIN][1].startswith(":bar_chart: Acme Security has used 90% or more of credit *acme-2026*.\n")
    assert told[ADMIN][2].startswith(
        ":hourglass_flowing_sand: Credit *acme-2026* of Acme Security expires 2027-01-01 (in 27 days)"
        " with $24,000.00 unused.\n"
    )

    # 7 days ahead: the second warning, once.
    clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=UTC))
    assert await run(db, clock, "credit-usage") == "1 expiry warning"
    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "credit-usage") == "nothing due"
    told = dms(await outbox(db))
    assert len(told[REP]) == 4
    assert told[REP][3].startswith(
        ":hourglass_flowing_sand: Credit *acme-2026* of Acme Security expires 2027-01-01 (in 6 days)"
    )
    actions = await audit_actions(db)
    assert (actions.count("credit.threshold"), actions.count("credit.expiry_warning")) == (2, 2)


async def test_no_expiry_warning_once_credit_is_used_up(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "all", 250_000, datetime(2026, 10, 1, tzinfo=UTC))
    clock.set(datetime(2026, 12, 26, 9, 0, tzinfo=UTC))
    assert await run(db, clock, "credit-usage") == "1 threshold notice"  # 100% only; no expiry warning
    told = dms(await outbox(db))
    assert set(told) == {ADMIN, ADMIN2, REP}
    assert all(
        len(texts) == 1
        and texts[0].startswith(":bar_chart: Acme Security has used 100% or more of credit *acme-2026*.")
        for texts in told.values()
    )
    assert not any(key.startswith("credit:acme-2026:expiry") for key in await notice_keys(db))


async def test_credit_digest_posts_one_message_to_the_reps_channel(db: Database, clock: FixedClock) -> None:
    org_id = await seed(db, clock)
    await add_usage(db, org_id, "u", 1_500, datetime(2026, 10, 20, tzinfo=UTC))
    assert await run(db, clock, "credit-digest") == "digest of 1 credit grant posted"
    posts = [r for r in await outbox(db) if r.op == "post"]
    assert [p.channel for p in posts] == ["C0REPS"]
    assert (
        posts[0]
        .payload["text"]
        .startswith("Weekly credit digest: Acme Security acme-2026: $1,500.00 used, $248,500.00 left, ")
    )
    assert posts[0].payload["text"].endswith(", expires 2027-01-01")

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
