"""The demo's stage: a local fake Slack with two workspaces, a real Trustbot over HTTP, a movable clock, a narrator."""

from __future__ import annotations

import logging
import secrets
import socket
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from trustbot.clock import FixedClock
from trustbot.config import Settings
from trustbot.demo.workspaces import workspace_of
from trustbot.standin import sample

if TYPE_CHECKING:  # the stand-ins are loaded only when the demo runs
    from trustbot.runtime import Runtime
    from trustbot.standin.fake_slack import FakeSlack
    from trustbot.standin.gateway import FakeGateway
    from trustbot.standin.idp import StandinIdp
    from trustbot.standin.slack_requests import DriverResponse, SlackDriver
    from trustbot.web.server import TrustbotServer

DEMO_START = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

ROLES = {
    sample.OPERATOR: "operator",
    sample.REP: "Acme's account rep",
    sample.BACKUP_REP: "backup rep",
    sample.ADMIN: "Acme admin",
    sample.ADMIN2: "Acme admin",
    sample.SEC_LEAD: "Acme security lead",
    sample.DEV: "Acme engineer",
    sample.DEV2: "Acme engineer",
    sample.OUTSIDER: "not in the program",
    sample.GLOBEX_ADMIN: "Globex admin",
}
# How the transcript names each sample person: their first name and what they are in the story.
PEOPLE = {user: f"{sample.PEOPLE[user].split()[0]} ({role})" for user, role in ROLES.items()}


@dataclass
class Story:
    """Everything a chapter needs to act and narrate."""

    out: TextIO
    slack: FakeSlack
    server: TrustbotServer
    driver: SlackDriver  # Slack sending what people do in the provider's workspace
    acme: SlackDriver  # … and in acme's (its payloads carry acme's team id)
    clock: FixedClock
    gateway: FakeGateway  # the provider's gateway stand-in
    quiet: bool = False
    idp: StandinIdp | None = None  # acme's IdP stand-in (SCIM and signed signals)
    shown_events: int = 0
    _shown: int = field(default=0)
    _workspace: str | None = field(default=None)

    @property
    def rt(self) -> Runtime:
        """The bot's runtime (database, settings, delivery)."""
        return self.server.rt

    def say(self, text: str) -> None:
        """Narration between scenes."""
        self._workspace = None  # each scene says again where its first message appeared
        if not self.quiet:
            self.out.write(f"\n── {text}\n")

    async def settle(self) -> None:
        """Let work after ack finish and every queued Slack write be delivered, then show what changed."""
        await self.rt.post_ack.wait(timeout=30)
        await self.rt.delivery.drain(timeout=30)
        self.show()

    def show_form_errors(self, response: DriverResponse) -> None:
        """Print the inline errors a modal answered with, as the person sees them under the fields."""
        errors = (response.json or {}).get("errors") if response.body else None
        if errors and not self.quiet:
            for block, message in errors.items():
                self.out.write(f"   [form, under {block!r}: {message}]\n")

    def show(self) -> None:
        """Print what reached Slack since the last call, under the workspace each thing appeared in."""
        from trustbot.standin.transcript import render_event

        # The fake's transcript is one list of events across workspaces; the demo reads it event by event
        # to say where each one was seen.
        events = self.slack._events
        new, self._shown = events[self._shown :], len(events)
        lines: list[str] = []
        for event in new:
            rendered = render_event(event, self.slack.users)
            if not rendered:
                continue
            where = workspace_of(self.slack, event)
            if where != self._workspace:
                lines.append(f"[{where}]")
                self._workspace = where
            lines.extend("  " + line for line in rendered)
        if not self.quiet and lines:
            self.out.write("\n".join("   " + line for line in lines) + "\n")
        self.out.flush()


