"""Table rows built in memory (never saved) for the tests that render messages from them: one acme
alert, its org and a grant at stake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from trustbot.standin.sample import DEV, DEV2
from trustbot.storage.tables import Alert, AlertStatus, Grant, GrantStatus, Org

NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def alert_row(**overrides: Any) -> Alert:
    """Alert #7: acme's high-severity exfiltration by mallory, seen three times, open."""
    values: dict[str, Any] = dict(
        id=7,
        event_id="evt-1",
        org_id=1,
        org_slug="acme",
        actor="mallory@acme.com",
        signal="exfiltration",
        severity="high",
        summary="Bulk download of weights",
        score=0.93,
        evidence_url="https://mon.example/e/1",
        details={},
        fingerprint="acme:mallory@acme.com:exfiltration",
        occurrences=3,
        first_seen=NOW,
        last_seen=NOW + timedelta(minutes=5),
        status=AlertStatus.OPEN,
        created_at=NOW,
        updated_at=NOW,
        channel="C0ACMESEC",
    )
    values.update(overrides)
    return Alert(**values)


def org_row() -> Org:
    """Acme, with its security channel."""
    return Org(
        id=1, slug="acme", name="Acme Security", domains=["acme.com"], security_channel="C0ACMESEC", updated_at=NOW
    )


def grant_row(**overrides: Any) -> Grant:
    """Grant #12: acme's active blanket enhanced grant naming the two developers."""
    values: dict[str, Any] = dict(
        id=12,
        request_id=1,
        org_id=1,
        members=[DEV, DEV2],
        blanket=True,
        tier_id="enhanced",
        status=GrantStatus.ACTIVE,
        starts_at=NOW,
        expires_at=datetime(2027, 1, 1, tzinfo=UTC),
        reverify_due_at=NOW + timedelta(days=90),
    )
    values.update(overrides)
    return Grant(**values)
