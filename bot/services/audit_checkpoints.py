"""Checkpoints of the audit chain's head, and verifying the chain against them.

A hash chain alone cannot tell a deleted tail from a shorter history, nor a chain rewritten
from some event on (every later hash recomputed) from the original. The `audit-checkpoint` job
therefore records the head — how many events, the last one's hash and scheme, when — and posts
it to TRUSTBOT_AUDIT_CHANNEL, outside the database. `trustbot audit verify` compares the chain
with the latest stored checkpoint and with one given as `--checkpoint COUNT:HASH` (e.g. copied
from that channel, which survives a deleted checkpoint row).

A checkpoint is only recorded when the chain still extends the previous one; otherwise the job
fails, says so once in the audit channel, and records nothing, so a truncated or rewritten chain
is never laundered into a new checkpoint.

With TRUSTBOT_AUDIT_KEY set, every checkpoint is signed (`mac`, HMAC-SHA256 of its fields). Someone
who can write the database but lacks the key could otherwise rewrite the whole chain as plain
SHA-256 and move the checkpoint row to the new head; `audit verify` with the key refuses a latest
checkpoint whose signature is missing or wrong. A checkpoint recorded before the key was set is
unsigned: once `serve` has keyed the chain, the next `audit-checkpoint` run records a signed one.
With the key, a checkpoint also records itself in the chain, and no checkpoint is recorded over a
chain not tied to the key (trustbot.services.audit_anchor).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import as_utc
from trustbot.services import outbox
from trustbot.services.audit import CHECKPOINT_ACTION, ChainReport, audit_key, record_audit, verify_audit_chain
from trustbot.services.audit_anchor import NO_SIGNED_CHECKPOINT, anchor_problem
from trustbot.services.context import ServiceContext
from trustbot.services.notices import claim_notice
from trustbot.storage.queries import audit as q
from trustbot.storage.tables import AuditCheckpoint

log = logging.getLogger(__name__)

_SHAPE = re.compile(r"([0-9]+):([0-9a-fA-F]{64})")
GIVEN = "the checkpoint given with --checkpoint"


class ChainDiverged(Exception):
    """The chain no longer extends the latest checkpoint; no new checkpoint was recorded."""


@dataclass(frozen=True)
class Checkpoint:
    """A head to compare the chain with: `count` events, the last one hashed `hash`; `source` names it."""

    count: int
    hash: str
    source: str


def parse_checkpoint(text: str) -> Checkpoint:
    """`COUNT:HASH` as posted to the audit channel; ValueError when it is not that shape."""
    match = _SHAPE.fullmatch(text.strip())
    if match is None or int(match[1]) < 1:
        raise ValueError(f"--checkpoint {text!r} is not COUNT:HASH (a positive count, a colon, a 64-digit hex hash)")
    return Checkpoint(count=int(match[1]), hash=match[2].lower(), source=GIVEN)


def _iso(at: datetime) -> str:
    return as_utc(at).isoformat(timespec="seconds").replace("+00:00", "Z")


def checkpoint_mac(key: bytes, *, count: int, last_hash: str, scheme: str, at: datetime) -> str:
    """The signature of a checkpoint's fields with the audit key."""
    message = f"trustbot-audit-checkpoint:{count}:{last_hash}:{scheme}:{_iso(at)}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature_problem(row: AuditCheckpoint, key: bytes | None, *, signed_exist: bool) -> str | None:
    """Why a stored checkpoint cannot be trusted under `key` (None: it can, or there is no key to check with).

    `signed_exist`: some checkpoint is signed, so the key was set before and an unsigned latest one is forged.
    """
    if key is None:
        return None
    source = stored_checkpoint(row).source
    if row.mac is None and signed_exist:
        return f"{source} is not signed, though earlier checkpoints are: it was not recorded by trustbot"
    if row.mac is None:
        return (
            f"{source} is not signed with TRUSTBOT_AUDIT_KEY: it was recorded before the key was set, or forged. "
            "Run `trustbot jobs run audit-checkpoint` once after setting the key, and compare with the audit "
            "channel's copy (`--checkpoint COUNT:HASH`)"
        )
    expected = checkpoint_mac(key, count=row.count, last_hash=row.last_hash, scheme=row.scheme, at=row.created_at)
    if not hmac.compare_digest(expected, row.mac):
        return f"{source} was altered: its signature does not match TRUSTBOT_AUDIT_KEY"
    return None


