"""Alert actions, grouping, debounce, circuit breaker and escalation — end to end through signed
HTTP and the fake Slack where a person would see it, at the service level where timing matters."""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from bot.clock import FixedClock
from bot.services.alert_actions import escalate_overdue_alerts
from bot.services.alert_rendering import BREAKER_RATE_LIMITED, flush_held_back
from bot.services.alerts import (
    AlertIn,
    ingest_alerts,
)
from storage.database import Database
from storage.tables import (
    AccessRequest,
    Alert,
    AlertStatus,
    AuditEvent,
    Grant,
    GrantStatus,
    OutboxMessage,
    OutboxStatus,
)
from tests.conftest import DIRECTORY_YAML, START, RunningBot, make_settings, start_bot
from tests.test_alert_ingest import alert, alerts, post

SEC, OPS, REP, ADM1, ADM2, OUT, GLX = "U0SEC1", "U0OPS1", "U0REP1", "U0ADM1", "U0ADM2", "U0OUT1", "U0GLX1"
CHANNEL = "C0ACMESEC"


@pytest.fixture
async def abot(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[RunningBot]:
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_ALERT_UPDATE_SECONDS=0)
    await _seed_grants(running.rt.db)
    yield running
    await running.driver.close()
    await running.server.stop()


async def _seed_grants(db: Database) -> None:
    """Two active grants and one revoked for acme: what a suspension puts at stake."""
    async with db.transaction() as session:
        from storage.queries.directory import get_org

        acme = await get_org(session, slug="acme")
        for i, status in enumerate([GrantStatus.ACTIVE, GrantStatus.ACTIVE, GrantStatus.REVOKED]):
            request = AccessRequest(
                org_id=acme.id,
                requester=ADM1,
                members=["U0DEV1"],
                blanket=i == 0,
                tier_id="enhanced",
                use_case="red team",
                justification="x" * 30,
                duration_days=90,
                status="approved",
                created_at=START,
                updated_at=START,
            )
            session.add(request)
            await session.flush()
            session.add(
                Grant(
                    request_id=request.id,
                    org_id=acme.id,
                    members=["U0DEV1"],
                    blanket=i == 0,
                    tier_id="enhanced",
                    status=status,
                    starts_at=START,
                    expires_at=START + timedelta(days=90),
                    reverify_due_at=START + timedelta(days=60),
                )
            )


def last_response(bot: RunningBot) -> str:
    return json.dumps(bot.slack.responses[-1]).lower() if bot.slack.responses else ""


async def raise_alert(bot: RunningBot, severity: str = "high", **overrides: Any) -> Any:
    """Ingest one alert and return its Slack message."""
    assert (await post(bot, alert(overrides.pop("id", "a-1"), severity=severity, **overrides)))[0] == 202
    await bot.settle()
    return bot.slack.messages(CHANNEL)[-1]


async def grants(bot: RunningBot) -> list[Grant]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(Grant).order_by(Grant.id))).all())


async def count(bot: RunningBot, table: Any) -> int:
    async with bot.rt.db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


def thread(bot: RunningBot, message: Any) -> list[str]:
    return [m.text for m in bot.slack.replies(CHANNEL, message.ts)]


# -- actions -------------------------------------------------------------------------------


async def test_acknowledge_sets_owner_updates_in_place_and_records_in_thread(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    await abot.driver.click(SEC, message, "Acknowledge")
    await abot.settle()
    [message] = abot.slack.messages(CHANNEL)
    assert "Acknowledged" in json.dumps(message.blocks) and "<@U0SEC1>" in json.dumps(message.blocks)
    assert any("acknowledged" in t for t in thread(abot, message))
    [stored] = await alerts(abot)
    assert (stored.status, stored.owner) == (AlertStatus.ACKNOWLEDGED, SEC)
    # A second click changes nothing and says so.
    before = (await count(abot, OutboxMessage), await count(abot, AuditEvent))
    await abot.driver.click(SEC, message, "Acknowledge")
    await abot.settle()
    assert "already" in last_response(abot)
    assert (await count(abot, OutboxMessage), await count(abot, AuditEvent)) == before


@pytest.mark.parametrize(
    ("button", "status"),
    [
        ("Escalate", AlertStatus.ESCALATED),
        ("Resolve", AlertStatus.RESOLVED),
        ("False positive", AlertStatus.FALSE_POSITIVE),
    ],
)
async def test_each_transition(abot: RunningBot, button: str, status: str) -> None:
    message = await raise_alert(abot)
    await abot.driver.click(OPS, message, button)
    await abot.settle()
    [stored] = await alerts(abot)
    assert stored.status == status
    [message] = abot.slack.messages(CHANNEL)
    if status in (AlertStatus.RESOLVED, AlertStatus.FALSE_POSITIVE):
        assert "actions" not in [b["type"] for b in message.blocks]  # closed: buttons gone
    assert len(thread(abot, message)) >= 1
    async with abot.rt.db.sessions() as session:
        actions = (await session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("alert.%")))).all()
    assert actions


