"""A Shared Signals transmitter on 127.0.0.1: serves a JWKS (RSA and EC keys), rotates keys, can be made
down, slow or garbage, and signs Security Event Tokens."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"


class Transmitter:
    """An IdP's SSF side: its issuer URL, JWKS endpoint and signing keys."""

    def __init__(self) -> None:
        self.keys = KeySet([RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
                            ECKey.generate_key("P-256", parameters={"kid": "ec-1"})])  # fmt: skip
        self.mode = "ok"  # ok | down | slow | garbage
        self.fetches = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> Transmitter:
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
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def issuer(self) -> str:
        return self.url + "/idp"

    @property
    def jwks_uri(self) -> str:
        return self.url + "/jwks.json"

    async def _jwks(self, _: web.Request) -> web.Response:
        self.fetches += 1
        if self.mode == "down":
            return web.Response(status=503)
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "garbage":
            return web.Response(text="{not json")
        return web.json_response(self.keys.as_dict(private=False))

    def rotate(self) -> str:
        """Replace the keys with a new RSA key; returns its kid."""
        kid = f"rsa-{uuid.uuid4().hex[:6]}"
        self.keys = KeySet([RSAKey.generate_key(2048, parameters={"kid": kid})])
        return kid

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
        """A SET for `event` about `subject` (in the event, CAEP style), signed by our key `kid`."""
        kid = kid or self.keys.keys[0].kid
        chosen = key or next(k for k in self.keys.keys if k.kid == kid)
        alg = alg or ("ES256" if chosen.key_type == "EC" else "RS256")
        body = {"iss": self.issuer, "aud": aud, "iat": int(time.time()), "jti": uuid.uuid4().hex,
                "events": {event: {"subject": subject}}}  # fmt: skip
        body.update(claims)
        return jwt.encode({"alg": alg, "typ": "secevent+jwt", "kid": kid, **(header or {})}, body, chosen)
