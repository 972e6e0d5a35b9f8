"""SCIM Groups over real HTTP: members added and removed the ways Okta and Entra do, coverage told, orgs apart."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bots import RunningBot
from tests.support.scim import GROUP_SCHEMA, Scim, audit_actions, bulk_users, changes, patch, scim_bot, user
from trustbot.clock import FixedClock


@pytest.fixture
async def scim(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[tuple[RunningBot, Scim, Scim]]:
    async with scim_bot(database_url, fake_slack, clock) as triple:
        yield triple


def group(name: str, *members: str) -> dict[str, Any]:
    return {"schemas": [GROUP_SCHEMA], "displayName": name, "members": [{"value": m} for m in members]}


async def test_user_lifecycle_tells_coverage_and_audit(scim: tuple[RunningBot, Scim, Scim]) -> None:
    running, acme, _ = scim
    uid = (await acme.call("POST", "/Users", user("ivy@acme.com")))[1]["id"]
    assert (await acme.call("POST", "/Users", user("jon@acme.com")))[0] == 201
    assert await changes(running) == [
        ("provisioned", "ivy@acme.com"),
        ("idp_took_over", None),
        ("provisioned", "jon@acme.com"),
    ]
    await acme.call("PATCH", f"/Users/{uid}", patch({"op": "replace", "path": "active", "value": False}))
    await acme.call("PATCH", f"/Users/{uid}", patch({"op": "replace", "path": "active", "value": True}))
    await acme.call("PUT", f"/Users/{uid}", user("ivy2@acme.com"))
    assert (await acme.call("DELETE", f"/Users/{uid}"))[0] == 204
    assert (await changes(running))[3:] == [
        ("deactivated", "ivy@acme.com"), ("reactivated", "ivy@acme.com"),
        ("address_changed", "ivy2@acme.com"), ("address_changed", "ivy@acme.com"), ("deprovisioned", "ivy2@acme.com"),
    ]  # fmt: skip
    actions = [a for a in await audit_actions(running) if a.startswith("scim.user")]
    assert actions == ["scim.user_created"] * 2 + ["scim.user_updated"] * 3 + ["scim.user_deleted"]


async def test_members_add_and_remove_okta_and_entra(scim: tuple[RunningBot, Scim, Scim]) -> None:
    running, acme, _ = scim
    a = (await acme.call("POST", "/Users", user("kim@acme.com")))[1]["id"]
    b = (await acme.call("POST", "/Users", user("lee@acme.com")))[1]["id"]
    status, body, headers = await acme.call("POST", "/Groups", group("Security", a))
    assert status == 201 and [m["value"] for m in body["members"]] == [a] and headers["ETag"] == 'W/"1"'
    gid = body["id"]
    status, body, _ = await acme.call(
        "PATCH", f"/Groups/{gid}", patch({"op": "add", "path": "members", "value": [{"value": b}]})
    )
    assert status == 200 and {m["value"] for m in body["members"]} == {a, b}
    ops = patch({"op": "remove", "path": f'members[value eq "{a}"]'})
    status, body, _ = await acme.call("PATCH", f"/Groups/{gid}", ops)
    assert status == 200 and [m["value"] for m in body["members"]] == [b]
    ops = patch({"op": "replace", "value": {"displayName": "SecOps", "members": [{"value": a}]}})
    status, body, _ = await acme.call("PATCH", f"/Groups/{gid}", ops)
    assert status == 200 and body["displayName"] == "SecOps" and [m["value"] for m in body["members"]] == [a]
    status, body, _ = await acme.call("GET", '/Groups?filter=displayName eq "secops"')
    assert body["totalResults"] == 1 and body["Resources"][0]["id"] == gid
    kinds = [k for k, _ in await changes(running)]
    assert kinds.count("joined_group") == 3 and kinds.count("left_group") == 2
    assert (await acme.call("DELETE", f"/Groups/{gid}"))[0] == 204
    assert (await changes(running))[-1][0] == "group_deleted"
    assert (await acme.call("GET", f"/Groups/{gid}"))[0] == 404
    assert {"scim.group_created", "scim.group_members_changed", "scim.group_deleted"} <= set(
        await audit_actions(running)
    )


async def test_another_orgs_group_and_users_are_404(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, globex = scim
    a = (await acme.call("POST", "/Users", user("max@acme.com")))[1]["id"]
    gid = (await acme.call("POST", "/Groups", group("Team", a)))[1]["id"]
    ops = patch({"op": "remove", "path": f'members[value eq "{a}"]'})
    assert (await globex.call("GET", f"/Groups/{gid}"))[0] == 404
    assert (await globex.call("PATCH", f"/Groups/{gid}", ops))[0] == 404
    assert (await globex.call("DELETE", f"/Groups/{gid}"))[0] == 404
    assert (await globex.call("GET", "/Groups"))[1]["totalResults"] == 0
    status, body, _ = await globex.call("POST", "/Groups", group("Steal", a))  # acme's user in globex's group
    assert status == 400 and body["scimType"] == "invalidValue"
    assert (await globex.call("GET", "/Groups"))[1]["totalResults"] == 0
    assert len((await acme.call("GET", f"/Groups/{gid}"))[1]["members"]) == 1


async def test_bad_group_patch_changes_nothing(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    a = (await acme.call("POST", "/Users", user("ned@acme.com")))[1]["id"]
    gid = (await acme.call("POST", "/Groups", group("G", a)))[1]["id"]
    bad = patch(
        {"op": "add", "path": "members", "value": [{"value": a}]}, {"op": "replace", "path": "nickName", "value": "x"}
    )
    status, body, _ = await acme.call("PATCH", f"/Groups/{gid}", bad)
    assert status == 400, body
    ghost = patch(
        {"op": "remove", "path": f'members[value eq "{a}"]'},
        {"op": "add", "path": "members", "value": [{"value": "nope"}]},
    )
    assert (await acme.call("PATCH", f"/Groups/{gid}", ghost))[0] == 400
    assert (await acme.call("PATCH", f"/Groups/{gid}", raw=b"{"))[0] == 400
    status, body, _ = await acme.call(
        "PATCH", f"/Groups/{gid}", patch({"op": "add", "path": "members", "value": []}), headers={"If-Match": 'W/"9"'}
    )
    assert status == 412
    body = (await acme.call("GET", f"/Groups/{gid}"))[1]
    assert [m["value"] for m in body["members"]] == [a] and body["meta"]["version"] == 'W/"1"'


async def test_ten_thousand_members_in_one_patch(scim: tuple[RunningBot, Scim, Scim]) -> None:
    running, acme, _ = scim
    ids = await bulk_users(running, acme, 10_000)
    gid = (await acme.call("POST", "/Groups", group("Everyone")))[1]["id"]
    before = len(await audit_actions(running))
    started = time.monotonic()
    ops = patch({"op": "add", "path": "members", "value": [{"value": i} for i in ids]})
    status, body, _ = await acme.call("PATCH", f"/Groups/{gid}", ops)
    assert status == 200, body
    assert len(body["members"]) == 10_000 and time.monotonic() - started < 60
    assert len(await audit_actions(running)) == before + 1
    ops = patch({"op": "remove", "path": "members", "value": [{"value": i} for i in ids[:5000]]})
    status, body, _ = await acme.call("PATCH", f"/Groups/{gid}", ops)
    assert status == 200 and len(body["members"]) == 5000