async def test_closed_alert_refuses_further_actions(abot: RunningBot) -> None:
    message = await raise_alert(abot)
    stale = copy.deepcopy(message)  # a copy of the message as someone else's client still shows it
    await abot.driver.click(SEC, message, "Resolve")
    await abot.settle()
    await abot.driver.click(SEC, stale, "Acknowledge")
    await abot.settle()
    assert "already resolved" in last_response(abot)
    [stored] = await alerts(abot)
    assert stored.status == AlertStatus.RESOLVED


@pytest.mark.parametrize("user", [OUT, REP, ADM1, GLX])
async def test_only_security_leads_and_operators_may_act(abot: RunningBot, user: str) -> None:
    message = await raise_alert(abot)
    before = len(abot.slack.replies(CHANNEL, message.ts))
    for button in ("Acknowledge", "Escalate", "Resolve", "False positive", "Suspend access"):
        response = await abot.driver.click(user, message, button)
        assert response.status == 200 and response.elapsed < 1.0, (button, response.elapsed)  # Slack gives up at 3 s
        await abot.settle()
        assert "security leads" in last_response(abot) or "directory" in last_response(abot), button
    [stored] = await alerts(abot)
    assert stored.status == AlertStatus.OPEN and stored.suspended_by is None
    assert len(abot.slack.replies(CHANNEL, message.ts)) == before
    assert abot.slack.views(user) == []
    assert all(g.status != GrantStatus.SUSPENDED for g in await grants(abot))


async def test_unknown_org_alert_only_operators_act(abot: RunningBot) -> None:
    assert (await post(abot, alert("u-1", org="initech", severity="high")))[0] == 202
    await abot.settle()
    [message] = abot.slack.messages("C0SEC")
    await abot.driver.click(SEC, message, "Acknowledge")
    await abot.settle()
    assert "operators" in last_response(abot)
    await abot.driver.click(OPS, message, "Acknowledge")
    await abot.settle()
    assert (await alerts(abot))[0].status == AlertStatus.ACKNOWLEDGED


async def test_suspend_access_confirms_suspends_tells_audits_and_shows(abot: RunningBot) -> None:
    message = await raise_alert(abot, severity="critical")
    await abot.driver.click(SEC, message, "Suspend access")
    await abot.settle()
    modal = abot.slack.views(SEC)[-1]
    empty = await abot.driver.submit(SEC, modal, reason="")
    await abot.settle()
    assert "reason" in empty.body.lower()
    assert all(g.status != GrantStatus.SUSPENDED for g in await grants(abot))
    await abot.driver.submit(SEC, modal, reason="Confirmed exfiltration <!channel>")
    await abot.settle()
    statuses = [(g.status, g.suspended_reason, g.suspension_note) for g in await grants(abot)]
    assert statuses[:2] == [(GrantStatus.SUSPENDED, "security_action", "Confirmed exfiltration <!channel>")] * 2
    assert statuses[2][0] == GrantStatus.REVOKED
    for person in (REP, ADM1, ADM2):
        assert any("suspended" in m.text and "Confirmed exfiltration" in m.text for m in abot.slack.dms(person)), person
    [message] = abot.slack.messages(CHANNEL)
    shown = json.dumps(message.blocks)
    assert "Access suspended" in shown and "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert any("suspended" in t for t in thread(abot, message))
    async with abot.rt.db.sessions() as session:
        audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "alert.suspend_access"))).all()
    assert len(audit) == 1 and audit[0].actor == SEC and len(audit[0].details["grants"]) == 2
    # Again: refused, nothing changes.
    await abot.driver.click(SEC, message, "Suspend access")
    await abot.settle()
    assert "already suspended" in last_response(abot)


