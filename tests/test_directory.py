"""Applying the directory file: idempotent, all-or-nothing, audited, and what it creates and changes."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.bots import START
from tests.support.factories import seed_directory
from tests.support.queries import people_of
from trustbot.clock import FixedClock
from trustbot.services.audit import verify_audit_chain
from trustbot.services.directory.apply import DEFAULT_TIERS, ApplyReport, format_apply_report, list_orgs_summary
from trustbot.services.directory.people import org_people
from trustbot.services.errors import DirectoryError
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, DIRECTORY_YAML, OPERATOR, REP, SEC_LEAD
from trustbot.storage.database import Database
from trustbot.storage.queries.directory import get_directory_state, get_org, list_tiers
from trustbot.storage.tables import AccessRequest, AuditEvent, CreditGrant, Org, OrgRole, Role

DIRECTORY = DIRECTORY_YAML

# What `list_orgs_summary` shows for the sample directory.
SAMPLE_ORGS_SUMMARY = [
    {
        "slug": "acme",
        "name": "Acme Security",
        "rep": REP,
        "admins": 2,
        "security_channel": "C0ACMESEC",
        "max_tier": "frontier",
        "verified_until": "2027-06-30",
        "slack_team": None,
        "connect_channel": None,
    },
    {
        "slug": "globex",
        "name": "Globex",
        "rep": BACKUP_REP,
        "admins": 1,
        "security_channel": None,
        "max_tier": "standard",
        "verified_until": "2027-03-31",
        "slack_team": None,
        "connect_channel": None,
    },
]


async def _count(db: Database, table: type) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _snapshot(db: Database) -> tuple[Any, ...]:
    async with db.sessions() as session:
        orgs = [
            (o.slug, o.name, tuple(o.domains), o.max_tier, o.verified_until, o.updated_at)
            for o in (await session.scalars(select(Org).order_by(Org.slug))).all()
        ]
        roles = sorted(
            (r.org_id, r.user_id, r.role, r.position) for r in (await session.scalars(select(OrgRole))).all()
        )
        credits = sorted(
            (c.id, c.org_id, c.amount_usd, c.starts, c.expires)
            for c in (await session.scalars(select(CreditGrant))).all()
        )
        tiers = [(t.id, t.approvals, t.max_days, t.reverify_days, t.rank) for t in await list_tiers(session)]
        audit = await session.scalar(select(func.count()).select_from(AuditEvent))
    return orgs, roles, credits, tiers, audit


async def _audit(db: Database) -> list[tuple[str, str, str]]:
    async with db.sessions() as session:
        events = (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()
    return [(e.actor, e.action, e.subject) for e in events]


async def test_apply_creates_orgs_roles_credits_and_default_tiers(db: Database, clock: FixedClock) -> None:
    report = await seed_directory(db, clock, DIRECTORY)
    assert report == ApplyReport(
        created=["acme", "globex"],
        tiers_changed=["default tiers created"],
        settings_changed=["operators", "reps_channel", "security_channel"],
    )
    async with db.sessions() as session:
        acme = await get_org(session, slug="acme")
        assert acme is not None and acme.id is not None
        assert (acme.name, acme.domains, acme.verified_until) == ("Acme Security", ["acme.com"], date(2027, 6, 30))
        assert await people_of(session, org_id=acme.id, role=Role.REP) == [REP]
        assert await people_of(session, org_id=acme.id, role=Role.ADMIN) == [ADMIN, ADMIN2]
        people = await org_people(session, org_id=acme.id)
        assert (people.rep, people.backup_reps, people.admins, people.security_leads) == (
            REP,
            [BACKUP_REP],
            [ADMIN, ADMIN2],
            [SEC_LEAD],
        )
        credit = await session.get(CreditGrant, "acme-2026")
        assert credit is not None
        assert (credit.amount_usd, credit.org_id, credit.starts, credit.expires) == (
            Decimal("250000"),
            acme.id,
            date(2026, 1, 1),
            date(2027, 1, 1),
        )
        tiers = await list_tiers(session)
        assert [(t.id, t.approvals, t.max_days, t.reverify_days) for t in tiers] == [
            ("standard", 1, 365, 180),
            ("enhanced", 1, 180, 90),
            ("frontier", 2, 90, 30),
        ]
        state = await get_directory_state(session)
        assert (state.reps_channel, state.security_channel, state.operators) == ("C0REPS", "C0SEC", [OPERATOR])
        assert await list_orgs_summary(session) == SAMPLE_ORGS_SUMMARY
        assert (await verify_audit_chain(session)).intact
    # The audit actor is the context's user (`seed_directory` applies as "test").
    assert await _audit(db) == [
        ("test", "org.created", "org:acme"),
        ("test", "org.created", "org:globex"),
        ("test", "directory.applied", "directory"),
    ]
    assert format_apply_report(report) == (
        "directory applied: 2 created, 0 updated, 0 unchanged\n"
        "created: acme, globex\n"
        "tiers: default tiers created\n"
        "program settings changed: operators, reps_channel, security_channel"
    )


async def test_apply_is_audited_as_the_contexts_user(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY, actor="cli")
    changed = DIRECTORY.replace("admins: [U0ADM1, U0ADM2]", "admins: [U0ADM2]")
    await seed_directory(db, clock, changed, actor=OPERATOR)
    assert await _audit(db) == [
        ("cli", "org.created", "org:acme"),
        ("cli", "org.created", "org:globex"),
        ("cli", "directory.applied", "directory"),
        (OPERATOR, "org.updated", "org:acme"),
        (OPERATOR, "directory.applied", "directory"),
    ]


async def test_applying_twice_changes_nothing(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    before = await _snapshot(db)
    clock.advance(timedelta(hours=1))
    report = await seed_directory(db, clock, DIRECTORY)
    assert report == ApplyReport(unchanged=["acme", "globex"])
    assert not report.changed
    assert format_apply_report(report) == "directory applied: 0 created, 0 updated, 2 unchanged\nnothing changed"
    assert await _snapshot(db) == before


async def test_update_is_audited_and_reports_verification_extended(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    changed = (
        DIRECTORY.replace("admins: [U0ADM1, U0ADM2]", "admins: [U0ADM2]")
        .replace("verified_until: 2027-06-30", "verified_until: 2028-06-30")
        .replace("amount_usd: 250000", "amount_usd: 300000.50")
    )
    report = await seed_directory(db, clock, changed)
    assert report == ApplyReport(updated=["acme"], unchanged=["globex"], verification_extended=["acme"])
    async with db.sessions() as session:
        acme = await get_org(session, slug="acme")
        assert acme is not None and acme.id is not None
        assert await people_of(session, org_id=acme.id, role=Role.ADMIN) == [ADMIN2]
        credit = await session.get(CreditGrant, "acme-2026")
        assert credit is not None and credit.amount_usd == Decimal("300000.50")
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "org.updated"))).one()
    assert (event.actor, event.subject) == ("test", "org:acme")
    assert event.details == {
        "admins": {"from": [ADMIN, ADMIN2], "to": [ADMIN2]},
        "verified_until": {"from": "2027-06-30", "to": "2028-06-30"},
        "credits": {"changed": ["acme-2026"]},
    }


async def test_bad_org_names_org_and_field_and_changes_nothing(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    before = await _snapshot(db)
    bad = DIRECTORY.replace("rep: U0REP1", "rep: bob").replace("name: Globex", "name: Globex\n    colour: red")
    with pytest.raises(DirectoryError) as caught:
        await seed_directory(db, clock, bad)
    assert caught.value.message.splitlines() == [
        "invalid directory file (2 problems):",
        "  org 'acme': field 'rep': not a Slack user id ('bob')",
        "  org 'globex': field 'colour': unknown field",
    ]
    assert await _snapshot(db) == before


async def test_missing_org_is_reported_and_left_alone(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    only_acme = DIRECTORY.split("  - slug: globex")[0]
    report = await seed_directory(db, clock, only_acme)
    assert report == ApplyReport(unchanged=["acme"], missing_from_file=["globex"])
    assert format_apply_report(report) == (
        "directory applied: 0 created, 0 updated, 1 unchanged\nnot in the file, left alone: globex\nnothing changed"
    )
    async with db.sessions() as session:
        globex = await get_org(session, slug="globex")
        assert globex is not None and globex.id is not None
        assert await people_of(session, org_id=globex.id, role=Role.REP) == [BACKUP_REP]


async def test_credit_owned_by_another_org_is_refused(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    before = await _snapshot(db)
    moved = DIRECTORY.replace(
        "verified_until: 2027-03-31",
        "verified_until: 2027-03-31\n"
        "    credits:\n      - {id: acme-2026, amount_usd: 1, starts: 2026-01-01, expires: 2027-01-01}",
    )
    moved = moved.replace(
        "    credits:\n      - {id: acme-2026, amount_usd: 250000, starts: 2026-01-01, expires: 2027-01-01}\n", ""
    )
    with pytest.raises(DirectoryError) as caught:
        await seed_directory(db, clock, moved)
    assert caught.value.message == (
        "invalid directory file (1 problem):\n"
        "  org 'globex': field 'credits[0].id': credit id 'acme-2026' already belongs to org 'acme'"
    )
    assert await _snapshot(db) == before


async def test_tiers_replaced_but_a_tier_in_use_is_kept(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    async with db.transaction() as session:
        acme = await get_org(session, slug="acme")
        assert acme is not None and acme.id is not None
        session.add(
            AccessRequest(
                org_id=acme.id,
                requester=ADMIN,
                tier_id="enhanced",
                use_case="u",
                justification="j",
                duration_days=30,
                created_at=START,
                updated_at=START,
            )
        )
    tiers = (
        "tiers:\n  - {id: standard, name: Std, approvals: 1, max_days: 100, reverify_days: 50}\n"
        "  - {id: frontier, name: Frontier, approvals: 2, max_days: 90, reverify_days: 30}\n"
    )
    before = await _snapshot(db)
    with pytest.raises(DirectoryError) as caught:
        await seed_directory(db, clock, tiers + DIRECTORY)
    assert caught.value.message == (
        "invalid directory file (1 problem):\n"
        "  tier 'enhanced': cannot be removed: 0 active or suspended grants and 1 open requests use it"
    )
    assert await _snapshot(db) == before
    async with db.transaction() as session:
        await session.execute(AccessRequest.__table__.update().values(status="withdrawn"))  # type: ignore[attr-defined]
    report = await seed_directory(db, clock, tiers + DIRECTORY)
    assert report.tiers_changed == ["tier standard changed", "tier frontier changed", "tier enhanced removed"]
    async with db.sessions() as session:
        assert [(t.id, t.rank, t.max_days) for t in await list_tiers(session)] == [
            ("standard", 0, 100),
            ("frontier", 1, 90),
        ]


def test_default_tiers_match_the_design() -> None:
    assert [(t.id, t.approvals, t.max_days, t.reverify_days) for t in DEFAULT_TIERS] == [
        ("standard", 1, 365, 180),
        ("enhanced", 1, 180, 90),
        ("frontier", 2, 90, 30),
    ]


async def test_concurrent_applies_do_not_collide(db: Database, clock: FixedClock) -> None:
    reports = await asyncio.gather(seed_directory(db, clock, DIRECTORY), seed_directory(db, clock, DIRECTORY))
    assert sorted((r.created, r.unchanged) for r in reports) == [([], ["acme", "globex"]), (["acme", "globex"], [])]
    assert await _count(db, Org) == 2
