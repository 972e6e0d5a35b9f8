"""Alert ingest: strict validation, idempotency by producer id, grouping per org and fingerprint.

Ingest is one transaction per request and set-based: a fixed number of round trips whatever
the batch size (ids already stored, open alerts for the batch's fingerprints, one bulk insert
of new alerts, one batched update of repeats, one bulk insert of occurrences, then the outbox).
How the alerts then reach Slack lives in `trustbot.services.alerts.rendering`.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.messages import alert_notes as notes
from trustbot.messages import alerts as msg
from trustbot.services import outbox
from trustbot.services.alerts.rendering import default_channel, load_cards, render_alerts
from trustbot.services.context import ServiceContext
from trustbot.services.fields import Timestamp, Token, no_controls, storable
from trustbot.services.installs.routing import workspace_of_org
from trustbot.storage.queries import alerts as q
from trustbot.storage.queries.directory import orgs_by_slugs
from trustbot.storage.tables import Alert, Org, Severity

DETAILS_MAX_BYTES = 8 * 1024
_SPACE = re.compile(r"\s")  # for str patterns, exactly the characters str.isspace() accepts


# -- the ingest contract --------------------------------------------------------


def _https(value: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or _SPACE.search(value):
        raise ValueError("must be an https:// URL")
    return no_controls(value)


def _readable(value: str) -> str:
    clean = msg.strip_controls(value)
    if not clean.strip():
        raise ValueError("must have readable text, not only control characters")
    return clean


def _small_object(value: dict[str, Any]) -> dict[str, Any]:
    # Producers quote raw evidence here: NUL and unpaired surrogates are dropped (no database stores them).
    clean = storable(value)
    assert isinstance(clean, dict)
    if len(json.dumps(clean, separators=(",", ":"), ensure_ascii=False).encode()) > DETAILS_MAX_BYTES:
        raise ValueError(f"must be at most {DETAILS_MAX_BYTES} bytes of JSON")
    return clean


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
    # NUL and unpaired surrogates go before the string is even checked: no database stores them.
    summary: Annotated[str, Field(min_length=1, max_length=500), AfterValidator(_readable), BeforeValidator(storable)]
    occurred_at: Timestamp
    actor: Annotated[Token, Field(max_length=256)] | None = None
    score: Annotated[float, Field(ge=0, le=1)] | None = None
    evidence_url: Annotated[str, Field(max_length=2048), AfterValidator(_https)] | None = None
    fingerprint: Annotated[Token, Field(min_length=1, max_length=512)] | None = None
    details: Annotated[dict[str, Any], AfterValidator(_small_object), BeforeValidator(storable)] | None = None

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


async def ingest_alerts(session: AsyncSession, ctx: ServiceContext, items: Sequence[AlertIn]) -> IngestResult:
    """Store every new item, group it into its fingerprint's open alert (or open one), queue Slack writes."""
    return (await ingest_alert_requests(session, ctx, [items]))[0]


async def ingest_alert_requests(
    session: AsyncSession, ctx: ServiceContext, requests: Sequence[Sequence[AlertIn]]
) -> list[IngestResult]:
    """`ingest_alerts` for several requests in one transaction (group commit); one result per request.

    An id already stored, or sent earlier in the same transaction, is a duplicate of whoever
    sent it later.
    """
    await q.lock_ingest(session)
    now = ctx.now()
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
        await _store(session, ctx, fresh, now)
    return results


@dataclass(frozen=True)
class _Touched:
    """An alert this batch opened or repeated, and its severity before the batch."""

    alert: Alert
    new: bool
    severity_before: str


def _open_alert(batch: list[AlertIn], fingerprint: str, org: Org | None, channel: str | None, now: datetime) -> Alert:
    first = min(batch, key=lambda i: i.occurred_at)
    last = max(batch, key=lambda i: i.occurred_at)
    return Alert(
        event_id=first.id,
        org_id=org.id if org else None,
        org_slug=first.org,
        actor=first.actor,
        signal=first.signal,
        severity=max(batch, key=lambda i: msg.severity_rank(i.severity)).severity,
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
        channel=channel,
    )


