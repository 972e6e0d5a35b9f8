"""The payload gate: a Slack payload is acted on only when it is for our app, came through an installation we know,
and its actor is a person of the home workspace or of a workspace an org binds.

Whatever else arrives is acknowledged, answered where Slack allows (the command's own reply, the click's
`response_url`, the submitted modal turned into a notice; never naming an org), changes nothing, and is
logged sampled, since anyone in any workspace that installed the app can send it at will.

An admitted payload that came through a customer installation is answered with that installation's client
(Bolt's `client` argument): its trigger_id opens views, and its people's App Home is published, only with
the token of the installation that carried it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse

from trustbot.log_sampling import SampledWarning
from trustbot.messages.installs import NOT_CONNECTED, build_not_connected_view
from trustbot.runtime import Runtime
from trustbot.services.installs.actors import HOME, Side, acting_side
from trustbot.slack.actors import PayloadParties, read_parties

log = logging.getLogger(__name__)
_refused = SampledWarning(log)
Next = Callable[[], Awaitable[BoltResponse | None]]
GateStep = Callable[[dict[str, Any], AsyncBoltContext, Next], Awaitable[BoltResponse | None]]

# What a customer workspace's installation sends about itself: no person acts, the handler ends that installation.
_INSTALLATION_EVENTS = frozenset({"app_uninstalled", "tokens_revoked"})
# The context key the acting person's side (its `team`: None for home) is kept under.
ACTING_TEAM = "trustbot_acting_team"


def payload_gate(rt: Runtime) -> GateStep:
    """The Bolt middleware step: admitted payloads go on with their actor's side in the context; others refused."""
    replies: set[asyncio.Task[None]] = set()

    async def middleware(body: dict[str, Any], context: AsyncBoltContext, next: Next) -> BoltResponse | None:
        parties = read_parties(body)
        side = await admit(rt, body, parties)
        if side is None:
            _refused.warn(
                "refused a Slack payload (%s) from team %s, app %s: not a person of a connected workspace",
                body.get("type") or ("command" if "command" in body else "other"),
                ",".join(parties.actor_ids) or "-",
                parties.app_id or "-",
            )
            return _refusal(rt, body, context, replies)
        if side.installation is not None:
            client = await rt.people_client(side.installation)
            if client is None:  # installed, but its token cannot be opened: nothing can answer through it
                return _refusal(rt, body, context, replies)
            context["client"] = client
        context[ACTING_TEAM] = side.team
        return await next()

    return middleware


async def admit(rt: Runtime, body: dict[str, Any], parties: PayloadParties) -> Side | None:
    """The side of the payload's actor, or None when the payload is refused."""
    home = rt.installation
    if home is None:  # Slack was not asked who we are (a bot run in-process): nothing to compare with
        return HOME
    if home.app_id and parties.app_id != home.app_id:
        return None
    event = body.get("event")
    if rt.installations is not None and isinstance(event, dict) and event.get("type") in _INSTALLATION_EVENTS:
        return HOME  # nobody acts: the listener ends only the installation the event names
    home_installation = bool(parties.team_id and parties.team_id == home.team_id) or bool(
        parties.is_enterprise_install and home.enterprise_id and parties.enterprise_id == home.enterprise_id
    )
    actor_home = home.is_home(*parties.actor_ids)
    if home_installation and actor_home:
        return HOME
    if rt.installations is None and not home_installation:  # single-workspace mode: the home installation only
        return None
    async with rt.db.sessions() as session:
        return await acting_side(
            session,
            home_installation=home_installation,
            installation_keys=parties.installation_keys(),
            actor_home=actor_home,
            actor_ids=parties.actor_ids,
        )


def _refusal(
    rt: Runtime, body: dict[str, Any], context: AsyncBoltContext, replies: set[asyncio.Task[None]]
) -> BoltResponse:
    """The acknowledgement of a refused payload, with the notice where Slack shows one."""
    if "command" in body:
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": NOT_CONNECTED})
    if body.get("type") == "view_submission":
        notice = build_not_connected_view().to_dict()
        return BoltResponse(status=200, body={"response_action": "update", "view": notice})
    respond = context.respond
    if respond is not None:  # a click: its response_url answers in any workspace, after the ack

        async def tell() -> None:
            with rt.post_ack.tracking():
                try:
                    await respond(text=NOT_CONNECTED, response_type="ephemeral", replace_original=False)
                except Exception as exc:  # the refusal stands whether or not Slack shows it
                    log.warning("could not show a refusal through response_url: %s", type(exc).__name__)

        task = asyncio.get_running_loop().create_task(tell())
        replies.add(task)
        task.add_done_callback(replies.discard)
    return BoltResponse(status=200, body="")
