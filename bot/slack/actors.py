"""Who sent a Slack payload: the app it is for, the installation it came through, and the team of the person acting.

Slack names these in different fields by payload kind, and the installing team is not the actor's: in a
Slack Connect channel a click's `team.id` is the installing workspace while `user.team_id` is the clicker's,
and a modal submission from an external person carries *their* team in `team.id` and the installing one only
in `view.app_installed_team_id`. Bolt's `context.team_id` is the installation's, so the actor's team is read
here, from the actor's own fields. On Enterprise Grid `user.team_id` may be the Grid org's `E…` id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PayloadParties:
    """The app, installation and actor a payload names (None or empty where it names none)."""

    app_id: str | None
    team_id: str | None  # the installation's workspace
    enterprise_id: str | None  # the installation's Grid org
    is_enterprise_install: bool
    actor_ids: tuple[str, ...]  # the actor's team, then their Grid org when the payload says it

    def installation_keys(self) -> list[str]:
        """The keys (`E…:T…`) of the installation rows that could carry this payload: the workspace's, then the
        Grid org-wide install's."""
        keys = [] if self.is_enterprise_install else [f"{self.enterprise_id or ''}:{self.team_id or ''}"]
        if self.enterprise_id:
            keys.append(f"{self.enterprise_id}:")
        return keys


def _text(value: Any) -> str | None:
    # A signed payload can still hold anything where Slack puts an id: only non-blank text names a team.
    return value if isinstance(value, str) and value else None


def _part(payload: dict[str, Any], key: str) -> dict[str, Any]:
    value = payload.get(key)
    return value if isinstance(value, dict) else {}


def _first(*values: Any) -> str | None:
    return next((text for text in map(_text, values) if text is not None), None)


def read_parties(payload: dict[str, Any]) -> PayloadParties:
    """What `payload` says about its app, its installation (in Bolt's order of fields) and its actor's team."""
    auths = payload.get("authorizations")
    auth = auths[0] if isinstance(auths, list) and auths and isinstance(auths[0], dict) else {}
    team, view = payload.get("team"), _part(payload, "view")
    team_field = _text(team) or _text(_part(payload, "team").get("id"))
    installed_team = _first(view.get("app_installed_team_id"), auth.get("team_id"), team_field, payload.get("team_id"))
    enterprise = _first(auth.get("enterprise_id"), _part(payload, "enterprise").get("id"), payload.get("enterprise_id"))
    flags = (payload.get("is_enterprise_install"), auth.get("is_enterprise_install"))
    enterprise_install = any(v in (True, "true") for v in flags)  # commands say it as text
    return PayloadParties(
        app_id=_text(payload.get("api_app_id")),
        team_id=installed_team,
        enterprise_id=enterprise,
        is_enterprise_install=enterprise_install,
        actor_ids=_actor_ids(payload, team_field),
    )


def _actor_ids(payload: dict[str, Any], team_field: str | None) -> tuple[str, ...]:
    """The acting person's team, and the Grid org only where the payload's is certainly theirs too."""
    user = payload.get("user")
    if isinstance(user, dict):  # clicks, submissions, closed views, shortcuts, option loads
        actor = _text(user.get("team_id"))
        # The payload's `enterprise` is the actor's only when they are of the team the payload names.
        grid = _text(_part(payload, "enterprise").get("id")) if actor is not None and actor == team_field else None
    elif "command" in payload:  # slash commands reach only workspaces that installed the app: the actor's own
        actor, grid = _text(payload.get("team_id")), _text(payload.get("enterprise_id"))
    elif isinstance(payload.get("event"), dict):
        event = payload["event"]
        event_user = _part(event, "user")  # user_change: the whole user
        actor = _first(event.get("user_team"), event.get("source_team"), event_user.get("team_id"))
        actor = actor or _text(payload.get("team_id"))  # an event of the installation itself (App Home)
        grid = _text(payload.get("enterprise_id")) if actor == _text(payload.get("team_id")) else None
    else:
        actor = grid = None
    return tuple(dict.fromkeys(i for i in (actor, grid) if i))
