"""A Shared Signals transmitter on 127.0.0.1: serves a JWKS (RSA and EC keys), rotates keys, can be made
down, slow or garbage, and signs Security Event Tokens."""

from __future__ import annotations

import asyncio
import uuid

from aiohttp import web
from joserfc.jwk import ECKey, KeySet, RSAKey

from trustbot.standin.idp import StandinIdp

RISC = "https://schemas.openid.net/secevent/risc/event-type/"


class Transmitter(StandinIdp):
    """An IdP's SSF side, as the demo's stand-in, with RSA and EC keys; its JWKS can be made down, slow or garbage."""

    def __init__(self) -> None:
        super().__init__(KeySet([RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}),
                                 ECKey.generate_key("P-256", parameters={"kid": "ec-1"})]))  # fmt: skip
        self.mode = "ok"  # ok | down | slow | garbage
        self.fetches = 0

    async def _jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        if self.mode == "down":
            return web.Response(status=503)
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "garbage":
            return web.Response(text="{not json")
        return await super()._jwks(request)

    def rotate(self) -> str:
        """Replace the keys with a new RSA key; returns its kid."""
        kid = f"rsa-{uuid.uuid4().hex[:6]}"
        self.keys = KeySet([RSAKey.generate_key(2048, parameters={"kid": kid})])
        return kid
