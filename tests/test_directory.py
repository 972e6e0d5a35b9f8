"""The directory file: strict parsing, idempotent all-or-nothing apply, and who is who."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bot.clock import FixedClock
from bot.services.audit import verify_audit_chain
from bot.services.directory import (
    DEFAULT_TIERS,
    apply_directory,
    format_apply_report,
    list_orgs_summary,
    parse_directory,
)
from bot.services.errors import DirectoryError
from bot.services.people import org_people, resolve_actor
from storage.database import Database
from storage.queries.directory import (
    get_directory_state,
    get_org,
    list_tiers,
    people_of,
)
from storage.tables import AccessRequest, AuditEvent, CreditGrant, Org, OrgRole, Role
from tests.conftest import DIRECTORY_YAML, START

DIRECTORY = DIRECTORY_YAML


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


async def _apply(db: Database, clock: FixedClock, source: str, actor: str = "test"):
    async with db.transaction() as session:
        return await apply_directory(session, clock, parse_directory(source), actor=actor)


async def _count(db: Database, table: type) -> int:
    async with db.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def _snapshot(db: Database) -> tuple:
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


async def test_apply_creates_orgs_roles_credits_and_default_tiers(db: Database, clock: FixedClock) -> None:
    report = await _apply(db, clock, DIRECTORY)
    assert report.created == ["acme", "globex"] and not report.updated and not report.unchanged
    async with db.sessions() as session:
        acme = await get_org(session, slug="acme")
        assert acme is not None and acme.domains == ["acme.com"] and acme.verified_until == date(2027, 6, 30)
        assert await people_of(session, org_id=acme.id, role=Role.REP) == ["U0REP1"]
        assert await people_of(session, org_id=acme.id, role=Role.ADMIN) == ["U0ADM1", "U0ADM2"]
        people = await org_people(session, org_id=acme.id)
        assert people.rep == "U0REP1" and people.backup_reps == ["U0REP2"] and people.security_leads == ["U0SEC1"]
        credit = await session.get(CreditGrant, "acme-2026")
        assert credit is not None and credit.amount_usd == Decimal("250000") and credit.org_id == acme.id
        tiers = await list_tiers(session)
        assert [(t.id, t.approvals, t.max_days, t.reverify_days) for t in tiers] == [
            ("standard", 1, 365, 180),
            ("enhanced", 1, 180, 90),
            ("frontier", 2, 90, 30),
        ]
        state = await get_directory_state(session)
        assert state.reps_channel == "C0REPS" and state.security_channel == "C0SEC" and state.operators == ["U0OPS1"]
        summary = await list_orgs_summary(session)
        assert summary[0] == {
            "slug": "acme",
            "name": "Acme Security",
            "rep": "U0REP1",
            "admins": 2,
            "security_channel": "C0ACMESEC",
            "max_tier": "frontier",
            "verified_until": "2027-06-30",
        }
        actions = (await session.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all()
        assert actions == ["org.created", "org.created", "directory.applied"]
        assert (await verify_audit_chain(session)).intact
    assert "2 created" in format_apply_report(report)


async def test_applying_twice_changes_nothing(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    before = await _snapshot(db)
    clock.advance(timedelta(hours=1))
    report = await _apply(db, clock, DIRECTORY)
    assert report.unchanged == ["acme", "globex"] and not report.created and not report.updated
    assert not report.changed and "nothing changed" in format_apply_report(report)
    assert await _snapshot(db) == before


async def test_update_is_audited_and_reports_verification_extended(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    changed = (
        DIRECTORY.replace("admins: [U0ADM1, U0ADM2]", "admins: [U0ADM2]")
        .replace("verified_until: 2027-06-30", "verified_until: 2028-06-30")
        .replace("amount_usd: 250000", "amount_usd: 300000.50")
    )
    report = await _apply(db, clock, changed)
    assert report.updated == ["acme"] and report.unchanged == ["globex"] and report.verification_extended == ["acme"]
    async with db.sessions() as session:
        acme = await get_org(session, slug="acme")
        assert await people_of(session, org_id=acme.id, role=Role.ADMIN) == ["U0ADM2"]
        assert (await session.get(CreditGrant, "acme-2026")).amount_usd == Decimal("300000.50")
        event = (await session.scalars(select(AuditEvent).where(AuditEvent.action == "org.updated"))).one()
        assert event.subject == "org:acme"
        assert event.details["admins"] == {"from": ["U0ADM1", "U0ADM2"], "to": ["U0ADM2"]}
        assert event.details["verified_until"] == {"from": "2027-06-30", "to": "2028-06-30"}
        assert event.details["credits"] == {"changed": ["acme-2026"]}


async def test_bad_org_names_org_and_field_and_changes_nothing(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    before = await _snapshot(db)
    bad = DIRECTORY.replace("rep: U0REP1", "rep: bob").replace("name: Globex", "name: Globex\n    colour: red")
    with pytest.raises(DirectoryError) as caught:
        await _apply(db, clock, bad)
    lines = caught.value.message.splitlines()
    assert lines[0] == "invalid directory file (2 problems):"
    assert "org 'acme': field 'rep': not a Slack user id ('bob')" in lines[1]
    assert "org 'globex': field 'colour': unknown field" in lines[2]
    assert await _snapshot(db) == before


def test_unknown_top_level_field_and_yaml_syntax() -> None:
    with pytest.raises(DirectoryError, match="field 'owner': unknown field"):
        parse_directory(DIRECTORY + "owner: me\n")
    with pytest.raises(DirectoryError, match="field 'reps_channel': not a Slack channel id"):
        parse_directory(DIRECTORY.replace("reps_channel: C0REPS", "reps_channel: '#reps'"))
    with pytest.raises(DirectoryError, match="YAML syntax error at line 3, column"):
        parse_directory("operators: [U0OPS1]\nreps_channel: C0REPS\nsecurity_channel: C0SEC: x\n")
    with pytest.raises(DirectoryError, match="key 'rep' appears twice"):
        parse_directory(DIRECTORY.replace("rep: U0REP1", "rep: U0REP1\n    rep: U0REP3"))


def test_cross_field_problems_are_all_reported() -> None:
    bad = (
        DIRECTORY.replace("max_tier: standard", "max_tier: gold")
        .replace(
            "verified_until: 2027-03-31",
            "verified_until: 2027-03-31\n    credits: [{id: acme-2026, amount_usd: 5, starts: 2026-01-01, expires: 2026-01-01}]",
        )
        .replace("slug: globex", "slug: acme")
    )
    with pytest.raises(DirectoryError) as caught:
        parse_directory(bad)
    message = caught.value.message
    assert "org 'acme': field 'credits[0].expires': must be after starts (2026-01-01)" in message
    assert "org 'acme': field 'max_tier': unknown tier 'gold'" in message
    assert "org 'acme': field 'slug': listed more than once" in message
    assert "credit id 'acme-2026' is also used by org 'acme'" in message


def test_max_tier_is_checked_against_the_files_tiers() -> None:
    tiers = "tiers:\n  - {id: basic, name: Basic, approvals: 1, max_days: 30, reverify_days: 30}\n"
    with pytest.raises(
        DirectoryError, match="org 'acme': field 'max_tier': unknown tier 'frontier' \\(tiers: basic\\)"
    ):
        parse_directory(tiers + DIRECTORY)
    parsed = parse_directory(
        tiers + DIRECTORY.replace("max_tier: frontier", "max_tier: basic").replace("max_tier: standard", "")
    )
    assert [t.id for t in parsed.tiers or []] == ["basic"]


async def test_missing_org_is_reported_and_left_alone(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    only_acme = DIRECTORY.split("  - slug: globex")[0]
    report = await _apply(db, clock, only_acme)
    assert report.missing_from_file == ["globex"] and report.unchanged == ["acme"]
    assert "not in the file, left alone: globex" in format_apply_report(report)
    async with db.sessions() as session:
        globex = await get_org(session, slug="globex")
        assert globex is not None and await people_of(session, org_id=globex.id, role=Role.REP) == ["U0REP2"]


async def test_credit_owned_by_another_org_is_refused(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    moved = DIRECTORY.replace(
        "verified_until: 2027-03-31",
        "verified_until: 2027-03-31\n    credits:\n      - {id: acme-2026, amount_usd: 1, starts: 2026-01-01, expires: 2027-01-01}",
    )
    moved = moved.replace(
        "    credits:\n      - {id: acme-2026, amount_usd: 250000, starts: 2026-01-01, expires: 2027-01-01}\n", ""
    )
    with pytest.raises(
        DirectoryError,
        match="org 'globex': field 'credits\\[0\\].id': credit id 'acme-2026' already belongs to org 'acme'",
    ):
        await _apply(db, clock, moved)


async def test_tiers_replaced_but_a_tier_in_use_is_kept(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    async with db.transaction() as session:
        acme = await get_org(session, slug="acme")
        session.add(
            AccessRequest(
                org_id=acme.id,
                requester="U0ADM1",
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
    with pytest.raises(
        DirectoryError, match="tier 'enhanced': cannot be removed: 0 active or suspended grants and 1 open requests"
    ):
        await _apply(db, clock, tiers + DIRECTORY)
    assert await _snapshot(db) == before
    async with db.transaction() as session:
        await session.execute(AccessRequest.__table__.update().values(status="withdrawn"))
    report = await _apply(db, clock, tiers + DIRECTORY)
    assert report.tiers_changed == ["tier standard changed", "tier frontier changed", "tier enhanced removed"]
    async with db.sessions() as session:
        assert [(t.id, t.rank, t.max_days) for t in await list_tiers(session)] == [
            ("standard", 0, 100),
            ("frontier", 1, 90),
        ]


async def test_resolve_actor_roles_operators_and_strangers(db: Database, clock: FixedClock) -> None:
    await _apply(db, clock, DIRECTORY)
    async with db.sessions() as session:
        acme = (await get_org(session, slug="acme")).id
        globex = (await get_org(session, slug="globex")).id
        rep = await resolve_actor(session, user_id="U0REP1", settings_operators=[])
        assert rep.is_rep_of(acme) and not rep.is_rep_of(globex) and not rep.is_admin_of(acme) and not rep.is_operator
        backup = await resolve_actor(session, user_id="U0REP2", settings_operators=[])
        assert backup.is_rep_of(acme) and backup.is_rep_of(globex) and backup.org_ids(Role.REP) == [globex]
        admin = await resolve_actor(session, user_id="U0ADM1", settings_operators=[])
        assert admin.is_admin_of(acme) and not admin.is_rep_of(acme) and admin.org_ids() == [acme] and admin.is_known
        lead = await resolve_actor(session, user_id="U0SEC1", settings_operators=[])
        assert lead.is_security_lead_of(acme) and not lead.is_security_lead_of(globex)
        from_file = await resolve_actor(session, user_id="U0OPS1", settings_operators=[])
        from_env = await resolve_actor(session, user_id="U0ENV1", settings_operators=["U0ENV1"])
        assert from_file.is_operator and from_env.is_operator and from_env.is_known and not from_env.roles
        stranger = await resolve_actor(session, user_id="U0OUT1", settings_operators=["U0ENV1"])
        assert not stranger.is_known and not stranger.is_operator and stranger.org_ids() == []
        assert not stranger.has_role(acme, *Role)


async def test_resolve_actor_before_any_directory(db: Database) -> None:
    async with db.sessions() as session:
        actor = await resolve_actor(session, user_id="U0REP1", settings_operators=[])
    assert not actor.is_known


def test_default_tiers_match_the_design() -> None:
    assert [(t.id, t.approvals, t.max_days, t.reverify_days) for t in DEFAULT_TIERS] == [
        ("standard", 1, 365, 180),
        ("enhanced", 1, 180, 90),
        ("frontier", 2, 90, 30),
    ]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.dates(),
    st.sampled_from(["acme", "U0REP1", "C0SEC", "standard", "2027-06-30", "acme.com", "bad id", ""]),
)
_keys = st.sampled_from(
    [
        "slug",
        "name",
        "domains",
        "rep",
        "backup_reps",
        "admins",
        "security_leads",
        "security_channel",
        "max_tier",
        "verified_until",
        "credits",
        "id",
        "amount_usd",
        "starts",
        "expires",
        "approvals",
        "max_days",
        "reverify_days",
        "operators",
        "reps_channel",
        "tiers",
        "orgs",
        "other",
    ]
)
_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=6), max_leaves=25
)
_files = st.dictionaries(_keys, _values, max_size=8) | _values


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files)
def test_parse_directory_only_ever_raises_directory_error(data: object) -> None:
    try:
        parse_directory(yaml.safe_dump(data))
    except DirectoryError as exc:
        assert exc.message.strip()


@settings(max_examples=50, deadline=None)
@given(st.sampled_from(["rep", "name", "domains", "max_tier", "credits", "slug", "admins"]), _values)
def test_a_broken_org_field_is_named(field_name: str, value: object) -> None:
    data = yaml.safe_load(DIRECTORY)
    data["orgs"][0][field_name] = value
    try:
        parse_directory(yaml.safe_dump(data))
    except DirectoryError as exc:
        assert f"field '{field_name}" in exc.message


async def test_concurrent_applies_do_not_collide(db: Database, clock: FixedClock) -> None:
    import asyncio

    reports = await asyncio.gather(_apply(db, clock, DIRECTORY), _apply(db, clock, DIRECTORY))
    assert sorted(len(r.created) for r in reports) == [0, 2]
    assert await _count(db, Org) == 2
