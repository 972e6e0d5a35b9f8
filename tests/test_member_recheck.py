"""A pending request does not outlive its people: approval looks every named member up again (`users.info`,
the org's current domains), and `user_change` reaches open requests too. Through signed Slack requests
and the bearer-authorised `/v1` API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request
from trustbot.clock import FixedClock
from trustbot.services.entitlements.identity import Profile, recheck_members
from trustbot.standin.sample import ADMIN, DEV, DEV2
from trustbot.storage.tables import AccessRequest, AuditEvent, Grant, RequestStatus


async def _audit(bot: Any, action: str) -> list[AuditEvent]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(AuditEvent).where(AuditEvent.action == action))).all())


async def _request(bot: Any) -> AccessRequest:
    async with bot.rt.db.sessions() as session:
        return (await session.scalars(select(AccessRequest))).one()


async def _grants(bot: Any) -> list[Grant]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(Grant))).all())


def _last_answer(bot: Any) -> str:
    assert bot.slack.responses, "no ephemeral answer reached Slack"
    return str(bot.slack.responses[-1]["body"]["text"])


async def test_a_member_deactivated_while_pending_is_left_out_and_a_moved_address_is_renewed(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[DEV, DEV2])
        # While the request waits: Eli is deactivated, Dana signs in under a new address at the org's domain.
        fake_slack.set_profile(DEV2, deleted=True)
        fake_slack.set_profile(DEV, email="dana.dev@acme.com")
        await approve_latest(bot)
        assert "Left out (no longer verified people of the org): Eli Engineer is deactivated." in _last_answer(bot)
        [event] = gateway.events
        assert event["type"] == "grant.activated"
        assert event["data"]["grant"]["members"] == [
            {"slack_id": DEV, "email": "dana.dev@acme.com", "held": False, "reason": None}
        ]
        eli = await gateway.ask("eli@acme.com")
        assert (eli["entitled"], eli["reason"]) == (False, "no grant")
        assert (await gateway.ask("dana@acme.com"))["entitled"] is False  # the address captured at submission
        assert (await gateway.ask("dana.dev@acme.com"))["entitled"] is True
        [grant] = await _grants(bot)
        assert grant.members == [DEV]
        [left] = await _audit(bot, "request.members_left_out")
        assert left.details["members"] == {DEV2: "Eli Engineer is deactivated"}
        assert any("Eli Engineer is deactivated" in m.text for m in bot.slack.dms(ADMIN))  # the requester
        assert not any("You are now covered" in m.text for m in bot.slack.dms(DEV2))
        parent = bot.slack.messages("C0REPS")[-1]
        assert any("Left out" in r.text and "Eli Engineer" in r.text for r in bot.slack.replies("C0REPS", parent.ts))


async def test_approval_is_refused_when_nobody_named_is_still_of_the_org(
    database_url: str, fake_slack: Any, clock: FixedClock
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[DEV])
        fake_slack.set_profile(DEV, email="dana@gmail.com")  # moved off acme.com while pending
        await approve_latest(bot)
        answer = _last_answer(bot)
        assert "Nobody named in request #" in answer and "Nothing changed" in answer
        assert "Dana Dev has an email (dana@gmail.com) outside the org's domains (acme.com)" in answer
        assert (await _request(bot)).status == RequestStatus.PENDING
        assert await _grants(bot) == [] and gateway.events == []
        assert (await gateway.ask("dana@acme.com"))["entitled"] is False


async def test_approval_waits_when_slack_cannot_be_asked(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[DEV])
        fake_slack.fail("users.info", error="internal_error", times=3)
        await approve_latest(bot)
        answer = _last_answer(bot)
        assert "Slack could not be reached" in answer and "Try approving again" in answer
        assert (await _request(bot)).status == RequestStatus.PENDING
        assert await _grants(bot) == [] and gateway.events == []
        assert await _audit(bot, "request.approved") == []
        fake_slack.reset_faults()
        await approve_latest(bot)  # Slack answers again: the same click now approves
        assert (await _request(bot)).status == RequestStatus.APPROVED
        assert (await gateway.ask("dana@acme.com"))["entitled"] is True


async def test_user_change_reaches_pending_requests(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        await submit_request(bot, members=[DEV, DEV2])
        renamed = {"id": DEV, "deleted": False, "profile": {"real_name": "Dana Dev", "email": "dana.d@acme.com"}}
        assert (await bot.driver.event({"type": "user_change", "user": renamed})).status == 200
        left = {"id": DEV2, "deleted": True, "profile": {"real_name": "Eli Engineer", "email": "eli@acme.com"}}
        assert (await bot.driver.event({"type": "user_change", "user": left})).status == 200
        await bot.settle()
        request = await _request(bot)
        assert request.status == RequestStatus.PENDING
        assert (request.members, request.member_emails) == ([DEV], {DEV: "dana.d@acme.com"})
        [renewed] = await _audit(bot, "request.member_email_changed")
        [removed] = await _audit(bot, "request.member_removed")
        assert renewed.details["email"] == "dana.d@acme.com"
        assert (removed.details["member"], removed.details["why"]) == (DEV2, "is deactivated")
        parent = bot.slack.messages("C0REPS")[-1]
        notes = [r.text for r in bot.slack.replies("C0REPS", parent.ts)]
        assert any("Taken off request" in n and "Eli Engineer is deactivated" in n for n in notes), notes
        assert "1 person" in parent.text  # the parent shows the request's new scope
        assert gateway.events == []  # no grant exists yet, so the gateway hears nothing


def test_recheck_sorts_members_into_kept_left_out_and_unanswered() -> None:
    profiles = {
        "U1": Profile("U1", "Kept Person", email="kept.new@acme.com"),
        "U2": Profile("U2", "Gone Person", email="gone@acme.com", deleted=True),
        "U3": Profile("U3", "U3", found=False),  # Slack: no such user
        "U4": Profile("U4", "U4", found=False, unreachable=True),
        "U5": Profile("U5", "Moved Person", email="moved@elsewhere.example"),
    }
    check = recheck_members(["U1", "U2", "U3", "U4", "U5", "U6"], profiles, ["ACME.com"])
    assert check.emails == {"U1": "kept.new@acme.com"}
    assert check.left_out == {
        "U2": "Gone Person is deactivated",
        "U3": "U3 is no longer in Slack",
        "U5": "Moved Person has an email (moved@elsewhere.example) outside the org's domains (acme.com)",
    }
    assert check.unreachable == ("U4", "U6")  # U6 was never looked up: nothing is decided on them
