"""`/v1/entitlements` and `/v1/grants` over real HTTP: bearer auth, bad input, reasons, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant, system
from tests.support.gateway_helpers import gateway_bot
from trustbot.clock import FixedClock
from trustbot.services.entitlements.events import grant_changed
from trustbot.standin.gateway import FakeGateway
from trustbot.standin.sample import ADMIN, ADMIN2, DEV, DEV2, GLOBEX_ADMIN
from trustbot.storage.queries.entitlements import MAX_GRANTS_PER_ADDRESS
from trustbot.storage.tables import GrantStatus


@pytest.fixture
async def api(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[tuple[RunningBot, FakeGateway]]:
    async with gateway_bot(database_url, fake_slack, clock) as pair:
        yield pair


async def test_token_is_required_and_checked(api: tuple[RunningBot, FakeGateway]) -> None:
    _, gateway = api
    for path in ("/v1/entitlements", "/v1/grants"):
        params = {"email": "dana@acme.com"}
        assert (await gateway.get(path, params, token=""))[0] == 401
        assert (await gateway.get(path, params, token="test-api-tokeX"))[0] == 401
        assert (await gateway.get(path, params, token="test-api-token-and-more"))[0] == 401
        assert (await gateway.get(path, params))[0] == 200


async def test_unset_token_turns_the_api_off(database_url: str, fake_slack: Any, clock: FixedClock) -> None:
    running = await start_bot(database_url, fake_slack, clock)
    gateway = await FakeGateway().start(running.server.url)
    try:
        status, body = await gateway.get("/v1/entitlements", {"email": "dana@acme.com"})
        assert status == 503 and "not configured" in body["error"]
        assert (await gateway.get("/v1/grants"))[0] == 503
    finally:
        await gateway.stop()
        await running.driver.close()
        await running.server.stop()


@pytest.mark.parametrize("email", [None, "", "dana", "dana@", "@acme.com", "da na@acme.com", "dana@acme", "a@b@c.com",
                                   "x" * 70 + "@acme.com", "da\x00na@acme.com", "da\x01na@acme.com"])  # fmt: skip
async def test_missing_or_malformed_email_is_400(api: tuple[RunningBot, FakeGateway], email: str | None) -> None:
    _, gateway = api
    status, body = await gateway.get("/v1/entitlements", {} if email is None else {"email": email})
    assert status == 400 and "email" in body["error"]


@pytest.mark.parametrize(
    "params",
    [{"limit": "501"}, {"limit": "0"}, {"limit": "-1"}, {"limit": "ten"}, {"cursor": "nope"}, {"cursor": "W10"},
     {"status": "sleeping"}, {"updated_since": "yesterday"}, {"limit": "²"}, {"limit": "١٠"}, {"org": "ac\x00me"},
     {"org": "Acme Security"}],
)  # fmt: skip
async def test_bad_paging_is_400(api: tuple[RunningBot, FakeGateway], params: dict[str, str]) -> None:
    _, gateway = api
    status, body = await gateway.get("/v1/grants", params)
    assert status == 400 and body["error"], params


async def test_reasons_in_words(api: tuple[RunningBot, FakeGateway], clock: FixedClock) -> None:
    bot, gateway = api
    db = bot.rt.db
    await make_grant(db, clock, members=(DEV,), status=GrantStatus.SUSPENDED, suspended_reason="missed_reverification")
    await make_grant(db, clock, members=(DEV2,), status=GrantStatus.REVOKED)
    await make_grant(db, clock, members=(ADMIN,), status=GrantStatus.EXPIRED)
    await make_grant(db, clock, members=(ADMIN2,), expires=timedelta(seconds=-1))  # expiry job not run yet
    await make_grant(
        db,
        clock,
        org="globex",
        members=(GLOBEX_ADMIN,),
        status=GrantStatus.SUSPENDED,
        suspended_reason="org_verification_lapsed",
    )
    expected = {
        "dana@acme.com": "grant suspended: missed re-verification",
        "eli@acme.com": "grant revoked",
        "ada@acme.com": "grant expired",
        "alan@acme.com": "grant expired",
        "gia@globex.example": "org verification lapsed",
        "nobody@acme.com": "no grant",
    }
    for email, reason in expected.items():
        answer = await gateway.ask(email)
        assert (answer["entitled"], answer["reason"]) == (False, reason), email


async def test_grants_page_in_change_order_with_a_stable_cursor(
    api: tuple[RunningBot, FakeGateway], clock: FixedClock
) -> None:
    bot, gateway = api
    ids = []
    for i in range(5):
        ids.append(await make_grant(bot.rt.db, clock, members=(DEV,), blanket=i == 0))
        clock.advance(timedelta(minutes=1))
    seen: list[int] = []
    cursor: str | None = None
    while True:
        status, page = await gateway.get("/v1/grants", {"limit": "2", **({"cursor": cursor} if cursor else {})})
        assert status == 200 and len(page["grants"]) <= 2
        seen += [g["id"] for g in page["grants"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        if len(seen) == 2:  # a grant changing mid-sync moves behind the cursor and comes again
            async with bot.rt.db.transaction() as session:
                await grant_changed(session, system(clock), [ids[0]], None)
    assert seen == [*ids, ids[0]]
    first = (await gateway.get("/v1/grants", {"limit": "500"}))[1]["grants"]
    assert [g["id"] for g in first] == [*ids[1:], ids[0]]
    assert first[-1]["scope"] == "named+blanket" and first[-1]["domains"] == ["acme.com"]
    assert set(first[0]) == {
        "id",
        "org",
        "tier",
        "status",
        "scope",
        "members",
        "group",
        "domains",
        "starts_at",
        "expires_at",
        "reverify_due_at",
        "suspended_reason",
        "updated_at",
    }
    since = first[2]["updated_at"]
    later = (await gateway.get("/v1/grants", {"updated_since": since}))[1]["grants"]
    assert [g["id"] for g in later] == [g["id"] for g in first[2:]]
    assert (await gateway.get("/v1/grants", {"org": "globex"}))[1]["grants"] == []
    assert (await gateway.get("/v1/grants", {"org": "initech"}))[1] == {"grants": [], "next_cursor": None}
    assert len((await gateway.get("/v1/grants", {"status": "active", "org": "acme"}))[1]["grants"]) == 5


async def test_a_long_history_never_hides_an_active_grant(api: tuple[RunningBot, FakeGateway]) -> None:
    running, gateway = api
    clock = running.clock
    live = await make_grant(running.rt.db, clock, blanket=True, members=(), tier="enhanced")
    for _ in range(MAX_GRANTS_PER_ADDRESS + 5):  # newer grants, all ended
        await make_grant(running.rt.db, clock, blanket=True, members=(), status=GrantStatus.REVOKED)
    answer = await gateway.ask("anyone@acme.com")
    assert (answer["entitled"], answer["tier"]) == (True, "enhanced")
    ids = [g["id"] for g in answer["grants"]]
    assert live in ids and len(ids) == MAX_GRANTS_PER_ADDRESS + 1 and ids == sorted(ids, reverse=True)
