"""A stand-in identity provider for the demo: serves its JWKS on 127.0.0.1 and signs Security Event Tokens."""

from __future__ import annotations

import time
import uuid

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"


class StandinIdp:
    """acme's IdP as a Shared Signals transmitter: one P-256 key, its JWKS URL and issuer."""

    def __init__(self) -> None:
        self.keys = KeySet([ECKey.generate_key("P-256", parameters={"kid": "demo-1"})])
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> StandinIdp:
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

    def sign(self, event_type: str, email: str, *, aud: str) -> str:
        """A SET of CAEP `event_type` (e.g. `session-revoked`) about `email`, signed ES256."""
        key = self.keys.keys[0]
        # iat is real time: the receiver checks freshness against its wall clock, not the demo's.
        body = {"iss": self.issuer, "aud": aud, "iat": int(time.time()), "jti": uuid.uuid4().hex,
                "events": {CAEP + event_type: {"subject": {"format": "email", "email": email}}}}  # fmt: skip
        return jwt.encode({"alg": "ES256", "typ": "secevent+jwt", "kid": key.kid}, body, key)