async def test_alerts_command_lists_open_alerts_including_low(abot: RunningBot) -> None:
    await post(
        abot,
        {"alerts": [alert("l", signal="quiet-low", severity="low"), alert("h", signal="loud-high", severity="high")]},
    )
    await abot.settle()
    await abot.driver.command(SEC, "alerts")
    await abot.settle()
    listing = last_response(abot)
    assert "quiet-low" in listing and "loud-high" in listing
    await abot.driver.command(OUT, "alerts acme")
    await abot.settle()
    assert "quiet-low" not in last_response(abot)
    await abot.driver.command(OPS, "alerts acme")
    await abot.settle()
    assert "quiet-low" in last_response(abot)


# -- grouping --------------------------------------------------------------------------------


async def test_repeats_group_into_one_message_with_count_and_last_seen(abot: RunningBot) -> None:
    await raise_alert(abot, id="g-1")
    for i in range(2, 6):
        await post(abot, alert(f"g-{i}", severity="high", occurred_at=f"2026-11-02T09:0{i}:00Z"))
    await abot.settle()
    [message] = abot.slack.messages(CHANNEL)
    shown = json.dumps(message.blocks)
    assert "*Occurrences*\\n5" in shown and "2026-11-02 09:05 UTC" in shown


async def test_after_resolve_a_new_occurrence_opens_a_new_alert(abot: RunningBot) -> None:
    message = await raise_alert(abot, id="r-1")
    await abot.driver.click(SEC, message, "Resolve")
    await abot.settle()
    await raise_alert(abot, id="r-2")
    assert len(abot.slack.messages(CHANNEL)) == 2
    assert [a.status for a in await alerts(abot)] == [AlertStatus.RESOLVED, AlertStatus.OPEN]


async def test_dedup_window_ends_grouping(abot: RunningBot) -> None:
    await raise_alert(abot, id="w-1")
    abot.clock.advance(timedelta(minutes=61))
    await raise_alert(abot, id="w-2")
    assert len(await alerts(abot)) == 2 and len(abot.slack.messages(CHANNEL)) == 2


# -- escalation ------------------------------------------------------------------------------


async def test_escalation_job_via_jobs_run_now(abot: RunningBot) -> None:
    from scheduler.cli import run_jobs_command

    message = await raise_alert(abot, severity="critical", id="e-1")
    await post(abot, alert("e-2", signal="medium-one", severity="medium"))
    await abot.settle()
    settings = abot.rt.settings

    async def run_at(at: datetime) -> None:
        args = argparse.Namespace(
            jobs_command="run", name="alert-escalation", now=at.isoformat().replace("+00:00", "Z")
        )
        assert await run_jobs_command(settings, args) == 0

    await run_at(START + timedelta(minutes=10))
    assert [a.status for a in await alerts(abot)] == [AlertStatus.OPEN, AlertStatus.OPEN]
    await run_at(START + timedelta(minutes=16))
    await abot.settle()
    assert [a.status for a in await alerts(abot)] == [AlertStatus.ESCALATED, AlertStatus.OPEN]
    notes = thread(abot, message)
    assert any("escalated" in t.lower() and "<@U0SEC1>" in t and "<@U0REP1>" in t for t in notes)
    assert any("acknowledgement" in m.text for m in abot.slack.dms(OPS))
    await run_at(START + timedelta(minutes=17))  # nothing twice
    await abot.settle()
    assert len(thread(abot, message)) == len(notes)


async def test_acknowledged_alerts_do_not_escalate(abot: RunningBot) -> None:
    message = await raise_alert(abot, severity="high")
    await abot.driver.click(SEC, message, "Acknowledge")
    await abot.settle()
    abot.clock.advance(timedelta(minutes=30))
    assert (await escalate_overdue_alerts(abot.rt.db, abot.clock, abot.rt.settings)).startswith("escalated 0")


