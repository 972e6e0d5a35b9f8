"""`/v1/entitlements` answers from the state of things at question time, and only about the asked address:
a lapsed org verification or an overdue re-verification cuts access before any job runs, an address
off the org's current domains is not entitled, and a grant's roster is not handed out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, update

from tests.support.bots import RunningBot
from tests.support.factories import make_grant
from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request
from trustbot.clock import FixedClock
from trustbot.standin.gateway import FakeGateway
from trustbot.standin.sample import DEV, DEV2
from trustbot.storage.tables import Org, OrgDomain


@pytest.fixture
async def api(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[tuple[RunningBot, FakeGateway]]:
    async with gateway_bot(database_url, fake_slack, clock) as pair:
        yield pair


async def test_lapsed_org_verification_is_not_entitled_before_the_job_runs(
    api: tuple[RunningBot, FakeGateway], clock: FixedClock
) -> None:
    bot, gateway = api
    await make_grant(bot.rt.db, clock, members=(DEV,), due=timedelta(days=400), expires=timedelta(days=500))
    assert (await gateway.ask("dana@acme.com"))["entitled"] is True
    clock.set(datetime(2027, 7, 1, 9, 0, tzinfo=UTC))  # acme is verified until 2027-06-30; no job has run
    answer = await gateway.ask("dana@acme.com")
    assert (answer["entitled"], answer["tier"], answer["reason"]) == (False, None, "org verification lapsed")
    assert answer["grants"][0]["status"] == "active"  # the grant itself waits for the job


async def test_overdue_reverification_is_not_entitled_before_the_job_runs(
    api: tuple[RunningBot, FakeGateway], clock: FixedClock
) -> None:
    bot, gateway = api
    await make_grant(bot.rt.db, clock, members=(DEV,), due=timedelta(days=3))
    assert (await gateway.ask("dana@acme.com"))["entitled"] is True
    clock.advance(timedelta(days=3, seconds=1))
    answer = await gateway.ask("dana@acme.com")
    assert (answer["entitled"], answer["reason"]) == (False, "re-verification overdue")


async def test_an_address_off_the_orgs_current_domains_is_not_entitled(
    api: tuple[RunningBot, FakeGateway], clock: FixedClock
) -> None:
    bot, gateway = api
    await make_grant(bot.rt.db, clock, members=(DEV,))
    assert (await gateway.ask("dana@acme.com"))["entitled"] is True
    # acme no longer lists acme.com (as a directory change left it, members not yet cleaned up).
    async with bot.rt.db.transaction() as session:
        await session.execute(update(Org).where(Org.slug == "acme").values(domains=["acme.example"]))
        await session.execute(delete(OrgDomain).where(OrgDomain.domain == "acme.com"))
    answer = await gateway.ask("dana@acme.com")
    assert (answer["entitled"], answer["reason"]) == (False, "address not at the org's domains")


async def test_an_answer_names_only_the_asked_address_among_a_grants_members(
    api: tuple[RunningBot, FakeGateway],
) -> None:
    bot, gateway = api
    await submit_request(bot, members=[DEV, DEV2], blanket=True, tier="standard")
    await approve_latest(bot)
    dana = await gateway.ask("dana@acme.com")
    assert dana["entitled"] is True
    [grant] = dana["grants"]
    assert grant["members"] == [{"slack_id": DEV, "email": "dana@acme.com", "held": False, "reason": None}]
    assert (grant["scope"], grant["domains"], grant["tier"]) == ("named+blanket", ["acme.com"], "standard")
    [covered] = (await gateway.ask("new.hire@acme.com"))["grants"]  # covered only by the blanket
    assert covered["members"] == [] and covered["scope"] == "named+blanket"
    status, page = await gateway.get("/v1/grants")  # the full sync still carries the roster
    assert status == 200 and [m["slack_id"] for m in page["grants"][0]["members"]] == [DEV, DEV2]
