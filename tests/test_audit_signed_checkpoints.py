"""With TRUSTBOT_AUDIT_KEY, checkpoints are signed: someone who can write the database but lacks the key
cannot rewrite the whole chain as plain SHA-256, or cut its tail, and move the checkpoint to match."""

from __future__ import annotations

from datetime import timedelta

from tests.support.audit_helpers import checkpoint_outcome, rewrite_as_plain, rows_of, run_sql, seed_events, verify_log
from tests.support.factories import settings, system
from trustbot.clock import FixedClock
from trustbot.services.audit_anchor import UNANCHORED, prepare_audit_chain
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditCheckpoint, AuditEvent

KEYED = settings(TRUSTBOT_AUDIT_KEY="test-audit-key")
AT_5 = "2026-11-02T09:05:00Z"


async def _move_checkpoint_to_head(db: Database, *, mac: str | None = "keep") -> None:
    events = await rows_of(db, AuditEvent)
    head = events[-1]
    await run_sql(
        db,
        "UPDATE audit_checkpoint SET count = :count, last_hash = :hash, scheme = :scheme"
        + ("" if mac == "keep" else ", mac = NULL"),
        count=len(events),
        hash=head.hash,
        scheme=head.scheme,
    )


async def test_a_keyed_chain_rewritten_as_plain_with_its_checkpoint_moved_is_caught(
    db: Database, clock: FixedClock
) -> None:
    await seed_events(db, clock, config=KEYED)
    await checkpoint_outcome(db, clock, KEYED)
    assert (await verify_log(db, clock, KEYED)).intact
    await rewrite_as_plain(db, edited=2)
    await _move_checkpoint_to_head(db)
    verdict = await verify_log(db, clock, KEYED)
    assert verdict.chain.intact  # every link and plain hash checks out on its own
    assert (verdict.intact, verdict.problem) == (
        False,
        f"the checkpoint of {AT_5} was altered: its signature does not match TRUSTBOT_AUDIT_KEY",
    )
    # … and the job refuses to launder it into a fresh checkpoint.
    assert (await checkpoint_outcome(db, clock, KEYED)).startswith("no checkpoint recorded: the checkpoint of")
    assert len(await rows_of(db, AuditCheckpoint)) == 1


async def test_a_moved_checkpoint_with_its_signature_removed_is_caught(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock, config=KEYED)
    await checkpoint_outcome(db, clock, KEYED)
    await run_sql(db, "DELETE FROM audit_event WHERE id >= 5")  # cut the tail (the checkpoint's own event too) …
    await _move_checkpoint_to_head(db, mac=None)  # … and pass the checkpoint off as one from before the key
    verdict = await verify_log(db, clock, KEYED)
    assert verdict.chain.intact and not verdict.intact
    assert verdict.problem is not None and verdict.problem.startswith(
        f"the checkpoint of {AT_5} is not signed with TRUSTBOT_AUDIT_KEY"
    )


async def test_a_cut_tail_with_the_checkpoint_moved_is_caught(db: Database, clock: FixedClock) -> None:
    await seed_events(db, clock, config=KEYED)
    await checkpoint_outcome(db, clock, KEYED)
    await run_sql(db, "DELETE FROM audit_event WHERE id >= 5")
    await _move_checkpoint_to_head(db)
    verdict = await verify_log(db, clock, KEYED)
    assert (verdict.intact, verdict.chain.count) == (False, 4)
    assert verdict.problem == f"the checkpoint of {AT_5} was altered: its signature does not match TRUSTBOT_AUDIT_KEY"


async def test_setting_a_key_later_signs_the_next_checkpoint_once_serve_keyed_the_chain(
    db: Database, clock: FixedClock
) -> None:
    await seed_events(db, clock)  # no key yet: plain events, an unsigned checkpoint
    await checkpoint_outcome(db, clock)
    assert (await verify_log(db, clock)).intact
    assert not (await verify_log(db, clock, KEYED)).intact  # with the key, an unsigned latest checkpoint is not trusted
    clock.advance(timedelta(hours=1))
    refused = await checkpoint_outcome(db, clock, KEYED)  # nothing ties the plain chain to the key yet
    assert refused == f"no checkpoint recorded: {UNANCHORED}"
    async with db.transaction() as session:
        assert await prepare_audit_chain(session, system(clock, KEYED)) == 6  # what serve does at start
    assert (await checkpoint_outcome(db, clock, KEYED)).startswith("checkpoint 7:")  # the key's event, then its own
    [unsigned, signed] = await rows_of(db, AuditCheckpoint)
    assert (unsigned.mac, unsigned.count, signed.count) == (None, 5, 7)
    assert signed.mac is not None and len(signed.mac) == 64
    assert (await verify_log(db, clock, KEYED)).intact
    assert (await verify_log(db, clock)).chain.unverifiable  # the chain is keyed now: it needs the key to be checked


async def test_an_unsigned_checkpoint_after_signed_ones_is_never_signed_by_the_job(
    db: Database, clock: FixedClock
) -> None:
    """Someone without the key rewrites the chain and adds an unsigned checkpoint of it, as if the key were new."""
    await seed_events(db, clock, config=KEYED)
    await checkpoint_outcome(db, clock, KEYED)
    await rewrite_as_plain(db, edited=2)
    head = (await rows_of(db, AuditEvent))[-1]
    await run_sql(
        db,
        "INSERT INTO audit_checkpoint (count, last_hash, scheme, created_at) VALUES (5, :hash, 'sha256', :at)",
        hash=head.hash,
        at=clock.now(),
    )
    problem = f"the checkpoint of {AT_5} is not signed, though earlier checkpoints are: it was not recorded by trustbot"
    assert (await verify_log(db, clock, KEYED)).problem == problem
    clock.advance(timedelta(hours=1))
    assert await checkpoint_outcome(db, clock, KEYED) == f"no checkpoint recorded: {problem}"
    assert [c.mac is None for c in await rows_of(db, AuditCheckpoint)] == [False, True]
    assert not (await verify_log(db, clock, KEYED)).intact
