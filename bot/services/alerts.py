"""Alert ingest: strict validation, idempotency by producer id, grouping per org and fingerprint.

Ingest is one transaction per request and set-based: a fixed number of round trips whatever
the batch size (ids already stored, open alerts for the batch's fingerprints, one bulk insert
of new alerts, one batched update of repeats, one bulk insert of occurrences, then the outbox).
How the alerts then reach Slack lives in `bot.services.alert_rendering`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.messages import alerts as msg
from bot.services import outbox
from bot.services.alert_rendering import default_channel, load_cards, render_alerts
from bot.services.ingest_fields import Timestamp, Token, no_controls
from storage.queries import alerts as q
from storage.tables import Alert, Severity

DETAILS_MAX_BYTES = 8 * 1024


# -- the ingest contract (DESIGN §4.6) --------------------------------------------------------


def _https(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an https:// URL")
    return no_controls(value)


def _small_object(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()) > DETAILS_MAX_BYTES:
        raise ValueError(f"must be at most {DETAILS_MAX_BYTES} bytes of JSON")
    return value


class AlertIn(BaseModel):
    """One alert as producers send it; strict: wrong types are refused, never coerced."""

    # Unknown fields are ignored so producers can add fields without breaking ingest.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)

    id: Annotated[Token, Field(min_length=1, max_length=128)]
    org: Annotated[Token, Field(min_length=1, max_length=64)]
    signal: Annotated[Token, Field(min_length=1, max_length=64)]
    severity: Literal["low", "medium", "high", "critical"]
    # Control characters in a summary are dropped rather than refused: monitoring often quotes
    # raw log lines, and the alert matters more than its formatting.
    summary: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(msg.strip_controls)]
    occurred_at: Timestamp
    actor: Annotated[Token, Field(max_length=256)] | None = None
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    evidence_url: Annotated[str, Field(max_length=2048), AfterValidator(_https)] | None = None
    fingerprint: Annotated[Token, Field(min_length=1, max_length=512)] | None = None
    details: Annotated[dict[str, Any], AfterValidator(_small_object)] | None = None

    @property
    def group_key(self) -> tuple[str, str]:
        """(org, fingerprint): the fingerprint defaults to `org:actor:signal`, and grouping is always
        within one org, so a producer's shared fingerprint never merges two customers' alerts."""
        return self.org, self.fingerprint or f"{self.org}:{self.actor or ''}:{self.signal}"


@dataclass(frozen=True)
class IngestResult:
    """What `POST /alerts` answers: items stored now, and resent ids."""

    accepted: int
    duplicates: int


# -- ingest -----------------------------------------------------------------------------------


async def ingest_alerts(
    session: AsyncSession, clock: Clock, settings: Settings, items: Sequence[AlertIn]
) -> IngestResult:
    """Store every new item, group it into its fingerprint's open alert (or open one), queue Slack writes."""
    return (await ingest_alert_requests(session, clock, settings, [items]))[0]


async def ingest_alert_requests(
    session: AsyncSession, clock: Clock, settings: Settings, requests: Sequence[Sequence[AlertIn]]
) -> list[IngestResult]:
    """`ingest_alerts` for several requests in one transaction (group commit); one result per request.

    An id already stored, or sent earlier in the same transaction, is a duplicate of whoever
    sent it later.
    """
    await q.lock_ingest(session)
    now = clock.now()
    stored = await q.existing_event_ids(session, event_ids=[i.id for items in requests for i in items])
    fresh: list[AlertIn] = []
    results = []
    for items in requests:
        accepted = 0
        for item in items:
            if item.id not in stored:
                stored.add(item.id)
                fresh.append(item)
                accepted += 1
        results.append(IngestResult(accepted, len(items) - accepted))
    if fresh:
        await _store(session, clock, settings, fresh, now)
    return results


async def _store(session: AsyncSession, clock: Clock, settings: Settings, fresh: list[AlertIn], now: datetime) -> None:
    orgs = await q.orgs_by_slugs(session, slugs={i.org for i in fresh})
    groups: dict[tuple[str, str], list[AlertIn]] = defaultdict(list)
    for item in fresh:
        groups[item.group_key].append(item)
    open_alerts = await q.open_alerts_by_fingerprint(
        session, fingerprints=groups, since=now - timedelta(minutes=settings.alert_dedup_minutes)
    )
    fallback: str | None = None
    touched: list[tuple[Alert, bool, str]] = []  # alert, is new, severity before this batch
    for (_, fingerprint), batch in groups.items():
        first = min(batch, key=lambda i: i.occurred_at)
        last = max(batch, key=lambda i: i.occurred_at)
        worst = max(batch, key=lambda i: msg.severity_rank(i.severity)).severity
        alert = open_alerts.get((first.org, fingerprint))
        if alert is None:
            org = orgs.get(first.org)
            if org is None or not org.security_channel:
                fallback = fallback or await default_channel(session)
            alert = Alert(
                event_id=first.id,
                org_id=org.id if org else None,
                org_slug=first.org,
                actor=first.actor,
                signal=first.signal,
                severity=worst,
                summary=last.summary,
                score=last.score,
                evidence_url=last.evidence_url,
                details=last.details or {},
                fingerprint=fingerprint,
                occurrences=len(batch),
                first_seen=first.occurred_at,
                last_seen=last.occurred_at,
                created_at=now,
                updated_at=now,
                channel=(org.security_channel if org else None) or fallback,
            )
            session.add(alert)
            touched.append((alert, True, worst))
            continue
        before = alert.severity
        alert.occurrences += len(batch)
        alert.first_seen = min(alert.first_seen, first.occurred_at)
        if last.occurred_at >= alert.last_seen:
            alert.last_seen, alert.summary = last.occurred_at, last.summary
            alert.evidence_url, alert.score = (
                last.evidence_url or alert.evidence_url,
                last.score if last.score is not None else alert.score,
            )
        if msg.severity_rank(worst) > msg.severity_rank(alert.severity):
            alert.severity = worst
        alert.updated_at = now
        touched.append((alert, False, before))
    await session.flush()  # new alerts get their ids (one multi-row INSERT … RETURNING)

    alert_of = {(alert.org_slug, alert.fingerprint): alert for alert, _, _ in touched}
    await q.insert_occurrences(
        session,
        rows=[
            {"event_id": i.id, "alert_id": alert_of[i.group_key].id, "occurred_at": i.occurred_at, "received_at": now}
            for i in fresh
        ],
    )
    shown = [(a, new, before) for a, new, before in touched if msg.severity_rank(a.severity) >= 1]
    if shown:
        cards = await load_cards(session, [a for a, _, _ in shown])
        await render_alerts(session, clock, settings, cards)
        for (alert, new, before), card in zip(shown, cards):
            # The rep hears once per alert: when it opens critical, or when a repeat makes it critical.
            if alert.severity == Severity.CRITICAL and (new or before != Severity.CRITICAL) and card.rep:
                dm = msg.critical_dm(card)
                outbox.send_dm(session, clock, user=card.rep, text=dm.text, blocks=dm.blocks)
