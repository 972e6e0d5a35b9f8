"""The Slack Web API methods the fake Slack answers: each takes the fake and the call's args."""

from __future__ import annotations

import re
import secrets
import time
from typing import TYPE_CHECKING, Any

from trustbot.standin.fake_pins import PIN_METHODS
from trustbot.standin.fake_state import HOME_TEAM
from trustbot.standin.transcript import Message, render_content

if TYPE_CHECKING:
    from trustbot.standin.fake_slack import FakeSlack


def _message_json(m: Message, *, with_metadata: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "type": "message",
        "text": m.text,
        "user": m.user,
        "bot_id": "BBOT",
        "ts": m.ts,
        "team": "T0TEAM",
        "blocks": m.blocks,
    }
    if m.thread_ts:
        out["thread_ts"] = m.thread_ts
    if m.metadata and with_metadata:
        out["metadata"] = m.metadata
    return out


_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,99}")


def _metadata(raw: Any) -> tuple[dict[str, Any] | None, str | None]:
    """Slack keeps well-formed metadata and drops the rest with a warning (the message still posts)."""
    if raw is None:
        return None, None
    if (
        not isinstance(raw, dict)
        or not isinstance(raw.get("event_type"), str)
        or not _EVENT_TYPE.fullmatch(raw["event_type"])
        or not isinstance(raw.get("event_payload"), dict)
    ):
        return None, "invalid_metadata_schema"
    return {"event_type": raw["event_type"], "event_payload": dict(raw["event_payload"])}, None


def _auth_test(fake: FakeSlack, _args: dict[str, Any]) -> dict[str, Any]:
    return {
        "ok": True,
        "url": fake.base_url,
        "team": "Trustbot Test",
        "user": "trustbot",
        "team_id": "T0TEAM",
        "user_id": "UBOT",
        "bot_id": "BBOT",
        "app_id": fake.app_id,  # as Slack answers for a bot token; the payload gate checks api_app_id against it
        "is_enterprise_install": False,
    }


