"""The access-request flow end to end: signed HTTP in, the fake Slack Web API out."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import func, select

from bot.ids import Block
from storage.tables import AccessRequest, AuditEvent, Grant, OutboxMessage
from tests.conftest import RunningBot

ADMIN, ADMIN2, REP, BACKUP, OUTSIDER, OPS = "U0ADM1", "U0ADM2", "U0REP1", "U0REP2", "U0OUT1", "U0OPS1"
GOOD = {
    "members": ["U0DEV1"],
    "blanket": True,
    "tier": "standard",
    "duration": "30",
    "use_case": "Malware analysis",
    "justification": "Our SOC reverse-engineers samples daily.",
}


async def open_and_submit(bot: RunningBot, user: str = ADMIN, **fields: Any) -> Any:
    await bot.driver.command(user, "request")
    await bot.settle()
    view = bot.slack.views(user)[-1]
    response = await bot.driver.submit(user, view, **{**GOOD, **fields})
    await bot.settle()
    return response


def request_messages(bot: RunningBot) -> tuple[Any, Any]:
    parent = bot.slack.messages("C0REPS")[-1]
    return parent, bot.slack.replies("C0REPS", parent.ts)[0]


async def count(bot: RunningBot, table: Any) -> int:
    async with bot.rt.db.sessions() as session:
        return await session.scalar(select(func.count()).select_from(table))


def last_ephemeral(bot: RunningBot) -> str:
    return json.dumps(
        bot.slack.responses[-1]["body"]
        if isinstance(bot.slack.responses[-1], dict) and "body" in bot.slack.responses[-1]
        else bot.slack.responses[-1]
    )


async def test_help_is_ephemeral_and_lists_every_subcommand(bot: RunningBot) -> None:
    for text in ("", "help", "frobnicate"):
        response = await bot.driver.command(ADMIN, text)
        assert response.status == 200
        body = response.json
        assert body["response_type"] == "ephemeral"
        for sub in ("request", "status", "grants", "credits", "alerts", "verify", "revoke"):
            assert sub in body["text"]
    assert "frobnicate" in body["text"]


async def test_bad_signature_and_stale_timestamp_are_401(bot: RunningBot) -> None:
    from bot.testing.slack_requests import sign_request, slash_command_body

    body = slash_command_body(text="help", user_id=ADMIN, response_url=bot.slack.response_url_base + "x")
    headers = sign_request("wrong-secret", body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, headers)).status == 401
    import time

    from tests.conftest import SIGNING_SECRET

    stale = sign_request(SIGNING_SECRET, body, timestamp=int(time.time()) - 600)
    stale["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, stale)).status == 401
    fresh = sign_request(SIGNING_SECRET, body)
    fresh["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, fresh)).status == 200


async def test_request_modal_has_the_contract_labels(bot: RunningBot) -> None:
    await bot.driver.command(ADMIN, "request")
    await bot.settle()
    view = bot.slack.views(ADMIN)[-1]
    labels = " ".join(b["label"]["text"] for b in view["blocks"] if b["type"] == "input")
    for word in ("Team members", "Blanket", "Capability tier", "Use case", "Justification", "Duration"):
        assert word in labels


async def test_invalid_submission_answers_inline_and_stores_nothing(bot: RunningBot) -> None:
    response = await open_and_submit(bot, justification="too short", members=[], blanket=False, duration="400")
    assert response.json["response_action"] == "errors"
    errors = response.json["errors"]
    assert {Block.JUSTIFICATION, Block.MEMBERS, Block.DURATION} <= set(errors)
    assert "365" in errors[Block.DURATION]
    assert await count(bot, AccessRequest) == 0 and bot.slack.messages("C0REPS") == []


async def test_tier_above_the_orgs_maximum_is_refused_inline(bot: RunningBot) -> None:
    await bot.driver.command("U0GLX1", "request")
    await bot.settle()
    view = bot.slack.views("U0GLX1")[-1]
    tiers = [o["value"] for b in view["blocks"] if b.get("block_id") == Block.TIER for o in b["element"]["options"]]
    assert tiers == ["standard"]  # globex's max_tier
    response = await bot.driver.submit(
        "U0GLX1", view, **{**GOOD, "members": ["U0GLX1"], "tier": "standard", "duration": "30"}
    )
    assert response.status == 200 and not response.body


async def test_request_reaches_reps_channel_with_buttons_in_its_thread(bot: RunningBot) -> None:
    response = await open_and_submit(bot)
    assert response.status == 200
    parent, actions = request_messages(bot)
    assert "<@U0REP1>" in json.dumps(parent.blocks) + parent.text
    for word in ("Acme Security", "Malware analysis", "30", "acme.com"):
        assert word in json.dumps(parent.blocks)
    assert parent.buttons() == []
    assert actions.buttons() == ["Approve", "Deny", "Request info"]
    assert bot.slack.dms(ADMIN), "the requester is told the request was sent"


async def test_user_text_reaches_slack_escaped(bot: RunningBot) -> None:
    evil = "Ping <!channel> and <@U0OPS1>, see <https://evil.example|our docs> & more"
    await open_and_submit(bot, justification=evil)
    parent, _ = request_messages(bot)
    raw = json.dumps(parent.blocks)
    assert "<!channel>" not in raw and "<@U0OPS1>" not in raw and "<https://evil.example|" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp; more" in raw


async def test_approval_creates_grant_updates_parent_replies_and_dms(bot: RunningBot) -> None:
    await open_and_submit(bot)
    parent, actions = request_messages(bot)
    response = await bot.driver.click(REP, actions, "Approve")
    assert response.status == 200
    await bot.settle()
    parent, actions = request_messages(bot)
    assert "Approved" in parent.text or "approved" in json.dumps(parent.blocks).lower()
    assert actions.buttons() == []
    thread = bot.slack.replies("C0REPS", parent.ts)
    assert len(thread) >= 2 and "approved" in thread[-1].text.lower()
    dm = bot.slack.dms(ADMIN)[-1]
    assert "2026-12-02" in dm.text or "Dec" in dm.text  # 30 days after 2026-11-02
    assert any("covered" in m.text.lower() or "access" in m.text.lower() for m in bot.slack.dms("U0DEV1"))
    async with bot.rt.db.sessions() as session:
        grant = (await session.scalars(select(Grant))).one()
    assert grant.status == "active" and grant.expires_at.date().isoformat() == "2026-12-02"


async def test_refusals_are_ephemeral_and_change_nothing(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    for user in (OUTSIDER, ADMIN, "U0SEC1", "U0GLX1"):
        before = (len(bot.slack.calls), await count(bot, OutboxMessage), await count(bot, AuditEvent))
        response = await bot.driver.click(user, actions, "Approve")
        assert response.status == 200 and response.elapsed < 1.0  # acked at once, refusal sent after
        await bot.settle()
        reply = bot.slack.responses[-1]
        assert reply["body"]["response_type"] == "ephemeral" and reply["body"]["replace_original"] is False
        assert (len(bot.slack.calls), await count(bot, OutboxMessage), await count(bot, AuditEvent)) == before
    assert await count(bot, Grant) == 0


async def test_rep_cannot_approve_own_request_and_double_click_is_harmless(bot: RunningBot) -> None:
    # An operator is also an admin of every org, so can request; the rep approves twice.
    await open_and_submit(bot, user=OPS, org="acme")
    _, actions = request_messages(bot)
    await bot.driver.click(OPS, actions, "Approve")
    await bot.settle()
    assert "own request" in json.dumps(bot.slack.responses[-1]["body"])
    await bot.driver.click(REP, actions, "Approve")
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    assert await count(bot, Grant) == 1
    assert "already" in json.dumps(bot.slack.responses[-1]["body"]).lower()


async def test_two_approval_tier_needs_two_different_people(bot: RunningBot) -> None:
    await open_and_submit(bot, tier="frontier", duration="60")
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    parent, _ = request_messages(bot)
    assert "1 of 2" in json.dumps(parent.blocks) + parent.text
    assert await count(bot, Grant) == 0
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    assert await count(bot, Grant) == 0
    await bot.driver.click(BACKUP, actions, "Approve")
    await bot.settle()
    assert await count(bot, Grant) == 1


async def test_deny_asks_for_a_reason(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Deny")
    await bot.settle()
    modal = bot.slack.views(REP)[-1]
    empty = await bot.driver.submit(REP, modal, reason="")
    assert empty.json["response_action"] == "errors" and Block.REASON in empty.json["errors"]
    await bot.driver.submit(REP, modal, reason="Use case <!here> is out of program scope")
    await bot.settle()
    parent, actions = request_messages(bot)
    assert "denied" in (parent.text + json.dumps(parent.blocks)).lower() and actions.buttons() == []
    assert "out of program scope" in bot.slack.dms(ADMIN)[-1].text
    assert "<!here>" not in json.dumps(parent.blocks) + bot.slack.dms(ADMIN)[-1].text
    await bot.driver.click(BACKUP, actions, "Approve")
    await bot.settle()
    assert await count(bot, Grant) == 0


async def test_outsider_gets_no_deny_modal(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    views_before = len(bot.slack.views())
    await bot.driver.click(OUTSIDER, actions, "Deny")
    await bot.settle()
    assert len(bot.slack.views()) == views_before
    assert bot.slack.responses[-1]["body"]["response_type"] == "ephemeral"


async def test_request_info_round_trip(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Request info")
    await bot.settle()
    await bot.driver.submit(REP, bot.slack.views(REP)[-1], question="How many analysts?")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        assert (await session.scalars(select(AccessRequest.status))).one() == "info_requested"
    dm = [m for m in bot.slack.dms(ADMIN) if "Reply" in m.buttons()][-1]
    assert "How many analysts?" in dm.text + json.dumps(dm.blocks)
    await bot.driver.click(OUTSIDER, dm, "Reply")
    await bot.settle()
    assert bot.slack.responses[-1]["body"]["response_type"] == "ephemeral"
    await bot.driver.click(ADMIN, dm, "Reply")
    await bot.settle()
    await bot.driver.submit(ADMIN, bot.slack.views(ADMIN)[-1], answer="Twelve analysts.")
    await bot.settle()
    parent, _ = request_messages(bot)
    thread = bot.slack.replies("C0REPS", parent.ts)
    assert "Twelve analysts." in thread[-1].text + json.dumps(thread[-1].blocks) and "<@U0REP1>" in thread[
        -1
    ].text + json.dumps(thread[-1].blocks)
    async with bot.rt.db.sessions() as session:
        assert (await session.scalars(select(AccessRequest.status))).one() == "pending"


async def approved_grant(bot: RunningBot) -> int:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        return (await session.scalars(select(Grant.id))).one()


async def test_status_and_grants_commands(bot: RunningBot) -> None:
    grant_id = await approved_grant(bot)
    status = await bot.driver.command(ADMIN, "status")
    await bot.settle()
    assert status.status == 200
    assert f"#{grant_id}" in json.dumps(bot.slack.responses[-1]["body"])
    await bot.driver.command(REP, "grants acme")
    await bot.settle()
    body = bot.slack.responses[-1]["body"]
    assert body["response_type"] == "ephemeral" and "Revoke" in json.dumps(body)
    await bot.driver.command(ADMIN, "grants globex")
    await bot.settle()
    assert "globex" in json.dumps(bot.slack.responses[-1]["body"]).lower()
    assert "Revoke" not in json.dumps(bot.slack.responses[-1]["body"])


async def test_revoke_command_for_reps_only(bot: RunningBot) -> None:
    grant_id = await approved_grant(bot)
    await bot.driver.command(ADMIN, f"revoke {grant_id} no longer needed")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        assert (await session.get(Grant, grant_id)).status == "active"
    await bot.driver.command(REP, "revoke")
    await bot.settle()
    assert "Usage" in json.dumps(bot.slack.responses[-1]["body"])
    await bot.driver.command(REP, f"revoke {grant_id} contract ended <!channel>")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        grant = await session.get(Grant, grant_id)
    assert grant.status == "revoked" and "contract ended" in (grant.end_reason or "")
    assert any("revoked" in m.text.lower() for m in bot.slack.dms(ADMIN))
    await bot.driver.command(REP, f"revoke {grant_id} again")
    await bot.settle()
    assert "already" in json.dumps(bot.slack.responses[-1]["body"]).lower()


async def test_unknown_action_and_malformed_payload_do_not_crash(bot: RunningBot) -> None:
    from bot.testing.slack_requests import block_actions_body, sign_request
    from tests.conftest import SIGNING_SECRET

    body = block_actions_body(
        user_id=REP, action_id="no.such.action", value="{}", channel_id="C0REPS", message_ts="1.1"
    )
    headers = sign_request(SIGNING_SECRET, body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, headers)).status == 200
    garbage = b"payload=%7Bnot-json"
    headers = sign_request(SIGNING_SECRET, garbage)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(garbage, headers)).status in (200, 400)
    tampered = await open_and_submit(bot)
    _, actions = request_messages(bot)
    button = actions.button("Approve")
    body = block_actions_body(
        user_id=REP,
        action_id=button["action_id"],
        value="not json",
        channel_id="C0REPS",
        message_ts=actions.ts,
        response_url=bot.slack.response_url_base + "t",
    )
    headers = sign_request(SIGNING_SECRET, body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, headers)).status == 200
    await bot.settle()
    assert "out of date" in json.dumps(bot.slack.responses[-1]["body"])
    assert tampered.status == 200 and (await bot.driver.command(ADMIN, "help")).status == 200


async def test_unknown_subcommand_is_echoed_escaped(bot: RunningBot) -> None:
    body = (await bot.driver.command(ADMIN, "<!channel> hi")).json
    assert "<!channel>" not in json.dumps(body) and "&lt;!channel&gt;" in json.dumps(body)