def _free_port() -> int:
    """A port free on 127.0.0.1 now: the install pages' public URL must name the port before the bot starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _demo_settings(tmp: Path, api_url: str, signing_secret: str, gateway_url: str) -> Settings:
    """The demo bot: a throw-away SQLite file, the local Slack stand-in and gateway, no pacing, no scheduler;
    customer workspaces on (the fake's app credentials, a fresh secrets key, its own server as public URL)."""
    from cryptography.fernet import Fernet

    from trustbot.standin.fake_workspaces import CLIENT_ID, CLIENT_SECRET
    from trustbot.standin.gateway import API_TOKEN
    from trustbot.standin.gateway import SECRET as WEBHOOK_SECRET

    port = _free_port()
    return Settings(
        _env_file=None,
        SLACK_BOT_TOKEN="xoxb-demo",
        SLACK_SIGNING_SECRET=signing_secret,
        SLACK_API_URL=api_url,
        SLACK_CLIENT_ID=CLIENT_ID,
        SLACK_CLIENT_SECRET=CLIENT_SECRET,
        TRUSTBOT_SECRETS_KEY=Fernet.generate_key().decode(),
        TRUSTBOT_PUBLIC_URL=f"http://127.0.0.1:{port}",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp / 'demo.db'}",
        HOST="127.0.0.1",
        PORT=port,
        TRUSTBOT_INGEST_SECRET=secrets.token_hex(16),
        TRUSTBOT_CHANNEL_PACE_SECONDS=0,
        TRUSTBOT_OUTBOX_POLL_SECONDS=0.05,
        TRUSTBOT_SCHEDULER_ENABLED=False,
        TRUSTBOT_ALERT_UPDATE_SECONDS=0,
        TRUSTBOT_API_TOKEN=API_TOKEN,
        TRUSTBOT_WEBHOOK_URL=gateway_url,
        TRUSTBOT_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )


async def run_demo(*, out: TextIO, quiet: bool = False) -> int:
    """Play every chapter; return the exit code."""
    from trustbot.demo import chapters
    from trustbot.demo.workspaces import ACME_TEAM, add_acme_workspace, bound_directory, people_by_workspace
    from trustbot.services.context import system_context
    from trustbot.services.directory.apply import apply_directory, parse_directory
    from trustbot.standin.fake_slack import FakeSlack
    from trustbot.standin.gateway import FakeGateway
    from trustbot.standin.idp import StandinIdp
    from trustbot.standin.slack_requests import SlackDriver
    from trustbot.web.server import TrustbotServer

    logging.getLogger().setLevel(logging.ERROR)
    signing_secret = secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="trustbot-demo-") as tmp:
        slack = FakeSlack(users=dict(PEOPLE))
        add_acme_workspace(slack)
        await slack.start()
        gateway = await FakeGateway().start()  # it asks the bot's `/v1/*` once the bot is up (see its chapters)
        idp = await StandinIdp().start()  # acme's IdP: its keys sign the session-revoked signal of the identity chapter
        clock = FixedClock(DEMO_START)
        settings = _demo_settings(Path(tmp), slack.api_url, signing_secret, gateway.url)
        server = TrustbotServer(settings, clock=clock)
        await server.start()
        driver = SlackDriver(f"{server.url}/slack/events", signing_secret, slack)
        acme = SlackDriver(f"{server.url}/slack/events", signing_secret, slack, team_id=ACME_TEAM)
        story = Story(
            out=out,
            slack=slack,
            server=server,
            driver=driver,
            acme=acme,
            clock=clock,
            quiet=quiet,
            gateway=gateway,
            idp=idp,
        )
        try:
            async with server.rt.db.transaction() as session:
                await apply_directory(
                    session,
                    system_context(clock, settings, as_user="demo"),
                    parse_directory(bound_directory(idp.issuer, idp.jwks_uri)),
                )
            if not quiet:
                out.write("Trustbot demo — a local Slack stand-in, a throw-away database, no credentials.\n")
                out.write("\n".join(people_by_workspace(PEOPLE)) + "\n")
            for chapter in chapters.ALL:
                await chapter(story)
            story.say("The audit log")
            from trustbot.services.audit import verify_audit_chain

            async with server.rt.db.sessions() as session:
                report = await verify_audit_chain(session, system_context(clock, settings))
            if not quiet:
                out.write(f"   {report.count} audited events; hash chain intact: {report.intact}\n")
            return 0 if report.intact else 1
        finally:
            await driver.close()
            await acme.close()
            await server.stop()
            await slack.stop()
            await gateway.stop()
            await idp.stop()
