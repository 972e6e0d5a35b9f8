"""The append-only, hash-chained audit log.

Each event's hash covers a canonical JSON of its fields and the previous event's hash: plain
SHA-256 (`sha256`), or HMAC-SHA256 keyed with TRUSTBOT_AUDIT_KEY (`hmac-sha256`) once a key is
set. The scheme is stored with each event, so events hashed before a key was set stay valid,
while a plain event after a keyed one (a downgrade) is refused when the key is set. Deleting the
newest events or rewriting the chain from some event on is caught against checkpoints of the
head (`trustbot.services.audit_checkpoints`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import as_utc
from trustbot.config import Settings
from trustbot.services.context import ServiceContext
from trustbot.storage.queries import audit as q
from trustbot.storage.tables import AuditEvent
from trustbot.storage.tables.audit import KEYED, PLAIN

GENESIS = "0" * 64
# The event `trustbot serve` records when it first runs with TRUSTBOT_AUDIT_KEY over a chain with no keyed
# event: from it on every event must be keyed. The event each signed checkpoint appends to the chain, so the
# chain itself says that checkpoints were taken (and deleting them all is caught).
KEYED_FROM_ACTION = "audit.keyed"
CHECKPOINT_ACTION = "audit.checkpoint"
SCHEMES = (PLAIN, KEYED)

UNLINKED = "its link to the previous event is broken (an event was removed or reordered)"
EDITED = "its contents do not match its hash (it was edited)"
WRONG_KEY_HINT = " — or TRUSTBOT_AUDIT_KEY is not the key it was recorded with"
CORRUPT = "its stored fields cannot be read (corrupt)"
NEEDS_KEY = f"it is keyed ({KEYED}) and cannot be checked without TRUSTBOT_AUDIT_KEY"
DOWNGRADE = f"it is hashed without the key although an earlier event is keyed ({PLAIN} after {KEYED}: a downgrade)"


def audit_key(settings: Settings) -> bytes | None:
    """The chain's HMAC key (TRUSTBOT_AUDIT_KEY), or None when the chain is plain SHA-256."""
    return settings.audit_key.get_secret_value().encode() if settings.audit_key is not None else None


