"""The authorization matrix: ten roles × every `/trust` subcommand, every button (`bot.ids.Action`) and every
modal submission (`bot.ids.View`), each tried through the real HTTP surface on a fresh acme request, grant
or alert. The test generates the table and requires README.md to hold it verbatim between the markers
(`UPDATE_README=1 pytest tests/test_authorization_matrix.py` rewrites that region). Whatever the table
says, people outside acme are refused everything that names an acme object, the refusal never names
acme by name, and strangers get nothing but help.

A new action or callback id fails `test_every_id_has_a_row` until it gets a row in `BUTTONS` or `VIEWS`.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.support.bots import RunningBot, start_bot
from tests.support.factories import make_grant, seed_directory
from tests.support.ingest import alert, post
from tests.support.slack_flows import open_and_submit
from trustbot.clock import FixedClock
from trustbot.ids import Action, View
from trustbot.messages.request_modals import (
    build_deny_modal,
    build_info_answer_modal,
    build_request_info_modal,
    build_revoke_modal,
)
from trustbot.slack.payloads import AlertRef, AlertSnooze, DecisionContext, GrantRef, HoldRef, OrgRef, RequestRef
from trustbot.standin.fake_slack import FakeSlack
from trustbot.standin.sample import (
    ADMIN,
    ADMIN2,
    BACKUP_REP,
    DEV,
    DIRECTORY_YAML,
    GLOBEX_ADMIN,
    OPERATOR,
    OUTSIDER,
    REP,
    SEC_LEAD,
)
from trustbot.standin.slack_requests import DriverResponse, block_actions_body
from trustbot.storage.queries.directory import get_org
from trustbot.storage.tables import AccessRequest, Alert, HoldKind, IdentityHold, RequestStatus

ROLES = {
    "operator": OPERATOR,
    "rep": REP,
    "backup rep": BACKUP_REP,
    "rep of another org": "U0GRP1",
    "security lead": SEC_LEAD,
    "lead of another org": "U0GSL1",
    "admin": ADMIN,
    "admin of another org": GLOBEX_ADMIN,
    "member": DEV,
    "stranger": OUTSIDER,
}
OUTSIDERS = ("rep of another org", "lead of another org", "admin of another org", "member", "stranger")
# The sample directory, with a rep and a security lead at globex who hold no role at acme.
DIRECTORY = DIRECTORY_YAML.replace("    rep: U0REP2\n", "    rep: U0REP2\n    backup_reps: [U0GRP1]\n").replace(
    "    security_leads: []\n", "    security_leads: [U0GSL1]\n"
)
README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- authorization-matrix:start -->", "<!-- authorization-matrix:end -->"


@dataclass
class Cell:
    """One role trying one thing: the bot, who acts, and the fresh objects the action names."""

    bot: RunningBot
    user: str
    ids: dict[str, int] = field(default_factory=dict)
    view: dict[str, Any] | None = None

    async def command(self, text: str) -> DriverResponse:
        return await self.bot.driver.command(self.user, text.format(**self.ids))

    async def click(self, action: str, value: str, *, option: bool = False) -> DriverResponse:
        """A click on a message in #C0REPS, as Slack sends it (with a response_url); `option`: a select's choice."""
        fake = self.bot.slack
        selected = {"text": {"type": "plain_text", "text": "1 hour"}, "value": value} if option else None
        body = block_actions_body(
            user_id=self.user,
            action_id=action,
            value="" if option else value,
            channel_id="C0REPS",
            message_ts="1.000001",
            response_url=fake.new_response_url(self.user, "C0REPS", "1.000001"),
            trigger_id=fake.new_trigger_id(self.user),
            selected_option=selected,
        )
        return await self.bot.driver.post_signed(body)

    async def submit(self, **fields: Any) -> DriverResponse:
        assert self.view is not None
        return await self.bot.driver.submit(self.user, self.view, **fields)


async def newest(bot: RunningBot, table: Any) -> int:
    async with bot.rt.db.sessions() as session:
        return int(await session.scalar(select(func.max(table.id))) or 0)


async def a_request(cell: Cell) -> None:
    # acme's other admin files the requests decided on, so "admin" is never the requester
    await open_and_submit(cell.bot, user=ADMIN2)
    cell.ids["request"] = await newest(cell.bot, AccessRequest)


async def a_question(cell: Cell) -> None:
    """A request whose rep asked the requester something; the requester's admin colleague may answer."""
    await a_request(cell)
    async with cell.bot.rt.db.transaction() as session:
        request = await session.get(AccessRequest, cell.ids["request"])
        assert request is not None
        request.status, request.info_question, request.info_asked_by = RequestStatus.INFO_REQUESTED, "Which?", REP


