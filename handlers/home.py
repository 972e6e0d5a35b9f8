"""App Home listener: publish the person's Home tab when they open it.

`views.publish` is the immediate reply to the person's own action, so it is called directly,
not through the outbox. Slack retries and repeated `event_id`s never get here twice: the app's
`_skip_repeated_events` middleware records each `event_id` and answers repeats with 200.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from trustbot.handlers.common import guarded, run_service
from trustbot.messages.home import build_home_view
from trustbot.runtime import Runtime
from trustbot.services.context import Person
from trustbot.services.home import build_home


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for app_home_opened."""

    @app.event("app_home_opened")
    @guarded(rt)
    async def home_opened(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, person: Person) -> None:
        await ack()
        event = body.get("event") or {}
        if event.get("tab", "home") != "home" or not person.user_id:
            return  # the Messages tab, or nobody to show it to
        data = await run_service(rt, person, build_home)
        await client.views_publish(user_id=person.user_id, view=build_home_view(data, rt.settings.tz))