def stored_checkpoint(row: AuditCheckpoint) -> Checkpoint:
    """A stored checkpoint, named by its time."""
    return Checkpoint(count=row.count, hash=row.last_hash, source=f"the checkpoint of {_iso(row.created_at)}")


def mismatch(checkpoint: Checkpoint, *, chain_count: int, same_hash: bool) -> str | None:
    """What is wrong with a chain of `chain_count` events against `checkpoint`, or None when it extends it.

    `same_hash`: the event at position `checkpoint.count` (1-based, in id order) has the checkpoint's hash.
    """
    if chain_count < checkpoint.count:
        missing = checkpoint.count - chain_count
        noun, verb = ("event", "is") if missing == 1 else ("events", "are")
        return (
            f"{missing} {noun} recorded by {checkpoint.source} {verb} missing (the chain ends at event #{chain_count})"
        )
    if not same_hash:
        return f"the chain was rewritten: event at position {checkpoint.count} no longer has the checkpoint's hash"
    return None


@dataclass(frozen=True)
class AuditVerdict:
    """Outcome of `verify_audit_log`: the chain walk, the checkpoints compared, and a checkpoint problem."""

    chain: ChainReport
    checkpoints: tuple[Checkpoint, ...]
    problem: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        """True when every event checked out and the chain extends every checkpoint compared."""
        return self.chain.intact and self.problem is None


async def verify_audit_log(
    session: AsyncSession, ctx: ServiceContext, *, given: Checkpoint | None = None, batch: int = 5000
) -> AuditVerdict:
    """Walk the chain (`verify_audit_chain`), then compare it with `given` and the latest stored checkpoint."""
    latest = await q.latest_checkpoint(session)
    checkpoints = tuple(c for c in (given, stored_checkpoint(latest) if latest else None) if c is not None)
    chain = await verify_audit_chain(session, ctx, positions={c.count for c in checkpoints}, batch=batch)
    if not chain.intact:
        return AuditVerdict(chain, checkpoints)
    key = audit_key(ctx.settings)
    signed_exist = key is not None and await q.has_signed_checkpoint(session)
    unsigned = signature_problem(latest, key, signed_exist=signed_exist) if latest else None
    if unsigned is not None:
        return AuditVerdict(chain, checkpoints, unsigned)
    unanchored = await anchor_problem(session, key)
    if unanchored is not None:
        return AuditVerdict(chain, checkpoints, unanchored)
    for checkpoint in checkpoints:
        same = chain.hashes_at.get(checkpoint.count) == checkpoint.hash
        problem = mismatch(checkpoint, chain_count=chain.count, same_hash=same)
        if problem is not None:
            return AuditVerdict(chain, checkpoints, problem)
    warnings = (NO_SIGNED_CHECKPOINT,) if key is not None and not signed_exist else ()
    return AuditVerdict(chain, checkpoints, warnings=warnings)


def checkpoint_text(row: AuditCheckpoint) -> str:
    """The audit channel's copy of a checkpoint; COUNT:HASH is what `--checkpoint` takes."""
    return (
        f"Audit checkpoint of {_iso(row.created_at)}: {row.count} events, the last hashed {row.last_hash} "
        f"({row.scheme}).\nCheck the log against it: `trustbot audit verify --checkpoint {row.count}:{row.last_hash}`"
    )


async def _warn(session: AsyncSession, ctx: ServiceContext, text: str, *, notice: str) -> None:
    """Say `text` once (per `notice`) in the audit channel, when there is one."""
    channel = ctx.settings.audit_channel
    if channel and await claim_notice(session, ctx.clock, notice):
        outbox.post_message(session, channel=channel, key=notice, message=text)


