"""Access-request services against a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL is set)."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from bot.clock import FixedClock
from bot.ids import Action, Block
from bot.messages.text import escape_mrkdwn, unescape_mrkdwn
from bot.payloads import RequestRef, RequestSubmission
from bot.services import errors
from bot.services.request_decisions import (
    answer_info,
    authorize_answer,
    deny_request,
    request_info,
)
from bot.services.request_grants import (
    authorize_revoke,
    list_grants,
    list_status,
    revoke_grant,
)
from bot.services.requests import (
    approve_request,
    authorize_decision,
    open_request_form,
    submit_request,
)
from storage.database import Database
from storage.migrate import upgrade
from storage.tables import (
    AccessRequest,
    AuditEvent,
    DirectoryState,
    Grant,
    Org,
    OrgRole,
    OutboxMessage,
    RequestApproval,
    Tier,
)

PG_URL = os.environ.get("TEST_DATABASE_URL")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
OPS, REP, BACKUP, ADM, ADM2, SEC, DEV1, DEV2, OUT, GLX, GLXREP = (
    "U0OPS1",
    "U0REP1",
    "U0REP2",
    "U0ADM1",
    "U0ADM2",
    "U0SEC1",
    "U0DEV1",
    "U0DEV2",
    "U0OUT1",
    "U0GLX1",
    "U0GLXR",
)
OPERATORS: list[str] = []  # operators come from the directory row in these tests
JUSTIFICATION = "Red-team our own products before the release; reviewed by CISO."


@pytest.fixture(params=["sqlite"] + (["pg"] if PG_URL else []))
async def req_db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated, empty database for one test."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'requests.db'}"
        await upgrade(url)
    else:
        url = PG_URL  # type: ignore[assignment]
        await upgrade(url)
    database = Database(url)
    if request.param == "pg":
        async with database.transaction() as session:
            names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            await session.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    await _seed(database)
    yield database
    await database.dispose()


@pytest.fixture
def clk() -> FixedClock:
    return FixedClock(NOW)


async def _seed(db: Database, *, reps_channel: str | None = "C0REPS") -> None:
    async with db.transaction() as s:
        for rank, (tid, name, approvals, max_days, reverify) in enumerate(
            [
                ("standard", "Standard", 1, 365, 180),
                ("enhanced", "Enhanced", 1, 180, 90),
                ("frontier", "Frontier", 2, 90, 30),
            ]
        ):
            s.add(Tier(id=tid, name=name, approvals=approvals, max_days=max_days, reverify_days=reverify, rank=rank))
        acme = Org(
            slug="acme", name="Acme Security", domains=["acme.com", "example.org"], max_tier="frontier", updated_at=NOW
        )
        globex = Org(slug="globex", name="Globex", domains=["globex.example"], max_tier="standard", updated_at=NOW)
        s.add_all([acme, globex])
        await s.flush()
        for org, user, role in [
            (acme, REP, "rep"),
            (acme, BACKUP, "backup_rep"),
            (acme, ADM, "admin"),
            (acme, ADM2, "admin"),
            (acme, SEC, "security_lead"),
            (globex, GLXREP, "rep"),
            (globex, GLX, "admin"),
        ]:
            s.add(OrgRole(org_id=org.id, user_id=user, role=role))
        s.add(DirectoryState(id=1, reps_channel=reps_channel, security_channel="C0SEC", operators=[OPS]))


def sub(**overrides: Any) -> RequestSubmission:
    values: dict[str, Any] = dict(
        org_slug="acme",
        members=[DEV1, DEV2],
        blanket=False,
        tier_id="standard",
        use_case="Pen-testing our SaaS",
        duration_days=100,
        justification=JUSTIFICATION,
    )
    values.update(overrides)
    return RequestSubmission(**values)


async def _submit(db: Database, clk: FixedClock, user: str = ADM, **overrides: Any) -> int:
    async with db.transaction() as s:
        result = await submit_request(s, clk, user_id=user, operators=OPERATORS, submission=sub(**overrides))
    assert result.request.id is not None
    return result.request.id


async def _outbox(db: Database, *, confirmations: bool = False) -> list[OutboxMessage]:
    """Queued writes in order; the requester's "is submitted" DM is left out unless asked for."""
    async with db.sessions() as s:
        rows = list((await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())
    return [r for r in rows if confirmations or "is submitted" not in r.payload.get("text", "")]


async def _count(db: Database, table: type[SQLModel]) -> int:
    async with db.sessions() as s:
        return int(await s.scalar(select(func.count()).select_from(table)) or 0)


async def _request(db: Database, request_id: int) -> AccessRequest:
    async with db.sessions() as s:
        row = await s.get(AccessRequest, request_id)
        assert row is not None
        return row


async def _grants(db: Database) -> list[Grant]:
    async with db.sessions() as s:
        return list((await s.scalars(select(Grant).order_by(Grant.id))).all())


async def _audits(db: Database) -> list[str]:
    async with db.sessions() as s:
        return list((await s.scalars(select(AuditEvent.action).order_by(AuditEvent.id))).all())


def _ops(rows: list[OutboxMessage]) -> list[tuple[str, str, str | None]]:
    return [(r.op, r.channel, r.message_key or r.save_as) for r in rows]


async def test_single_approval_creates_grant_and_queues_messages(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk, tier_id="enhanced", duration_days=120)
    confirmation = (await _outbox(req_db, confirmations=True))[-1]
    assert (confirmation.op, confirmation.channel) == ("dm", ADM) and f"#{rid}" in confirmation.payload["text"]
    rows = await _outbox(req_db)
    assert _ops(rows) == [("post", "C0REPS", f"request:{rid}"), ("reply", "C0REPS", f"request:{rid}")]
    parent_text = json.dumps(rows[0].payload)
    for word in ("Acme Security", f"<@{ADM}>", f"<@{REP}>", "Enhanced", "120 days", "2 named people", "Pen-testing"):
        assert word in parent_text
    buttons = [e for b in rows[1].payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Deny", "Request info"]
    assert RequestRef.model_validate_json(buttons[0]["value"]).request_id == rid

    clk.advance(timedelta(hours=1))
    async with req_db.transaction() as s:
        result = await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS, tz="Europe/Berlin")
    assert result.final and result.grant is not None
    grant = (await _grants(req_db))[0]
    approved_at = NOW + timedelta(hours=1)
    assert grant.starts_at == approved_at
    assert grant.expires_at == approved_at + timedelta(days=120)
    assert grant.reverify_due_at == approved_at + timedelta(days=90)  # min(tier 90, duration 120)
    assert grant.members == [DEV1, DEV2] and grant.status == "active"
    req = await _request(req_db, rid)
    assert (req.status, req.decided_by, req.decided_at) == ("approved", REP, approved_at)

    new = (await _outbox(req_db))[2:]
    assert _ops(new) == [
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
        ("reply", "C0REPS", f"request:{rid}"),
        ("dm", ADM, None),
        ("dm", DEV1, None),
        ("dm", DEV2, None),
    ]
    assert "actions" not in [b["type"] for b in new[0].payload["blocks"]]
    assert "actions" not in [b["type"] for b in new[1].payload["blocks"]]
    assert "Approved" in json.dumps(new[0].payload)
    assert "2027-03-02" in new[3].payload["text"]  # expiry date in the requester's DM
    assert (await _audits(req_db))[-3:] == ["request.created", "request.approved", "grant.created"]


async def test_two_approval_tier_needs_two_different_approvers(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk, tier_id="frontier", duration_days=60, blanket=True, members=[])
    async with req_db.transaction() as s:
        first = await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)
    assert not first.final and (first.approvals, first.needed) == (1, 2)
    assert (await _request(req_db, rid)).status == "pending"
    rows = await _outbox(req_db)
    assert "1 of 2 approvals" in rows[2].payload["text"]
    assert _ops(rows[2:]) == [
        ("reply", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
    ]
    assert "1 of 2 approvals" in json.dumps(rows[3].payload)
    before = len(rows)

    with pytest.raises(errors.AlreadyDone):
        async with req_db.transaction() as s:
            await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)
    assert len(await _outbox(req_db)) == before and await _grants(req_db) == []

    async with req_db.transaction() as s:
        second = await approve_request(s, clk, request_id=rid, user_id=BACKUP, operators=OPERATORS)
    assert second.final and second.approvals == 2
    grant = (await _grants(req_db))[0]
    assert (
        grant.blanket
        and grant.expires_at == NOW + timedelta(days=60)
        and grant.reverify_due_at == NOW + timedelta(days=30)
    )
    dm = (await _outbox(req_db))[-1]
    assert dm.op == "dm" and dm.channel == ADM  # blanket, no named members: only the requester is told
    assert "request.approval_recorded" in await _audits(req_db)


