"""SCIM Users over real HTTP: create, read, replace, patch (Okta and Entra shapes), delete, filters, paging."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.bots import RunningBot
from tests.support.scim import PATCH_SCHEMA, USER_SCHEMA, Scim, patch, scim_bot, user
from trustbot.clock import FixedClock


@pytest.fixture
async def scim(database_url: str, fake_slack: Any, clock: FixedClock) -> AsyncIterator[tuple[RunningBot, Scim, Scim]]:
    async with scim_bot(database_url, fake_slack, clock) as triple:
        yield triple


async def test_create_read_replace_delete(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    status, body, headers = await acme.call("POST", "/Users", user("dana@acme.com"))
    assert status == 201, body
    uid = body["id"]
    assert headers["ETag"] == 'W/"1"' and body["meta"]["version"] == 'W/"1"'
    status, got, _ = await acme.call("GET", f"/Users/{uid}")
    assert status == 200 and got["userName"] == "dana@acme.com"
    replaced = user("dana@acme.com", displayName="Dana")
    status, got, headers = await acme.call("PUT", f"/Users/{uid}", replaced)
    assert status == 200 and got["displayName"] == "Dana" and headers["ETag"] == 'W/"2"'
    assert (await acme.call("DELETE", f"/Users/{uid}"))[0] == 204
    assert (await acme.call("GET", f"/Users/{uid}"))[0] == 404


async def test_entra_patch_without_path_and_string_active(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    uid = (await acme.call("POST", "/Users", user("eve@acme.com")))[1]["id"]
    ops = patch({"op": "Replace", "path": "active", "value": "False"})
    status, body, _ = await acme.call("PATCH", f"/Users/{uid}", ops)
    assert status == 200 and body["active"] is False, body
    ops = patch({"op": "replace", "value": {"active": "True", "displayName": "Eve E"}})
    status, body, _ = await acme.call("PATCH", f"/Users/{uid}", ops)
    assert status == 200 and body["active"] is True and body["displayName"] == "Eve E", body


async def test_entra_probe_is_an_empty_list(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    status, body, _ = await acme.call("GET", '/Users?filter=userName eq "7c1a2d3e-probe"')
    assert status == 200 and body["totalResults"] == 0 and body.get("Resources", []) == []


async def test_filters_and_paging(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    for name in ("ann@acme.com", "bob@acme.com", "bea@acme.com"):
        assert (await acme.call("POST", "/Users", user(name, externalId=f"x-{name[:3]}")))[0] == 201

    async def names(flt: str, extra: str = "") -> list[str]:
        status, body, _ = await acme.call("GET", f"/Users?filter={flt}{extra}")
        assert status == 200, body
        return [r["userName"] for r in body.get("Resources", [])]

    assert await names('userName eq "ANN@acme.com"') == ["ann@acme.com"]
    assert await names('userName sw "b"') == ["bob@acme.com", "bea@acme.com"]
    assert await names('emails.value co "EA@"') == ["bea@acme.com"]
    assert await names('externalId eq "x-bob" or userName eq "ann@acme.com"') == ["ann@acme.com", "bob@acme.com"]
    assert await names('userName sw "b" and externalId eq "x-bea"') == ["bea@acme.com"]
    assert await names('userName co "%"') == []
    status, body, _ = await acme.call("GET", "/Users?startIndex=2&count=1")
    assert (
        body["totalResults"] == 3
        and body["startIndex"] == 2
        and [r["userName"] for r in body["Resources"]] == ["bob@acme.com"]
    )
    status, body, _ = await acme.call("GET", "/Users?count=100000")
    assert status == 200 and body["itemsPerPage"] == 3


async def test_duplicate_user_name_is_409(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, globex = scim
    assert (await acme.call("POST", "/Users", user("dup@acme.com")))[0] == 201
    status, body, _ = await acme.call("POST", "/Users", user("DUP@acme.com"))
    assert status == 409 and body["scimType"] == "uniqueness"
    assert (await globex.call("POST", "/Users", user("dup@acme.com")))[0] == 201  # another org may


async def test_if_match_mismatch_is_412(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    uid = (await acme.call("POST", "/Users", user("fay@acme.com")))[1]["id"]
    ops = patch({"op": "replace", "path": "displayName", "value": "F"})
    status, body, _ = await acme.call("PATCH", f"/Users/{uid}", ops, headers={"If-Match": 'W/"7"'})
    assert status == 412, body
    assert (await acme.call("GET", f"/Users/{uid}"))[1].get("displayName") is None
    assert (await acme.call("PATCH", f"/Users/{uid}", ops, headers={"If-Match": 'W/"1"'}))[0] == 200


async def test_other_orgs_token_sees_nothing(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, globex = scim
    uid = (await acme.call("POST", "/Users", user("gil@acme.com")))[1]["id"]
    ops = patch({"op": "replace", "path": "active", "value": False})
    assert (await globex.call("GET", f"/Users/{uid}"))[0] == 404
    assert (await globex.call("PATCH", f"/Users/{uid}", ops))[0] == 404
    assert (await globex.call("PUT", f"/Users/{uid}", user("gil@acme.com")))[0] == 404
    assert (await globex.call("DELETE", f"/Users/{uid}"))[0] == 404
    assert (await globex.call("GET", "/Users"))[1]["totalResults"] == 0
    status, body, _ = await acme.call("GET", f"/Users/{uid}")
    assert status == 200 and body["active"] is True


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "scim_type"),
    [
        ("POST", "/Users", b"{not json", 400, "invalidSyntax"),
        ("POST", "/Users", b'{"schemas": ["urn:nope"], "userName": "x@acme.com"}', 400, None),
        ("POST", "/Users", b"[1, 2]", 400, "invalidSyntax"),
        ("GET", "/Users?filter=userName eq", None, 400, "invalidFilter"),
        ("GET", '/Users?filter=title eq "x"', None, 400, "invalidFilter"),
        ("GET", "/Users?filter=" + " or ".join(['userName eq "a"'] * 30), None, 400, "invalidFilter"),
        ("GET", "/Users?filter=" + "(" * 50 + 'userName eq "a"' + ")" * 50, None, 400, "invalidFilter"),
        ("GET", "/Users?count=ten", None, 400, None),
    ],
)
async def test_bad_input_is_a_scim_error(
    scim: tuple[RunningBot, Scim, Scim], method: str, path: str, body: bytes | None, status: int, scim_type: str | None
) -> None:
    _, acme, _ = scim
    got, answer, _ = await acme.call(method, path, raw=body)
    assert got == status, answer
    assert answer["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and str(answer["status"]) == str(status)
    if scim_type:
        assert answer["scimType"] == scim_type
    assert (await acme.call("GET", "/Users"))[1]["totalResults"] == 0


async def test_bad_patch_changes_nothing(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    uid = (await acme.call("POST", "/Users", user("hal@acme.com")))[1]["id"]
    ops = {
        "schemas": [PATCH_SCHEMA],
        "Operations": [
            {"op": "replace", "path": "displayName", "value": "H"},
            {"op": "replace", "path": "userName", "value": None},
        ],
    }
    status, body, _ = await acme.call("PATCH", f"/Users/{uid}", ops)
    assert status == 400, body
    got = (await acme.call("GET", f"/Users/{uid}"))[1]
    assert got.get("displayName") is None and got["meta"]["version"] == 'W/"1"'


async def test_missing_or_wrong_token_is_401(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    for token in ("", "nope", acme.token + "x"):
        status, body, _ = await acme.call("GET", "/Users", token=token)
        assert status == 401 and body["schemas"][0].endswith("Error")


async def test_discovery(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    status, body, _ = await acme.call("GET", "/ServiceProviderConfig")
    assert status == 200 and body["patch"]["supported"] is True and body["etag"]["supported"] is True
    status, body, _ = await acme.call("GET", "/ResourceTypes")
    assert status == 200 and {r["id"] for r in body["Resources"]} == {"User", "Group"}
    status, body, _ = await acme.call("GET", "/Schemas")
    assert status == 200 and USER_SCHEMA in {r["id"] for r in body["Resources"]}


async def test_attributes_and_excluded_attributes_shape_the_answer(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    uid = (await acme.call("POST", "/Users", user("dana@acme.com", displayName="Dana")))[1]["id"]
    status, body, _ = await acme.call("GET", f"/Users/{uid}?attributes=userName,name.givenName")
    assert status == 200 and body == {
        "schemas": [USER_SCHEMA],
        "id": uid,
        "userName": "dana@acme.com",
        "name": {"givenName": "A"},
    }
    status, body, _ = await acme.call("GET", "/Users?excludedAttributes=name,emails.type,id")
    (listed,) = body["Resources"]
    assert (
        "name" not in listed
        and listed["id"] == uid
        and listed["emails"] == [{"value": "dana@acme.com", "primary": True}]
    )
    full = f"{USER_SCHEMA}:displayName"
    status, body, _ = await acme.call("GET", f"/Users/{uid}?attributes={full}")
    assert body == {"schemas": [USER_SCHEMA], "id": uid, "displayName": "Dana"}


async def test_search_by_post_answers_like_the_get(scim: tuple[RunningBot, Scim, Scim]) -> None:
    _, acme, _ = scim
    for name in ("ann@acme.com", "bob@acme.com"):
        await acme.call("POST", "/Users", user(name))
    search = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": 'userName sw "bob"',
        "attributes": ["userName"],
    }
    status, body, _ = await acme.call("POST", "/Users/.search", search)
    assert status == 200 and [r["userName"] for r in body["Resources"]] == ["bob@acme.com"]
    assert set(body["Resources"][0]) == {"schemas", "id", "userName"}
    assert (await acme.call("GET", "/Users/.search"))[0] == 405
    assert (await acme.call("POST", "/.search", search))[0] == 501


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_discovery_endpoints_are_read_only(scim: tuple[RunningBot, Scim, Scim], method: str) -> None:
    _, acme, _ = scim
    for endpoint in ("/ServiceProviderConfig", "/ResourceTypes", "/Schemas"):
        status, body, _ = await acme.call(method, endpoint, {})
        assert status == 405 and body["status"] == "405", (endpoint, body)
