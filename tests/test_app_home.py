"""App Home through signed HTTP: each role sees its own view, outsiders see nothing, retries publish once."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from tests.support.bots import START, RunningBot
from tests.support.factories import make_grant, make_request
from tests.support.slack_flows import home_event, open_and_submit, open_home, request_messages
from trustbot.messages.home import MAX_ALERTS, MAX_BLOCKS
from trustbot.standin.sample import ADMIN, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP, SEC_LEAD
from trustbot.storage.tables import Alert, Org, UsageRecord

TITLE = "Trustbot — trusted access"
COMMANDS = "Commands: `/trust status` · `/trust grants` · `/trust credits` · `/trust alerts` · `/trust help`"
UPDATED = "Updated 2026-11-02 09:00 UTC."


def home_view(bot: RunningBot, user: str) -> dict[str, Any]:
    view = bot.slack.home(user)
    assert view is not None, f"no home published for {user}"
    assert view["type"] == "home" and len(view["blocks"]) <= MAX_BLOCKS
    return view


def home_lines(bot: RunningBot, user: str) -> list[str]:
    """The mrkdwn of every section, field and context element of the user's Home, in order."""
    lines: list[str] = []
    for block in home_view(bot, user)["blocks"]:
        if isinstance(block.get("text"), dict):
            lines.append(block["text"]["text"])
        lines.extend(field["text"] for field in block.get("fields", []))
        lines.extend(e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str))
    return lines


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


async def add_acme_usage(bot: RunningBot) -> None:
    """$1,500 of Acme usage in acme-2026's period (one record names the grant, one does not), and
    $999 before it that must not count."""
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


async def test_admin_sees_their_requests_grants_and_credits(bot: RunningBot) -> None:
    grant_id = await make_grant(bot.rt.db, bot.clock)  # request #1, approved
    request_id = await make_request(bot.rt.db, bot.clock)  # a second, still pending request
    await add_acme_usage(bot)

    await open_home(bot, ADMIN)
    # Not a rep, not a lead: nothing awaits a decision, no alerts.
    assert home_lines(bot, ADMIN) == [
        TITLE,
        f"Your roles: enterprise admin of Acme Security. {UPDATED}",
        "*Your org: Acme Security*",
        "*Open requests (1)*",
        f"*Request #{request_id}* · Acme Security · Standard · 90 days · 1 person · by <@U0ADM1> · pending"
        " · opened less than a minute ago",
        "*Grants (1)*",
        f":large_green_circle: *Grant #{grant_id}* · Acme Security · Standard · 1 person · active"
        " · expires 2027-08-29 · re-verify by 2026-11-05",
        "*Credits (1)*",
        "*acme-2026* · Acme Security · $250,000.00 · used $1,500.00 (1%) · $248,500.00 left · expires 2027-01-01",
        COMMANDS,
    ]

    await open_home(bot, GLOBEX_ADMIN)  # another org's admin sees none of Acme's
    assert home_lines(bot, GLOBEX_ADMIN) == [
        TITLE,
        f"Your roles: enterprise admin of Globex. {UPDATED}",
        "*Your org: Globex*",
        "*Open requests*\nNone. Ask for access with `/trust request`.",
        "*Grants*\nNo active or suspended grants.",
        "*Credits*\nNo credit grants.",
        COMMANDS,
    ]


async def test_rep_sees_what_awaits_their_decision(bot: RunningBot) -> None:
    await open_and_submit(bot)
    bot.clock.advance(timedelta(hours=5))
    await open_home(bot, REP)
    lines = home_lines(bot, REP)
    assert lines[:3] == [
        TITLE,
        "Your roles: account rep of Acme Security. Updated 2026-11-02 14:00 UTC.",
        "*Awaiting your decision (1)* — decide in each request's thread in the reps channel",
    ]
    assert lines[3].startswith("*Request #1* · Acme Security · ")
    assert lines[3].endswith(" · by <@U0ADM1> · pending · waiting 5 hours")
    assert lines[4:] == [COMMANDS]

    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    await open_home(bot, REP)
    assert home_lines(bot, REP) == [
        TITLE,
        "Your roles: account rep of Acme Security. Updated 2026-11-02 14:00 UTC.",
        "*Awaiting your decision*\nNothing awaits you. :tada:",
        COMMANDS,
    ]


