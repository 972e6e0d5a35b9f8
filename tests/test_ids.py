"""Every `action_id` / `callback_id` in `bot.ids` has a listener, and every listener's id is in `bot.ids`.

The check runs Bolt's own matchers against a minimal payload for each id, so it holds however a
listener is registered (decorator, loop, regex).
"""

from __future__ import annotations

from typing import Any

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from tests.support.bots import make_settings
from trustbot.app import build_bolt_app, build_runtime
from trustbot.ids import Action, View

# Registered last, they acknowledge stale buttons and forms; they are not a feature's listener.
CATCH_ALLS = {"unknown_action", "unknown_view"}


def _action(action_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": "U0X"},
        "team": {"id": "T0TEAM"},
        "actions": [{"type": "button", "action_id": str(action_id), "block_id": "b", "value": "{}"}],
    }


def _view(callback_id: str) -> dict[str, Any]:
    view = {"id": "V1", "type": "modal", "callback_id": str(callback_id), "state": {"values": {}}}
    return {"type": "view_submission", "user": {"id": "U0X"}, "team": {"id": "T0TEAM"}, "view": view}


def _listeners(tmp_path: Any) -> list[Any]:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}", "http://127.0.0.1:9/api/")
    app = build_bolt_app(build_runtime(settings))
    return [listener for listener in app._async_listeners if listener.ack_function.__name__ not in CATCH_ALLS]


async def _matching(listeners: list[Any], body: dict[str, Any]) -> list[str]:
    request = AsyncBoltRequest(body=body, mode="socket_mode")
    return [
        listener.ack_function.__name__
        for listener in listeners
        if await listener.async_matches(req=request, resp=BoltResponse(status=200))
    ]


async def test_every_action_and_view_id_has_exactly_one_listener(tmp_path: Any) -> None:
    listeners = _listeners(tmp_path)
    for action in Action:
        assert len(await _matching(listeners, _action(action))) == 1, f"action {action} needs one listener"
    for view in View:
        assert len(await _matching(listeners, _view(view))) == 1, f"view {view} needs one listener"


async def test_every_action_and_view_listener_listens_for_an_id_in_bot_ids(tmp_path: Any) -> None:
    listeners = _listeners(tmp_path)
    claimed: set[str] = set()
    for action in Action:
        claimed.update(await _matching(listeners, _action(action)))
    for view in View:
        claimed.update(await _matching(listeners, _view(view)))
    interactive = set(await _matching(listeners, _action("not.in.ids"))) | set(
        await _matching(listeners, _view("not.in.ids"))
    )
    assert not interactive, f"listeners matching ids outside bot.ids: {interactive}"
    for listener in listeners:
        kind = type(listener.matchers[0]).__name__ if listener.matchers else ""
        name = listener.ack_function.__name__
        if name in ("trust", "home_opened", "user_changed"):
            continue  # the slash command and the Home and user_change events are not action or view listeners
        assert name in claimed, f"listener {name} ({kind}) answers no action or view id in bot.ids"
