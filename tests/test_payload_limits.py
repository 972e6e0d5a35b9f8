"""Every payload Trustbot sends stays within Slack's Block Kit limits, whatever the contracts let in.

Alerts and requests with every field at its contract maximum, `&`, `<`, `>` and `|` throughout, a
directory whose texts are as long as the file format allows — through the real HTTP surface. The
fake Slack refuses (and records) any payload Slack would refuse, so none may be recorded.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant, seed_directory
from tests.support.ingest import alert, post
from trustbot.clock import FixedClock
from trustbot.services.access.limits import MAX_MEMBERS, TEXT_MAX
from trustbot.standin.sample import ADMIN, BACKUP_REP, DEV, DIRECTORY_YAML, OPERATOR, REP, SEC_LEAD
from trustbot.storage.tables import OutboxMessage, OutboxStatus

HOSTILE = "&<>|<!channel>&amp;<@U0ADM1>|"


def hostile(length: int) -> str:
    """`length` characters of text built to grow when escaped and to break mrkdwn if it is not."""
    return (HOSTILE * (length // len(HOSTILE) + 1))[:length]


NAME = "Acme " + hostile(195)
BIG_DIRECTORY = DIRECTORY_YAML.replace("name: Acme Security", f"name: {json.dumps(NAME)}").replace(
    "domains: [acme.com]", "domains: [acme.com, " + ", ".join(f"{'d' * 50}{i}.example" for i in range(30)) + "]"
)
MEMBERS = [f"U{i:08d}" for i in range(MAX_MEMBERS - 1)] + [DEV]


@pytest.fixture
async def big(
    database_url: str, fake_slack: Any, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[RunningBot]:
    # These tests are about payloads at their maxima, not about the users.info deadline (tested on its own):
    # 500 lookups within the real one-second deadline depend on how loaded the machine is.
    monkeypatch.setattr("trustbot.handlers.requests.LOOKUP_SECONDS", 30.0)
    for member in MEMBERS:  # verified people of acme, as users.info shows them
        if member not in fake_slack.users:
            fake_slack.set_profile(member, f"Member {member}", email=f"{member.lower()}@acme.com")
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS=0)
    await seed_directory(running.rt.db, clock, BIG_DIRECTORY)
    yield running
    await running.driver.close()
    await running.server.stop()


async def unsent(bot: RunningBot) -> list[tuple[str, str | None]]:
    async with bot.rt.db.sessions() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.status != OutboxStatus.SENT))
        return [(r.op, r.last_error) for r in rows.all() if r.status != OutboxStatus.SUPERSEDED]


def biggest_alert(i: int, org: str = "acme") -> dict[str, Any]:
    return alert(
        f"{i}-" + hostile(126),
        org=org,
        signal=hostile(64),
        severity="critical",
        summary=hostile(500),
        actor=hostile(256),
        evidence_url="https://monitoring.example/" + hostile(2048 - 27),
        fingerprint=hostile(512),
        score=1.0,
        details={"note": hostile(8000)},
    )


async def test_alerts_at_every_contract_maximum_are_all_shown(big: RunningBot) -> None:
    await make_grant(big.rt.db, big.clock, members=(), blanket=True)  # access at stake, so it can be suspended
    assert (await post(big, {"alerts": [biggest_alert(1), biggest_alert(2, org=hostile(64))]}))[0] == 202
    await big.settle()
    assert big.slack.rejected == []
    assert await unsent(big) == []
    [acme] = big.slack.messages("C0ACMESEC")
    assert "CRITICAL" in acme.text and len(big.slack.messages("C0SEC")) == 1
    lead = SEC_LEAD
    await big.driver.click(lead, acme, "Acknowledge")
    await big.driver.click(lead, big.slack.messages("C0ACMESEC")[0], "Suspend access")
    await big.settle()
    await big.driver.submit(lead, big.slack.views(lead)[-1], reason=hostile(TEXT_MAX))
    await big.settle()
    await big.driver.command(lead, "alerts")
    await big.driver.command(OPERATOR, "alerts")
    await big.settle()
    assert big.slack.rejected == []
    assert await unsent(big) == []


@pytest.mark.slow
async def test_requests_at_every_maximum_are_all_shown(big: RunningBot) -> None:
    admin, rep, backup = ADMIN, REP, BACKUP_REP
    await big.driver.command(admin, "request")
    await big.settle()
    form = big.slack.views(admin)[-1]
    fields = {
        "members": MEMBERS,
        "blanket": True,
        "tier": "frontier",
        "duration": "90",
        "use_case": hostile(TEXT_MAX),
        "justification": hostile(TEXT_MAX),
    }
    response = await big.driver.submit(admin, form, **fields)
    assert response.status == 200 and not response.body, response.body
    await big.settle()
    [parent] = big.slack.messages("C0REPS")
    actions = big.slack.replies("C0REPS", parent.ts)[0]
    await big.driver.click(rep, actions, "Request info")
    await big.settle()
    await big.driver.submit(rep, big.slack.views(rep)[-1], question=hostile(TEXT_MAX))
    await big.settle()
    reply = [m for m in big.slack.dms(admin) if "Reply" in m.buttons()][-1]
    await big.driver.click(admin, reply, "Reply")
    await big.settle()
    await big.driver.submit(admin, big.slack.views(admin)[-1], answer=hostile(TEXT_MAX))
    await big.settle()
    for approver in (rep, backup):
        await big.driver.click(approver, actions, "Approve")
        await big.settle()
    for user, text in ((admin, "status"), (admin, "grants"), (rep, "status"), (OPERATOR, "grants acme")):
        await big.driver.command(user, text)
    await big.driver.event({"type": "app_home_opened", "user": admin, "tab": "home"})
    await big.driver.event({"type": "app_home_opened", "user": rep, "tab": "home"})
    await big.settle()
    await big.driver.command(rep, f"revoke 1 {hostile(TEXT_MAX)}")
    await big.settle()
    assert big.slack.rejected == []
    assert await unsent(big) == []
    assert len(big.slack.dms(DEV)) == 2  # covered, then revoked