async def test_outsider_sees_no_org_data(bot: RunningBot) -> None:
    await make_grant(bot.rt.db, bot.clock)
    await make_request(bot.rt.db, bot.clock)
    await add_alerts(bot, "acme", {"severity": "high"})
    await open_home(bot, OUTSIDER)
    assert home_lines(bot, OUTSIDER) == [
        TITLE,
        "You're not part of the trusted-access program, so there is nothing to show you here.\n\n"
        "If your company takes part, ask your company's enterprise admin — or your account rep at the provider — "
        "to add you to the Trustbot directory. Until then Trustbot shows no org's requests, grants, credits or alerts.",
    ]
    home = json.dumps(home_view(bot, OUTSIDER)["blocks"], ensure_ascii=False)
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
    await open_home(bot, SEC_LEAD)
    lines = home_lines(bot, SEC_LEAD)
    assert lines[:3] == [
        TITLE,
        f"Your roles: security lead of Acme Security. {UPDATED}",
        "*Active alerts — your orgs (2)* — act on them in the security channel or with `/trust alerts`",
    ]
    assert lines[5:] == [COMMANDS]
    # Most severe first; every severity shown, `low` included; user text escaped.
    critical, low = lines[3], lines[4]
    assert "*#2 CRITICAL* · Acme Security · jailbreak_attempts · escalated\n" in critical
    assert "*#1 LOW* · Acme Security · odd_hours · open\n" in low
    assert low.endswith("Ping &lt;!channel&gt; &amp; &lt;@U0OPS1&gt;\n3 occurrences, last seen 2026-11-02 08:55 UTC")
    home = json.dumps(home_view(bot, SEC_LEAD)["blocks"], ensure_ascii=False)
    assert "closed_signal" not in home and "globex_signal" not in home
    assert "<!channel>" not in home and "<@U0OPS1>" not in home


async def test_operator_sees_counts_and_every_alert_within_slack_limits(bot: RunningBot) -> None:
    await make_request(bot.rt.db, bot.clock)
    await add_alerts(bot, "acme", *({"severity": "medium"} for _ in range(MAX_ALERTS + 25)))
    await add_alerts(bot, None, {"severity": "critical", "signal": "unknown_org_signal"})
    await open_home(bot, OPERATOR)
    view = home_view(bot, OPERATOR)
    lines = home_lines(bot, OPERATOR)
    assert lines[:10] == [
        TITLE,
        f"Your roles: operator. {UPDATED}",
        "*Across all orgs*",
        "*Orgs*\n2",
        "*Open requests*\n1",
        "*Active grants*\n0",
        "*Suspended grants*\n0",
        f"*Active alerts*\n{MAX_ALERTS + 26} (1 critical, {MAX_ALERTS + 25} medium)",
        # The operator may decide any org's request.
        "*Awaiting your decision (1)* — decide in each request's thread in the reps channel",
        "*Request #1* · Acme Security · Standard · 90 days · 1 person · by <@U0ADM1> · pending"
        " · waiting less than a minute",
    ]
    assert lines[10] == (
        f"*Active alerts — all orgs ({MAX_ALERTS + 26})* — act on them in the security channel or with `/trust alerts`"
    )
    # Most severe first: the unknown org's critical alert leads.
    assert f"*#{MAX_ALERTS + 26} CRITICAL* · `initech` (unknown org) · unknown_org_signal · open" in lines[11]
    assert lines[-2:] == ["… and 26 more alerts not shown here.", COMMANDS]
    assert len(view["blocks"]) <= MAX_BLOCKS


async def test_retried_event_publishes_once(bot: RunningBot) -> None:
    first = await open_home(bot, ADMIN, event_id="Ev0HOME0001")
    retry = await open_home(bot, ADMIN, event_id="Ev0HOME0001", retry_num=1)
    assert (first.status, retry.status) == (200, 200)
    assert publishes(bot, ADMIN) == 1
    await open_home(bot, ADMIN, event_id="Ev0HOME0002")
    assert publishes(bot, ADMIN) == 2


async def test_messages_tab_publishes_nothing(bot: RunningBot) -> None:
    response = await bot.driver.event(home_event(ADMIN, tab="messages"))
    await bot.settle()
    assert (response.status, publishes(bot)) == (200, 0)