# -- debounce and circuit breaker (service level: timing and outbox rows) ------------------------


def _item(i: int, fp: int = 0, severity: str = "medium") -> AlertIn:
    return AlertIn.model_validate(
        {
            "id": f"s-{i}",
            "org": "acme",
            "signal": f"sig-{fp}",
            "severity": severity,
            "summary": "storm",
            "occurred_at": "2026-11-02T08:59:00Z",
        }
    )


@pytest.fixture
async def seeded(db: Database, clock: FixedClock) -> Database:
    from bot.services.directory import apply_directory, parse_directory

    async with db.transaction() as session:
        await apply_directory(session, clock, parse_directory(DIRECTORY_YAML), actor="test")
    return db


async def _rows(db: Database, **where: Any) -> list[OutboxMessage]:
    async with db.sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        for key, value in where.items():
            query = query.where(getattr(OutboxMessage, key) == value)
        return list((await session.scalars(query)).all())


async def test_repeats_rewrite_the_queued_render_instead_of_queueing_more(seeded: Database, clock: FixedClock) -> None:
    settings = make_settings(seeded.url, "http://127.0.0.1:9/api/")
    for i in range(30):
        async with seeded.transaction() as session:
            await ingest_alerts(session, clock, settings, [_item(i)])
    rows = await _rows(seeded, channel=CHANNEL)
    assert len(rows) == 1 and rows[0].op == "post" and "30 occurrences" in rows[0].payload["text"]


async def test_edits_after_the_post_are_debounced(seeded: Database, clock: FixedClock) -> None:
    settings = make_settings(seeded.url, "http://127.0.0.1:9/api/", TRUSTBOT_ALERT_UPDATE_SECONDS=10)
    async with seeded.transaction() as session:
        await ingest_alerts(session, clock, settings, [_item(0)])
    async with seeded.transaction() as session:  # delivery sent the post
        await session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    for i in range(1, 20):
        async with seeded.transaction() as session:
            await ingest_alerts(session, clock, settings, [_item(i)])
    [post_row, edit] = await _rows(seeded, channel=CHANNEL)
    assert edit.op == "update" and "20 occurrences" in edit.payload["text"]
    delay = (edit.available_at - edit.created_at).total_seconds()
    assert 9 <= delay <= 10.5  # at most one chat.update per message per TRUSTBOT_ALERT_UPDATE_SECONDS


async def test_breaker_summarises_while_slack_rate_limits_then_catches_up(seeded: Database, clock: FixedClock) -> None:
    settings = make_settings(seeded.url, "http://127.0.0.1:9/api/")
    async with seeded.transaction() as session:
        await ingest_alerts(session, clock, settings, [_item(0, fp=0)])
    async with seeded.transaction() as session:  # Slack keeps answering 429 to the head of the lane
        await session.execute(update(OutboxMessage).values(attempts=BREAKER_RATE_LIMITED, last_error="ratelimited"))
    async with seeded.transaction() as session:
        await ingest_alerts(session, clock, settings, [_item(i, fp=i) for i in range(1, 40)])
    rows = await _rows(seeded, channel=CHANNEL)
    assert [r.op for r in rows] == ["post", "post"]  # the first alert, then one summary — not 39 posts
    assert rows[1].save_as.startswith(f"alert-summary:{CHANNEL}:") and "39 alerts" in rows[1].payload["text"]
    async with seeded.sessions() as session:
        held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
    assert held == 39
    async with seeded.transaction() as session:  # Slack recovered: the lane drained
        await session.execute(update(OutboxMessage).values(status=OutboxStatus.SENT))
    async with seeded.transaction() as session:
        assert await flush_held_back(session, clock, settings) == 39
    rows = [r for r in await _rows(seeded, channel=CHANNEL) if r.status == OutboxStatus.PENDING]
    assert sum(r.op == "post" for r in rows) == 39
    summary_edit = [r for r in rows if r.op == "update"]
    assert len(summary_edit) == 1 and "recovered" in summary_edit[0].payload["text"]
    async with seeded.sessions() as session:
        held = await session.scalar(select(func.count()).select_from(Alert).where(Alert.render_pending.is_(True)))
    assert held == 0