async def test_self_approval_refused(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk, user=OPS)  # operators may request for any org
    before = len(await _outbox(req_db))
    with pytest.raises(errors.SelfApproval):
        async with req_db.transaction() as s:
            await approve_request(s, clk, request_id=rid, user_id=OPS, operators=OPERATORS)
    with pytest.raises(errors.SelfApproval):
        async with req_db.transaction() as s:
            await authorize_decision(s, request_id=rid, user_id=OPS, operators=OPERATORS, approving=True)
    assert len(await _outbox(req_db)) == before and await _count(req_db, RequestApproval) == 0


@pytest.mark.parametrize(
    "user, error",
    [
        (ADM2, errors.NotAccountRep),
        (GLXREP, errors.NotAccountRep),
        (OUT, errors.UnknownUser),
        (SEC, errors.NotAccountRep),
    ],
)
async def test_non_rep_refused_and_nothing_changes(
    req_db: Database, clk: FixedClock, user: str, error: type[Exception]
) -> None:
    rid = await _submit(req_db, clk)
    before = (len(await _outbox(req_db)), await _count(req_db, AuditEvent))
    for call in (
        lambda s: approve_request(s, clk, request_id=rid, user_id=user, operators=OPERATORS),
        lambda s: deny_request(s, clk, request_id=rid, user_id=user, operators=OPERATORS, reason="no"),
        lambda s: request_info(s, clk, request_id=rid, user_id=user, operators=OPERATORS, question="why?"),
    ):
        with pytest.raises(error):
            async with req_db.transaction() as s:
                await call(s)
    assert (len(await _outbox(req_db)), await _count(req_db, AuditEvent)) == before
    assert (await _request(req_db, rid)).status == "pending" and await _count(req_db, RequestApproval) == 0