async def _diverged(
    session: AsyncSession, ctx: ServiceContext, last: AuditCheckpoint, count: int, *, problem: str | None = None
) -> str | None:
    """Whether the chain (of `count` events) no longer extends `last` (or `problem`, already found with
    `last`); says so once in the audit channel."""
    checkpoint = stored_checkpoint(last)
    if problem is None:
        same = await q.position_of(session, hash_=last.last_hash) == last.count
        problem = mismatch(checkpoint, chain_count=count, same_hash=same)
    if problem is None:
        return None
    log.warning("audit chain no longer extends %s: %s", checkpoint.source, problem)
    text = (
        f":warning: The audit log no longer matches {checkpoint.source} ({last.count}:{last.last_hash}): "
        f"{problem}. No checkpoint is recorded until this is looked into; run `trustbot audit verify`."
    )
    await _warn(session, ctx, text, notice=f"audit-checkpoint:diverged:{last.pk}")
    return problem


@dataclass(frozen=True)
class CheckpointRun:
    """What one `take_checkpoint` did; `diverged` when the chain no longer extends the latest checkpoint."""

    outcome: str
    diverged: bool = False


def _refused(problem: str) -> CheckpointRun:
    return CheckpointRun(f"no checkpoint recorded: {problem}", diverged=True)


async def _refusal(
    session: AsyncSession, ctx: ServiceContext, head: q.ChainHead | None, last: AuditCheckpoint | None
) -> CheckpointRun | None:
    """Why no checkpoint may be recorded of `head` (said once in the audit channel), or None."""
    key = audit_key(ctx.settings)
    count = head.count if head is not None else 0
    # An unsigned latest checkpoint is re-signed only while no checkpoint was ever signed (the key is new):
    # otherwise it was written by someone without the key, and signing it would launder their chain.
    signed_exist = key is not None and await q.has_signed_checkpoint(session)
    refused = signature_problem(last, key, signed_exist=signed_exist) if last is not None else None
    if last is not None and refused is not None and (last.mac is not None or signed_exist):
        await _diverged(session, ctx, last, count, problem=refused)
        return _refused(refused)
    if head is not None and (unanchored := await anchor_problem(session, key)) is not None:
        log.warning("audit chain not checkpointed: %s", unanchored)
        text = f":warning: The audit log cannot be checkpointed: {unanchored}. Run `trustbot audit verify`."
        await _warn(session, ctx, text, notice=f"audit-checkpoint:unanchored:{count}")
        return _refused(unanchored)
    moved = head is None or last is None or (head.count, head.last_hash) != (last.count, last.last_hash)
    if last is not None and moved and (problem := await _diverged(session, ctx, last, count)) is not None:
        return _refused(problem)
    return None


async def take_checkpoint(session: AsyncSession, ctx: ServiceContext) -> CheckpointRun:
    """Record the chain's head (and post it to TRUSTBOT_AUDIT_CHANNEL when set) unless it did not move.

    When the chain no longer extends the latest checkpoint, or is not tied to the audit key, nothing is
    recorded, the audit channel is warned once, and the run says `diverged` (the job then fails, after
    this transaction commits).
    """
    await q.lock_chain(session)  # the head cannot move while it is read
    head = await q.chain_head(session)
    last = await q.latest_checkpoint(session)
    refused = await _refusal(session, ctx, head, last)
    if refused is not None:
        return refused
    if head is None:
        return CheckpointRun("no audit events yet")
    key = audit_key(ctx.settings)
    unsigned = last is not None and key is not None and last.mac is None  # recorded before the key was set
    if last is not None and (head.count, head.last_hash) == (last.count, last.last_hash) and not unsigned:
        return CheckpointRun(f"head unchanged since {stored_checkpoint(last).source} ({last.count} events)")
    if key is not None:  # the chain records that this checkpoint was taken (see trustbot.services.audit_anchor)
        await record_audit(session, ctx, action=CHECKPOINT_ACTION, subject="audit", details={"events": head.count})
        head = await q.chain_head(session) or head
    at = ctx.now()
    mac = checkpoint_mac(key, count=head.count, last_hash=head.last_hash, scheme=head.scheme, at=at) if key else None
    row = await q.add_checkpoint(
        session, count=head.count, last_hash=head.last_hash, scheme=head.scheme, at=at, mac=mac
    )
    outcome = f"checkpoint {row.count}:{row.last_hash} recorded"
    channel = ctx.settings.audit_channel
    if channel:
        outbox.post_message(session, channel=channel, key=f"audit-checkpoint:{row.pk}", message=checkpoint_text(row))
        outcome += f" and posted to {channel}"
    return CheckpointRun(outcome)