def _repeat(alert: Alert, batch: list[AlertIn], now: datetime) -> None:
    first = min(batch, key=lambda i: i.occurred_at)
    last = max(batch, key=lambda i: i.occurred_at)
    worst = max(batch, key=lambda i: msg.severity_rank(i.severity)).severity
    alert.occurrences += len(batch)
    alert.first_seen = min(alert.first_seen, first.occurred_at)
    if last.occurred_at >= alert.last_seen:
        alert.last_seen, alert.summary = last.occurred_at, last.summary
        alert.evidence_url = last.evidence_url or alert.evidence_url
        alert.score = last.score if last.score is not None else alert.score
    if msg.severity_rank(worst) > msg.severity_rank(alert.severity):
        alert.severity = worst
    alert.updated_at = now


def org_key(org: str) -> str:
    """The slug a producer's `org` names: `ACME`, ` acme ` and fullwidth `ａｃｍｅ` all name `acme`.

    Directory slugs are lowercase ASCII, so NFKC (fullwidth and other compatibility forms), trimming
    and casefolding find the org a producer meant; anything else stays an unknown org, never dropped.
    """
    return unicodedata.normalize("NFKC", org).strip().casefold()


async def _orgs_named(session: AsyncSession, names: set[str]) -> dict[str, Org]:
    """The directory org each `org` as sent names, keyed by what was sent (unknown ones absent)."""
    known = await orgs_by_slugs(session, slugs={org_key(name) for name in names})
    return {name: known[org_key(name)] for name in names if org_key(name) in known}


async def _group(session: AsyncSession, ctx: ServiceContext, fresh: list[AlertIn], now: datetime) -> list[_Touched]:
    """Fold the batch into the open alert of its (org, fingerprint), opening one where there is none."""
    # The alert keeps `org` as sent (audit); it belongs to the org that value names.
    orgs = await _orgs_named(session, {i.org for i in fresh})
    groups: dict[tuple[str, str], list[AlertIn]] = defaultdict(list)
    for item in fresh:
        groups[item.group_key].append(item)
    since = now - timedelta(minutes=ctx.settings.alert_dedup_minutes)
    open_alerts = await q.open_alerts_by_fingerprint(session, fingerprints=groups, since=since, now=now)
    fallback: str | None = None
    touched: list[_Touched] = []
    for (slug, fingerprint), batch in groups.items():
        alert = open_alerts.get((slug, fingerprint))
        if alert is not None:
            touched.append(_Touched(alert, False, alert.severity))
            _repeat(alert, batch, now)
            continue
        org = orgs.get(slug)
        if org is None or not org.security_channel:
            fallback = fallback or await default_channel(session)
        alert = _open_alert(batch, fingerprint, org, (org.security_channel if org else None) or fallback, now)
        if org is not None and org.security_channel:  # the org's own channel is in its workspace
            alert.workspace = await workspace_of_org(session, org)
        session.add(alert)
        touched.append(_Touched(alert, True, alert.severity))
    await session.flush()  # new alerts get their ids (one multi-row INSERT … RETURNING)
    return touched


async def _store(session: AsyncSession, ctx: ServiceContext, fresh: list[AlertIn], now: datetime) -> None:
    touched = await _group(session, ctx, fresh, now)
    alert_of = {(t.alert.org_slug, t.alert.fingerprint): t.alert for t in touched}
    rows = [
        {"event_id": i.id, "alert_id": alert_of[i.group_key].id, "occurred_at": i.occurred_at, "received_at": now}
        for i in fresh
    ]
    await q.insert_occurrences(session, rows=rows)
    # A snoozed alert's repeats are stored and counted above, but reach nobody until the snooze ends.
    shown = [t for t in touched if msg.severity_rank(t.alert.severity) >= 1 and not msg.is_snoozed(t.alert, now)]
    if not shown:
        return
    cards = await load_cards(session, [t.alert for t in shown])
    await render_alerts(session, ctx, cards)
    for touched_alert, card in zip(shown, cards, strict=True):
        # The rep hears once per alert: when it opens critical, or when a repeat makes it critical.
        became_critical = touched_alert.new or touched_alert.severity_before != Severity.CRITICAL
        if touched_alert.alert.severity == Severity.CRITICAL and became_critical and card.rep:
            outbox.send_dm(session, user=card.rep, message=notes.critical_dm(card))