async def test_settings_operator_may_decide(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)
    async with req_db.transaction() as s:
        result = await approve_request(s, clk, request_id=rid, user_id="U0OPS9", operators=["U0OPS9"])
    assert result.final


async def test_double_click_changes_nothing(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)
    async with req_db.transaction() as s:
        await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)
    before = (len(await _outbox(req_db)), await _count(req_db, AuditEvent))
    for user in (REP, BACKUP):
        with pytest.raises(errors.AlreadyDecided, match=f"already approved by <@{REP}>"):
            async with req_db.transaction() as s:
                await approve_request(s, clk, request_id=rid, user_id=user, operators=OPERATORS)
    with pytest.raises(errors.AlreadyDecided):
        async with req_db.transaction() as s:
            await deny_request(s, clk, request_id=rid, user_id=BACKUP, operators=OPERATORS, reason="late")
    assert (len(await _outbox(req_db)), await _count(req_db, AuditEvent)) == before
    assert len(await _grants(req_db)) == 1


async def test_concurrent_clicks_approve_once(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)

    async def click(user: str) -> str:
        try:
            async with req_db.transaction() as s:
                await approve_request(s, clk, request_id=rid, user_id=user, operators=OPERATORS)
            return "ok"
        except errors.DomainError as exc:
            return type(exc).__name__

    outcomes = await asyncio.gather(click(REP), click(BACKUP), click(REP))
    assert sorted(outcomes).count("ok") == 1
    assert len(await _grants(req_db)) == 1


async def test_deny_needs_reason(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)
    before = len(await _outbox(req_db))
    with pytest.raises(errors.InvalidInput) as caught:
        async with req_db.transaction() as s:
            await deny_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS, reason="   ")
    assert set(caught.value.errors) == {Block.REASON}
    assert len(await _outbox(req_db)) == before and (await _request(req_db, rid)).status == "pending"

    async with req_db.transaction() as s:
        await deny_request(
            s, clk, request_id=rid, user_id=REP, operators=OPERATORS, reason="Use case <!channel> unclear"
        )
    req = await _request(req_db, rid)
    assert (req.status, req.decided_by, req.decision_reason) == ("denied", REP, "Use case <!channel> unclear")
    new = (await _outbox(req_db))[before:]
    assert _ops(new) == [
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
        ("reply", "C0REPS", f"request:{rid}"),
        ("dm", ADM, None),
    ]
    assert all("<!channel>" not in json.dumps(r.payload) for r in new)
    assert "&lt;!channel&gt;" in json.dumps(new[3].payload)
    with pytest.raises(errors.AlreadyDecided, match="denied"):
        async with req_db.transaction() as s:
            await approve_request(s, clk, request_id=rid, user_id=BACKUP, operators=OPERATORS)