async def test_group_commit_counts_each_request(seeded: Database, clock: FixedClock) -> None:
    from bot.services.alerts import ingest_alert_requests

    settings = make_settings(seeded.url, "http://127.0.0.1:9/api/")
    async with seeded.transaction() as session:
        results = await ingest_alert_requests(session, clock, settings, [[_item(1)], [_item(1), _item(2)], [_item(2)]])
    assert [(r.accepted, r.duplicates) for r in results] == [(1, 0), (1, 1), (0, 1)]


async def test_a_fingerprint_shared_by_two_orgs_never_merges_them(abot: RunningBot) -> None:
    assert (await post(abot, alert("acme-1", fingerprint="exfil:bulk", summary="acme thing")))[0] == 202
    assert (await post(abot, alert("glx-1", org="globex", fingerprint="exfil:bulk", summary="GLOBEX SECRET")))[0] == 202
    await abot.settle()
    stored = sorted((a.org_slug, a.occurrences) for a in await alerts(abot))
    assert stored == [("acme", 1), ("globex", 1)]
    assert "GLOBEX" not in json.dumps([m.blocks for m in abot.slack.messages(CHANNEL)])
    assert any("GLOBEX" in json.dumps(m.blocks) for m in abot.slack.messages("C0SEC"))


async def test_security_suspension_outranks_a_missed_reverification(abot: RunningBot) -> None:
    from bot.services.reverification import submit_reverification

    async with abot.rt.db.transaction() as session:  # the first grant already lapsed its re-verification
        await session.execute(
            update(Grant)
            .where(Grant.id == 1)
            .values(status=GrantStatus.SUSPENDED, suspended_reason="missed_reverification")
        )
    message = await raise_alert(abot, severity="critical")
    await abot.driver.click(SEC, message, "Suspend access")
    await abot.settle()
    await abot.driver.submit(SEC, abot.slack.views(SEC)[-1], reason="Confirmed misuse")
    await abot.settle()
    assert [(g.status, g.suspended_reason) for g in (await grants(abot))[:2]] == [
        (GrantStatus.SUSPENDED, "security_action")
    ] * 2
    async with abot.rt.db.transaction() as session:  # the customer's admin re-verifies: that must not lift it
        await submit_reverification(
            session,
            abot.clock,
            grant_id=1,
            user_id=ADM1,
            operators=[],
            members=["U0DEV1"],
            attestations={"roster", "use_case"},
        )
    first = (await grants(abot))[0]
    assert (first.status, first.suspended_reason) == (GrantStatus.SUSPENDED, "security_action")


async def test_a_post_slack_refuses_moves_to_the_default_channel_then_stops_and_tells_operators(
    abot: RunningBot,
) -> None:
    abot.slack.fail("chat.postMessage", error="channel_not_found", times=1, channel=CHANNEL)
    assert (await post(abot, alert("lost-1", severity="high")))[0] == 202
    await abot.settle()
    assert abot.slack.messages(CHANNEL) == []
    await escalate_overdue_alerts(abot.rt.db, abot.clock, abot.rt.settings)
    await abot.settle()
    [moved] = abot.slack.messages("C0SEC")
    assert "Bulk download" in json.dumps(moved.blocks)
    # The default channel refuses too, every time: after three posts the operators are told, once.
    abot.slack.fail("chat.postMessage", error="not_in_channel", times=10, channel="C0SEC")
    async with abot.rt.db.transaction() as session:
        await session.execute(update(Alert).values(message_key=None, render_pending=True))
    for _ in range(4):
        await escalate_overdue_alerts(abot.rt.db, abot.clock, abot.rt.settings)
        await abot.settle()
    posts = [c for c in abot.slack.calls_to("chat.postMessage") if c.args.get("channel") in (CHANNEL, "C0SEC")]
    assert len(posts) <= 5
    told = [m for m in abot.slack.dms("U0OPS1") if "refused to post" in m.text]
    assert len(told) == 1
