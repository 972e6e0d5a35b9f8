"""A tamper-evident audit log: checkpoints catch a deleted tail or a rewritten chain, the HMAC key catches a
rewrite without them, corrupt rows are named instead of crashing, and the CLI says so in one line."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.audit_helpers import (
    AT_5,
    CHANNEL,
    KEY,
    checkpoint_outcome,
    missing_events,
    rows_of,
    run_sql,
    seed_events,
    verify_log,
)
from tests.support.bots import START
from tests.support.factories import settings
from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.scheduler.runs import FAILED, FINISHED, run_job
from trustbot.services.audit import (
    CORRUPT,
    DOWNGRADE,
    EDITED,
    NEEDS_KEY,
    UNLINKED,
    WRONG_KEY_HINT,
    AuditKeyMissing,
    ExportTally,
    compute_hash,
    iter_audit_export,
    verify_audit_chain,
)
from trustbot.services.audit_checkpoints import (
    GIVEN,
    parse_checkpoint,
)
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditCheckpoint, AuditEvent, OutboxMessage

REWRITTEN_5 = "the chain was rewritten: event at position 5 no longer has the checkpoint's hash"


async def _rewrite(db: Database, *, event_id: int, scheme: str = "sha256") -> None:
    """What someone with database access but no key can do: edit one event, recompute it and every later hash."""
    async with db.transaction() as session:
        query = select(AuditEvent).where(AuditEvent.id >= event_id).order_by(AuditEvent.id)
        events = list((await session.scalars(query)).all())
        events[0].actor = "UEVIL"
        prev = events[0].prev_hash
        for e in events:
            e.prev_hash, e.scheme = prev, scheme
            e.hash = compute_hash(
                prev_hash=prev, at=e.at, actor=e.actor, action=e.action, subject=e.subject, details=e.details
            )
            prev = e.hash


async def _job(db: Database, clock: FixedClock, config: Settings) -> Any:
    """Run the job through the registry, in a slot of its own (the moment of the clock)."""
    return await run_job(db, clock, config, "audit-checkpoint", slot_at=clock.now())


def _posts(rows: list[OutboxMessage]) -> list[str]:
    return [r.payload["text"] for r in rows if r.op == "post" and r.channel == CHANNEL]


# Deleting the newest events, rewriting the chain.


async def test_deleting_the_newest_events_is_caught_by_the_checkpoint(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock)
    assert await checkpoint_outcome(db, clock) == f"checkpoint 5:{(await rows_of(db, AuditEvent))[-1].hash} recorded"
    assert (await verify_log(db, clock)).intact
    await run_sql(db, "DELETE FROM audit_event WHERE id >= 4")
    async with db.sessions() as session:
        assert (await verify_audit_chain(session)).intact  # the links alone cannot tell
    for batch in (5000, 2):
        verdict = await verify_log(db, clock, batch=batch)
        assert (verdict.intact, verdict.chain.intact, verdict.chain.count) == (False, True, 3)
        assert verdict.problem == missing_events(2, f"the checkpoint of {AT_5}", 3)


async def test_a_rewritten_chain_is_caught_by_the_checkpoint_without_a_key(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock)
    await checkpoint_outcome(db, clock)
    await _rewrite(db, event_id=2)
    async with db.sessions() as session:
        assert (await verify_audit_chain(session)).intact  # every hash recomputed: the chain itself checks out
    verdict = await verify_log(db, clock, batch=2)
    assert (verdict.intact, verdict.chain.count, verdict.problem) == (False, 5, REWRITTEN_5)


@pytest.mark.parametrize(("scheme", "problem"), [("sha256", DOWNGRADE), ("hmac-sha256", EDITED)])
async def test_with_a_key_a_rewrite_is_caught_by_the_hmac_without_any_checkpoint(
    db: Database, clock: FixedClock, scheme: str, problem: str
) -> None:
    keyed = settings(TRUSTBOT_AUDIT_KEY=KEY)
    await seed_events(db, clock, config=keyed)
    assert {e.scheme for e in await rows_of(db, AuditEvent)} == {"hmac-sha256"}
    assert (await verify_log(db, clock, keyed)).intact
    await _rewrite(db, event_id=3, scheme=scheme)  # relabelled plain, or still labelled keyed
    verdict = await verify_log(db, clock, keyed)
    assert (verdict.chain.first_bad_id, verdict.chain.count, verdict.chain.problem) == (3, 2, problem)
    assert await rows_of(db, AuditCheckpoint) == []


async def test_a_checkpoint_kept_elsewhere_catches_a_deleted_checkpoint_row_and_tail(
    db: Database, clock: FixedClock
) -> None:
    await seed_events(db, clock)
    await checkpoint_outcome(db, clock, settings(TRUSTBOT_AUDIT_CHANNEL=CHANNEL))
    posted = _posts(await rows_of(db, OutboxMessage))
    copied = re.search(r"--checkpoint (\d+:[0-9a-f]{64})", posted[0])
    assert copied is not None
    given = parse_checkpoint(copied[1])
    assert (await verify_log(db, clock, given=given)).intact
    await run_sql(db, "DELETE FROM audit_checkpoint")
    await run_sql(db, "DELETE FROM audit_event WHERE id >= 4")
    assert (await verify_log(db, clock)).intact  # nothing left in the database to compare with
    verdict = await verify_log(db, clock, given=given)
    assert (verdict.intact, verdict.problem) == (False, missing_events(2, GIVEN, 3))
    await seed_events(db, clock, 2)  # the tail regrown: as many events again, but not the same ones
    verdict = await verify_log(db, clock, given=given)
    assert (verdict.chain.count, verdict.problem) == (5, REWRITTEN_5)


# Corrupt rows.

_CORRUPT = [
    ("details", "'not json'", False),
    ("details", "'[1, 2]'", True),
    ("details", "'\"just text\"'", True),
    ("at", "'not a time'", False),
    ("at", "12345", False),
]


@pytest.mark.parametrize(("column", "value", "on_postgresql"), _CORRUPT)
async def test_corrupt_fields_are_a_broken_event_naming_its_id(
    db: Database, clock: FixedClock, column: str, value: str, on_postgresql: bool
) -> None:
    if db.dialect == "postgresql":
        if not on_postgresql:
            pytest.skip("PostgreSQL's column types refuse this value")
        value = f"CAST({value} AS JSON)"
    await seed_events(db, clock)
    await run_sql(db, f"UPDATE audit_event SET {column} = {value} WHERE id = 3")
    verdict = await verify_log(db, clock)
    assert (verdict.chain.first_bad_id, verdict.chain.count, verdict.chain.problem) == (3, 2, CORRUPT)
    tally = ExportTally()
    async with db.sessions() as session:
        lines = [json.loads(line) async for line in iter_audit_export(session, tally)]
    assert [line["id"] for line in lines] == [1, 2, 3, 4, 5] and tally.corrupt == [3]
    assert lines[2]["corrupt"] is True and lines[2]["stored"]["subject"] == "x:2"
    assert "corrupt" not in lines[3] and lines[3]["details"] == {"i": 3, "note": "<!channel>"}


async def test_other_breaks_are_still_named(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock)
    await run_sql(db, "DELETE FROM audit_event WHERE id = 2")
    verdict = await verify_log(db, clock)
    assert (verdict.chain.first_bad_id, verdict.chain.problem) == (3, UNLINKED)
    await run_sql(db, "UPDATE audit_event SET scheme = 'md5' WHERE id = 1")
    assert (await verify_log(db, clock)).chain.first_bad_id == 1  # an unknown scheme is unreadable too


# Keys: old plain events stay valid, keyed ones need the key, no downgrade.


async def test_plain_events_before_the_key_stay_valid_and_keyed_ones_need_the_key(
    db: Database, clock: FixedClock
) -> None:
    keyed = settings(TRUSTBOT_AUDIT_KEY=KEY)
    await seed_events(db, clock, 2)
    await seed_events(db, clock, 2, keyed)
    assert [e.scheme for e in await rows_of(db, AuditEvent)] == ["sha256", "sha256", "hmac-sha256", "hmac-sha256"]
    assert (await verify_log(db, clock, keyed)).chain.count == 4
    unkeyed = await verify_log(db, clock)
    assert (unkeyed.chain.first_bad_id, unkeyed.chain.count, unkeyed.chain.problem) == (3, 2, NEEDS_KEY)
    assert unkeyed.chain.unverifiable and not unkeyed.intact
    wrong = await verify_log(db, clock, settings(TRUSTBOT_AUDIT_KEY="another key"))
    assert (wrong.chain.first_bad_id, wrong.chain.problem) == (3, EDITED + WRONG_KEY_HINT)


async def test_a_process_without_the_key_refuses_to_extend_a_keyed_chain(db: Database, clock: FixedClock) -> None:
    # Its plain event would read as a downgrade (tampering) for good; a downgrade written behind
    # Trustbot's back is still caught (the rewrite test above).
    keyed = settings(TRUSTBOT_AUDIT_KEY=KEY)
    await seed_events(db, clock, 2, keyed)
    with pytest.raises(AuditKeyMissing, match="set TRUSTBOT_AUDIT_KEY"):
        await seed_events(db, clock, 1)  # a process without the key
    verdict = await verify_log(db, clock, keyed)
    assert verdict.intact and verdict.chain.count == 2


# The audit-checkpoint job.


async def test_the_job_posts_each_head_once_and_is_a_no_op_while_it_does_not_move(
    db: Database, clock: FixedClock
) -> None:
    config = settings(TRUSTBOT_AUDIT_CHANNEL=CHANNEL, TRUSTBOT_AUDIT_KEY=KEY)
    assert (await _job(db, clock, config)).outcome == "no audit events yet"
    await seed_events(db, clock, 3, config)
    first = await _job(db, clock, config)
    events = await rows_of(db, AuditEvent)  # with the key, a checkpoint first records itself in the chain
    head = events[-1].hash
    assert (events[-1].action, events[-1].details) == ("audit.checkpoint", {"events": 3})
    assert (first.status, first.outcome) == (FINISHED, f"checkpoint 4:{head} recorded and posted to {CHANNEL}")
    clock.advance(timedelta(hours=1))
    again = await _job(db, clock, config)
    assert again.outcome == "head unchanged since the checkpoint of 2026-11-02T09:03:00Z (4 events)"
    await seed_events(db, clock, 1, config)
    clock.advance(timedelta(hours=1))
    assert (await _job(db, clock, config)).outcome.startswith("checkpoint 6:")
    posts = _posts(await rows_of(db, OutboxMessage))
    assert len(posts) == 2 and f"--checkpoint 4:{head}`" in posts[0] and "4 events" in posts[0]
    checkpoints = await rows_of(db, AuditCheckpoint)
    assert [(c.count, c.scheme) for c in checkpoints] == [(4, "hmac-sha256"), (6, "hmac-sha256")]
    assert checkpoints[0].last_hash == head and checkpoints[0].created_at == START + timedelta(minutes=3)


async def test_without_a_channel_the_job_records_and_posts_nothing(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock, 2)
    assert (await _job(db, clock, settings())).outcome.startswith("checkpoint 2:")
    assert _posts(await rows_of(db, OutboxMessage)) == [] and len(await rows_of(db, AuditCheckpoint)) == 1


@pytest.mark.parametrize("tamper", ["delete tail", "rewrite"])
async def test_the_job_refuses_a_chain_that_no_longer_extends_its_checkpoint(
    db: Database, clock: FixedClock, tamper: str
) -> None:
    config = settings(TRUSTBOT_AUDIT_CHANNEL=CHANNEL)
    await seed_events(db, clock, 5, config)
    await _job(db, clock, config)
    if tamper == "delete tail":
        await run_sql(db, "DELETE FROM audit_event WHERE id >= 4")
        problem = missing_events(2, f"the checkpoint of {AT_5}", 3)
    else:
        await _rewrite(db, event_id=2)
        await seed_events(db, clock, 1, config)  # the head moved on, from a rewritten chain
        problem = REWRITTEN_5
    for hour in (1, 2):
        clock.set(START + timedelta(hours=hour))
        result = await _job(db, clock, config)
        assert result.status == FAILED and result.outcome.endswith(f"no checkpoint recorded: {problem}")
    posts = _posts(await rows_of(db, OutboxMessage))
    assert len(posts) == 2 and posts[1].startswith(":warning: The audit log no longer matches") and problem in posts[1]
    assert len(await rows_of(db, AuditCheckpoint)) == 1  # the truncated or rewritten head is never checkpointed


async def test_serve_without_the_key_of_a_keyed_chain_does_not_start(
    db: Database, database_url: str, clock: FixedClock, fake_slack: Any
) -> None:
    from tests.support.bots import make_settings
    from trustbot.web.server import TrustbotServer

    await seed_events(db, clock, 1, settings(TRUSTBOT_AUDIT_KEY=KEY))
    server = TrustbotServer(make_settings(database_url, fake_slack.api_url), clock=clock)
    try:
        with pytest.raises(AuditKeyMissing, match="set TRUSTBOT_AUDIT_KEY"):
            await server.start()
    finally:
        await server.stop()