async def a_grant(cell: Cell) -> None:
    cell.ids["grant"] = await make_grant(cell.bot.rt.db, cell.bot.clock)


async def an_alert(cell: Cell) -> None:
    n = await newest(cell.bot, Alert) + 1
    assert (await post(cell.bot, alert(f"am-{n}", fingerprint=f"matrix-{n}", severity="high")))[0] == 202
    cell.ids["alert"] = await newest(cell.bot, Alert)


async def an_acknowledged_alert(cell: Cell) -> None:
    """An alert acme's security lead acknowledged (what **Unacknowledge** is offered on)."""
    await an_alert(cell)
    lead = Cell(cell.bot, ROLES["security lead"], ids=cell.ids)
    assert (await lead.click(Action.ALERT_ACKNOWLEDGE, alert_ref(lead))).status == 200
    await cell.bot.settle()


async def an_alert_on_live_access(cell: Cell) -> None:
    """An alert at acme with a live grant to suspend (an earlier row's suspension may have covered the others)."""
    await a_grant(cell)
    await an_alert(cell)


def snooze_for_an_hour(cell: Cell) -> str:
    return AlertSnooze(alert_id=cell.ids["alert"], hours=1).model_dump_json()


async def opened_by(cell: Cell, user: str, action: str, value: str) -> None:
    """`cell.view` = the modal `user` gets by clicking `action`."""
    actor, cell.user = cell.user, user
    await cell.click(action, value)
    await cell.bot.settle()
    cell.user, cell.view = actor, cell.bot.slack.views(user)[-1]


def request_ref(cell: Cell) -> str:
    return RequestRef(request_id=cell.ids["request"]).model_dump_json()


def decision(cell: Cell) -> DecisionContext:
    return DecisionContext(request_id=cell.ids["request"])


def grant_ref(cell: Cell) -> str:
    return GrantRef(grant_id=cell.ids["grant"]).model_dump_json()


async def a_held_person(cell: Cell) -> None:
    """A Shared Signals hold in force on one of acme's people (what **Confirm** lifts)."""
    async with cell.bot.rt.db.transaction() as session:
        org = await get_org(session, slug="acme")
        assert org is not None
        hold = IdentityHold(
            org_id=org.pk, email="dana@acme.com", kind=HoldKind.SIGNAL, event_type="session-revoked",
            created_at=cell.bot.clock.now(),
        )  # fmt: skip
        session.add(hold)
        await session.flush()
        cell.ids["hold"] = hold.pk


def hold_ref(cell: Cell) -> str:
    return HoldRef(hold_id=cell.ids["hold"]).model_dump_json()


def alert_ref(cell: Cell) -> str:
    return AlertRef(alert_id=cell.ids["alert"]).model_dump_json()


Setup = Callable[[Cell], Awaitable[None]]
Run = Callable[[Cell], Awaitable[DriverResponse]]


@dataclass(frozen=True)
class Row:
    """One line of the matrix: what is tried, on which fresh object, and how."""

    label: str
    setup: Setup | None
    run: Run
    names_acme: bool = True  # people outside acme must be refused


def command(text: str, setup: Setup | None = None) -> Row:
    label = f"`/trust {text.format(grant='<id>')}`"
    return Row(label, setup, lambda c: c.command(text), names_acme="acme" in text or "{grant}" in text)


def button(text: str, action: Action, setup: Setup, ref: Callable[[Cell], str], *, names_acme: bool = True) -> Row:
    return Row(f"{text} (`{action}`)", setup, lambda c: c.click(action, ref(c)), names_acme)


def view(callback: View, setup: Setup, build: Callable[[Cell], Awaitable[None]], **fields: Any) -> Row:
    async def prepared(cell: Cell) -> None:
        await setup(cell)
        await build(cell)

    return Row(f"`{callback}`", prepared, lambda c: c.submit(**fields))


def built(make: Callable[[Cell], Any]) -> Callable[[Cell], Awaitable[None]]:
    async def build(cell: Cell) -> None:
        cell.view = make(cell).to_dict()

    return build


async def request_modal(cell: Cell) -> None:
    """The request modal as acme's admin opened it (the org rides in its metadata)."""
    await cell.bot.driver.command(ADMIN, "request")
    await cell.bot.settle()
    cell.view = cell.bot.slack.views(ADMIN)[-1]


async def nothing(cell: Cell) -> None:
    del cell


