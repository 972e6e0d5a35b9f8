"""The gateway's view end to end: requests through Slack, grant change webhooks verified with the
Standard Webhooks verifier, and `/v1/entitlements` / `/v1/grants` over real HTTP."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request, suspend_from_alert
from trustbot.clock import FixedClock
from trustbot.ids import Block
from trustbot.standin.sample import ADMIN, DEV, DEV2, OUTSIDER, REP
from trustbot.storage.tables import AuditEvent, Grant, GrantMember


async def test_named_grant_reaches_the_gateway_then_a_suspension_cuts_it(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        before = await gateway.ask("Dana@Acme.com")
        assert (before["email"], before["org"], before["entitled"], before["tier"]) == (
            "dana@acme.com",
            "acme",
            False,
            None,
        )
        assert before["reason"] == "no grant" and before["grants"] == []
        response = await submit_request(bot)
        assert response.json is None or response.json.get("response_action") != "errors", response.json
        await approve_latest(bot)
        assert gateway.types() == ["grant.activated"] and gateway.bad_signatures == 0
        grant = gateway.events[0]["data"]["grant"]
        assert grant["members"] == [{"slack_id": DEV, "email": "dana@acme.com", "held": False, "reason": None}]
        assert (grant["org"], grant["tier"], grant["status"], grant["scope"]) == ("acme", "enhanced", "active", "named")
        after = await gateway.ask("dana@acme.com")
        assert (after["entitled"], after["tier"], after["reason"]) == (True, "enhanced", None)
        assert [g["id"] for g in after["grants"]] == [grant["id"]]
        other = await gateway.ask("eli@acme.com")  # same org, not named, no blanket grant
        assert (other["entitled"], other["reason"]) == (False, "no grant")

        await suspend_from_alert(bot)  # settle() is one delivery pass
        assert gateway.types() == ["grant.activated", "grant.suspended"]
        suspended = gateway.events[1]["data"]["grant"]
        assert (suspended["status"], suspended["suspended_reason"]) == ("suspended", "security_action")
        cut = await gateway.ask("dana@acme.com")
        assert (cut["entitled"], cut["tier"], cut["reason"]) == (False, None, "grant suspended: security action")
        # Each delivery was a distinct event, delivered once.
        ids = [d.webhook_id for d in gateway.deliveries]
        assert len(ids) == len(set(ids)) == 2


async def test_blanket_grant_covers_every_address_at_the_orgs_domains(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[], blanket=True, tier="standard")
        await approve_latest(bot)
        [event] = gateway.events
        assert event["data"]["grant"]["scope"] == "blanket" and event["data"]["grant"]["domains"] == ["acme.com"]
        for address in ("anyone@acme.com", "NEW.HIRE@ACME.COM"):
            answer = await gateway.ask(address)
            assert (answer["org"], answer["entitled"], answer["tier"]) == ("acme", True, "standard"), address
        outside = await gateway.ask("anyone@acme.com.evil.example")
        assert (outside["org"], outside["entitled"], outside["reason"]) == (None, False, "no grant")
        globex = await gateway.ask("gia@globex.example")
        assert (globex["org"], globex["entitled"]) == ("globex", False)


async def test_tier_is_the_highest_of_the_covering_grants(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        for tier in ("enhanced", "standard"):
            await submit_request(bot, members=[DEV], tier=tier)
            await approve_latest(bot)
        answer = await gateway.ask("dana@acme.com")
        assert (answer["entitled"], answer["tier"], len(answer["grants"])) == (True, "enhanced", 2)


async def test_outside_deactivated_bot_and_hidden_email_are_refused_inline_by_name(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    fake_slack.set_profile("U0BOT01", "Build Bot", email="ci@acme.com", is_bot=True)
    fake_slack.set_profile("U0HID01", "Hedy Hidden")  # Slack shows no email
    fake_slack.set_profile(DEV2, deleted=True)
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        response = await submit_request(bot, members=[OUTSIDER, DEV2, "U0BOT01", "U0HID01", DEV])
        assert response.json["response_action"] == "errors"
        refusal = response.json["errors"][Block.MEMBERS]
        assert "Otto Outsider has an email (otto@gmail.com) outside the org's domains (acme.com)" in refusal
        assert "Eli Engineer is deactivated" in refusal
        assert "Build Bot is a bot" in refusal and "Hedy Hidden has no email that Slack shows" in refusal
        assert "Dana Dev" not in refusal
        assert bot.slack.messages("C0REPS") == [] and gateway.deliveries == []
        ok = await submit_request(bot, members=[DEV])
        assert ok.json is None or "errors" not in ok.json


async def test_user_change_removes_a_person_who_left_the_org(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[DEV, DEV2])
        await approve_latest(bot)
        assert (await gateway.ask("dana@acme.com"))["entitled"] is True
        moved = {
            "id": DEV,
            "name": "dana",
            "deleted": False,
            "is_bot": False,
            "profile": {"real_name": "Dana Dev", "email": "dana@gmail.com"},
        }
        assert (await bot.driver.event({"type": "user_change", "user": moved})).status == 200
        await bot.settle()
        assert gateway.types() == ["grant.activated", "grant.members_changed"]
        assert gateway.events[1]["data"]["grant"]["members"] == [
            {"slack_id": DEV2, "email": "eli@acme.com", "held": False, "reason": None}
        ]
        assert (await gateway.ask("dana@acme.com"))["entitled"] is False
        assert (await gateway.ask("eli@acme.com"))["entitled"] is True
        async with bot.rt.db.sessions() as session:
            grant = (await session.scalars(select(Grant))).one()
            members = (await session.scalars(select(GrantMember.slack_id))).all()
            audit = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "grant.member_removed"))).all()
        assert grant.members == [DEV2] and list(members) == [DEV2]
        assert len(audit) == 1 and audit[0].details["member"] == DEV
        for person in (ADMIN, REP):
            assert any(
                "removed from trusted-access" in m.text and "dana@gmail.com" in m.text for m in bot.slack.dms(person)
            ), person
        # A change that keeps the person at the org's domains only renews their address.
        renamed = {**moved, "id": DEV2, "profile": {"real_name": "Eli Engineer", "email": "eli.e@acme.com"}}
        await bot.driver.event({"type": "user_change", "user": renamed})
        await bot.settle()
        assert (await gateway.ask("eli.e@acme.com"))["entitled"] is True
        assert (await gateway.ask("eli@acme.com"))["entitled"] is False
        deactivated = {**renamed, "deleted": True}
        await bot.driver.event({"type": "user_change", "user": deactivated})
        await bot.settle()
        assert (await gateway.ask("eli.e@acme.com"))["reason"] == "no grant"
        assert gateway.types()[-1] == "grant.members_changed" and len(gateway.events) == 4
