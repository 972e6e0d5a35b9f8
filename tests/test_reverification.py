"""Re-verification: reminders, suspension, the admin's re-verify (service and end to end through the fake Slack)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from sqlalchemy import select

from tests.support.bots import RunningBot
from tests.support.factories import acting, make_grant, seed_directory, settings
from tests.support.job_helpers import audit_actions, dms, grant, last_outbox_id, notice_keys, outbox, thread_replies
from trustbot.clock import FixedClock
from trustbot.ids import Block
from trustbot.scheduler.runs import run_job
from trustbot.services import errors
from trustbot.services import outbox as outbox_service
from trustbot.services.access.cards import parent_key
from trustbot.services.reverification.attest import Reverified, open_reverify, submit_reverification, verify_choices
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, DEV2, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP
from trustbot.storage.database import Database
from trustbot.storage.tables import Grant, GrantStatus, SentNotice, SuspensionReason

BOTH = {"roster", "use_case"}


async def run(db: Database, clock: FixedClock) -> str:
    result = await run_job(db, clock, settings(), "reverification")
    assert result.status == "finished", result
    return result.outcome


async def submit(
    db: Database,
    clock: FixedClock,
    gid: int,
    user: str = ADMIN,
    members: list[str] | None = None,
    attestations: set[str] = BOTH,
) -> Reverified:
    async with db.transaction() as session:
        ctx = await acting(session, user, clock)
        return await submit_reverification(
            session, ctx, grant_id=gid, members=[DEV] if members is None else members, attestations=attestations
        )


async def test_reminders_at_14_3_and_0_days_once_each_then_suspension(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=14))
    assert await run(db, clock) == "2 reminders"
    rows = await outbox(db)
    assert set(dms(rows)) == {ADMIN, ADMIN2}
    dm = next(r for r in rows if r.channel == ADMIN)
    assert "due in 14 days" in dm.payload["text"] and "2026-11-16" in dm.payload["text"]
    button = dm.payload["blocks"][-1]["elements"][0]
    assert button["text"]["text"] == "Re-verify" and json.loads(button["value"]) == {"grant_id": gid}
    clock.advance(timedelta(hours=1))
    assert await run(db, clock) == "nothing due"
    clock.set(datetime(2026, 11, 13, 0, 0, tzinfo=UTC))
    assert await run(db, clock) == "2 reminders"  # 3 days before
    clock.set(datetime(2026, 11, 16, 0, 0, tzinfo=UTC))
    mark = await last_outbox_id(db)
    assert await run(db, clock) == "2 reminders"  # due today, before the 09:00 deadline
    assert "due today" in dms(await outbox(db, since_id=mark))[ADMIN][0]
    assert await notice_keys(db) == [f"reverify:{gid}:2026-11-16:{d}" for d in (0, 14, 3)]
    clock.set(datetime(2026, 11, 16, 9, 0, tzinfo=UTC))
    mark = await last_outbox_id(db)
    assert await run(db, clock) == "1 suspended"
    row = await grant(db, gid)
    assert row.status == GrantStatus.SUSPENDED and row.suspended_reason == "missed_reverification"
    rows = await outbox(db, since_id=mark)
    assert set(dms(rows)) == {ADMIN, ADMIN2} and "suspended" in dms(rows)[ADMIN][0]
    [(channel, parent, text)] = thread_replies(rows)
    assert (channel, parent) == ("C0REPS", f"request:{row.request_id}") and f"<@{REP}>" in text
    assert ("grant.suspended", "org:acme") in await audit_actions(db)
    clock.advance(timedelta(hours=1))
    assert await run(db, clock) == "nothing due"


async def test_a_late_start_sends_only_the_most_urgent_reminder(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=2))
    assert await run(db, clock) == "2 reminders"
    assert "due in 2 days" in dms(await outbox(db))[ADMIN][0]
    assert await notice_keys(db) == [f"reverify:{gid}:2026-11-04:14", f"reverify:{gid}:2026-11-04:3"]


async def test_reverify_restores_moves_due_date_and_tells_the_rep(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=-1), members=(DEV, DEV2))
    assert await run(db, clock) == "1 suspended"
    mark = await last_outbox_id(db)
    result = await submit(db, clock, gid, members=[DEV])
    assert result.restored and result.removed == [DEV2]
    row = await grant(db, gid)
    assert row.status == GrantStatus.ACTIVE and row.suspended_reason is None and row.members == [DEV]
    assert row.reverify_due_at == clock.now() + timedelta(days=180) and row.last_reverified_by == ADMIN
    rows = await outbox(db, since_id=mark)
    [(channel, parent, text)] = thread_replies(rows)
    assert (channel, parent) == ("C0REPS", f"request:{row.request_id}")
    assert f"<@{REP}>" in text and "re-verified" in text and "restored" in text
    assert f"<@{DEV2}>" in text
    sent = dms(rows)
    assert (
        "re-verified" in sent[ADMIN][0] and "active again" in sent[ADMIN2][0] and "no longer covered" in sent[DEV2][0]
    )
    assert ("grant.reverified", f"grant:{gid}") in await audit_actions(db)
    # A new cycle: reminders for the new due date are sent again.
    clock.set(row.reverify_due_at - timedelta(days=3))
    assert await run(db, clock) == "2 reminders"


@pytest.mark.parametrize("reason", [SuspensionReason.SECURITY_ACTION, SuspensionReason.ORG_VERIFICATION_LAPSED])
async def test_reverify_never_lifts_another_suspension(db: Database, clock: FixedClock, reason: str) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=-1), status=GrantStatus.SUSPENDED, suspended_reason=reason)
    mark = await last_outbox_id(db)
    result = await submit(db, clock, gid)
    assert not result.restored and result.removed == []
    row = await grant(db, gid)
    assert row.status == GrantStatus.SUSPENDED and row.suspended_reason == reason and row.suspended_at is not None
    assert row.reverify_due_at == clock.now() + timedelta(days=180) and row.last_reverified_by == ADMIN
    sent = dms(await outbox(db, since_id=mark))
    assert set(sent) == {ADMIN} and "re-verified" in sent[ADMIN][0]  # no "active again" to the other admin
    [(_, _, text)] = thread_replies(await outbox(db, since_id=mark))
    assert "re-verified" in text and "restored" not in text


async def test_next_due_never_passes_expiry(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=3), expires=timedelta(days=20))
    await submit(db, clock, gid)
    row = await grant(db, gid)
    assert row.reverify_due_at == row.expires_at
    clock.set(row.expires_at - timedelta(days=1))
    assert await run(db, clock) == "nothing due"  # expiry, not re-verification, ends this grant


async def test_refusals_change_nothing(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock)
    before = await grant(db, gid)
    for user in (OUTSIDER, REP, GLOBEX_ADMIN, OPERATOR):
        with pytest.raises(errors.NotOrgAdmin):
            await submit(db, clock, gid, user=user)
    with pytest.raises(errors.InvalidInput) as missing:
        await submit(db, clock, gid, attestations={"roster"})
    assert Block.ATTESTATIONS in missing.value.errors
    with pytest.raises(errors.InvalidInput) as added:
        await submit(db, clock, gid, members=[DEV, DEV2])
    assert Block.ROSTER in added.value.errors
    with pytest.raises(errors.InvalidInput):
        await submit(db, clock, gid, members=[])
    assert (await grant(db, gid)).reverify_due_at == before.reverify_due_at
    assert not [a for a, _ in await audit_actions(db) if a == "grant.reverified"]


async def test_a_missing_grant_is_refused_like_another_orgs_grant(db: Database, clock: FixedClock) -> None:
    """Refusals never reveal whether a grant exists: a missing id reads like a grant of another org."""
    await seed_directory(db, clock)
    globex_grant = await make_grant(db, clock, org="globex", members=())
    refusals = []
    for grant_id in (999, globex_grant):
        with pytest.raises(errors.NotOrgAdmin) as refused:
            await submit(db, clock, grant_id)
        refusals.append(str(refused.value).replace(f"#{grant_id}", "#N"))
    assert refusals[0] == refusals[1] == "Only the enterprise admins of the grant's org can re-verify grant #N."
    assert not [a for a, _ in await audit_actions(db) if a == "grant.reverified"]


async def test_revoked_or_expired_grants_cannot_be_reverified(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    for status in (GrantStatus.REVOKED, GrantStatus.EXPIRED):
        gid = await make_grant(db, clock, status=status)
        with pytest.raises(errors.InvalidState, match=f"was {status}"):
            await submit(db, clock, gid)
        async with db.sessions() as session:
            with pytest.raises(errors.InvalidState, match=f"was {status}"):
                await open_reverify(session, await acting(session, ADMIN, clock), grant_id=gid)


async def test_verify_choices_are_the_callers_live_grants_soonest_first(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    later = await make_grant(db, clock, due=timedelta(days=30))
    sooner = await make_grant(db, clock, due=timedelta(days=2))
    await make_grant(db, clock, status=GrantStatus.REVOKED)
    await make_grant(db, clock, org="globex")
    async with db.sessions() as session:
        choices = await verify_choices(session, await acting(session, ADMIN2, clock))
        assert [f.info.grant.id for f in choices] == [sooner, later]
        with pytest.raises(errors.NotOrgAdmin):
            await verify_choices(session, await acting(session, REP, clock))


@dataclass(frozen=True)
class Due:
    """A countdown item: something due on a date."""

    name: str
    at: datetime


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    days=st.lists(st.integers(min_value=-5, max_value=40), min_size=1, max_size=5),
    offsets=st.lists(st.integers(0, 30), min_size=1, max_size=4, unique=True),
    data=st.data(),
)
async def test_claim_countdown_claims_only_the_most_urgent_applicable_notice_once(
    db: Database, clock: FixedClock, days: list[int], offsets: list[int], data: st.DataObject
) -> None:
    from trustbot.services.notices import claim_countdown, claim_notices, days_until

    run_id = uuid.uuid4().hex  # the database outlives one example: keys must not collide across examples
    now = clock.now()
    items = [Due(f"{run_id}:{i}", now + timedelta(days=d)) for i, d in enumerate(days)]

    def left(item: Due) -> int:
        return days_until(item.at, now, UTC)

    def key(item: Due, offset: int) -> str:
        return f"prop:{item.name}:{offset}"

    def applicable(item: Due) -> list[int]:
        return [d for d in offsets if left(item) <= d]

    assert [left(i) for i in items] == days  # calendar days, in the display zone
    # An earlier run may already have sent some of each item's notices.
    earlier = [data.draw(st.sets(st.sampled_from(offsets)), label=f"earlier[{i}]") for i in range(len(items))]
    async with db.transaction() as session:
        await claim_notices(
            session, clock, [key(item, d) for item, done in zip(items, earlier, strict=True) for d in done]
        )

    claim = {"offsets": offsets, "days_left": left, "key": key}
    async with db.transaction() as session:
        won = await claim_countdown(session, clock, items, **claim)  # type: ignore[arg-type]
    assert len({i.name for i in won}) == len(won)  # at most one notice per item
    # Sent exactly when the most urgent applicable notice is new, whatever happened to the less urgent ones.
    assert won == [
        i for i, done in zip(items, earlier, strict=True) if applicable(i) and min(applicable(i)) not in done
    ]
    async with db.sessions() as session:
        claimed = set(
            (await session.scalars(select(SentNotice.key).where(SentNotice.key.like(f"prop:{run_id}:%")))).all()
        )
    # Every applicable offset is retired with it (no later "14 days" after a "3 days"), and nothing else is claimed.
    assert claimed == {key(i, d) for i, done in zip(items, earlier, strict=True) for d in {*applicable(i), *done}}
    async with db.transaction() as session:
        assert await claim_countdown(session, clock, items, **claim) == []  # type: ignore[arg-type]


# ---------------------------------------------------------------- end to end through the fake Slack


async def test_reminder_click_modal_submit_end_to_end(bot: RunningBot) -> None:
    db, clock = bot.rt.db, bot.clock
    gid = await make_grant(db, clock, due=timedelta(days=3), members=(DEV, DEV2))
    async with db.transaction() as session:  # the request's card in the reps channel, as a decision leaves it
        request_id = (await session.get(Grant, gid)).request_id  # type: ignore[union-attr]
        outbox_service.post_message(
            session, channel="C0REPS", key=parent_key(request_id), message=f"Request #{request_id}"
        )
    result = await run_job(db, clock, bot.rt.settings, "reverification")
    await bot.settle()
    [parent] = bot.slack.messages("C0REPS")
    assert result.outcome == "2 reminders"
    [reminder] = bot.slack.dms(ADMIN)
    assert reminder.buttons() == ["Re-verify"] and "due in 3 days" in reminder.text
    refused = await bot.driver.click(OUTSIDER, reminder, "Re-verify")  # not an admin of acme
    await bot.settle()
    assert refused.status == 200 and not bot.slack.views(OUTSIDER)
    assert "enterprise admins" in bot.slack.ephemerals(OUTSIDER)[-1]["text"]
    await bot.driver.click(ADMIN, reminder, "Re-verify")
    await bot.settle()
    view = bot.slack.views(ADMIN)[-1]
    assert "Team members" in json.dumps(view) and "use case is unchanged" in json.dumps(view)
    response = await bot.driver.submit(ADMIN, view, roster=[DEV], attestations=["roster"])
    assert response.json["response_action"] == "errors" and Block.ATTESTATIONS in response.json["errors"]
    response = await bot.driver.submit(ADMIN, view, roster=[DEV], attestations=["roster", "use_case"])
    await bot.settle()
    assert response.status == 200
    row = await grant(db, gid)
    assert row.members == [DEV] and row.reverify_due_at == clock.now() + timedelta(days=180)
    [note] = bot.slack.replies("C0REPS", parent.ts)
    assert "re-verified" in note.text and f"<@{REP}>" in note.text and f"<@{DEV2}>" in note.text
    assert "no longer covered" in bot.slack.dms(DEV2)[-1].text


async def test_trust_verify_opens_the_modal_or_offers_a_choice(bot: RunningBot) -> None:
    db, clock = bot.rt.db, bot.clock
    response = await bot.driver.command(REP, "verify")
    await bot.settle()
    assert response.status == 200 and "enterprise admins" in bot.slack.ephemerals(REP)[-1]["text"]
    revoked = await make_grant(db, clock, status=GrantStatus.REVOKED)
    await bot.driver.command(ADMIN, f"verify {revoked}")
    await bot.settle()
    assert f"Grant #{revoked} was revoked" in bot.slack.ephemerals(ADMIN)[-1]["text"] and not bot.slack.views(ADMIN)
    first = await make_grant(db, clock, due=timedelta(days=5))
    await bot.driver.command(ADMIN, "verify")
    await bot.settle()
    assert f"grant #{first}" in json.dumps(bot.slack.views(ADMIN)[-1])
    await make_grant(db, clock, due=timedelta(days=2))
    views = len(bot.slack.views(ADMIN))
    await bot.driver.command(ADMIN, "verify")
    await bot.settle()
    choice = json.dumps(bot.slack.ephemerals(ADMIN)[-1])
    assert "Which grant" in choice and "Re-verify" in choice and len(bot.slack.views(ADMIN)) == views


async def test_a_tampered_reverify_button_is_refused(bot: RunningBot) -> None:
    from tests.support.bots import SIGNING_SECRET
    from trustbot.standin.slack_requests import block_actions_body, sign_request

    body = block_actions_body(
        user_id=ADMIN,
        action_id="grant.reverify",
        value="not json",
        channel_id="D0ADM1",
        message_ts="1.1",
        response_url=bot.slack.new_response_url(ADMIN, "D0ADM1"),
    )
    headers = {**sign_request(SIGNING_SECRET, body), "Content-Type": "application/x-www-form-urlencoded"}
    assert (await bot.driver.post_raw(body, headers)).status == 200
    await bot.settle()
    assert "out of date" in bot.slack.ephemerals(ADMIN)[-1]["text"] and not bot.slack.views(ADMIN)