REASON = {"reason": "Contract ended, per the customer."}
SUBCOMMANDS = [
    command("help"),
    command("request"),
    command("status"),
    command("grants"),
    command("grants acme"),
    command("credits"),
    command("credits acme"),
    command("alerts"),
    command("alerts acme"),
    command("verify", a_grant),
    command("verify {grant}", a_grant),
    command("revoke {grant} contract ended", a_grant),
]
BUTTONS: dict[Action, Row] = {
    Action.REQUEST_APPROVE: button("Approve", Action.REQUEST_APPROVE, a_request, request_ref),
    Action.REQUEST_DENY: button("Deny", Action.REQUEST_DENY, a_request, request_ref),
    Action.REQUEST_INFO: button("Request info", Action.REQUEST_INFO, a_request, request_ref),
    Action.REQUEST_REPLY: button("Reply", Action.REQUEST_REPLY, a_question, request_ref),
    Action.GRANT_REVOKE: button("Revoke", Action.GRANT_REVOKE, a_grant, grant_ref),
    Action.GRANT_REVERIFY: button("Re-verify", Action.GRANT_REVERIFY, a_grant, grant_ref),
    Action.CONFIRM_IDENTITY: button("Confirm", Action.CONFIRM_IDENTITY, a_held_person, hold_ref),
    Action.ALERT_ACKNOWLEDGE: button("Acknowledge", Action.ALERT_ACKNOWLEDGE, an_alert, alert_ref),
    Action.ALERT_UNACKNOWLEDGE: button("Unacknowledge", Action.ALERT_UNACKNOWLEDGE, an_acknowledged_alert, alert_ref),
    Action.ALERT_ESCALATE: button("Escalate", Action.ALERT_ESCALATE, an_alert, alert_ref),
    Action.ALERT_SNOOZE: Row(
        f"Snooze 1 hour (`{Action.ALERT_SNOOZE}`)",
        an_alert,
        lambda c: c.click(Action.ALERT_SNOOZE, snooze_for_an_hour(c), option=True),
    ),
    Action.ALERT_SUSPEND: button("Suspend access", Action.ALERT_SUSPEND, an_alert_on_live_access, alert_ref),
    Action.ALERT_FALSE_POSITIVE: button("False positive", Action.ALERT_FALSE_POSITIVE, an_alert, alert_ref),
    Action.ALERT_RESOLVE: button("Resolve", Action.ALERT_RESOLVE, an_alert, alert_ref),
    Action.CONNECT_REQUEST_ACCESS: button(
        "Request access", Action.CONNECT_REQUEST_ACCESS, nothing, lambda _: OrgRef(org_slug="acme").model_dump_json()
    ),
    Action.ALERT_EVIDENCE: button(
        "Evidence link (opens the URL; nothing to do)", Action.ALERT_EVIDENCE, an_alert, alert_ref, names_acme=False
    ),
}
VIEWS: dict[View, Row] = {
    View.REQUEST_SUBMIT: view(
        View.REQUEST_SUBMIT,
        nothing,
        request_modal,
        members=[DEV],
        tier="standard",
        duration="30",
        use_case="Malware analysis",
        justification="Our SOC reverse-engineers samples daily.",
    ),
    View.REQUEST_DENY_REASON: view(
        View.REQUEST_DENY_REASON,
        a_request,
        built(lambda c: build_deny_modal(DecisionContext(request_id=c.ids["request"]))),
        **REASON,
    ),
    View.REQUEST_INFO_QUESTION: view(
        View.REQUEST_INFO_QUESTION,
        a_request,
        built(lambda c: build_request_info_modal(decision(c))),
        question="Which products?",
    ),
    View.REQUEST_INFO_ANSWER: view(
        View.REQUEST_INFO_ANSWER,
        a_question,
        built(lambda c: build_info_answer_modal(c.ids["request"], question="Which?", asked_by=REP)),
        answer="Only our own products.",
    ),
    View.GRANT_REVOKE_REASON: view(
        View.GRANT_REVOKE_REASON, a_grant, built(lambda c: build_revoke_modal(c.ids["grant"])), **REASON
    ),
    View.GRANT_REVERIFY_SUBMIT: view(
        View.GRANT_REVERIFY_SUBMIT,
        a_grant,
        lambda c: opened_by(c, ADMIN, Action.GRANT_REVERIFY, grant_ref(c)),
        roster=[DEV],
        attestations=["roster", "use_case"],
    ),
    View.ALERT_SUSPEND_CONFIRM: view(
        View.ALERT_SUSPEND_CONFIRM,
        an_alert_on_live_access,
        lambda c: opened_by(c, OPERATOR, Action.ALERT_SUSPEND, alert_ref(c)),
        **REASON,
    ),
}


@dataclass(frozen=True)
class Outcome:
    """What one role got: allowed, or the refusal it read."""

    allowed: bool
    said: str = ""


