"""Every path that changes a grant writes its change event in the same transaction (README "Webhooks"), and
re-verification applies the identity rules of a new request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select

from tests.support.factories import acting, make_grant, seed_directory, settings
from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.messages.reverification import ATTEST_ROSTER, ATTEST_USE_CASE
from trustbot.services.access.grants import revoke_grant
from trustbot.services.entitlements.identity import Profile
from trustbot.services.errors import InvalidInput
from trustbot.services.reverification.attest import submit_reverification
from trustbot.standin.gateway import SECRET
from trustbot.standin.sample import ADMIN, DEV, DEV2, DIRECTORY_YAML, GLOBEX_ADMIN, OPERATOR, sample_profiles
from trustbot.storage.database import Database
from trustbot.storage.tables import Grant, GrantMember, GrantStatus, OutboxMessage, OutboxOp

HOOKED = {"TRUSTBOT_WEBHOOK_URL": "http://127.0.0.1:9/hooks", "TRUSTBOT_WEBHOOK_SECRET": SECRET}
BOTH = {ATTEST_ROSTER, ATTEST_USE_CASE}


def hooked() -> Settings:
    return settings(**HOOKED)


async def events(db: Database) -> list[tuple[str, int, str]]:
    """(type, grant id, lane) of every queued event, in outbox order."""
    async with db.sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.op == OutboxOp.WEBHOOK).order_by(OutboxMessage.id)
            )
        ).all()
    found = []
    for row in rows:
        body = json.loads(row.payload["body"])
        assert body["id"] == row.payload["id"] and body["data"]["grant"]["id"] == row.payload["grant"]
        found.append((body["type"], int(row.payload["grant"]), row.channel))
    return found


async def run(db: Database, clock: FixedClock, name: str, config: Settings) -> str:
    from trustbot.scheduler.runs import run_job

    result = await run_job(db, clock, config, name)
    assert result.status == "finished", result
    return result.outcome


async def test_expiry_job_emits_grant_expired(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, expires=timedelta(days=1), due=timedelta(days=30))
    clock.advance(timedelta(days=2))
    assert await run(db, clock, "grant-expiry", hooked()) == "1 expired"
    [(kind, grant_id, lane)] = await events(db)
    assert (kind, grant_id) == ("grant.expired", gid) and lane.startswith("wh:")


async def test_no_webhook_url_queues_nothing_but_the_change_is_still_ordered(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, expires=timedelta(days=1), due=timedelta(days=30))
    clock.advance(timedelta(days=2))
    assert await run(db, clock, "grant-expiry", settings()) == "1 expired"
    assert await events(db) == []
    async with db.sessions() as session:
        changed = (await session.get(Grant, gid)).updated_at  # type: ignore[union-attr]
    # Ordered by the wall clock, not the moved domain clock: a sync never sees a change from the future.
    assert abs(changed - datetime.now(UTC)) < timedelta(minutes=1) and changed != clock.now()


async def test_missed_reverification_suspends_then_reverifying_restores(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(hours=1), members=(DEV, DEV2))
    clock.advance(timedelta(hours=2))
    assert "1 suspended" in await run(db, clock, "reverification", hooked())
    async with db.transaction() as session:
        ctx = await acting(session, ADMIN, clock, hooked())
        await submit_reverification(
            session, ctx, grant_id=gid, members=[DEV], attestations=BOTH, profiles=sample_profiles()
        )
    assert [(k, g) for k, g, _ in await events(db)] == [("grant.suspended", gid), ("grant.restored", gid)]
    async with db.sessions() as session:
        members = (await session.scalars(select(GrantMember.slack_id).where(GrantMember.grant_id == gid))).all()
    assert list(members) == [DEV]


async def test_reverification_trimming_the_roster_emits_members_changed(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=3), members=(DEV, DEV2))
    async with db.transaction() as session:
        ctx = await acting(session, ADMIN, clock, hooked())
        await submit_reverification(
            session, ctx, grant_id=gid, members=[DEV2], attestations=BOTH, profiles=sample_profiles()
        )
    assert [(k, g) for k, g, _ in await events(db)] == [("grant.members_changed", gid)]


async def test_reverification_refuses_a_member_no_longer_verified(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=3), members=(DEV, DEV2))
    profiles = sample_profiles()
    profiles[DEV2] = Profile(user_id=DEV2, name="Eli Engineer", email="eli@gmail.com")
    with pytest.raises(InvalidInput) as caught:
        async with db.transaction() as session:
            ctx = await acting(session, ADMIN, clock, hooked())
            await submit_reverification(
                session, ctx, grant_id=gid, members=[DEV, DEV2], attestations=BOTH, profiles=profiles
            )
    assert "Eli Engineer has an email (eli@gmail.com) outside" in caught.value.errors["roster"]
    assert await events(db) == []


async def test_reverification_keeps_a_verified_member_slack_did_not_answer_for_in_time(
    db: Database, clock: FixedClock
) -> None:
    # A roster of hundreds cannot all be looked up within the modal's 3 s: a member whose email was
    # recorded stays (user_change keeps it current); one never verified is still refused.
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, due=timedelta(days=3), members=(DEV, DEV2))
    async with db.transaction() as session:
        await session.execute(delete(GrantMember).where(GrantMember.slack_id == DEV2))
    unanswered = {m: Profile(user_id=m, name=m, found=False) for m in (DEV, DEV2)}
    with pytest.raises(InvalidInput) as caught:
        async with db.transaction() as session:
            ctx = await acting(session, ADMIN, clock, hooked())
            await submit_reverification(
                session, ctx, grant_id=gid, members=[DEV, DEV2], attestations=BOTH, profiles=unanswered
            )
    assert "U0DEV2 could not be looked up in Slack" in caught.value.errors["roster"]
    assert DEV not in caught.value.errors["roster"]
    async with db.transaction() as session:
        ctx = await acting(session, ADMIN, clock, hooked())
        await submit_reverification(session, ctx, grant_id=gid, members=[DEV], attestations=BOTH, profiles=unanswered)
    async with db.sessions() as session:
        grant = await session.get(Grant, gid)
    assert grant is not None and grant.members == [DEV]


async def test_org_verification_lapse_suspends_and_the_directory_restores(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(
        db, clock, org="globex", members=(GLOBEX_ADMIN,), due=timedelta(days=170), expires=timedelta(days=360)
    )
    clock.set(datetime(2027, 4, 1, 0, 10, tzinfo=UTC))
    assert await run(db, clock, "org-verification", hooked()) == "1 suspended"
    await seed_directory(db, clock, DIRECTORY_YAML.replace("2027-03-31", "2028-03-31"), config=hooked())
    assert [(k, g) for k, g, _ in await events(db)] == [("grant.suspended", gid), ("grant.restored", gid)]


async def test_a_change_of_an_orgs_domains_tells_the_gateway_about_its_grants(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    acme = await make_grant(db, clock)
    await make_grant(db, clock, org="globex", members=(GLOBEX_ADMIN,))
    await seed_directory(db, clock, DIRECTORY_YAML.replace("[acme.com]", "[acme.com, acme.io]"), config=hooked())
    assert [(k, g) for k, g, _ in await events(db)] == [("grant.members_changed", acme)]


async def test_revoke_emits_grant_revoked_in_the_orgs_lane(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    acme = await make_grant(db, clock)
    globex = await make_grant(db, clock, org="globex", members=(GLOBEX_ADMIN,))
    for gid in (acme, globex):
        async with db.transaction() as session:
            await revoke_grant(session, await acting(session, OPERATOR, clock, hooked()), grant_id=gid, reason="done")
    found = await events(db)
    assert [(k, g) for k, g, _ in found] == [("grant.revoked", acme), ("grant.revoked", globex)]
    assert found[0][2] != found[1][2]  # one lane per org
    async with db.sessions() as session:
        assert (await session.get(Grant, acme)).status == GrantStatus.REVOKED  # type: ignore[union-attr]
