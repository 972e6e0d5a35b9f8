"""App Home through signed HTTP: each role sees its own view, outsiders see nothing, retries publish once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from bot.messages.home import MAX_ALERTS, MAX_BLOCKS
from storage.tables import Alert, Org, UsageRecord
from tests.conftest import START, RunningBot
from tests.test_request_flow import (
    ADMIN,
    OPS,
    OUTSIDER,
    REP,
    approved_grant,
    open_and_submit,
    request_messages,
)

LEAD, GLOBEX_ADMIN = "U0SEC1", "U0GLX1"


def home_event(user: str, tab: str = "home") -> dict[str, Any]:
    return {
        "type": "app_home_opened",
        "user": user,
        "channel": f"D{user[1:]}",
        "tab": tab,
        "event_ts": f"{START.timestamp():.6f}",
    }


async def open_home(bot: RunningBot, user: str, *, event_id: str | None = None, retry_num: int | None = None) -> Any:
    response = await bot.driver.event(home_event(user), event_id=event_id, retry_num=retry_num)
    await bot.settle()
    assert response.status == 200
    return response


def home_of(bot: RunningBot, user: str) -> str:
    view = bot.slack.home(user)
    assert view is not None, f"no home published for {user}"
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_BLOCKS
    return json.dumps(view["blocks"], ensure_ascii=False)


def publishes(bot: RunningBot, user: str | None = None) -> int:
    return sum(1 for c in bot.slack.calls_to("views.publish") if user is None or c.args.get("user_id") == user)


async def org_id(bot: RunningBot, slug: str) -> int:
    async with bot.rt.db.sessions() as session:
        return (await session.scalars(select(Org.id).where(Org.slug == slug))).one()


async def add_alerts(bot: RunningBot, slug: str | None, *specs: dict[str, Any]) -> None:
    oid = await org_id(bot, slug) if slug else None
    now = bot.clock.now()
    async with bot.rt.db.transaction() as session:
        for spec in specs:
            key = uuid.uuid4().hex[:12]
            values: dict[str, Any] = {
                "event_id": f"ev-{key}",
                "org_id": oid,
                "org_slug": slug or "initech",
                "actor": "user@acme.com",
                "signal": "exfil_pattern",
                "severity": "medium",
                "summary": "Bulk export of model outputs",
                "fingerprint": f"fp-{key}",
                "occurrences": 1,
                "first_seen": now - timedelta(hours=2),
                "last_seen": now - timedelta(minutes=5),
                "created_at": now,
                "updated_at": now,
                **spec,
            }
            session.add(Alert(**values))


async def test_admin_sees_their_requests_grants_and_credits(bot: RunningBot) -> None:
    grant_id = await approved_grant(bot)
    await open_and_submit(bot, use_case="Phishing triage")  # a second, still pending request
    acme = await org_id(bot, "acme")
    async with bot.rt.db.transaction() as session:
        session.add(
            UsageRecord(
                id="u1",
                org_id=acme,
                credit_grant_id="acme-2026",
                amount_usd=Decimal(1200),
                occurred_at=START,
                received_at=START,
            )
        )
        session.add(
            UsageRecord(
                id="u2",
                org_id=acme,
                amount_usd=Decimal(300),  # no credit grant named: in its period
                occurred_at=START - timedelta(days=30),
                received_at=START,
            )
        )
        session.add(
            UsageRecord(
                id="u3",
                org_id=acme,
                amount_usd=Decimal(999),  # before the period: not counted
                occurred_at=datetime(2025, 6, 1, tzinfo=UTC),
                received_at=START,
            )
        )

    await open_home(bot, ADMIN)
    home = home_of(bot, ADMIN)
    assert "Your roles: enterprise admin of Acme Security" in home
    assert "Open requests (1)" in home and "*Request #2*" in home and "opened" in home
    assert f"*Grant #{grant_id}*" in home and "expires" in home and "re-verify by" in home
    assert "acme-2026" in home and "$250,000.00" in home and "used $1,500.00" in home and "expires 2027-01-01" in home
    assert "Awaiting your decision" not in home and "Active alerts" not in home  # not a rep, not a lead

    await open_home(bot, GLOBEX_ADMIN)  # another org's admin sees none of Acme's
    other = home_of(bot, GLOBEX_ADMIN)
    assert "Globex" in other
    assert "Acme" not in other and "Request #" not in other and "Grant #" not in other and "acme-2026" not in other


async def test_rep_sees_what_awaits_their_decision(bot: RunningBot) -> None:
    await open_and_submit(bot)
    bot.clock.advance(timedelta(hours=5))
    await open_home(bot, REP)
    home = home_of(bot, REP)
    assert "Awaiting your decision (1)" in home
    assert "*Request #1*" in home and "Acme Security" in home and "waiting 5 hours" in home

    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    await open_home(bot, REP)
    home = home_of(bot, REP)
    assert "Nothing awaits you" in home and "Request #1" not in home


async def test_outsider_sees_no_org_data(bot: RunningBot) -> None:
    await approved_grant(bot)
    await open_and_submit(bot)
    await add_alerts(bot, "acme", {"severity": "high"})
    await open_home(bot, OUTSIDER)
    home = home_of(bot, OUTSIDER)
    assert "not part of the trusted-access program" in home
    for leak in ("Acme", "acme", "Globex", "Request #", "Grant #", "exfil", "$"):
        assert leak not in home


async def test_security_lead_sees_active_alerts_of_their_orgs_only(bot: RunningBot) -> None:
    await add_alerts(
        bot,
        "acme",
        {"severity": "low", "signal": "odd_hours", "occurrences": 3, "summary": "Ping <!channel> & <@U0OPS1>"},
        {"severity": "critical", "status": "escalated", "signal": "jailbreak_attempts"},
        {"severity": "high", "status": "resolved", "signal": "closed_signal"},
    )
    await add_alerts(bot, "globex", {"severity": "high", "signal": "globex_signal"})
    await open_home(bot, LEAD)
    home = home_of(bot, LEAD)
    assert "Active alerts — your orgs (2)" in home
    assert "LOW" in home and "odd_hours" in home and "3 occurrences" in home and "last seen" in home
    assert "CRITICAL" in home and "jailbreak_attempts" in home and "escalated" in home
    assert "closed_signal" not in home and "globex_signal" not in home
    assert "<!channel>" not in home and "<@U0OPS1>" not in home and "&lt;!channel&gt; &amp;" in home


async def test_operator_sees_counts_and_every_alert_within_slack_limits(bot: RunningBot) -> None:
    await open_and_submit(bot)
    await add_alerts(bot, "acme", *({"severity": "medium"} for _ in range(MAX_ALERTS + 25)))
    await add_alerts(bot, None, {"severity": "critical", "signal": "unknown_org_signal"})
    await open_home(bot, OPS)
    view = bot.slack.home(OPS)
    assert view is not None and len(view["blocks"]) <= MAX_BLOCKS
    home = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Across all orgs" in home and "*Orgs*\\n2" in home and "*Open requests*\\n1" in home
    assert "*Active alerts*\\n41" in home and "1 critical" in home
    assert "Awaiting your decision (1)" in home  # the operator may decide any org's request
    assert "unknown_org_signal" in home and "(unknown org)" in home  # most severe first
    assert "and 26 more alerts" in home


async def test_retried_event_publishes_once(bot: RunningBot) -> None:
    first = await open_home(bot, ADMIN, event_id="Ev0HOME0001")
    retry = await open_home(bot, ADMIN, event_id="Ev0HOME0001", retry_num=1)
    assert first.status == retry.status == 200
    assert publishes(bot, ADMIN) == 1
    await open_home(bot, ADMIN, event_id="Ev0HOME0002")
    assert publishes(bot, ADMIN) == 2


async def test_messages_tab_publishes_nothing(bot: RunningBot) -> None:
    response = await bot.driver.event(home_event(ADMIN, tab="messages"))
    await bot.settle()
    assert response.status == 200 and publishes(bot) == 0
