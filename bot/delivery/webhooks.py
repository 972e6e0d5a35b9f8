"""Sending one grant change event to the gateway, signed by the Standard Webhooks scheme.

The `standardwebhooks` package signs (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`), so
the gateway can verify with any Standard Webhooks library. The event's id and body are fixed when
the event is written (`bot.services.entitlements.events`); each attempt signs them afresh with
the current time, since verifiers refuse timestamps more than five minutes off. A 2xx answer is
delivery; anything else, or no answer within `TRUSTBOT_WEBHOOK_TIMEOUT_SECONDS`, is retried by
the outbox with backoff until `TRUSTBOT_WEBHOOK_RETRY_HOURS` after the event was written.

Redirects are never followed: a 301/302 would turn the POST into a GET elsewhere (and count as
delivered), a 307/308 would re-send the signed event to another host. A 3xx is a failed attempt.
The status decides; an answer body is read only when it is small (`ANSWER_CAP` bytes, so the
connection can be reused) and otherwise left unread, its connection closed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import aiohttp
from standardwebhooks.webhooks import Webhook

from trustbot.config import Settings
from trustbot.delivery.slack_writes import Outcome, backoff
from trustbot.storage.tables import OutboxMessage

log = logging.getLogger(__name__)

# The largest answer body read; a bigger or unsized one is not read at all (the status decides).
ANSWER_CAP = 64 * 1024


def sign_headers(secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    """The Standard Webhooks headers for `body` sent at `at`."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "content-type": "application/json",
    }


class WebhookSender:
    """POSTs events to `TRUSTBOT_WEBHOOK_URL`; one connection pool per process."""

    def __init__(self, settings: Settings) -> None:
        self.url = settings.webhook_url
        self.secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, row: OutboxMessage) -> Outcome:
        """One attempt at delivering the event a row carries."""
        if not self.url or not self.secret:
            return Outcome("failed", error="webhook_not_configured")
        event_id, body = str(row.payload.get("id") or ""), str(row.payload.get("body") or "")
        if not event_id or not body:
            return Outcome("failed", error="webhook_event_malformed")
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = sign_headers(self.secret, event_id, body, datetime.now(UTC))
        try:
            async with self._session.post(
                self.url, data=body.encode(), headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if response.content_length is not None and response.content_length <= ANSWER_CAP:
                    await response.read()  # a small answer, read so its connection goes back to the pool
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return Outcome("retry", delay=backoff(row.attempts), error=f"webhook_{type(exc).__name__}")
        if 200 <= status < 300:
            return Outcome("sent")
        if 300 <= status < 400:
            log.warning("webhook receiver answered %d (a redirect) for event %s: not followed", status, event_id)
            return Outcome("retry", delay=backoff(row.attempts), error=f"webhook redirect {status} refused")
        return Outcome("retry", delay=backoff(row.attempts), error=f"webhook_http_{status}")

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None