async def test_info_round_trip(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)
    async with req_db.transaction() as s:
        await request_info(s, clk, request_id=rid, user_id=REP, operators=OPERATORS, question="Which products?")
    req = await _request(req_db, rid)
    assert (req.status, req.info_question, req.info_asked_by) == ("info_requested", "Which products?", REP)
    dm = (await _outbox(req_db))[-1]
    assert (dm.op, dm.channel) == ("dm", ADM)
    button = [e for b in dm.payload["blocks"] if b["type"] == "actions" for e in b["elements"]][0]
    assert button["action_id"] == Action.REQUEST_REPLY and button["text"]["text"] == "Reply"
    assert RequestRef.model_validate_json(button["value"]).request_id == rid

    for outsider, error in ((OUT, errors.UnknownUser), (REP, errors.NotAuthorized), (GLX, errors.NotAuthorized)):
        with pytest.raises(error):
            async with req_db.transaction() as s:
                await answer_info(s, clk, request_id=rid, user_id=outsider, operators=OPERATORS, answer="x")
    with pytest.raises(errors.InvalidInput) as caught:
        async with req_db.transaction() as s:
            await answer_info(s, clk, request_id=rid, user_id=ADM, operators=OPERATORS, answer="")
    assert set(caught.value.errors) == {Block.ANSWER}

    before = len(await _outbox(req_db))
    async with req_db.transaction() as s:
        await answer_info(
            s, clk, request_id=rid, user_id=ADM2, operators=OPERATORS, answer="Our <https://evil|SaaS> only"
        )
    req = await _request(req_db, rid)
    assert (req.status, req.info_answer) == ("pending", "Our <https://evil|SaaS> only")
    new = (await _outbox(req_db))[before:]
    assert _ops(new) == [("reply", "C0REPS", f"request:{rid}"), ("update", "C0REPS", f"request:{rid}")]
    assert f"<@{REP}>" in new[0].payload["text"] and "&lt;https://evil|SaaS&gt;" in new[0].payload["text"]
    with pytest.raises(errors.AlreadyDecided):
        async with req_db.transaction() as s:
            await authorize_answer(s, request_id=rid, user_id=ADM, operators=OPERATORS)
    assert (await _audits(req_db))[-2:] == ["request.info_requested", "request.info_answered"]
    async with req_db.transaction() as s:  # still decidable after the round trip
        assert (await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)).final


async def test_revoke(req_db: Database, clk: FixedClock) -> None:
    rid = await _submit(req_db, clk)
    async with req_db.transaction() as s:
        grant = (await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)).grant
    assert grant is not None and grant.id is not None
    for user, error in ((ADM, errors.NotAccountRep), (GLXREP, errors.NotAccountRep), (OUT, errors.UnknownUser)):
        with pytest.raises(error):
            async with req_db.transaction() as s:
                await revoke_grant(s, clk, grant_id=grant.id, user_id=user, operators=OPERATORS, reason="x")
    with pytest.raises(errors.InvalidInput) as caught:
        async with req_db.transaction() as s:
            await revoke_grant(s, clk, grant_id=grant.id, user_id=REP, operators=OPERATORS, reason="")
    assert set(caught.value.errors) == {Block.REASON}
    with pytest.raises(errors.NotFound):
        async with req_db.transaction() as s:
            await authorize_revoke(s, grant_id=999, user_id=REP, operators=OPERATORS)

    before = len(await _outbox(req_db))
    clk.advance(timedelta(days=3))
    async with req_db.transaction() as s:
        result = await revoke_grant(
            s, clk, grant_id=grant.id, user_id=BACKUP, operators=OPERATORS, reason="Contract ended"
        )
    assert (result.grant.status, result.grant.ended_by, result.grant.end_reason) == (
        "revoked",
        BACKUP,
        "Contract ended",
    )
    new = (await _outbox(req_db))[before:]
    assert _ops(new) == [
        ("dm", ADM, None),
        ("dm", ADM2, None),
        ("dm", DEV1, None),
        ("dm", DEV2, None),
        ("reply", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}"),
    ]
    assert "Contract ended" in new[0].payload["text"]
    assert (await _audits(req_db))[-1] == "grant.revoked"
    with pytest.raises(errors.AlreadyDecided, match="revoked"):
        async with req_db.transaction() as s:
            await revoke_grant(s, clk, grant_id=grant.id, user_id=REP, operators=OPERATORS, reason="again")


