"""Submitting and listing access requests against a real database (SQLite always, PostgreSQL when
TEST_DATABASE_URL is set): validation, who may submit, the request form, status and grant listings,
and the mrkdwn escaping that keeps what people type inert."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.request_helpers import call, count, ctx, outbox, seed, sub, submit
from trustbot.clock import FixedClock
from trustbot.ids import Block
from trustbot.messages.text import escape_mrkdwn, unescape_mrkdwn
from trustbot.services import errors
from trustbot.services.access.decisions import approve_request
from trustbot.services.access.grants import list_org_grants
from trustbot.services.access.requests import open_request_form, submit_request
from trustbot.services.access.status import list_status
from trustbot.standin.sample import ADMIN, BACKUP_REP, GLOBEX_ADMIN, OPERATOR, OUTSIDER, REP, SEC_LEAD
from trustbot.storage.database import Database
from trustbot.storage.tables import AccessRequest, DirectoryState


async def test_validation_errors_are_keyed_by_block(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            dict(members=[], blanket=False, tier_id="", use_case=" ", duration_days=None, justification="short"),
            {
                Block.MEMBERS: "Choose at least one team member, or tick Blanket.",
                Block.TIER: "Choose a capability tier.",
                Block.USE_CASE: "Describe the use case.",
                Block.DURATION: "Enter a whole number of days, at least 1.",
                Block.JUSTIFICATION: "Write at least 20 characters (you wrote 5).",
            },
        ),
        (dict(tier_id="enhanced", duration_days=181), {Block.DURATION: "at most 180 days for the Enhanced tier"}),
        (dict(duration_days=0), {Block.DURATION: "at least 1"}),
        (dict(justification="x" * 3001), {Block.JUSTIFICATION: "to 3000 characters (it has 3001)"}),
        (dict(use_case="x" * 3001), {Block.USE_CASE: "to 3000 characters (it has 3001)"}),
        (dict(tier_id="nope"), {Block.TIER: "Choose a capability tier."}),
        (dict(org_slug=""), {Block.ORG: "Choose an organisation."}),
    ]
    for overrides, expected in cases:
        with pytest.raises(errors.InvalidInput) as caught:
            await call(db, clock, ADMIN, submit_request, submission=sub(**overrides))
        assert set(caught.value.errors) == set(expected), overrides
        for block, words in expected.items():
            assert words in caught.value.errors[block], (overrides, caught.value.errors)
    for tier in ("enhanced", "frontier"):  # globex allows standard at most
        with pytest.raises(errors.InvalidInput) as caught:
            await call(
                db,
                clock,
                GLOBEX_ADMIN,
                submit_request,
                submission=sub(org_slug="globex", members=[GLOBEX_ADMIN], tier_id=tier, duration_days=30),
            )
        assert caught.value.errors == {
            Block.TIER: f"Globex may request tiers up to standard; {tier.capitalize()} is above that."
        }
    assert await count(db, AccessRequest) == 0 and await outbox(db) == []


async def test_submit_authorization(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    refusals: dict[tuple[str, str], str] = {}
    for user, slug, error in (
        (REP, "acme", errors.NotOrgAdmin),
        (GLOBEX_ADMIN, "acme", errors.NotOrgAdmin),
        (OUTSIDER, "acme", errors.UnknownUser),
        (ADMIN, "nope", errors.NotOrgAdmin),
    ):
        with pytest.raises(error) as caught:
            await call(db, clock, user, submit_request, submission=sub(org_slug=slug))
        refusals[user, slug] = str(caught.value)
    # Neutral: an org that does not exist is refused exactly like one the admin does not administer.
    assert refusals[ADMIN, "nope"] == refusals[GLOBEX_ADMIN, "acme"] == refusals[REP, "acme"]
    assert await count(db, AccessRequest) == 0


async def test_missing_reps_channel_is_a_clear_error(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    async with db.transaction() as s:
        state = await s.get(DirectoryState, 1)
        assert state is not None
        state.reps_channel = None
    with pytest.raises(errors.DomainError, match="reps_channel"):
        await submit(db, clock)
    assert await count(db, AccessRequest) == 0


async def test_request_form(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    async with db.sessions() as s:
        form = await open_request_form(s, await ctx(s, ADMIN, clock))
        assert [(o.slug, [t.id for t in o.tiers]) for o in form.orgs] == [
            ("acme", ["standard", "enhanced", "frontier"])
        ]
        assert (form.justification_min, form.text_max) == (20, 3000)
        form = await open_request_form(s, await ctx(s, GLOBEX_ADMIN, clock))
        assert [(o.slug, [t.id for t in o.tiers]) for o in form.orgs] == [("globex", ["standard"])]
        form = await open_request_form(s, await ctx(s, OPERATOR, clock))
        assert [o.slug for o in form.orgs] == ["acme", "globex"]
        for user, error in ((REP, errors.NotOrgAdmin), (OUTSIDER, errors.UnknownUser)):
            with pytest.raises(error):
                await open_request_form(s, await ctx(s, user, clock))


async def test_status_and_grant_listing(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    first = await submit(db, clock)
    second = await submit(db, clock, tier_id="frontier", duration_days=30)
    await call(db, clock, REP, approve_request, request_id=first)
    await call(db, clock, BACKUP_REP, approve_request, request_id=second)
    async with db.sessions() as s:
        rep = await list_status(s, await ctx(s, REP, clock))
        assert [r.request.id for r in rep.awaiting_me] == [second]
        backup = await list_status(s, await ctx(s, BACKUP_REP, clock))
        assert backup.awaiting_me == () and [r.request.id for r in backup.open_requests] == [second]
        admin = await list_status(s, await ctx(s, ADMIN, clock))
        assert admin.awaiting_me == () and [r.request.id for r in admin.open_requests] == [second]
        assert [g.grant.request_id for g in admin.grants] == [first]
        assert (admin.open_requests[0].approvals, admin.open_requests[0].approvals_needed) == (1, 2)
        assert (await list_status(s, await ctx(s, GLOBEX_ADMIN, clock))).grants == ()
        with pytest.raises(errors.UnknownUser):
            await list_status(s, await ctx(s, OUTSIDER, clock))

        listing = await list_org_grants(s, await ctx(s, SEC_LEAD, clock), org_slug=None)
        assert [r.grant.request_id for r in listing.rows] == [first] and not listing.rows[0].can_revoke
        assert (await list_org_grants(s, await ctx(s, REP, clock), org_slug="acme")).rows[0].can_revoke
        assert len((await list_org_grants(s, await ctx(s, OPERATOR, clock), org_slug="acme")).rows) == 1
        assert (await list_org_grants(s, await ctx(s, OPERATOR, clock), org_slug=None)).title == "all orgs"
        glx = await ctx(s, GLOBEX_ADMIN, clock)
        with pytest.raises(errors.NotAuthorized) as other_org:
            await list_org_grants(s, glx, org_slug="acme")
        with pytest.raises(errors.NotAuthorized) as no_org:  # neutral: same refusal whether the org exists
            await list_org_grants(s, glx, org_slug="initech")
        assert type(no_org.value) is type(other_org.value)
        assert str(no_org.value) == str(other_org.value).replace("`acme`", "`initech`")
        with pytest.raises(errors.NotFound):  # operators may learn an org does not exist
            await list_org_grants(s, await ctx(s, OPERATOR, clock), org_slug="initech")
        with pytest.raises(errors.UnknownUser):
            await list_org_grants(s, await ctx(s, OUTSIDER, clock), org_slug=None)


@given(st.text())
def test_escape_mrkdwn_is_inert_and_round_trips(value: str) -> None:
    escaped = escape_mrkdwn(value)
    assert "<" not in escaped and ">" not in escaped
    assert unescape_mrkdwn(escaped) == value


def test_escape_mrkdwn_escapes_entities_again() -> None:
    assert escape_mrkdwn("&lt;") == "&amp;lt;"
    assert unescape_mrkdwn(escape_mrkdwn("&lt;!channel&gt;")) == "&lt;!channel&gt;"