def _texts(cell: Cell, answer: DriverResponse, marks: tuple[int, int]) -> list[str]:
    """Everything the actor was told: the inline answer, ephemeral replies and DMs since `marks`."""
    body = answer.json if isinstance(answer.json, dict) else {}
    said = [str(body.get("text") or "")] + [str(v) for v in (body.get("errors") or {}).values()]
    said += [str(e.get("text") or "") for e in cell.bot.slack.ephemerals(cell.user)[marks[0] :]]
    return said + [m.text for m in cell.bot.slack.dms(cell.user)[marks[1] :]]


MISSING = 2**31 - 1  # the largest id, which nothing has


def forget(cell: Cell) -> None:
    """Point the cell's action at objects that do not exist."""
    cell.ids = dict.fromkeys(cell.ids, MISSING)
    if cell.view is not None:
        metadata = str(cell.view.get("private_metadata") or "")
        cell.view = {**cell.view, "private_metadata": re.sub(r'_id":\s*\d+', f'_id": {MISSING}', metadata)}


async def attempt(bot: RunningBot, user: str, row: Row, *, missing: bool = False) -> Outcome:
    """`user` tries `row` on fresh objects (or, `missing`, on ids that name nothing)."""
    cell = Cell(bot, user)
    if row.setup is not None:
        await row.setup(cell)
        await bot.settle()
    real = dict(cell.ids)
    if missing:
        forget(cell)
    marks = (len(bot.slack.ephemerals(user)), len(bot.slack.dms(user)))
    answer = await row.run(cell)
    await bot.settle()
    assert answer.status == 200, (row.label, user, answer.status)
    said = _texts(cell, answer, marks)
    assert not any("went wrong" in t for t in said), (row.label, user, said)
    body = answer.json if isinstance(answer.json, dict) else {}
    refusals = [t for t in said if t.startswith(":no_entry:")] + list((body.get("errors") or {}).values())
    said_once = " ".join(refusals)
    for value in [MISSING, *real.values()]:
        said_once = re.sub(rf"\b{value}\b", "N", said_once)
    return Outcome(allowed=not refusals, said=said_once)


def all_rows() -> list[Row]:
    return [*SUBCOMMANDS, *BUTTONS.values(), *VIEWS.values()]


def render(results: dict[str, dict[str, Outcome]]) -> str:
    """The markdown table: one row per action, one column per role."""
    head = "| | " + " | ".join(ROLES) + " |\n|" + " --- |" * (len(ROLES) + 1) + "\n"
    lines = [
        f"| {label} | " + " | ".join("yes" if by[r].allowed else "—" for r in ROLES) + " |"
        for label, by in results.items()
    ]
    return head + "\n".join(lines) + "\n"


def readme_region(text: str) -> re.Match[str]:
    found = re.search(re.escape(START) + r"\n(.*?)" + re.escape(END), text, re.S)
    assert found, f"README.md has no {START} … {END} region"
    return found


@pytest.fixture
async def bot(database_url: str, fake_slack: FakeSlack, clock: FixedClock) -> AsyncIterator[RunningBot]:
    """A running Trustbot whose orgs may hold many open requests: every cell files a fresh one, far more
    than the default cap of open requests per org."""
    running = await start_bot(database_url, fake_slack, clock, TRUSTBOT_MAX_OPEN_REQUESTS_PER_ORG=100_000)
    yield running
    await running.close()


def test_every_id_has_a_row() -> None:
    assert set(BUTTONS) == set(Action) and set(VIEWS) == set(View)


@pytest.mark.slow
async def test_authorization_matrix(bot: RunningBot) -> None:
    bot.slack.users.update({"U0GRP1": "Greta Globex", "U0GSL1": "Gus Globex Security"})
    await seed_directory(bot.rt.db, bot.clock, DIRECTORY)
    rows = all_rows()
    leaks: list[str] = []
    results = {row.label: {role: await attempt(bot, user, row) for role, user in ROLES.items()} for row in rows}
    for row in rows:
        label, by = row.label, results[row.label]
        for role in OUTSIDERS:
            assert not (row.names_acme and by[role].allowed), f"{role} may {label}"
            assert "Acme Security" not in by[role].said, f"the refusal of {label} to {role} names acme: {by[role].said}"
        assert [r for r, o in by.items() if o.allowed and r in ("member", "stranger")] in ([], ["member", "stranger"])
        for role, outcome in by.items():
            if row.setup is not None and not outcome.allowed and role != "operator":
                missing = await attempt(bot, ROLES[role], row, missing=True)
                if missing.said != outcome.said:
                    leaks.append(f"{label} tells {role} whether it exists: {outcome.said!r} / {missing.said!r}")
    assert not leaks, "\n".join(leaks)
    table = render(results)
    text = README.read_text()
    if os.environ.get("UPDATE_README") == "1":
        region = readme_region(text)
        README.write_text(text[: region.start(1)] + table + text[region.end(1) :])
    assert readme_region(README.read_text()).group(1) == table
