"""The work a failure drill puts through Trustbot, as Slack and monitoring would send it over HTTP.

Access requests submitted through the signed `/trust request` modal, then approved or denied by
the org's rep (a denial through its reason modal); alerts posted to `/alerts`, signed, across
three orgs (acme's own channel, and the default security channel for globex and an org the
directory lacks) with repeats, so messages are edited; some alerts acknowledged in their thread.
That makes posts, thread replies, edits and DMs in several channels of two workspaces: acme's
people act from acme's workspace (each payload comes through the workspace the fake Slack puts
its actor in), the reps and operators from home.

Every request to Trustbot is retried while the server does not answer (a drill may kill it), and
more than one target URL is used round-robin (replicas behind a load balancer).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from trustbot.standin.fake_state import HOME_TEAM
from trustbot.standin.producers import ingest_headers
from trustbot.standin.sample import ADMIN, ADMIN2, BACKUP_REP, DEV, DEV2, GLOBEX_ADMIN, OPERATOR, REP, SEC_LEAD
from trustbot.standin.slack_requests import DriverResponse, SlackDriver
from trustbot.standin.transcript import Message

SIGNING_SECRET = "drill-signing-secret"
INGEST_SECRET = "drill-ingest-secret"
REPS_CHANNEL, ACME_CHANNEL, DEFAULT_CHANNEL = "C0REPS", "C0ACMESEC", "C0SEC"
REQUESTERS = ((ADMIN, "acme"), (GLOBEX_ADMIN, "globex"), (ADMIN2, "acme"))
DECIDER = {"acme": REP, "globex": BACKUP_REP}
ALERT_ORGS = ("acme", "acme", "globex", "initech")  # initech is not in the directory
SEVERITIES = ("medium", "high", "critical", "medium", "low")
JUSTIFICATION = "Our SOC reverse-engineers samples daily."
ACKNOWLEDGER = {ACME_CHANNEL: SEC_LEAD, DEFAULT_CHANNEL: OPERATOR}


Send = Callable[[SlackDriver, str], Awaitable[DriverResponse]]  # one request to (driver, base URL)


def _command(user: str, text: str) -> Send:
    async def send(driver: SlackDriver, _url: str) -> DriverResponse:
        return await driver.command(user, text)

    return send


def _submit(user: str, view: dict[str, Any], fields: dict[str, Any]) -> Send:
    async def send(driver: SlackDriver, _url: str) -> DriverResponse:
        return await driver.submit(user, view, **fields)

    return send


def _click(user: str, message: Message, button: str) -> Send:
    async def send(driver: SlackDriver, _url: str) -> DriverResponse:
        return await driver.click(user, message, button)

    return send


@dataclass(frozen=True)
class Size:
    """How much work: requests (every `deny_every`-th denied, the rest approved), alerts over
    `fingerprints` groups (so most are repeats), every `ack_every`-th alert message acknowledged."""

    requests: int
    alerts: int
    fingerprints: int
    deny_every: int = 4
    ack_every: int = 3
    batch: int = 4  # alerts per POST /alerts


QUICK = Size(requests=4, alerts=32, fingerprints=8)
FULL = Size(requests=30, alerts=600, fingerprints=60)


async def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `predicate` until it returns something truthy; raise naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise TimeoutError(f"drill: {what} not seen within {timeout:g}s")


@dataclass
class Workload:
    """Drives Trustbot at `urls` (base URLs, used round-robin), with the fake Slack playing Slack."""

    fake: Any
    urls: list[str]
    size: Size
    seed: int = 0
    patience: float = 120.0  # how long one request is retried while no server answers
    drivers: list[SlackDriver] = field(default_factory=list)  # the home workspace's, one per URL
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    _http: aiohttp.ClientSession | None = None
    _alerts_sent: int = 0
    _by_team: dict[str, list[SlackDriver]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.drivers = self.drivers_of(HOME_TEAM)
        self.random = random.Random(self.seed)

    def drivers_of(self, team: str) -> list[SlackDriver]:
        """One driver per URL whose payloads come through workspace `team`."""
        if team not in self._by_team:
            self._by_team[team] = [
                SlackDriver(f"{u}/slack/events", SIGNING_SECRET, self.fake, team_id=team) for u in self.urls
            ]
        return self._by_team[team]

    def team_of(self, user: str) -> str:
        """The workspace `user` is a person of, as the fake Slack has them."""
        return str(self.fake.user_teams.get(user, HOME_TEAM))

    async def close(self) -> None:
        """Close every HTTP session."""
        for drivers in self._by_team.values():
            for driver in drivers:
                await driver.close()
        if self._http is not None:
            await self._http.close()

    def _index(self) -> int:
        return next(self._turn) % len(self.urls)

    async def _retrying(self, send: Send, user: str | None = None) -> DriverResponse:
        """Send (from `user`'s workspace) until a server answers other than 503 (a drill may be restarting it)."""
        deadline = time.monotonic() + self.patience
        drivers = self.drivers_of(self.team_of(user)) if user else self.drivers
        while True:
            i = self._index()
            try:
                response = await send(drivers[i], self.urls[i])
                if response.status != 503 or time.monotonic() > deadline:
                    return response
            except (aiohttp.ClientError, TimeoutError, OSError):
                if time.monotonic() > deadline:
                    raise
            await asyncio.sleep(0.2)

    # -- access requests ---------------------------------------------------------------------
    async def submit_requests(self, count: int | None = None) -> None:
        """Each requester in turn opens the request modal and submits it (one at a time, so each
        submission finds its own modal)."""
        for n in range(self.size.requests if count is None else count):
            user, org = REQUESTERS[n % len(REQUESTERS)]
            seen = len(self.fake.views(user))
            await self._retrying(_command(user, "request"), user)
            await self.new_view(user, seen, "request modal")
            view = self.fake.views(user)[-1]
            members = [GLOBEX_ADMIN] if org == "globex" else [(DEV, DEV2)[n % 2]]
            fields = {
                "members": members,
                "blanket": False,
                "tier": "standard",
                "duration": "200",
                "use_case": f"Drill case {n}",
                "justification": JUSTIFICATION,
            }
            await self._retrying(_submit(user, view, fields), user)

    async def new_view(self, user: str, seen: int, what: str) -> None:
        """Wait until `user` has more than `seen` modals."""
        await wait_until(lambda: len(self.fake.views(user)) > seen, 30, what)

    def cards(self) -> dict[int, Message]:
        """The message holding each request's decision buttons (still showing them or not), by request id."""
        found: dict[int, Message] = {}
        for message in self.fake.messages(REPS_CHANNEL):
            for reply in self.fake.replies(REPS_CHANNEL, message.ts):
                for version in [reply, *reply.edits]:
                    if "Approve" in version.buttons():
                        found[json.loads(version.button("Approve")["value"])["request_id"]] = reply
        return found

    async def wait_for_cards(self, count: int, timeout: float = 120) -> dict[int, Message]:
        """Wait until `count` requests show their decision buttons in the reps channel."""
        await wait_until(lambda: len(self.cards()) >= count, timeout, f"{count} request cards")
        return self.cards()

    def org_of(self, card: Message) -> str:
        """The org a request card is for."""
        parent = next(m for m in self.fake.messages(REPS_CHANNEL) if m.ts == card.thread_ts)
        return "globex" if "Globex" in parent.text + json.dumps(parent.blocks) else "acme"

    async def decide(self, request_id: int, card: Message, *, deny: bool = False, user: str | None = None) -> Any:
        """The org's rep (or `user`) approves the request, or denies it with a reason."""
        rep = user or DECIDER[self.org_of(card)]
        if not deny:
            return await self._retrying(_click(rep, card, "Approve"), rep)
        seen = len(self.fake.views(rep))
        await self._retrying(_click(rep, card, "Deny"), rep)
        await self.new_view(rep, seen, "deny modal")
        modal = self.fake.views(rep)[-1]
        return await self._retrying(_submit(rep, modal, {"reason": f"Drill denial of #{request_id}"}), rep)

    async def decide_all(self, cards: dict[int, Message], *, deny: bool | None = None) -> None:
        """Decide every request: every `deny_every`-th denied (one at a time), the rest approved at once.
        `deny` True or False decides only those to deny, or only those to approve."""
        order = sorted(cards)
        denied = [r for n, r in enumerate(order) if n % self.size.deny_every == self.size.deny_every - 1]
        if deny is not False:
            for request_id in denied:
                await self.decide(request_id, cards[request_id], deny=True)
        if deny is not True:
            approve = [r for r in order if r not in denied]
            await asyncio.gather(*(self.decide(r, cards[r]) for r in approve))

    # -- alerts ------------------------------------------------------------------------------
    def alert(self, i: int) -> dict[str, Any]:
        """Alert number `i`: its fingerprint group repeats every `fingerprints` alerts."""
        group = i % self.size.fingerprints
        org = ALERT_ORGS[group % len(ALERT_ORGS)]
        return {
            "id": f"drill-{self.seed}-{i}",
            "org": org,
            "signal": f"sig-{group}",
            "severity": SEVERITIES[group % len(SEVERITIES)],
            "summary": f"Drill alert {i} in group {group}",
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "actor": f"svc{group % 3}@{org}.example",
        }

    async def post_alerts(self, items: list[dict[str, Any]]) -> None:
        """POST one batch to `/alerts`, signed, until a server stores it (202; a resend is a duplicate)."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        body = json.dumps({"alerts": items}).encode()
        http = self._http

        async def send(_driver: SlackDriver, url: str) -> DriverResponse:
            async with http.post(f"{url}/alerts", data=body, headers=ingest_headers(INGEST_SECRET, body)) as r:
                return DriverResponse(r.status, await r.text(), None, 0.0, dict(r.headers))

        response = await self._retrying(send)
        if response.status != 202:
            raise RuntimeError(f"drill: /alerts answered {response.status}: {response.body[:300]}")

    async def send_alerts(self, count: int, *, seconds: float = 0.0, concurrency: int = 4) -> None:
        """The next `count` alerts, in batches, spread over `seconds`."""
        first = self._alerts_sent
        self._alerts_sent += count
        batches = [
            list(range(i, min(i + self.size.batch, first + count)))
            for i in range(first, first + count, self.size.batch)
        ]
        slots = asyncio.Semaphore(concurrency)
        started = time.monotonic()

        async def one(n: int, numbers: list[int]) -> None:
            await asyncio.sleep(max(0.0, started + seconds * n / max(1, len(batches)) - time.monotonic()))
            async with slots:
                await self.post_alerts([self.alert(i) for i in numbers])

        outcomes = await asyncio.gather(*(one(n, b) for n, b in enumerate(batches)), return_exceptions=True)
        for outcome in outcomes:  # every batch has finished: none is left running when this raises
            if isinstance(outcome, BaseException):
                raise outcome

    async def acknowledge_some(self) -> int:
        """Every `ack_every`-th alert message still offering Acknowledge is acknowledged; how many."""
        clicks = []
        for channel, user in ACKNOWLEDGER.items():
            offering = [m for m in self.fake.messages(channel) if "Acknowledge" in m.buttons()]
            clicks += [(user, m) for m in offering[:: self.size.ack_every]]
        await asyncio.gather(*(self._retrying(_click(u, m, "Acknowledge"), u) for u, m in clicks))
        return len(clicks)
