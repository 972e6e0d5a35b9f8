"""Shared Signals receiver: verify one Security Event Token (RFC 8417) pushed by an org's IdP and act on it.

The unverified `iss` only picks the org whose keys must verify the token; nothing else is trusted before the
signature is. `typ` must be `secevent+jwt` when present (RFC 8417 recommends it; some transmitters omit it,
so a missing `typ` is accepted, a different one refused: that keeps an ID token or access token signed by
the same IdP from passing as an event). Every refusal is an RFC 8935 error code for a 400: the transmitter
retries, so an unreachable JWKS is `invalid_key`, never a server error.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.identity.holds import lift_disabled, place_holds
from trustbot.services.identity.jwks import JwksCache, KeysUnavailable
from trustbot.storage.queries import holds as q
from trustbot.storage.tables import Org
from trustbot.storage.tables.identity import HoldKind

ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"]
SKEW = timedelta(minutes=5)
CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
HOLDS = {
    CAEP + "session-revoked": HoldKind.SIGNAL,
    CAEP + "credential-change": HoldKind.SIGNAL,
    RISC + "account-disabled": HoldKind.DISABLED,
    RISC + "account-purged": HoldKind.PURGED,
}
ENABLED = RISC + "account-enabled"


class SetRejected(Exception):
    """The token is refused: `err` is the RFC 8935 error code, `description` says why."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(description)
        self.err = err
        self.description = description


def read_unverified(token: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of a compact JWS, not yet verified (only to find whose keys verify it)."""
    try:
        compact = extract_compact(token.strip())
        claims = json.loads(compact.payload)
    except (JoseError, ValueError, UnicodeDecodeError):
        raise SetRejected("invalid_request", "the body is not a compact JWS with a JSON payload") from None
    if not isinstance(claims, dict):
        raise SetRejected("invalid_request", "the claims are not a JSON object")
    return dict(compact.headers()), claims


async def verify_set(session: AsyncSession, cache: JwksCache, token: bytes) -> tuple[Org, dict[str, Any]]:
    """The org and verified claims of one SET, or SetRejected."""
    header, unverified = read_unverified(token)
    if header.get("alg") not in ALGORITHMS:
        raise SetRejected("invalid_request", f"alg must be one of {', '.join(ALGORITHMS)}")
    if header.get("typ", "secevent+jwt").lower() not in {"secevent+jwt", "application/secevent+jwt"}:
        raise SetRejected("invalid_request", "typ must be secevent+jwt")
    issuer = unverified.get("iss")
    org = await q.org_of_issuer(session, issuer=issuer) if isinstance(issuer, str) and issuer else None
    if org is None or not org.ssf_jwks_uri:
        raise SetRejected("invalid_issuer", "no org receives Shared Signals from this issuer")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    try:
        keys = await cache.keys_for(org.ssf_jwks_uri, kid)
        claims = jwt.decode(token.strip(), keys, algorithms=ALGORITHMS).claims
    except KeysUnavailable as error:
        raise SetRejected("invalid_key", str(error)) from None
    except JoseError as error:
        raise SetRejected("invalid_key", f"the signature does not verify ({error.error})") from None
    return org, claims


def check_claims(claims: dict[str, Any], *, org: Org, audience: str | None, now: datetime) -> dict[str, Any]:
    """The `events` of verified claims once `iss`, `aud`, `iat` and `jti` hold, or SetRejected."""
    if claims.get("iss") != org.ssf_issuer:
        raise SetRejected("invalid_issuer", "iss does not match the org's issuer")
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    if not audience or audience.rstrip("/") not in {a.rstrip("/") for a in auds if isinstance(a, str)}:
        raise SetRejected("invalid_audience", "aud must be this receiver's public URL")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise SetRejected("invalid_request", "iat is required")
    if abs(datetime.fromtimestamp(iat, UTC) - now) > SKEW:
        raise SetRejected("invalid_request", "iat is more than 5 minutes from now")
    jti, events = claims.get("jti"), claims.get("events")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise SetRejected("invalid_request", "jti is required")
    if not isinstance(events, dict) or not events or not all(isinstance(v, dict) for v in events.values()):
        raise SetRejected("invalid_request", "events must name one or more event types")
    return events


async def receive_set(session: AsyncSession, ctx: ServiceContext, cache: JwksCache, token: bytes) -> str:
    """Verify and act on one SET; returns `accepted` or `replay`. Raises SetRejected."""
    org, claims = await verify_set(session, cache, token)
    events = check_claims(claims, org=org, audience=ctx.settings.public_url, now=datetime.now(UTC))
    issuer, jti = str(claims["iss"]), str(claims["jti"])
    if not await q.mark_seen(session, issuer=issuer, jti=jti, org_id=org.pk, at=ctx.now()):
        return "replay"
    for event_type, payload in events.items():
        await _act(session, ctx, org, str(event_type)[:200], payload, claims, jti)
    return "accepted"


async def _act(
    session: AsyncSession,
    ctx: ServiceContext,
    org: Org,
    event: str,
    payload: dict[str, Any],
    claims: dict[str, Any],
    jti: str,
) -> None:
    subject = payload.get("subject") or claims.get("sub_id") or payload.get("sub_id")
    base = {"jti": jti, "event": event, "subject": subject if isinstance(subject, dict) else None}
    if event not in HOLDS and event != ENABLED:
        await record_audit(session, ctx, action="ssf.event_ignored", subject=f"org:{org.slug}", details=base)
        return
    emails = await _addresses(session, org, subject)
    if not emails:
        await record_audit(session, ctx, action="ssf.unknown_subject", subject=f"org:{org.slug}", details=base)
        return
    name = "ssf." + event.rsplit("/", 1)[-1].replace("-", "_")
    await record_audit(session, ctx, action=name, subject=f"org:{org.slug}", details={**base, "emails": emails})
    if event == ENABLED:
        await lift_disabled(session, ctx, org=org, emails=emails, event_type=event, jti=jti)
    else:
        await place_holds(session, ctx, org=org, emails=emails, kind=HOLDS[event], event_type=event, jti=jti)


async def _addresses(session: AsyncSession, org: Org, subject: Any) -> Sequence[str]:
    if not isinstance(subject, dict):
        return []
    fmt = subject.get("format") or subject.get("subject_type")
    if fmt == "email" and isinstance(subject.get("email"), str) and "@" in subject["email"]:
        return [subject["email"].strip().lower()[:320]]
    if fmt == "iss_sub" and subject.get("iss") == org.ssf_issuer and isinstance(subject.get("sub"), str):
        return await q.addresses_of_subject(session, org_id=org.pk, sub=subject["sub"])
    return []
