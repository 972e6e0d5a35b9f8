"""A stand-in identity provider for the demo: serves its JWKS on 127.0.0.1 and signs Security Event Tokens."""

from __future__ import annotations

import time
import uuid
from typing import Any, Self

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"


class StandinIdp:
    """acme's IdP as a Shared Signals transmitter: one P-256 key, its JWKS URL and issuer."""

    def __init__(self, keys: KeySet | None = None) -> None:
        self.keys = keys or KeySet([ECKey.generate_key("P-256", parameters={"kid": "demo-1"})])
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Self:
        """Serve the JWKS on a free local port."""
        app = web.Application()
        app.router.add_get("/jwks.json", self._jwks)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def issuer(self) -> str:
        """The `iss` of its tokens."""
        return self.url + "/idp"

    @property
    def jwks_uri(self) -> str:
        """Where its public keys are."""
        return self.url + "/jwks.json"

    async def _jwks(self, _: web.Request) -> web.Response:
        return web.json_response(self.keys.as_dict(private=False))

    def sign(
        self,
        event: str,
        subject: dict[str, Any],
        *,
        aud: str,
        kid: str | None = None,
        alg: str | None = None,
        key: Any = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A SET for `event` about `subject` (in the event, CAEP style), signed by our key `kid` (ES256 or RS256)."""
        kid = kid or self.keys.keys[0].kid
        chosen = key or next(k for k in self.keys.keys if k.kid == kid)
        alg = alg or ("ES256" if chosen.key_type == "EC" else "RS256")
        # iat is real time: the receiver checks freshness against its wall clock, not the demo's.
        body = {"iss": self.issuer, "aud": aud, "iat": int(time.time()), "jti": uuid.uuid4().hex,
                "events": {event: {"subject": subject}}}  # fmt: skip
        body.update(claims)
        return jwt.encode({"alg": alg, "typ": "secevent+jwt", "kid": kid, **(header or {})}, body, chosen)

    def revoke_session(self, email: str, *, aud: str) -> str:
        """A signed CAEP `session-revoked` SET about `email`."""
        return self.sign(CAEP + "session-revoked", {"format": "email", "email": email}, aud=aud)