async def test_validation_errors_are_keyed_by_block(req_db: Database, clk: FixedClock) -> None:
    cases: list[tuple[dict[str, Any], dict[str, str]]] = [
        (
            dict(members=[], blanket=False, tier_id="", use_case=" ", duration_days=None, justification="short"),
            {
                Block.MEMBERS: "team member",
                Block.TIER: "tier",
                Block.USE_CASE: "use case",
                Block.DURATION: "days",
                Block.JUSTIFICATION: "at least 20",
            },
        ),
        (dict(tier_id="enhanced", duration_days=181), {Block.DURATION: "at most 180 days for the Enhanced tier"}),
        (dict(duration_days=0), {Block.DURATION: "at least 1"}),
        (dict(justification="x" * 3001), {Block.JUSTIFICATION: "3000"}),
        (dict(use_case="x" * 3001), {Block.USE_CASE: "3000"}),
        (dict(tier_id="nope"), {Block.TIER: "tier"}),
        (dict(org_slug=""), {Block.ORG: "organisation"}),
    ]
    for overrides, expected in cases:
        with pytest.raises(errors.InvalidInput) as caught:
            async with req_db.transaction() as s:
                await submit_request(s, clk, user_id=ADM, operators=OPERATORS, submission=sub(**overrides))
        assert set(caught.value.errors) == set(expected), overrides
        for block, words in expected.items():
            assert words.lower() in caught.value.errors[block].lower()
    with pytest.raises(errors.InvalidInput) as caught:  # globex allows standard at most
        async with req_db.transaction() as s:
            await submit_request(
                s, clk, user_id=GLX, operators=OPERATORS, submission=sub(org_slug="globex", tier_id="enhanced")
            )
    assert set(caught.value.errors) == {Block.TIER}
    assert await _count(req_db, AccessRequest) == 0 and await _outbox(req_db) == []


async def test_submit_authorization(req_db: Database, clk: FixedClock) -> None:
    for user, slug, error in (
        (REP, "acme", errors.NotOrgAdmin),
        (GLX, "acme", errors.NotOrgAdmin),
        (OUT, "acme", errors.UnknownUser),
        (ADM, "nope", errors.NotFound),
    ):
        with pytest.raises(error):
            async with req_db.transaction() as s:
                await submit_request(s, clk, user_id=user, operators=OPERATORS, submission=sub(org_slug=slug))
    assert await _count(req_db, AccessRequest) == 0


async def test_missing_reps_channel_is_a_clear_error(req_db: Database, clk: FixedClock) -> None:
    async with req_db.transaction() as s:
        state = await s.get(DirectoryState, 1)
        assert state is not None
        state.reps_channel = None
    with pytest.raises(errors.DomainError, match="reps_channel"):
        await _submit(req_db, clk)
    assert await _count(req_db, AccessRequest) == 0


async def test_request_form(req_db: Database, clk: FixedClock) -> None:
    async with req_db.sessions() as s:
        form = await open_request_form(s, user_id=ADM, operators=OPERATORS)
        assert [(o.slug, [t.id for t in o.tiers]) for o in form.orgs] == [
            ("acme", ["standard", "enhanced", "frontier"])
        ]
        form = await open_request_form(s, user_id=GLX, operators=OPERATORS)
        assert [(o.slug, [t.id for t in o.tiers]) for o in form.orgs] == [("globex", ["standard"])]
        form = await open_request_form(s, user_id=OPS, operators=OPERATORS)
        assert [o.slug for o in form.orgs] == ["acme", "globex"]
        for user, error in ((REP, errors.NotOrgAdmin), (OUT, errors.UnknownUser)):
            with pytest.raises(error):
                await open_request_form(s, user_id=user, operators=OPERATORS)


