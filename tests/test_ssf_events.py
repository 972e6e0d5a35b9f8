"""`POST /ssf/events` over real HTTP, signed by a real transmitter: holds, the admin's Confirm, refusals."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from tests.support.audit_helpers import run_sql
from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant
from tests.support.gateway_helpers import gateway_bot
from tests.support.ssf_transmitter import RISC, Transmitter
from trustbot.clock import FixedClock
from trustbot.services.identity import jwks
from trustbot.standin.idp import CAEP
from trustbot.standin.sample import ADMIN, DEV, REP, SEC_LEAD
from trustbot.storage.tables import AuditEvent
from trustbot.storage.tables.identity import IdentityHold, ScimAddress, ScimUser

PUBLIC = "https://trustbot.example"
DANA = "dana@acme.com"
REVOKED = CAEP + "session-revoked"


@pytest.fixture
async def idp() -> AsyncIterator[Transmitter]:
    transmitter = await Transmitter().start()
    yield transmitter
    await transmitter.stop()


@pytest.fixture
async def bot(database_url: str, fake_slack: Any, clock: FixedClock, idp: Transmitter) -> AsyncIterator[RunningBot]:
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_PUBLIC_URL=PUBLIC)
    await run_sql(running.rt.db, "UPDATE org SET ssf_issuer = :i, ssf_jwks_uri = :u WHERE slug = 'acme'",
                  i=idp.issuer, u=idp.jwks_uri)  # fmt: skip
    yield running
    await running.close()


async def post(bot: RunningBot, token: str | bytes, ctype: str = "application/secevent+jwt") -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http:
        body = token.encode() if isinstance(token, str) else token
        async with http.post(f"{bot.server.url}/ssf/events", data=body, headers={"Content-Type": ctype}) as r:
            return r.status, (await r.json() if r.status == 400 else await r.text())


async def holds(bot: RunningBot) -> list[IdentityHold]:
    async with bot.rt.db.sessions() as session:
        return list((await session.scalars(select(IdentityHold).order_by(IdentityHold.id))).all())


async def actions(bot: RunningBot) -> list[str]:
    async with bot.rt.db.sessions() as session:
        return [e.action for e in (await session.scalars(select(AuditEvent).order_by(AuditEvent.id))).all()]


def email(address: str = DANA) -> dict[str, str]:
    return {"format": "email", "email": address}


async def test_session_revoked_holds_tells_and_admin_confirms(bot: RunningBot, idp: Transmitter) -> None:
    assert (await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC))) == (202, "")
    await bot.settle()
    [hold] = await holds(bot)
    assert (hold.email, hold.kind, hold.lifted_at) == (DANA, "signal", None)
    assert any(DANA in m.text for m in bot.slack.dms(SEC_LEAD)) and any(DANA in m.text for m in bot.slack.dms(REP))
    [ask] = [m for m in bot.slack.dms(ADMIN) if "Confirm" in str(m.blocks)]
    assert "ssf.hold_placed" in await actions(bot) and "ssf.session_revoked" in await actions(bot)

    await bot.driver.click(DEV, ask, "Confirm")  # not an admin: refused, nothing changes
    await bot.settle()
    assert (await holds(bot))[0].lifted_at is None
    assert bot.slack.ephemerals(DEV)

    await bot.driver.click(ADMIN, ask, "Confirm")
    await bot.settle()
    [hold] = await holds(bot)
    assert hold.lifted_at is not None and hold.lifted_by == ADMIN
    assert "identity.hold_confirmed" in await actions(bot)
    assert "confirmed" in bot.slack.dms(ADMIN)[-1].text or any("confirmed" in m.text for m in bot.slack.dms(ADMIN))
    assert any("confirmed" in m.text for m in bot.slack.dms(SEC_LEAD))

    await bot.driver.click(ADMIN, ask, "Confirm")  # second click: already confirmed
    await bot.settle()
    assert any("already" in str(e) for e in bot.slack.ephemerals(ADMIN))
    assert (await actions(bot)).count("identity.hold_confirmed") == 1


async def test_replay_and_repeat_do_nothing_twice(bot: RunningBot, idp: Transmitter) -> None:
    token = idp.sign(CAEP + "credential-change", email(), aud=PUBLIC)
    assert (await post(bot, token))[0] == 202
    assert (await post(bot, token))[0] == 202  # same jti
    assert (await post(bot, idp.sign(CAEP + "credential-change", email(), aud=PUBLIC)))[0] == 202  # new jti
    await bot.settle()
    assert len(await holds(bot)) == 1
    assert (await actions(bot)).count("ssf.hold_placed") == 1
    assert (await actions(bot)).count("ssf.credential_change") == 2
    assert len([m for m in bot.slack.dms(SEC_LEAD) if DANA in m.text]) == 1


async def test_iss_sub_subject_matches_a_scim_user(bot: RunningBot, idp: Transmitter, clock: FixedClock) -> None:
    async with bot.rt.db.transaction() as session:
        org_id = (await session.execute(select(ScimUser.org_id).limit(0))).first()
        from trustbot.storage.queries.directory import get_org

        org = await get_org(session, slug="acme")
        assert org is not None and org_id is None
        user = ScimUser(scim_id="u-1", org_id=org.pk, user_name="eli@acme.com", user_name_lc="eli@acme.com",
                        external_id="00u-eli", created_at=clock.now(), updated_at=clock.now())  # fmt: skip
        session.add(user)
        await session.flush()
        session.add(ScimAddress(user_id=user.id, email="eli@acme.com", org_id=org.pk))
    subject = {"format": "iss_sub", "iss": idp.issuer, "sub": "00u-eli"}
    assert (await post(bot, idp.sign(REVOKED, subject, aud=PUBLIC, kid="ec-1")))[0] == 202
    assert [h.email for h in await holds(bot)] == ["eli@acme.com"]


async def test_disabled_enabled_and_purged(bot: RunningBot, idp: Transmitter) -> None:
    assert (await post(bot, idp.sign(RISC + "account-disabled", email(), aud=PUBLIC)))[0] == 202
    assert (await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC)))[0] == 202
    assert [(h.kind, h.lifted_at) for h in await holds(bot)] == [("disabled", None), ("signal", None)]
    assert (await post(bot, idp.sign(RISC + "account-enabled", email(), aud=PUBLIC)))[0] == 202
    disabled, signal = await holds(bot)
    assert disabled.lifted_at is not None and signal.lifted_at is None  # enabled lifts only DISABLED
    assert (await post(bot, idp.sign(RISC + "account-purged", email(), aud=PUBLIC)))[0] == 202
    assert (await post(bot, idp.sign(RISC + "account-enabled", email(), aud=PUBLIC)))[0] == 202
    assert [h.kind for h in await holds(bot) if h.lifted_at is None] == ["signal", "purged"]


async def test_unknown_subject_and_event_are_audited(bot: RunningBot, idp: Transmitter) -> None:
    assert (await post(bot, idp.sign(REVOKED, email("nobody"), aud=PUBLIC)))[0] == 202
    assert (await post(bot, idp.sign(CAEP + "token-claims-change", email(), aud=PUBLIC)))[0] == 202
    assert {"ssf.unknown_subject", "ssf.event_ignored"} <= set(await actions(bot))
    assert await holds(bot) == []


async def test_refusals(bot: RunningBot, idp: Transmitter) -> None:
    now = int(time.time())
    public = idp.keys.keys[0]
    cases: list[tuple[str | bytes, str]] = [
        (b"not a jws", "invalid_request"),
        (idp.sign(REVOKED, email(), aud="https://elsewhere.example"), "invalid_audience"),
        (idp.sign(REVOKED, email(), aud=PUBLIC, iat=now - 3600), "invalid_request"),
        (idp.sign(REVOKED, email(), aud=PUBLIC, iat=now + 3600), "invalid_request"),
        (idp.sign(REVOKED, email(), aud=PUBLIC, iss="https://other-idp.example"), "invalid_issuer"),
        (idp.sign(REVOKED, email(), aud=PUBLIC, jti=None), "invalid_request"),
        (idp.sign(REVOKED, email(), aud=PUBLIC, header={"typ": "JWT"}), "invalid_request"),
    ]
    head, _, rest = idp.sign(REVOKED, email(), aud=PUBLIC).partition(".")
    none_head = base64.urlsafe_b64encode(json.dumps({"alg": "none"}).encode()).rstrip(b"=").decode()
    payload = rest.split(".")[0]
    cases.append((f"{none_head}.{payload}.", "invalid_request"))
    hs_head = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode()).rstrip(b"=").decode()
    mac = hmac.new(public.as_pem(), f"{hs_head}.{payload}".encode(), hashlib.sha256).digest()
    cases.append((f"{hs_head}.{payload}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}", "invalid_request"))
    for token, err in cases:
        status, body = await post(bot, token)
        assert (status, body["err"]) == (400, err), (token, body)
    assert (await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC), "application/json"))[0] == 400
    assert (await post(bot, b"a" * (65 * 1024)))[0] == 400
    assert await holds(bot) == []


async def test_unknown_kid_refetches_once(bot: RunningBot, idp: Transmitter, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(jwks, "REFETCH_EVERY", 0.0)
    assert (await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC)))[0] == 202
    old = idp.keys.keys[0]
    new_kid = idp.rotate()
    assert (await post(bot, idp.sign(REVOKED, email("eli@acme.com"), aud=PUBLIC, kid=new_kid)))[0] == 202
    assert idp.fetches == 2
    status, body = await post(bot, idp.sign(REVOKED, email("sam@acme.com"), aud=PUBLIC, kid="rsa-1", key=old))
    assert (status, body["err"]) == (400, "invalid_key")


async def test_unknown_kid_refetch_is_rate_limited(bot: RunningBot, idp: Transmitter) -> None:
    assert (await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC)))[0] == 202
    for _ in range(5):
        status, body = await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC, kid="made-up", key=idp.keys.keys[0]))
        assert (status, body["err"]) == (400, "invalid_key")
    assert idp.fetches == 1


@pytest.mark.parametrize("mode", ["down", "garbage", "slow"])
async def test_jwks_trouble_is_invalid_key_in_bounded_time(bot: RunningBot, idp: Transmitter, mode: str) -> None:
    idp.mode = mode
    started = datetime.now(UTC)
    status, body = await post(bot, idp.sign(REVOKED, email(), aud=PUBLIC))
    took = (datetime.now(UTC) - started).total_seconds()
    assert (status, body["err"]) == (400, "invalid_key")
    assert took < jwks.FETCH_SECONDS + 1.5, took
    print(f"jwks {mode}: answered in {took:.2f}s")


async def test_entitlements_follow_the_hold(
    database_url: str, fake_slack: Any, clock: FixedClock, idp: Transmitter
) -> None:
    async with gateway_bot(database_url, fake_slack, clock, TRUSTBOT_PUBLIC_URL=PUBLIC) as (running, gateway):
        await run_sql(running.rt.db, "UPDATE org SET ssf_issuer = :i, ssf_jwks_uri = :u WHERE slug = 'acme'",
                      i=idp.issuer, u=idp.jwks_uri)  # fmt: skip
        await make_grant(running.rt.db, clock, members=(DEV,))
        assert (await gateway.ask(DANA))["entitled"] is True
        assert (await post(running, idp.sign(REVOKED, email(), aud=PUBLIC)))[0] == 202
        answer = await gateway.ask(DANA)
        assert (answer["entitled"], answer["reason"]) == (False, "held: identity provider signal")
        await running.settle()
        [ask] = [m for m in running.slack.dms(ADMIN) if "Confirm" in str(m.blocks)]
        await running.driver.click(ADMIN, ask, "Confirm")
        await running.settle()
        assert (await gateway.ask(DANA))["entitled"] is True
