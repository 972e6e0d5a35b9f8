"""Scheduled jobs against a real database: grant expiry, request SLA, org verification (and shared helpers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from tests.support.factories import make_grant, make_request, seed_directory, settings, system
from tests.support.job_helpers import audit_actions, dms, grant, last_outbox_id, notice_keys, outbox, thread_replies
from trustbot.clock import FixedClock
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, DEV, DEV2, DIRECTORY_YAML, GLOBEX_ADMIN, REP
from trustbot.storage.database import Database
from trustbot.storage.tables import (
    AccessRequest,
    AuditEvent,
    GrantStatus,
    RequestStatus,
)


async def audit_actors(db: Database, action: str) -> list[str]:
    """Who did each audited `action`, in order."""
    async with db.sessions() as session:
        query = select(AuditEvent.actor).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await session.scalars(query)).all())


async def run(db: Database, clock: FixedClock, name: str, **overrides: Any) -> str:
    """Run one job in the slot the clock says it is; returns its outcome."""
    from trustbot.scheduler.runs import run_job

    result = await run_job(db, clock, settings(**overrides), name)
    assert result.status == "finished", result
    return result.outcome


# ---------------------------------------------------------------- grant-expiry


async def test_expiry_warns_admins_7_and_1_days_ahead_once_each(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(db, clock, expires=timedelta(days=7), due=timedelta(days=200))
    assert await run(db, clock, "grant-expiry") == "2 warnings"
    rows = await outbox(db)
    assert set(dms(rows)) == {ADMIN, ADMIN2}
    assert f"grant #{gid}" in dms(rows)[ADMIN][0] and "expires in 7 days" in dms(rows)[ADMIN][0]
    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "grant-expiry") == "nothing due"
    mark = await last_outbox_id(db)
    clock.advance(timedelta(days=6))
    assert await run(db, clock, "grant-expiry") == "2 warnings"
    assert "expires tomorrow" in dms(await outbox(db, since_id=mark))[ADMIN2][0]
    assert await notice_keys(db) == [f"expiry:{gid}:2026-11-09:1", f"expiry:{gid}:2026-11-09:7"]


async def test_expiry_ends_grant_tells_admins_members_and_thread(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    gid = await make_grant(
        db,
        clock,
        expires=timedelta(hours=2),
        due=timedelta(days=200),
        members=(DEV, DEV2),
        status=GrantStatus.SUSPENDED,
        suspended_reason="security_action",
    )
    mark = await last_outbox_id(db)
    clock.advance(timedelta(hours=2))
    assert await run(db, clock, "grant-expiry") == "1 expired"
    row = await grant(db, gid)
    assert row.status == GrantStatus.EXPIRED and row.ended_by == "trustbot" and row.ended_at == clock.now()
    rows = await outbox(db, since_id=mark)
    assert set(dms(rows)) == {ADMIN, ADMIN2, DEV, DEV2}
    assert "expired" in dms(rows)[DEV][0] and "access it gave has ended" in dms(rows)[DEV][0]
    [(channel, parent, text)] = thread_replies(rows)
    assert (channel, parent) == ("C0REPS", f"request:{row.request_id}") and f"<@{REP}>" in text
    assert ("grant.expired", "org:acme") in await audit_actions(db)
    assert await audit_actors(db, "grant.expired") == ["trustbot"]
    clock.advance(timedelta(hours=1))
    assert await run(db, clock, "grant-expiry") == "nothing due"


# ---------------------------------------------------------------- request-sla


async def test_request_sla_nudges_escalates_then_expires(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock)
    rid = await make_request(db, clock, requester=ADMIN)
    clock.advance(timedelta(hours=23, minutes=59))
    assert await run(db, clock, "request-sla") == "nothing due"
    clock.advance(timedelta(minutes=16))
    assert await run(db, clock, "request-sla") == "1 nudged"
    [(channel, parent, text)] = thread_replies(await outbox(db))
    assert (channel, parent) == ("C0REPS", f"request:{rid}") and f"<@{REP}>" in text and "24 hours" in text
    clock.advance(timedelta(minutes=15))
    assert await run(db, clock, "request-sla") == "nothing due"
    clock.advance(timedelta(hours=24))
    mark = await last_outbox_id(db)
    assert await run(db, clock, "request-sla") == "1 escalated"
    [(_, _, text)] = thread_replies(await outbox(db, since_id=mark))
    assert f"<@{BACKUP_REP}>" in text and "48 hours" in text
    clock.advance(timedelta(days=12))
    mark = await last_outbox_id(db)
    assert await run(db, clock, "request-sla") == "1 expired"
    rows = await outbox(db, since_id=mark)
    updates = {r.message_key for r in rows if r.op == "update"}
    assert updates == {f"request:{rid}", f"request:{rid}:actions"}
    actions = next(r for r in rows if r.message_key == f"request:{rid}:actions")
    assert all(b["type"] != "actions" for b in actions.payload["blocks"])  # buttons gone
    assert "expired" in dms(rows)[ADMIN][0] and "nothing was granted" in dms(rows)[ADMIN][0]
    async with db.sessions() as session:
        request = await session.get(AccessRequest, rid)
        assert request is not None and request.status == RequestStatus.EXPIRED
        assert request.nudged_at is not None and request.escalated_at is not None
    actions = await audit_actions(db)
    for action in ("request.nudged", "request.escalated", "request.expired"):
        assert actions.count((action, f"request:{rid}")) == 1, action


async def test_request_sla_jump_escalates_without_separate_nudge_and_skips_info_requested(
    db: Database, clock: FixedClock
) -> None:
    await seed_directory(db, clock)
    pending = await make_request(db, clock)
    waiting = await make_request(db, clock, status=RequestStatus.INFO_REQUESTED)
    clock.advance(timedelta(hours=50))
    assert await run(db, clock, "request-sla") == "1 escalated"
    assert [p for _, p, _ in thread_replies(await outbox(db))] == [f"request:{pending}"]
    clock.advance(timedelta(days=13))
    assert await run(db, clock, "request-sla") == "2 expired"
    async with db.sessions() as session:
        assert (await session.get(AccessRequest, waiting)).status == RequestStatus.EXPIRED  # type: ignore[union-attr]


# ---------------------------------------------------------------- org-verification


async def test_org_verification_warns_reps_then_suspends_and_restores(db: Database, clock: FixedClock) -> None:
    from trustbot.services.directory.verification import restore_org_verification

    await seed_directory(db, clock)
    gid = await make_grant(db, clock, org="globex", due=timedelta(days=170), expires=timedelta(days=360))
    other = await make_grant(db, clock, org="acme", due=timedelta(days=170), expires=timedelta(days=360))
    clock.set(datetime(2027, 3, 1, 0, 10, tzinfo=UTC))  # globex verified until 2027-03-31
    assert await run(db, clock, "org-verification") == "1 warning"
    [text] = dms(await outbox(db))[BACKUP_REP]  # globex's rep
    assert "Globex" in text and "in 30 days" in text and "2027-03-31" in text
    clock.advance(timedelta(days=1))
    assert await run(db, clock, "org-verification") == "nothing due"
    clock.set(datetime(2027, 4, 1, 0, 10, tzinfo=UTC))
    mark = await last_outbox_id(db)
    assert await run(db, clock, "org-verification") == "1 suspended"  # lapsed: no more warnings
    assert (await grant(db, gid)).suspended_reason == "org_verification_lapsed"
    assert (await grant(db, other)).status == GrantStatus.ACTIVE
    rows = await outbox(db, since_id=mark)
    assert any("lapsed" in t for t in dms(rows)[GLOBEX_ADMIN]) and any("lapsed" in t for t in dms(rows)[BACKUP_REP])
    async with db.transaction() as session:  # still lapsed: nothing to restore
        org_id = (await grant(db, gid)).org_id
        assert await restore_org_verification(session, system(clock), org_ids=[org_id]) == []
    assert (await grant(db, gid)).status == GrantStatus.SUSPENDED
    mark = await last_outbox_id(db)
    # The directory update with a later date restores them, audited as whoever applied it.
    report = await seed_directory(db, clock, DIRECTORY_YAML.replace("2027-03-31", "2028-03-31"), actor="cli")
    assert report.verification_extended == ["globex"] and report.grants_restored == [gid]
    row = await grant(db, gid)
    assert row.status == GrantStatus.ACTIVE and row.suspended_reason is None
    assert "active again" in dms(await outbox(db, since_id=mark))[GLOBEX_ADMIN][0]
    assert ("grant.restored", "org:globex") in await audit_actions(db)
    assert await audit_actors(db, "grant.restored") == ["cli"]