async def test_status_and_grant_listing(req_db: Database, clk: FixedClock) -> None:
    first = await _submit(req_db, clk)
    second = await _submit(req_db, clk, tier_id="frontier", duration_days=30)
    async with req_db.transaction() as s:
        await approve_request(s, clk, request_id=first, user_id=REP, operators=OPERATORS)
        await approve_request(s, clk, request_id=second, user_id=BACKUP, operators=OPERATORS)
    async with req_db.sessions() as s:
        rep = await list_status(s, user_id=REP, operators=OPERATORS)
        assert [r.request.id for r in rep.awaiting_me] == [second]
        backup = await list_status(s, user_id=BACKUP, operators=OPERATORS)
        assert backup.awaiting_me == () and [r.request.id for r in backup.open_requests] == [second]
        admin = await list_status(s, user_id=ADM, operators=OPERATORS)
        assert admin.awaiting_me == () and [r.request.id for r in admin.open_requests] == [second]
        assert [g.grant.request_id for g in admin.grants] == [first]
        assert (admin.open_requests[0].approvals, admin.open_requests[0].approvals_needed) == (1, 2)
        assert (await list_status(s, user_id=GLX, operators=OPERATORS)).grants == ()
        with pytest.raises(errors.UnknownUser):
            await list_status(s, user_id=OUT, operators=OPERATORS)

        listing = await list_grants(s, user_id=SEC, operators=OPERATORS)
        assert [r.grant.request_id for r in listing.rows] == [first] and not listing.rows[0].can_revoke
        assert (await list_grants(s, user_id=REP, operators=OPERATORS, org_slug="acme")).rows[0].can_revoke
        assert len((await list_grants(s, user_id=OPS, operators=OPERATORS, org_slug="acme")).rows) == 1
        assert (await list_grants(s, user_id=OPS, operators=OPERATORS)).title == "all orgs"
        with pytest.raises(errors.NotAuthorized):
            await list_grants(s, user_id=GLX, operators=OPERATORS, org_slug="acme")
        with pytest.raises(errors.NotFound):
            await list_grants(s, user_id=GLX, operators=OPERATORS, org_slug="initech")
        with pytest.raises(errors.UnknownUser):
            await list_grants(s, user_id=OUT, operators=OPERATORS)


@given(st.text())
def test_escape_mrkdwn_is_inert_and_round_trips(value: str) -> None:
    escaped = escape_mrkdwn(value)
    assert "<" not in escaped and ">" not in escaped
    assert unescape_mrkdwn(escaped) == value
    assert (
        escape_mrkdwn("&lt;") == "&amp;lt;" and unescape_mrkdwn(escape_mrkdwn("&lt;!channel&gt;")) == "&lt;!channel&gt;"
    )


@pytest.mark.parametrize(
    "change, words",
    [
        ("lapsed", "verification lapsed"),
        ("tier", "no longer allowed"),
        ("security", "suspended by the security team"),
    ],
)
async def test_approval_rechecks_the_org(req_db: Database, clk: FixedClock, change: str, words: str) -> None:
    from datetime import date

    from sqlalchemy import update

    from storage.tables import Org

    rid = await _submit(req_db, clk, tier_id="enhanced", duration_days=30)
    async with req_db.transaction() as s:
        if change == "lapsed":
            await s.execute(update(Org).where(Org.slug == "acme").values(verified_until=date(2026, 11, 1)))
        elif change == "tier":
            await s.execute(update(Org).where(Org.slug == "acme").values(max_tier="standard"))
        else:
            other = await _submit_raw(s, clk)
            s.add(
                Grant(
                    request_id=other,
                    org_id=1,
                    members=[DEV1],
                    tier_id="standard",
                    status="suspended",
                    suspended_reason="security_action",
                    starts_at=NOW,
                    expires_at=NOW + timedelta(days=9),
                    reverify_due_at=NOW + timedelta(days=9),
                )
            )
    before = len(await _outbox(req_db))
    with pytest.raises(errors.InvalidState, match=words):
        async with req_db.transaction() as s:
            await approve_request(s, clk, request_id=rid, user_id=REP, operators=OPERATORS)
    assert len(await _outbox(req_db)) == before and (await _request(req_db, rid)).status == "pending"


async def _submit_raw(s: Any, clk: FixedClock) -> int:
    request = AccessRequest(
        org_id=1,
        requester=ADM,
        members=[DEV1],
        tier_id="standard",
        use_case="x",
        justification="x" * 30,
        duration_days=9,
        status="approved",
        created_at=NOW,
        updated_at=NOW,
    )
    s.add(request)
    await s.flush()
    return request.id or 0
