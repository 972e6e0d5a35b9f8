"""The access-request flow end to end: signed HTTP in, the fake Slack Web API out."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from tests.support.bots import RunningBot, count, start_bot
from tests.support.slack_flows import GOOD, open_and_submit, request_messages
from trustbot.ids import Block
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, DEV, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP, SEC_LEAD
from trustbot.storage.tables import AccessRequest, AuditEvent, Grant, OutboxMessage

NOT_IN_DIRECTORY = "You're not in the Trustbot directory"


def dump(value: Any) -> str:
    """JSON of a payload as Slack shows it (non-ASCII kept, so `·` and `—` match)."""
    return json.dumps(value, ensure_ascii=False)


def last_reply(bot: RunningBot) -> str:
    """The text of the newest response_url answer, which must be ephemeral and leave the clicked message alone."""
    body = bot.slack.responses[-1]["body"]
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False, body
    return str(body["text"])


async def test_help_is_ephemeral_and_lists_every_subcommand(bot: RunningBot) -> None:
    for text in ("", "help", "frobnicate"):
        response = await bot.driver.command(ADMIN, text)
        assert response.status == 200
        body = response.json
        assert body["response_type"] == "ephemeral"
        for sub in ("help", "request", "status", "grants", "credits", "alerts", "verify", "revoke"):
            assert f"/trust {sub}" in body["text"]
        unknown = "I don't know `frobnicate`. Here is what I can do:"
        assert (unknown in body["text"]) == (text == "frobnicate")
        assert (unknown in dump(body["blocks"])) == (text == "frobnicate")


async def test_bad_signature_and_stale_timestamp_are_401(bot: RunningBot) -> None:
    from trustbot.standin.slack_requests import sign_request, slash_command_body

    body = slash_command_body(text="help", user_id=ADMIN, response_url=bot.slack.response_url_base + "x")
    headers = sign_request("wrong-secret", body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, headers)).status == 401
    import time

    from tests.support.bots import SIGNING_SECRET

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
    assert set(errors) == {Block.JUSTIFICATION, Block.MEMBERS, Block.DURATION}
    assert errors[Block.DURATION] == "Durations are capped by the tier: at most 365 days for the Standard tier."
    assert errors[Block.JUSTIFICATION] == "Write at least 20 characters (you wrote 9)."
    assert await count(bot, AccessRequest) == 0 and bot.slack.messages("C0REPS") == []


async def test_tier_above_the_orgs_maximum_is_refused_inline(bot: RunningBot) -> None:
    await bot.driver.command(GLOBEX_ADMIN, "request")
    await bot.settle()
    view = bot.slack.views(GLOBEX_ADMIN)[-1]
    tiers = [o["value"] for b in view["blocks"] if b.get("block_id") == Block.TIER for o in b["element"]["options"]]
    assert tiers == ["standard"]  # globex's max_tier
    # A stale or tampered modal can still send a higher tier; the service refuses it on the tier block.
    for tier, name in (("enhanced", "Enhanced"), ("frontier", "Frontier")):
        response = await bot.driver.submit(
            GLOBEX_ADMIN, view, **{**GOOD, "members": [GLOBEX_ADMIN], "tier": tier, "duration": "30"}
        )
        assert response.status == 200 and response.json["response_action"] == "errors"
        assert response.json["errors"] == {
            Block.TIER: f"Globex may request tiers up to standard; {name} is above that."
        }
    await bot.settle()
    assert await count(bot, AccessRequest) == 0 and bot.slack.messages("C0REPS") == []
    # The tier the org may have goes through.
    response = await bot.driver.submit(
        GLOBEX_ADMIN, view, **{**GOOD, "members": [GLOBEX_ADMIN], "tier": "standard", "duration": "30"}
    )
    assert response.status == 200 and not response.body
    await bot.settle()
    assert await count(bot, AccessRequest) == 1 and len(bot.slack.messages("C0REPS")) == 1


async def test_request_reaches_reps_channel_with_buttons_in_its_thread(bot: RunningBot) -> None:
    response = await open_and_submit(bot)
    assert response.status == 200
    parent, actions = request_messages(bot)
    assert f"Account rep: <@{REP}>" in dump(parent.blocks) and f"<@{REP}> (pending)" in parent.text
    for word in (
        "*Access request #1* for *Acme Security* (acme)",
        "Malware analysis",
        "*Duration*\\n30 days",
        "everyone at acme.com",
        f"1 named person: <@{DEV}>",
    ):
        assert word in dump(parent.blocks), word
    assert parent.buttons() == []
    assert actions.buttons() == ["Approve", "Deny", "Request info"]
    [sent] = bot.slack.dms(ADMIN)  # the requester is told the request was sent
    assert "Access request #1 for Acme Security is submitted" in sent.text and f"<@{REP}> will decide" in sent.text


async def test_user_text_reaches_slack_escaped(bot: RunningBot) -> None:
    evil = "Ping <!channel> and <@U0OPS1>, see <https://evil.example|our docs> & more"
    await open_and_submit(bot, justification=evil)
    parent, _ = request_messages(bot)
    raw = dump(parent.blocks)
    assert "<!channel>" not in raw and "<@U0OPS1>" not in raw and "<https://evil.example|" not in raw
    assert "&lt;!channel&gt;" in raw and "&amp; more" in raw


async def test_approval_creates_grant_updates_parent_replies_and_dms(bot: RunningBot) -> None:
    await open_and_submit(bot)
    parent, actions = request_messages(bot)
    response = await bot.driver.click(REP, actions, "Approve")
    assert response.status == 200
    await bot.settle()
    assert "Approved request #1; grant #1 is active." in last_reply(bot)
    parent, actions = request_messages(bot)
    assert parent.text.endswith("(approved)")
    assert f"*Approved* by <@{REP}>" in dump(parent.blocks)
    assert "grant #1 expires 2026-12-02" in dump(parent.blocks)  # 30 days after 2026-11-02
    assert actions.buttons() == []
    thread = bot.slack.replies("C0REPS", parent.ts)
    assert len(thread) == 2 and thread[-1].text == (
        f":white_check_mark: Approved by <@{REP}>. Grant #1 is active until 2026-12-02."
    )
    dm = bot.slack.dms(ADMIN)[-1]
    assert "Your access request #1 for Acme Security was approved." in dm.text
    assert "Grant #1 (Standard tier, " in dm.text and "is active until *2026-12-02*" in dm.text
    [covered] = bot.slack.dms(DEV)
    assert covered.text == (
        "You are now covered by trusted-access grant #1 for Acme Security (Standard tier) until 2026-12-02, "
        f"requested by <@{ADMIN}>."
    )
    async with bot.rt.db.sessions() as session:
        grant = (await session.scalars(select(Grant))).one()
    assert grant.status == "active" and grant.expires_at.date().isoformat() == "2026-12-02"


async def test_refusals_are_ephemeral_and_change_nothing(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    for user, refusal in (
        (OUTSIDER, NOT_IN_DIRECTORY),
        (ADMIN, "Only the org's account reps or operators can decide on request #1."),
        (SEC_LEAD, "Only the org's account reps or operators can decide on request #1."),
        (GLOBEX_ADMIN, "Only the org's account reps or operators can decide on request #1."),
    ):
        before = (len(bot.slack.calls), await count(bot, OutboxMessage), await count(bot, AuditEvent))
        replies = len(bot.slack.responses)
        response = await bot.driver.click(user, actions, "Approve")
        assert response.status == 200 and response.elapsed < 1.0  # acked at once, refusal sent after
        await bot.settle()
        assert len(bot.slack.responses) == replies + 1
        assert last_reply(bot).startswith(f":no_entry: {refusal}"), user
        assert (len(bot.slack.calls), await count(bot, OutboxMessage), await count(bot, AuditEvent)) == before
    assert await count(bot, Grant) == 0


async def test_rep_cannot_approve_own_request_and_double_click_is_harmless(bot: RunningBot) -> None:
    # An operator is also an admin of every org, so can request; the rep approves twice.
    await open_and_submit(bot, user=OPERATOR, org="acme")
    _, actions = request_messages(bot)
    await bot.driver.click(OPERATOR, actions, "Approve")
    await bot.settle()
    assert last_reply(bot) == ":no_entry: You can't approve your own request; another rep or an operator must."
    assert await count(bot, Grant) == 0
    await bot.driver.click(REP, actions, "Approve")
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    assert await count(bot, Grant) == 1
    # The two clicks may finish in either order: one approves, the other is told it already happened.
    answers = sorted(r["body"]["text"] for r in bot.slack.responses[-2:])
    assert answers[0].startswith(f":no_entry: Request #1 was already approved by <@{REP}>")
    assert answers[1] == "Approved request #1; grant #1 is active."


async def test_two_approval_tier_needs_two_different_people(bot: RunningBot) -> None:
    await open_and_submit(bot, tier="frontier", duration="60")
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    assert last_reply(bot) == "Recorded your approval of request #1: 1 of 2 approvals."
    parent, _ = request_messages(bot)
    assert f"*Pending* — 1 of 2 approvals (<@{REP}>); needs another approver" in dump(parent.blocks)
    assert await count(bot, Grant) == 0
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    assert last_reply(bot) == ":no_entry: You already approved request #1; it needs a different second approver."
    assert await count(bot, Grant) == 0
    await bot.driver.click(BACKUP_REP, actions, "Approve")
    await bot.settle()
    assert last_reply(bot) == "Approved request #1; grant #1 is active."
    assert await count(bot, Grant) == 1
    parent, _ = request_messages(bot)
    assert f"*Approved* by <@{REP}>, <@{BACKUP_REP}>" in dump(parent.blocks)


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
    assert parent.text.endswith("(denied)") and f"*Denied* by <@{REP}>" in dump(parent.blocks)
    assert actions.buttons() == []
    denied = bot.slack.dms(ADMIN)[-1].text
    assert f"Your access request #1 for Acme Security was denied by <@{REP}>." in denied
    assert "Use case &lt;!here&gt; is out of program scope" in denied
    assert "<!here>" not in dump(parent.blocks) + denied
    await bot.driver.click(BACKUP_REP, actions, "Approve")
    await bot.settle()
    assert last_reply(bot).startswith(f":no_entry: Request #1 was already denied by <@{REP}>")
    assert await count(bot, Grant) == 0


async def test_outsider_gets_no_deny_modal(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    views_before = len(bot.slack.views())
    await bot.driver.click(OUTSIDER, actions, "Deny")
    await bot.settle()
    assert len(bot.slack.views()) == views_before
    assert last_reply(bot).startswith(f":no_entry: {NOT_IN_DIRECTORY}")


async def test_request_info_round_trip(bot: RunningBot) -> None:
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Request info")
    await bot.settle()
    await bot.driver.submit(REP, bot.slack.views(REP)[-1], question="How many analysts?")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        assert (await session.scalars(select(AccessRequest.status))).one() == "info_requested"
    [dm] = [m for m in bot.slack.dms(ADMIN) if "Reply" in m.buttons()]
    assert f"<@{REP}> needs more information about your access request #1" in dm.text
    assert "> How many analysts?" in dm.text
    await bot.driver.click(OUTSIDER, dm, "Reply")
    await bot.settle()
    assert last_reply(bot).startswith(f":no_entry: {NOT_IN_DIRECTORY}")
    await bot.driver.click(ADMIN, dm, "Reply")
    await bot.settle()
    await bot.driver.submit(ADMIN, bot.slack.views(ADMIN)[-1], answer="Twelve analysts.")
    await bot.settle()
    parent, _ = request_messages(bot)
    thread = bot.slack.replies("C0REPS", parent.ts)
    assert thread[-1].text == f"<@{REP}>: <@{ADMIN}> answered:\n> Twelve analysts.\nThe request is pending again."
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
    assert last_reply(bot) == "Trusted access for Acme Security: 0 open requests, 1 grant"
    assert f"*Grant #{grant_id}* · Acme Security · Standard" in dump(bot.slack.responses[-1]["body"]["blocks"])
    await bot.driver.command(REP, "grants acme")
    await bot.settle()
    assert last_reply(bot) == "Grants — Acme Security: 1 grant, 1 active"
    body = bot.slack.responses[-1]["body"]
    assert [e["text"]["text"] for b in body["blocks"] if (e := b.get("accessory"))] == ["Revoke"]
    await bot.driver.command(ADMIN, "grants globex")
    await bot.settle()
    assert last_reply(bot) == (
        ":no_entry: You can't see grants of `globex`. "
        "Only an org's admins, account reps and security leads, and operators, can."
    )
    assert "Revoke" not in dump(bot.slack.responses[-1]["body"])


async def test_revoke_command_for_reps_only(bot: RunningBot) -> None:
    grant_id = await approved_grant(bot)
    await bot.driver.command(ADMIN, f"revoke {grant_id} no longer needed")
    await bot.settle()
    assert last_reply(bot) == f":no_entry: Only the org's account reps or operators can revoke grant #{grant_id}."
    async with bot.rt.db.sessions() as session:
        assert (await session.get(Grant, grant_id)).status == "active"
    await bot.driver.command(REP, "revoke")
    await bot.settle()
    assert last_reply(bot).startswith(":no_entry: Usage: `/trust revoke <grant-id> <reason>`")
    await bot.driver.command(REP, f"revoke {grant_id} contract ended <!channel>")
    await bot.settle()
    async with bot.rt.db.sessions() as session:
        grant = await session.get(Grant, grant_id)
    assert grant.status == "revoked" and grant.end_reason == "contract ended <!channel>"
    assert last_reply(bot) == f"Grant #{grant_id} for Acme Security is revoked. Admins and the requester are told."
    for person in (ADMIN, ADMIN2, DEV):
        told = bot.slack.dms(person)[-1].text
        assert f"grant #{grant_id} for Acme Security (Standard tier) was revoked by <@{REP}>" in told, person
        assert "contract ended &lt;!channel&gt;" in told and "<!channel>" not in told
    await bot.driver.command(REP, f"revoke {grant_id} again")
    await bot.settle()
    assert last_reply(bot) == f":no_entry: Grant #{grant_id} is already revoked; nothing changed."


async def test_unknown_action_and_malformed_payload_do_not_crash(bot: RunningBot) -> None:
    from tests.support.bots import SIGNING_SECRET
    from trustbot.standin.slack_requests import block_actions_body, sign_request

    body = block_actions_body(
        user_id=REP, action_id="no.such.action", value="{}", channel_id="C0REPS", message_ts="1.1"
    )
    headers = sign_request(SIGNING_SECRET, body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot.driver.post_raw(body, headers)).status == 200
    garbage = b"payload=%7Bnot-json"
    headers = sign_request(SIGNING_SECRET, garbage)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    malformed = await bot.driver.post_raw(garbage, headers)  # signed, but not a body Bolt can parse
    assert malformed.status == 400 and malformed.json == {"error": "malformed body"}
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
    assert last_reply(bot) == ":no_entry: That button or form is out of date. Please start again."
    assert await count(bot, Grant) == 0
    assert tampered.status == 200 and (await bot.driver.command(ADMIN, "help")).status == 200


async def test_unknown_subcommand_is_echoed_escaped(bot: RunningBot) -> None:
    body = (await bot.driver.command(ADMIN, "<!channel> hi")).json
    assert "<!channel>" not in dump(body) and "&lt;!channel&gt;" in dump(body)


async def test_an_org_at_its_cap_of_open_requests_is_refused_until_its_rep_decides(
    database_url: str, fake_slack: Any, clock: Any
) -> None:
    bot = await start_bot(database_url, fake_slack, clock, TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG=2)
    try:
        views = []
        for _ in range(3):  # three modals open at once; the third is submitted after the cap is reached
            await bot.driver.command(ADMIN, "request")
            await bot.settle()
            views.append(bot.slack.views(ADMIN)[-1])
        for view in views[:2]:
            assert not (await bot.driver.submit(ADMIN, view, **GOOD)).body
        await bot.settle()
        refused = await bot.driver.submit(ADMIN, views[2], **GOOD)
        await bot.settle()
        why = (
            "acme already has 2 requests waiting for a decision, the most an org may have open at once, so nothing "
            "was saved. Ask your account rep to decide the pending ones, then submit again."
        )
        assert refused.json == {"response_action": "errors", "errors": {Block.JUSTIFICATION: why}}
        assert await count(bot, AccessRequest) == 2 and len(bot.slack.messages("C0REPS")) == 2
        await bot.driver.command(ADMIN2, "request")  # another admin of acme: told at once, no modal
        await bot.settle()
        assert last_reply(bot) == f":no_entry: {why}" and bot.slack.views(ADMIN2) == []
        assert not (await open_and_submit(bot, GLOBEX_ADMIN, members=[GLOBEX_ADMIN])).body  # other orgs go on
        await bot.driver.click(REP, bot.slack.replies("C0REPS", bot.slack.messages("C0REPS")[0].ts)[0], "Approve")
        await bot.settle()
        assert not (await open_and_submit(bot, ADMIN)).body  # the rep decided one: there is room again
        assert await count(bot, AccessRequest) == 4
    finally:
        await bot.close()