def compute_hash(
    *,
    prev_hash: str,
    at: datetime,
    actor: str,
    action: str,
    subject: str,
    details: dict[str, Any],
    key: bytes | None = None,
) -> str:
    """SHA-256 (or, with `key`, HMAC-SHA256) over the previous hash and a canonical JSON of the event's fields."""
    body = json.dumps(
        {
            "prev": prev_hash,
            "at": at.isoformat(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "details": details,
        },
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    ).encode()
    if key is None:
        return hashlib.sha256(body).hexdigest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


KEY_MISSING = "the audit chain is keyed (HMAC): set TRUSTBOT_AUDIT_KEY to record audit events"


class AuditKeyMissing(RuntimeError):
    """This process has no TRUSTBOT_AUDIT_KEY, but the chain it would extend is keyed."""


async def check_audit_key(session: AsyncSession, settings: Settings) -> None:
    """Refuse to start (`AuditKeyMissing`) when the chain is keyed and this process has no key."""
    link = await q.last_link(session)
    if audit_key(settings) is None and link is not None and link[1] == KEYED:
        raise AuditKeyMissing(KEY_MISSING)


async def record_audit(
    session: AsyncSession,
    ctx: ServiceContext,
    *,
    action: str,
    subject: str,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event by `ctx`'s actor, chained to the previous one, inside the caller's transaction."""
    await q.lock_chain(session)
    link = await q.last_link(session)
    prev = link[0] if link else GENESIS
    actor = ctx.user_id
    key = audit_key(ctx.settings)
    if key is None and link is not None and link[1] == KEYED:
        # A plain event after a keyed one would read as a downgrade (tampering) for good: refuse to write it.
        raise AuditKeyMissing(KEY_MISSING)
    # JSON round trip so the hash covers exactly what the database will give back.
    clean = json.loads(json.dumps(details or {}, default=str))
    now = ctx.now()
    at = now.replace(microsecond=now.microsecond // 1000 * 1000)
    digest = compute_hash(prev_hash=prev, at=at, actor=actor, action=action, subject=subject, details=clean, key=key)
    event = AuditEvent(
        at=at,
        actor=actor,
        action=action,
        subject=subject,
        details=clean,
        prev_hash=prev,
        hash=digest,
        scheme=KEYED if key is not None else PLAIN,
    )
    session.add(event)
    await session.flush()
    return event


@dataclass(frozen=True)
class ChainReport:
    """Outcome of `verify_audit_chain`: events that checked out, the first bad one, hashes at positions asked for."""

    count: int
    first_bad_id: int | None = None
    problem: str | None = None
    hashes_at: Mapping[int, str] = field(default_factory=dict)
    keyed_from: int | None = None  # the 1-based position of the first keyed event the walk checked

    @property
    def intact(self) -> bool:
        """True when every event and link checked out."""
        return self.first_bad_id is None

    @property
    def unverifiable(self) -> bool:
        """True when the walk stopped at a keyed event because no key is configured (not proof of tampering)."""
        return self.problem == NEEDS_KEY


@dataclass(frozen=True)
class _Event:
    """A stored row whose every field could be read."""

    at: datetime
    actor: str
    action: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str
    scheme: str


def _decode_at(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, str):
        try:
            return as_utc(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _decode_details(value: object) -> dict[str, Any] | None:
    if not isinstance(value, str):
        return None
    try:
        details = json.loads(value)
    except ValueError:
        return None
    return details if isinstance(details, dict) else None


def _decode(row: q.StoredEvent) -> _Event | None:
    """The row's fields, or None when any of them cannot be read (a corrupt row)."""
    at, details = _decode_at(row.at), _decode_details(row.details)
    texts = [v for v in (row.actor, row.action, row.subject, row.prev_hash, row.hash, row.scheme) if isinstance(v, str)]
    if at is None or details is None or len(texts) != 6 or texts[5] not in SCHEMES:
        return None
    actor, action, subject, prev_hash, digest, scheme = texts
    return _Event(at, actor, action, subject, details, prev_hash, digest, scheme)


class _Walk:
    """The state of one walk along the chain, event by event."""

    def __init__(self, key: bytes | None, positions: Collection[int]) -> None:
        self.key = key
        self.positions = set(positions)
        self.prev = GENESIS
        self.count = 0
        self.keyed_seen = False
        self.keyed_from: int | None = None
        self.hashes_at: dict[int, str] = {}

    def step(self, row: q.StoredEvent) -> str | None:
        """Check the next event; the problem with it, or None (and advance) when it checks out."""
        event = _decode(row)
        if event is None:
            return CORRUPT
        if event.prev_hash != self.prev:
            return UNLINKED
        if event.scheme == KEYED and self.key is None:
            return NEEDS_KEY
        if event.scheme == PLAIN and self.keyed_seen and self.key is not None:
            return DOWNGRADE
        expected = compute_hash(
            prev_hash=event.prev_hash,
            at=event.at,
            actor=event.actor,
            action=event.action,
            subject=event.subject,
            details=event.details,
            key=self.key if event.scheme == KEYED else None,
        )
        if not hmac.compare_digest(expected, event.hash):
            return EDITED + (WRONG_KEY_HINT if event.scheme == KEYED and not self.keyed_seen else "")
        self.prev = event.hash
        self.count += 1
        if event.scheme == KEYED and not self.keyed_seen:
            self.keyed_seen, self.keyed_from = True, self.count
        if self.count in self.positions:
            self.hashes_at[self.count] = event.hash
        return None

    def report(self, bad_id: int | None = None, problem: str | None = None) -> ChainReport:
        return ChainReport(self.count, bad_id, problem, dict(self.hashes_at), self.keyed_from)


async def verify_audit_chain(
    session: AsyncSession,
    ctx: ServiceContext | None = None,
    *,
    positions: Collection[int] = (),
    batch: int = 5000,
) -> ChainReport:
    """Walk the chain in id order, in batches; report the first event whose fields, link or hash are wrong.

    Keyed events are checked with `ctx`'s TRUSTBOT_AUDIT_KEY (none without `ctx`). The report also
    holds the hash of the event at each of `positions` (1-based) the walk reached.
    """
    walk = _Walk(audit_key(ctx.settings) if ctx is not None else None, positions)
    last_id = 0
    while True:
        rows = await q.stored_events_after(session, after_id=last_id, limit=batch)
        if not rows:
            return walk.report()
        for row in rows:
            problem = walk.step(row)
            if problem is not None:
                return walk.report(row.id, problem)
        last_id = rows[-1].id


async def iter_audit_events(
    session: AsyncSession, *, since: datetime | None = None, batch: int = 5000
) -> AsyncIterator[AuditEvent]:
    """Yield events in order, optionally from `since` on."""
    last_id = 0
    while True:
        rows = await q.events_after(session, after_id=last_id, limit=batch, since=since)
        if not rows:
            return
        for event in rows:
            yield event
            last_id = event.pk


def _export_fields(event_id: int, event: _Event) -> dict[str, Any]:
    return {
        "id": event_id,
        "at": event.at.isoformat().replace("+00:00", "Z"),
        "actor": event.actor,
        "action": event.action,
        "subject": event.subject,
        "details": event.details,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "scheme": event.scheme,
    }


@dataclass
class ExportTally:
    """What one export wrote: the ids of rows that could not be read (exported as stored, marked corrupt)."""

    corrupt: list[int] = field(default_factory=list)


async def iter_audit_export(
    session: AsyncSession, tally: ExportTally, *, since: datetime | None = None, batch: int = 5000
) -> AsyncIterator[str]:
    """JSON lines of `trustbot audit export`: rows are read raw, so a corrupt one is a marked line, not a traceback.

    A corrupt row is exported whatever `since` says (its time cannot be read), with each stored field as text.
    """
    last_id = 0
    while rows := await q.stored_events_after(session, after_id=last_id, limit=batch):
        for row in rows:
            last_id = row.id
            event = _decode(row)
            if event is None:
                tally.corrupt.append(row.id)
                stored = {name: None if value is None else str(value) for name, value in vars(row).items()}
                yield json.dumps({"id": row.id, "corrupt": True, "stored": stored}, sort_keys=True)
            elif since is None or event.at >= since:
                yield json.dumps(_export_fields(row.id, event), sort_keys=True)
