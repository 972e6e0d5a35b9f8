"""The one context every service takes: who acts, what time it is, and the settings.

A Slack request resolves its acting person once (the app's middleware puts a `Person` in Bolt's
context; the first service call of the request looks them up in the directory, inside that
call's transaction, and keeps the answer). Scheduled jobs, the CLI and ingest act as the system.
Resolution is deferred to the first service call rather than done in the middleware itself so
that no database work sits on the path to Slack's 3-second acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.clock import Clock
from trustbot.config import Settings
from trustbot.services.directory.people import SYSTEM_ACTOR, Actor, resolve_actor


@dataclass(frozen=True)
class ServiceContext:
    """The acting person, the clock and the settings of one service call."""

    actor: Actor
    clock: Clock
    settings: Settings

    @property
    def user_id(self) -> str:
        """The acting person's Slack id (`trustbot` for the system)."""
        return self.actor.user_id

    @property
    def tz(self) -> ZoneInfo:
        """The zone dates are shown in."""
        return self.settings.tz

    def now(self) -> datetime:
        """The current time by the context's clock."""
        return self.clock.now()


def system_context(clock: Clock, settings: Settings, *, as_user: str | None = None) -> ServiceContext:
    """The context of scheduled jobs, ingest and the CLI: Trustbot itself acts (audited as `as_user` if given)."""
    actor = SYSTEM_ACTOR if as_user is None else Actor(user_id=as_user)
    return ServiceContext(actor=actor, clock=clock, settings=settings)


class Person:
    """A Slack user acting in one Slack request; resolved against the directory at most once.

    `team` is the side the payload gate admitted them on: None for the home workspace, else the `slack_team`
    of the org binding their workspace; directory roles count only for the workspace they belong to.
    """

    def __init__(self, user_id: str, clock: Clock, settings: Settings, *, team: str | None = None) -> None:
        self.user_id = user_id
        self.team = team
        self._clock = clock
        self._settings = settings
        self._context: ServiceContext | None = None

    async def context(self, session: AsyncSession) -> ServiceContext:
        """The service context of this person, looking them up on first use."""
        if self._context is None:
            actor = await resolve_actor(
                session, user_id=self.user_id, settings_operators=self._settings.operators, team=self.team
            )
            self._context = ServiceContext(actor=actor, clock=self._clock, settings=self._settings)
        return self._context