def _post_message(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("channel"):
        return {"ok": False, "error": "channel_not_found"}
    if not (args.get("text") or args.get("blocks") or args.get("attachments")):
        return {"ok": False, "error": "no_text"}
    channel = fake._resolve(str(args["channel"]))
    broadcast = str(args.get("reply_broadcast", "")).lower() in ("true", "1")
    metadata, warning = _metadata(args.get("metadata"))
    m = fake._post(channel, args.get("text", ""), args.get("blocks"), args.get("thread_ts"), broadcast, metadata)
    answer: dict[str, Any] = {"ok": True, "channel": channel, "ts": m.ts, "message": _message_json(m)}
    if warning:
        answer["warning"] = warning
    return answer


def _update(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    m = fake._find(args.get("channel"), args.get("ts"))
    if m is None:
        return {"ok": False, "error": "message_not_found"}
    fake._edit(m, args.get("text", m.text), args.get("blocks", m.blocks))
    if "metadata" in args:  # omitted keeps it; {} removes it; an object replaces it
        m.metadata = _metadata(args["metadata"])[0] if args["metadata"] else None
    return {"ok": True, "channel": m.channel, "ts": m.ts, "text": m.text, "message": _message_json(m)}


def _post_ephemeral(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    if not args.get("channel") or not args.get("user"):
        return {"ok": False, "error": "channel_not_found" if not args.get("channel") else "user_not_found"}
    entry = {
        "user": args["user"],
        "channel": fake._resolve(str(args["channel"])),
        "text": args.get("text", ""),
        "blocks": args.get("blocks") or [],
        "source": "chat.postEphemeral",
    }
    fake._ephemerals.append(entry)
    fake._events.append({"kind": "ephemeral", **entry})
    return {"ok": True, "message_ts": fake._next_ts()}


def _permalink(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel, ts = args.get("channel"), str(args.get("message_ts", ""))
    if fake._find(channel, ts) is None:
        return {"ok": False, "error": "message_not_found"}
    return {"ok": True, "channel": channel, "permalink": f"{fake.base_url}archives/{channel}/p{ts.replace('.', '')}"}


def _conversations_open(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    users = [u for u in str(args.get("users", "")).split(",") if u]
    if args.get("channel"):
        return {"ok": True, "channel": {"id": args["channel"]}}
    if not users:
        return {"ok": False, "error": "users_list_not_supplied"}
    if len(users) == 1 and fake.team_of_channel(fake._resolve(users[0])) != fake._caller_team:
        return {"ok": False, "error": "user_not_found"}
    channel = fake._resolve(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
    return {"ok": True, "channel": {"id": channel, "is_im": len(users) == 1}}


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true")


def _window(messages: list[Message], args: dict[str, Any]) -> list[Message]:
    """Messages within `oldest`/`latest` (exclusive unless `inclusive`), as Slack filters history."""
    inclusive = _flag(args.get("inclusive"))
    oldest, latest = float(args.get("oldest") or 0), float(args.get("latest") or 9e12)

    def inside(m: Message) -> bool:
        ts = float(m.ts)
        return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

    return [m for m in messages if inside(m)]


def _page(found: list[Message], args: dict[str, Any], key: str, cap: int) -> dict[str, Any]:
    start = int(args.get("cursor") or 0)
    limit = max(1, min(int(args.get("limit") or cap), cap))
    page = found[start : start + limit]
    more = start + limit < len(found)
    metadata = _flag(args.get("include_all_metadata"))
    return {
        "ok": True,
        key: [_message_json(m, with_metadata=metadata) for m in page],
        "has_more": more,
        "response_metadata": {"next_cursor": str(start + limit) if more else ""},
    }


def _readable(fake: FakeSlack, args: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    channel = fake._resolve(str(args.get("channel") or ""))
    if not channel:
        return None, {"ok": False, "error": "channel_not_found"}
    if channel in fake.not_member:
        return None, {"ok": False, "error": "not_in_channel"}
    return channel, None


def _history(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel, refusal = _readable(fake, args)
    if refusal is not None or channel is None:
        return refusal or {"ok": False, "error": "channel_not_found"}
    shown = [m for m in fake._channels.get(channel, []) if not m.deleted and (not m.is_reply or m.reply_broadcast)]
    return _page(sorted(_window(shown, args), key=lambda m: float(m.ts), reverse=True), args, "messages", 999)


def _replies(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel, refusal = _readable(fake, args)
    if refusal is not None or channel is None:
        return refusal or {"ok": False, "error": "channel_not_found"}
    parent = fake._find(channel, str(args.get("ts") or ""))
    if parent is None:
        return {"ok": False, "error": "thread_not_found"}
    root = parent.thread_ts or parent.ts
    thread = [m for m in fake._channels.get(channel, []) if not m.deleted and (m.ts == root or m.thread_ts == root)]
    return _page(sorted(_window(thread, args), key=lambda m: float(m.ts)), args, "messages", 1000)


def _conversations_info(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    channel = fake._resolve(str(args.get("channel") or ""))
    if not channel:
        return {"ok": False, "error": "channel_not_found"}
    shown = {
        "id": channel,
        "is_member": channel not in fake.not_member,
        "is_archived": channel in fake.archived,
        "is_private": channel[:1] == "G",
    }
    return {"ok": True, "channel": shown}


def _users_info(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    user = str(args.get("user", ""))
    if user not in fake.users or fake.user_teams.get(user, HOME_TEAM) != fake._caller_team:
        return {"ok": False, "error": "user_not_found"}  # another workspace's people are unknown to this token
    name = fake.users[user]
    facts = fake.profiles.get(user, {})
    profile: dict[str, Any] = {"real_name": name, "display_name": name}
    if facts.get("email"):  # absent: Slack hides it (no users:read.email, or the person has none)
        profile["email"] = facts["email"]
    return {
        "ok": True,
        "user": {
            "id": user,
            "team_id": fake.user_teams.get(user, HOME_TEAM),
            "name": name.split()[0].lower(),
            "real_name": name,
            "tz": "UTC",
            "is_bot": bool(facts.get("is_bot", False)),
            "deleted": bool(facts.get("deleted", False)),
            "profile": profile,
        },
    }


def _view_arg(args: dict[str, Any]) -> dict[str, Any] | None:
    view = args.get("view")
    return view if isinstance(view, dict) else None


def _views_open(fake: FakeSlack, args: dict[str, Any], verb: str = "opened") -> dict[str, Any]:
    view = _view_arg(args)
    if view is None:
        return {"ok": False, "error": "invalid_arguments"}
    if not args.get("trigger_id") and not args.get("interactivity_pointer"):
        return {"ok": False, "error": "invalid_trigger_id"}
    user, team = fake._triggers.get(str(args.get("trigger_id")), (None, fake._caller_team))
    if team != fake._caller_team and not fake._caller_team.startswith("E"):
        # A trigger is good only with the token of the installation whose payload carried it.
        return {"ok": False, "error": "invalid_trigger_id"}
    return {"ok": True, "view": fake._store_view(user, view, verb)}


def _views_push(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    return _views_open(fake, args, "pushed")


def _views_update(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    view = _view_arg(args)
    view_id = args.get("view_id")
    if view_id is None and args.get("external_id"):
        view_id = next((k for k, v in fake._views_by_id.items() if v.get("external_id") == args["external_id"]), None)
    stored = fake._views_by_id.get(str(view_id))
    if view is None or stored is None or stored["team_id"] not in (fake._caller_team, HOME_TEAM, None):
        return {"ok": False, "error": "not_found"}  # another workspace's views are unknown to this token
    if args.get("hash") and args["hash"] != stored["hash"]:
        return {"ok": False, "error": "hash_conflict"}
    keep = {k: stored[k] for k in ("id", "team_id", "app_id", "bot_id", "state", "root_view_id", "previous_view_id")}
    stored.clear()
    stored.update({"type": "modal", **view, **keep, "hash": f"{time.time():.6f}.{secrets.token_hex(4)}"})
    if stored.get("type") != "home":
        title = render_content((stored.get("title") or {}).get("text", ""), None, fake.users)
        fake._events.append(
            {"kind": "modal", "verb": "updated", "user": fake._view_user.get(stored["id"]), "title": title}
        )
    return {"ok": True, "view": stored}


def _views_publish(fake: FakeSlack, args: dict[str, Any]) -> dict[str, Any]:
    view, user = _view_arg(args), args.get("user_id")
    if view is None or not user:
        return {"ok": False, "error": "invalid_arguments"}
    if fake.user_teams.get(str(user), HOME_TEAM) != fake._caller_team and not fake._caller_team.startswith("E"):
        return {"ok": False, "error": "user_not_found"}  # an App Home is the user's own workspace's installation's
    stored = fake._store_view(user, {**view, "type": "home"}, "published")
    fake._homes[user] = stored
    fake._events.append({"kind": "home", "user": user})
    return {"ok": True, "view": stored}


def _connections_open(fake: FakeSlack, _args: dict[str, Any]) -> dict[str, Any]:
    return {"ok": True, "url": f"ws://127.0.0.1:{fake.port}/socket"}


METHODS = {
    "auth.test": _auth_test,
    "chat.postMessage": _post_message,
    "chat.update": _update,
    "chat.postEphemeral": _post_ephemeral,
    "chat.getPermalink": _permalink,
    "conversations.open": _conversations_open,
    "conversations.history": _history,
    "conversations.replies": _replies,
    "conversations.info": _conversations_info,
    "users.info": _users_info,
    "views.open": _views_open,
    "views.push": _views_push,
    "views.update": _views_update,
    "views.publish": _views_publish,
    "apps.connections.open": _connections_open,
    **PIN_METHODS,
}
