"""Deciding access requests against a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL is
set): approve (one or two approvers), deny, ask for info and answer it, revoke — who may, and exactly once."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from tests.support.bots import START
from tests.support.factories import make_grant, settings
from tests.support.request_helpers import (
    GLXREP,
    REP_ONLY,
    audits,
    call,
    count,
    grants,
    ops,
    outbox,
    request_row,
    seed,
    submit,
)
from trustbot.clock import FixedClock
from trustbot.ids import Action, Block
from trustbot.services import errors
from trustbot.services.access.decisions import (
    answer_info,
    approve_request,
    authorize_answer,
    authorize_decision,
    deny_request,
    request_info,
)
from trustbot.services.access.grants import authorize_revoke, revoke_grant
from trustbot.slack.payloads import RequestRef
from trustbot.standin.sample import (
    ADMIN,
    ADMIN2,
    BACKUP_REP,
    DEV,
    DEV2,
    GLOBEX_ADMIN,
    OPERATOR,
    OUTSIDER,
    REP,
    SEC_LEAD,
)
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditEvent, GrantStatus, Org, RequestApproval, SuspensionReason


async def test_single_approval_creates_grant_and_queues_messages(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock, tier_id="enhanced", duration_days=120)
    confirmation = (await outbox(db, confirmations=True))[-1]
    assert (confirmation.op, confirmation.channel) == ("dm", ADMIN)
    assert f"Access request #{rid} for Acme Security is submitted" in confirmation.payload["text"]
    rows = await outbox(db)
    assert ops(rows) == [("post", "C0REPS", f"request:{rid}"), ("reply", "C0REPS", f"request:{rid}")]
    parent_text = json.dumps(rows[0].payload)
    for word in ("Acme Security", f"<@{ADMIN}>", f"<@{REP}>", "Enhanced", "120 days", "2 named people", "Pen-testing"):
        assert word in parent_text
    buttons = [e for b in rows[1].payload["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Deny", "Request info"]
    assert RequestRef.model_validate_json(buttons[0]["value"]).request_id == rid

    clock.advance(timedelta(hours=1))
    berlin = settings(TRUSTBOT_TIMEZONE="Europe/Berlin")
    result = await call(db, clock, REP, approve_request, config=berlin, request_id=rid)
    assert result.grant is not None and (result.approvals, result.needed) == (1, 1)
    assert result.request.status == "approved"
    grant = (await grants(db))[0]
    assert grant.id == result.grant.id
    approved_at = START + timedelta(hours=1)
    assert grant.starts_at == approved_at
    assert grant.expires_at == approved_at + timedelta(days=120)
    assert grant.reverify_due_at == approved_at + timedelta(days=90)  # min(tier 90, duration 120)
    assert grant.members == [DEV, DEV2] and grant.status == "active"
    req = await request_row(db, rid)
    assert (req.status, req.decided_by, req.decided_at) == ("approved", REP, approved_at)

    new = (await outbox(db))[2:]
    assert ops(new) == [
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
        ("reply", "C0REPS", f"request:{rid}"),
        ("dm", ADMIN, None),
        ("dm", DEV, None),
        ("dm", DEV2, None),
    ]
    assert "actions" not in [b["type"] for b in new[0].payload["blocks"]]
    assert "actions" not in [b["type"] for b in new[1].payload["blocks"]]
    assert f"*Approved* by <@{REP}>" in json.dumps(new[0].payload)
    assert f"grant #{grant.id} expires 2027-03-02" in json.dumps(new[0].payload)
    assert f"Approved by <@{REP}>. Grant #{grant.id} is active until 2027-03-02." in new[2].payload["text"]
    requester_dm = new[3].payload["text"]
    assert f"Your access request #{rid} for Acme Security was approved." in requester_dm
    assert f"Grant #{grant.id}" in requester_dm and "active until *2027-03-02*" in requester_dm
    assert "Re-verification is due by 2027-01-31" in requester_dm
    for member_dm in new[4:]:
        assert f"You are now covered by trusted-access grant #{grant.id} for Acme Security" in member_dm.payload["text"]
        assert "until 2027-03-02" in member_dm.payload["text"]
    assert (await audits(db))[-3:] == ["request.created", "request.approved", "grant.created"]


async def test_two_approval_tier_needs_two_different_approvers(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock, tier_id="frontier", duration_days=60, blanket=True, members=[])
    first = await call(db, clock, REP, approve_request, request_id=rid)
    assert first.grant is None and (first.approvals, first.needed) == (1, 2)
    assert (await request_row(db, rid)).status == "pending"
    rows = await outbox(db)
    assert f"<@{REP}> approved — 1 of 2 approvals" in rows[2].payload["text"]
    assert ops(rows[2:]) == [
        ("reply", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
    ]
    assert "1 of 2 approvals" in json.dumps(rows[3].payload)
    before = len(rows)

    with pytest.raises(errors.AlreadyDone, match="different second approver"):
        await call(db, clock, REP, approve_request, request_id=rid)
    assert len(await outbox(db)) == before and await grants(db) == []
    assert await count(db, RequestApproval) == 1

    second = await call(db, clock, BACKUP_REP, approve_request, request_id=rid)
    assert second.grant is not None and (second.approvals, second.needed) == (2, 2)
    grant = (await grants(db))[0]
    assert grant.blanket
    assert grant.expires_at == START + timedelta(days=60)
    assert grant.reverify_due_at == START + timedelta(days=30)
    dm = (await outbox(db))[-1]
    assert dm.op == "dm" and dm.channel == ADMIN  # blanket, no named members: only the requester is told
    assert [r for r in (await outbox(db))[before:] if r.op == "dm"] == [dm]
    assert "request.approval_recorded" in await audits(db)


async def test_self_approval_refused(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock, user=OPERATOR)  # operators may request for any org
    before = (len(await outbox(db)), await count(db, AuditEvent))
    with pytest.raises(errors.SelfApproval, match="can't approve your own request"):
        await call(db, clock, OPERATOR, approve_request, request_id=rid)
    assert (len(await outbox(db)), await count(db, AuditEvent)) == before
    assert await count(db, RequestApproval) == 0 and (await request_row(db, rid)).status == "pending"


@pytest.mark.parametrize(
    "user, error, words",
    [
        (ADMIN2, errors.NotAccountRep, REP_ONLY),
        (GLXREP, errors.NotAccountRep, REP_ONLY),
        (OUTSIDER, errors.UnknownUser, "not in the Trustbot directory"),
        (SEC_LEAD, errors.NotAccountRep, REP_ONLY),
    ],
)
async def test_non_rep_refused_and_nothing_changes(
    db: Database, clock: FixedClock, user: str, error: type[Exception], words: str
) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    before = (len(await outbox(db)), await count(db, AuditEvent))
    for service, kwargs in (
        (approve_request, {}),
        (deny_request, {"reason": "no"}),
        (request_info, {"question": "why?"}),
        (authorize_decision, {}),
    ):
        with pytest.raises(error, match=words):
            await call(db, clock, user, service, request_id=rid, **kwargs)
    assert (len(await outbox(db)), await count(db, AuditEvent)) == before
    assert (await request_row(db, rid)).status == "pending" and await count(db, RequestApproval) == 0


async def test_settings_operator_may_decide(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    with pytest.raises(errors.UnknownUser):  # not an operator without the setting
        await call(db, clock, "U0OPS9", approve_request, request_id=rid)
    config = settings(TRUSTBOT_OPERATORS="U0OPS9")
    result = await call(db, clock, "U0OPS9", approve_request, config=config, request_id=rid)
    assert result.grant is not None and result.request.decided_by == "U0OPS9"


async def test_double_click_changes_nothing(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    await call(db, clock, REP, approve_request, request_id=rid)
    before = (len(await outbox(db)), await count(db, AuditEvent))
    for user in (REP, BACKUP_REP):
        with pytest.raises(errors.AlreadyDecided, match=f"already approved by <@{REP}>"):
            await call(db, clock, user, approve_request, request_id=rid)
    with pytest.raises(errors.AlreadyDecided, match=f"already approved by <@{REP}>"):
        await call(db, clock, BACKUP_REP, deny_request, request_id=rid, reason="late")
    assert (len(await outbox(db)), await count(db, AuditEvent)) == before
    assert len(await grants(db)) == 1


async def test_concurrent_clicks_approve_once(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)

    async def click(user: str) -> str:
        try:
            await call(db, clock, user, approve_request, request_id=rid)
            return "ok"
        except errors.DomainError as exc:
            return type(exc).__name__

    outcomes = await asyncio.gather(click(REP), click(BACKUP_REP), click(REP))
    assert outcomes.count("ok") == 1
    assert set(outcomes) - {"ok"} <= {"AlreadyDecided", "AlreadyDone"}, outcomes
    assert len(await grants(db)) == 1 and await count(db, RequestApproval) == 1
    assert (await audits(db)).count("request.approved") == 1


@pytest.mark.parametrize(
    "change, words",
    [
        ("lapsed", "verification lapsed"),
        ("tier", "no longer allowed"),
        ("security", "suspended by the security team"),
    ],
)
async def test_approval_rechecks_the_org(db: Database, clock: FixedClock, change: str, words: str) -> None:
    await seed(db, clock)
    rid = await submit(db, clock, tier_id="enhanced", duration_days=30)
    if change == "security":
        await make_grant(db, clock, status=GrantStatus.SUSPENDED, suspended_reason=SuspensionReason.SECURITY_ACTION)
    else:
        values: dict[str, Any] = (
            {"verified_until": date(2026, 11, 1)} if change == "lapsed" else {"max_tier": "standard"}
        )
        async with db.transaction() as s:
            await s.execute(update(Org).where(Org.slug == "acme").values(**values))
    before = (len(await outbox(db)), await count(db, AuditEvent), len(await grants(db)))
    with pytest.raises(errors.InvalidState, match=words):
        await call(db, clock, REP, approve_request, request_id=rid)
    assert (len(await outbox(db)), await count(db, AuditEvent), len(await grants(db))) == before
    assert (await request_row(db, rid)).status == "pending" and await count(db, RequestApproval) == 0


async def test_deny_needs_reason(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    before = len(await outbox(db))
    with pytest.raises(errors.InvalidInput) as caught:
        await call(db, clock, REP, deny_request, request_id=rid, reason="   ")
    assert set(caught.value.errors) == {Block.REASON}
    assert len(await outbox(db)) == before and (await request_row(db, rid)).status == "pending"

    result = await call(db, clock, REP, deny_request, request_id=rid, reason="Use case <!channel> unclear")
    assert result.grant is None and result.request.status == "denied"
    req = await request_row(db, rid)
    assert (req.status, req.decided_by, req.decision_reason) == ("denied", REP, "Use case <!channel> unclear")
    new = (await outbox(db))[before:]
    assert ops(new) == [
        ("update", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}:actions"),
        ("reply", "C0REPS", f"request:{rid}"),
        ("dm", ADMIN, None),
    ]
    assert all("<!channel>" not in json.dumps(r.payload) for r in new)
    assert f"was denied by <@{REP}>" in new[3].payload["text"]
    assert "&lt;!channel&gt;" in json.dumps(new[3].payload)
    with pytest.raises(errors.AlreadyDecided, match="already denied"):
        await call(db, clock, BACKUP_REP, approve_request, request_id=rid)


async def test_info_round_trip(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    asked = await call(db, clock, REP, request_info, request_id=rid, question="Which products?")
    assert asked.request.status == "info_requested"
    req = await request_row(db, rid)
    assert (req.status, req.info_question, req.info_asked_by) == ("info_requested", "Which products?", REP)
    dm = (await outbox(db))[-1]
    assert (dm.op, dm.channel) == ("dm", ADMIN)
    assert "Which products?" in dm.payload["text"]
    button = [e for b in dm.payload["blocks"] if b["type"] == "actions" for e in b["elements"]][0]
    assert button["action_id"] == Action.REQUEST_REPLY and button["text"]["text"] == "Reply"
    assert RequestRef.model_validate_json(button["value"]).request_id == rid

    for outsider, error in (
        (OUTSIDER, errors.UnknownUser),
        (REP, errors.NotAuthorized),
        (GLOBEX_ADMIN, errors.NotAuthorized),
    ):
        with pytest.raises(error):
            await call(db, clock, outsider, answer_info, request_id=rid, answer="x")
    with pytest.raises(errors.InvalidInput) as caught:
        await call(db, clock, ADMIN, answer_info, request_id=rid, answer="")
    assert set(caught.value.errors) == {Block.ANSWER}

    before = len(await outbox(db))
    answered = await call(db, clock, ADMIN2, answer_info, request_id=rid, answer="Our <https://evil|SaaS> only")
    assert answered.request.status == "pending"
    req = await request_row(db, rid)
    assert (req.status, req.info_answer) == ("pending", "Our <https://evil|SaaS> only")
    new = (await outbox(db))[before:]
    assert ops(new) == [("reply", "C0REPS", f"request:{rid}"), ("update", "C0REPS", f"request:{rid}")]
    assert f"<@{REP}>: <@{ADMIN2}> answered" in new[0].payload["text"]
    assert "&lt;https://evil|SaaS&gt;" in new[0].payload["text"]
    with pytest.raises(errors.AlreadyDecided, match="no question is waiting"):
        await call(db, clock, ADMIN, authorize_answer, request_id=rid)
    assert (await audits(db))[-2:] == ["request.info_requested", "request.info_answered"]
    # still decidable after the round trip
    assert (await call(db, clock, REP, approve_request, request_id=rid)).grant is not None


async def test_revoke(db: Database, clock: FixedClock) -> None:
    await seed(db, clock)
    rid = await submit(db, clock)
    grant = (await call(db, clock, REP, approve_request, request_id=rid)).grant
    assert grant is not None and grant.id is not None
    for user, error in ((ADMIN, errors.NotAccountRep), (GLXREP, errors.NotAccountRep), (OUTSIDER, errors.UnknownUser)):
        with pytest.raises(error):
            await call(db, clock, user, revoke_grant, grant_id=grant.id, reason="x")
    with pytest.raises(errors.InvalidInput) as caught:
        await call(db, clock, REP, revoke_grant, grant_id=grant.id, reason="")
    assert set(caught.value.errors) == {Block.REASON}
    # Neutral: a grant that does not exist is refused like one the rep may not touch.
    with pytest.raises(errors.NotAccountRep, match=f"{REP_ONLY} revoke grant #999"):
        await call(db, clock, REP, authorize_revoke, grant_id=999)
    assert (await call(db, clock, REP, authorize_revoke, grant_id=grant.id)).can_revoke

    before = len(await outbox(db))
    clock.advance(timedelta(days=3))
    result = await call(db, clock, BACKUP_REP, revoke_grant, grant_id=grant.id, reason="Contract ended")
    revoked = result.row.grant
    assert (revoked.status, revoked.ended_by, revoked.end_reason) == ("revoked", BACKUP_REP, "Contract ended")
    assert revoked.ended_at == START + timedelta(days=3)
    new = (await outbox(db))[before:]
    assert ops(new) == [
        ("dm", ADMIN, None),
        ("dm", ADMIN2, None),
        ("dm", DEV, None),
        ("dm", DEV2, None),
        ("reply", "C0REPS", f"request:{rid}"),
        ("update", "C0REPS", f"request:{rid}"),
    ]
    assert f"grant #{grant.id} for Acme Security" in new[0].payload["text"]
    assert f"was revoked by <@{BACKUP_REP}> on 2026-11-05" in new[0].payload["text"]
    assert "Contract ended" in new[0].payload["text"]
    assert (await audits(db))[-1] == "grant.revoked"
    with pytest.raises(errors.AlreadyDecided, match="already revoked"):
        await call(db, clock, REP, revoke_grant, grant_id=grant.id, reason="again")
