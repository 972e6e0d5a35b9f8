"""Directory texts (org and tier names, slugs, domains, credit ids) reach mrkdwn and `text` fallbacks escaped.

Every builder in `bot.messages` is rendered with hostile directory data, then the same is checked on
everything that reached the fake Slack when a hostile directory is applied and the flows run over HTTP.
"""

from __future__ import annotations

import inspect
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from slack_sdk.models.views import View

from tests.support.bots import RunningBot
from tests.support.factories import seed_directory
from tests.support.ingest import alert as alert_item
from tests.support.ingest import post
from tests.support.slack_flows import open_and_submit, open_home, request_messages
from trustbot.messages import (
    alert_lists,
    alert_notes,
    alerts,
    connect,
    credits,
    grants,
    home,
    lifecycle,
    request_modals,
    requests,
    reverification,
    text,
)
from trustbot.messages import help as help_msg
from trustbot.slack.payloads import DecisionContext
from trustbot.standin.block_kit_limits import message_problems, view_problems
from trustbot.standin.sample import ADMIN, BACKUP_REP, DEV, DIRECTORY_YAML, OPERATOR, REP, SEC_LEAD
from trustbot.storage.tables import (
    AccessRequest,
    Alert,
    AlertStatus,
    CreditGrant,
    Grant,
    GrantStatus,
    Org,
    RequestStatus,
    Tier,
)

EVIL = "<!channel> & <@U0ADM1> <https://evil.example|click>"
ESCAPED = "&lt;!channel&gt; &amp; &lt;@U0ADM1&gt; &lt;https://evil.example|click&gt;"
RAW = ("<!channel>", "<https://evil", "& <@U0ADM1>", "<@U0ADM1> <")
DOUBLE = ("&amp;lt;", "&amp;gt;", "&amp;amp;")
NOW = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
# Nobody in the unit data is U0ADM1, so any `<@U0ADM1>` in their output came from a name.
REQUESTER = "U0REQ1"

ORG = Org(id=1, slug=f"acme{EVIL}", name=EVIL, domains=[f"{EVIL}.example", "acme.com"], updated_at=NOW)
TIER = Tier(id=f"t{EVIL}", name=EVIL, approvals=2, max_days=90, reverify_days=30, rank=2)
CREDIT = CreditGrant(id=EVIL, org_id=1, amount_usd=Decimal(1000), starts=date(2026, 1, 1), expires=date(2027, 1, 1))


# ---------------------------------------------------------------- inspecting what was rendered


def mrkdwn_texts(payload: Any) -> list[str]:
    """The top-level `text` (Slack renders it as mrkdwn) and every `{"type": "mrkdwn", "text": …}` inside."""
    found: list[str] = []
    if isinstance(payload, dict) and isinstance(payload.get("text"), str):
        found.append(payload["text"])

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn" and isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(payload)
    return found


def assert_inert(payload: Any, where: str, *, no_mention: bool = True) -> None:
    """No hostile directory text arrived unescaped (nor escaped twice) in any mrkdwn of `payload`."""
    banned = RAW + DOUBLE + (("<@U0ADM1>",) if no_mention else ())
    for shown in mrkdwn_texts(payload):
        for bad in banned:
            assert bad not in shown, f"{where}: {bad!r} in {shown!r}"


def rendered(result: Any) -> tuple[dict[str, Any], list[str]]:
    """The JSON Slack would get for a builder's result, and what Slack's limits find wrong with it."""
    if isinstance(result, View):
        payload = result.to_dict()
        return payload, view_problems(payload)
    payload = {"text": result.text, "blocks": [block.to_dict() for block in result.blocks]}
    return payload, message_problems(payload["blocks"], payload["text"])


# ---------------------------------------------------------------- hostile data for every builder


def req(**overrides: Any) -> AccessRequest:
    values: dict[str, Any] = dict(
        id=7,
        org_id=1,
        requester=REQUESTER,
        members=[DEV],
        blanket=True,
        tier_id=TIER.id,
        use_case=EVIL,
        justification=EVIL,
        duration_days=30,
        status=RequestStatus.PENDING,
        created_at=NOW - timedelta(hours=5),
        updated_at=NOW,
        info_answer=EVIL,
        decided_by=REP,
        decided_at=NOW,
        decision_reason=EVIL,
        info_question=EVIL,
        info_asked_by=REP,
    )
    return AccessRequest(**{**values, **overrides})


def grant(**overrides: Any) -> Grant:
    values: dict[str, Any] = dict(
        id=3,
        request_id=7,
        org_id=1,
        members=[DEV],
        blanket=True,
        tier_id=TIER.id,
        status=GrantStatus.ACTIVE,
        starts_at=NOW,
        expires_at=NOW + timedelta(days=90),
        reverify_due_at=NOW + timedelta(days=5),
        suspended_reason=EVIL,
        suspension_note=EVIL,
        ended_by=REP,
        ended_at=NOW,
        end_reason=EVIL,
    )
    return Grant(**{**values, **overrides})


def alert(**overrides: Any) -> Alert:
    values: dict[str, Any] = dict(
        id=9,
        event_id=EVIL,
        org_id=1,
        org_slug=ORG.slug,
        actor=EVIL,
        signal=EVIL,
        severity="critical",
        summary=EVIL,
        score=0.9,
        evidence_url="https://mon.example/e/1",
        details={},
        fingerprint=EVIL,
        occurrences=2,
        first_seen=NOW,
        last_seen=NOW,
        status=AlertStatus.OPEN,
        created_at=NOW,
        updated_at=NOW,
        owner=SEC_LEAD,
        suspended_by=SEC_LEAD,
        suspension_reason=EVIL,
    )
    return Alert(**{**values, **overrides})


def card(status: str = RequestStatus.PENDING, **kw: Any) -> requests.RequestCard:
    values: dict[str, Any] = dict(tier=TIER, rep=REP, approvers=(BACKUP_REP,), grant=grant())
    return requests.RequestCard(request=req(status=status), org=ORG, **{**values, **kw})


def alert_card(**kw: Any) -> alerts.AlertCard:
    lines = (alerts.GrantLine(grant(), EVIL), alerts.GrantLine(grant(id=4, status=GrantStatus.SUSPENDED), EVIL))
    values: dict[str, Any] = dict(alert=alert(), org=ORG, grants=lines, security_leads=(SEC_LEAD,), rep=REP)
    return alerts.AlertCard(**{**values, **kw})


UNKNOWN = dict(alert=alert(org_id=None, org_slug=EVIL), org=None)
STATUS = credits.CreditStatus(credit=CREDIT, org=ORG, used=Decimal(250), burn_per_day=Decimal(5), now=NOW)
INFO = lifecycle.GrantInfo(grant=grant(), org=ORG, tier_name=EVIL)
GRANT_ROWS = tuple(
    grants.GrantRow(grant=grant(id=i, status=s), org=ORG, tier_name=EVIL, request=req(), can_revoke=True)
    for i, s in enumerate((GrantStatus.ACTIVE, GrantStatus.SUSPENDED, GrantStatus.REVOKED), start=3)
)
REQUEST_ROW = grants.RequestRow(request=req(), org=ORG, tier_name=EVIL, approvals=1, approvals_needed=2)
OPTION = request_modals.OrgOption(slug=ORG.slug, name=EVIL, domains=tuple(ORG.domains), tiers=(TIER,))
OTHER = request_modals.OrgOption(slug=f"globex{EVIL}", name=EVIL, domains=(f"{EVIL}.test",), tiers=(TIER,))
HOME = home.HomeData(
    user_id=REQUESTER,
    known=True,
    now=NOW,
    is_operator=True,
    roles=(f"enterprise admin of {EVIL}", "operator"),
    admin_org_names=(EVIL, EVIL),
    admin_requests=(REQUEST_ROW,),
    admin_grants=GRANT_ROWS,
    credits=(home.CreditLine(org_name=EVIL, credit=CREDIT, used=Decimal(10)),),
    credits_total=3,
    is_rep=True,
    awaiting=(REQUEST_ROW,),
    show_alerts=True,
    alerts=(home.AlertLine(alert(), EVIL), home.AlertLine(alert(org_id=None, org_slug=EVIL), None)),
    alerts_total=2,
    counts=home.HomeCounts(orgs=1, requests_by_status={"pending": 1}, alerts_by_severity={"critical": 1}),
)
SUMMARY = alert_lists.ChannelSummary(lines=(alert_lists.SummaryLine(9, EVIL, EVIL, "high", 3),), total_alerts=4)
DECISION = DecisionContext(request_id=7)
HANDLER_SUMMARY = f"#7 · {EVIL}"  # what handlers/requests.py passes: the raw org name
UNKNOWN_ROWS = [(alert(), EVIL), (alert(id=10, org_id=None, org_slug=EVIL), f"{EVIL} (unknown org)")]

CASES: list[partial[Any]] = [
    *(partial(requests.build_request_parent, card(s), "UTC") for s in RequestStatus),
    partial(requests.build_request_parent, card(grant=grant(status=GrantStatus.REVOKED), tier=None)),
    partial(requests.build_request_parent, card(approvers=()), "UTC"),
    *(partial(requests.build_request_actions, card(s)) for s in (RequestStatus.PENDING, RequestStatus.DENIED)),
    partial(requests.build_approval_recorded_note, card(), BACKUP_REP),
    partial(requests.build_approved_note, card()),
    partial(requests.build_approved_note, card(left_out=(f"{EVIL} is deactivated",))),
    partial(requests.build_member_dropped_note, card(), f"{EVIL} is deactivated"),
    partial(requests.build_denied_note, card()),
    partial(requests.build_info_requested_note, card()),
    partial(requests.build_info_answered_note, card(), REQUESTER, EVIL),
    partial(requests.build_requester_approved_dm, card()),
    partial(requests.build_member_covered_dm, card()),
    partial(requests.build_requester_denied_dm, card()),
    partial(requests.build_info_question_dm, card()),
    partial(requests.build_request_submitted_ack, card()),
    partial(requests.build_approval_ack, 7, grant_id=3, approvals=1, needed=2),
    partial(requests.build_approval_ack, 7, grant_id=3, approvals=1, needed=1, left_out=(EVIL,)),
    partial(requests.build_request_refused_notice, card(), "C0REPS", EVIL),
    partial(request_modals.build_request_modal, request_modals.RequestForm((OPTION,), 20, 3000)),
    MULTI_ORG_FORM := partial(
        request_modals.build_request_modal, request_modals.RequestForm((OPTION, OTHER), 20, 3000)
    ),
    partial(request_modals.build_deny_modal, DECISION, summary=HANDLER_SUMMARY),
    partial(request_modals.build_request_info_modal, DECISION, summary=HANDLER_SUMMARY),
    partial(request_modals.build_info_answer_modal, 7, question=EVIL, asked_by=REP),
    partial(request_modals.build_revoke_modal, 3, summary=HANDLER_SUMMARY),
    partial(grants.build_grant_list, grants.GrantListing(title=EVIL, rows=GRANT_ROWS)),
    partial(grants.build_grant_list, grants.GrantListing(title=EVIL, rows=())),
    partial(grants.build_status, grants.StatusReport(REQUESTER, (EVIL,), (REQUEST_ROW,), (REQUEST_ROW,), GRANT_ROWS)),
    partial(grants.build_revoked_dm, GRANT_ROWS[2]),
    partial(grants.build_revoked_note, GRANT_ROWS[2]),
    partial(grants.build_revoke_ack, GRANT_ROWS[2]),
    partial(help_msg.build_help_blocks, note=f"I don't know `{text.safe(EVIL, 40)}`. Here is what I can do:"),
    partial(home.build_home_view, HOME, "UTC"),
    UNKNOWN_HOME := partial(home.build_home_view, home.HomeData(user_id=REQUESTER, known=False, now=NOW)),
    partial(lifecycle.build_expiry_warning_dm, INFO, 3),
    partial(lifecycle.build_expired_dm, INFO),
    partial(lifecycle.build_expired_note, INFO, REP),
    partial(lifecycle.build_nudge_note, req(), REP, 24),
    partial(lifecycle.build_escalation_note, req(), REP, [BACKUP_REP], 48),
    partial(lifecycle.build_request_expired_note, req(), 7),
    partial(lifecycle.build_request_expired_dm, req(), ORG, 7),
    partial(lifecycle.build_org_verification_warning, ORG, 5),
    partial(lifecycle.build_org_lapsed, ORG, [3, 4]),
    partial(lifecycle.build_org_restored, ORG, [3]),
    partial(reverification.build_reminder_dm, INFO, 3),
    partial(reverification.build_suspended_dm, INFO),
    partial(reverification.build_suspended_note, INFO, REP),
    partial(reverification.build_reverify_modal, INFO, req()),
    partial(reverification.build_reverified_note, INFO, REP, REQUESTER, [DEV], True),
    partial(reverification.build_reverified_dm, INFO, [DEV], True),
    partial(reverification.build_restored_dm, INFO, REQUESTER),
    partial(reverification.build_removed_member_dm, INFO, REQUESTER),
    partial(reverification.build_verify_choices, [INFO, INFO]),
    partial(alerts.build_alert_message, alert_card()),
    partial(alerts.build_alert_message, alert_card(**UNKNOWN)),
    partial(alert_notes.action_note, SEC_LEAD, "acknowledged this alert", EVIL),
    partial(alert_notes.critical_dm, alert_card()),
    partial(alert_notes.suspension_dm, alert_card(), SEC_LEAD, EVIL, 2),
    partial(alert_notes.escalation_note, alert_card(), 15, [SEC_LEAD]),
    partial(alert_notes.escalation_dm, alert_card(**UNKNOWN), 15),
    partial(alert_notes.build_suspend_modal, alert_card()),
    partial(alert_notes.snooze_note, SEC_LEAD, NOW),
    partial(alert_notes.snooze_ended_note, alert()),
    partial(alert_notes.refused_channel_dm, alert_card(), "C0SEC", EVIL, shown_in="C0OTHER"),
    partial(alert_lists.build_alert_list, UNKNOWN_ROWS, f"Open alerts for {EVIL}", "UTC"),
    partial(alert_lists.build_alert_list, [], f"Open alerts for {EVIL}", "UTC"),
    partial(alert_lists.build_channel_summary, SUMMARY),
    partial(credits.build_credit_list, [STATUS], f"Credits of {EVIL}"),
    partial(credits.build_credit_list, [], f"Credits of {EVIL}"),
    partial(credits.build_threshold_notice, STATUS, 80),
    partial(credits.build_expiry_notice, STATUS, 10),
    partial(credits.build_digest, [STATUS], NOW),
    partial(connect.build_connect_blocks, ORG.slug, EVIL),
    partial(connect.build_pin_failed_notice, EVIL, "C0ACMECONNECT", "not_pinnable"),
]
# These show no directory text at all (ids, counts and mentions only).
NOTHING_TO_SHOW = {"build_approval_ack", "build_approval_recorded_note", "build_approved_note", "build_expired_note"}
NOTHING_TO_SHOW |= {"build_nudge_note", "build_escalation_note", "build_request_expired_note", "build_suspended_note"}
NOTHING_TO_SHOW |= {"escalation_note", "build_request_actions", "build_reverified_note"}
NOTHING_TO_SHOW |= {"snooze_note", "snooze_ended_note"}
PLAIN_TEXT_ONLY = (UNKNOWN_HOME, MULTI_ORG_FORM)  # the org select shows names in plain_text only
# Builders whose text is mrkdwn the caller already escaped, by contract.
TRUSTED_TEXT = {"build_thread_note", "build_alert_note"}


def case_id(case: partial[Any]) -> str:
    return f"{case.func.__module__.rsplit('.', 1)[-1]}.{case.func.__name__}"


@pytest.mark.parametrize("case", CASES, ids=[f"{case_id(c)}-{i}" for i, c in enumerate(CASES)])
def test_builder_escapes_directory_texts(case: partial[Any]) -> None:
    payload, problems = rendered(case())
    assert problems == [], problems  # plain_text titles, buttons, options and labels within Slack's limits too
    assert_inert(payload, case_id(case))
    shown = "\n".join(mrkdwn_texts(payload))
    if case.func.__name__ not in NOTHING_TO_SHOW and case not in PLAIN_TEXT_ONLY:
        assert "&lt;!channel&gt;" in shown, f"{case_id(case)} shows none of the hostile texts: {shown!r}"


def test_every_builder_is_covered() -> None:
    """A builder added to `bot.messages` without a case above fails here."""
    covered = {case.func.__name__ for case in CASES}
    modules = (alert_lists, alert_notes, alerts, connect, credits, grants, help_msg, home, lifecycle, request_modals)
    modules += (requests,)
    builders = {
        name
        for module in (*modules, reverification)
        for name, fn in inspect.getmembers(module, inspect.isfunction)
        if fn.__module__ == module.__name__ and (name.startswith("build_") or module is alert_notes)
    }
    assert builders - covered - TRUSTED_TEXT == set()


def test_trusted_text_builders_keep_escaped_text_as_is() -> None:
    """The builders that take the caller's mrkdwn do not escape it again (no `&amp;lt;`)."""
    for build in (requests.build_thread_note, alert_notes.build_alert_note, lifecycle.note):
        payload, _ = rendered(build(f"For {text.safe(EVIL)}"))
        assert ESCAPED in payload["text"] and all(ESCAPED in t for t in mrkdwn_texts(payload))
        assert_inert(payload, build.__name__)


# ---------------------------------------------------------------- the same through HTTP

TIERS = "".join(
    f'  - {{id: {tid}, name: "{EVIL} {tid}", approvals: {n}, max_days: {days}, reverify_days: 30}}\n'
    for tid, n, days in (("standard", 1, 365), ("enhanced", 1, 180), ("frontier", 2, 90))
)
HOSTILE_YAML = DIRECTORY_YAML.replace("name: Acme Security", f'name: "{EVIL}"') + "tiers:\n" + TIERS
assert f'name: "{EVIL}"' in HOSTILE_YAML


def everything_sent(bot: RunningBot) -> list[tuple[str, Any]]:
    """Every payload that reached the fake Slack: Web API calls (blocks, text, view) and response_url posts."""
    sent: list[tuple[str, Any]] = []
    for call in bot.slack.calls:
        args = call.args
        message = {key: args[key] for key in ("text", "blocks", "attachments") if key in args}
        if message:
            sent.append((call.method, message))
        if isinstance(args.get("view"), dict):
            sent.append((f"{call.method} view", args["view"]))
    sent += [("response_url", r["body"]) for r in bot.slack.responses]
    return sent


async def decide_requests(bot: RunningBot) -> None:
    """#1 approved; #2 asked for information, answered, then denied through the deny modal."""
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Approve")
    await bot.settle()
    await open_and_submit(bot)
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Request info")
    await bot.settle()
    await bot.driver.submit(REP, bot.slack.views(REP)[-1], question="How many analysts?")
    await bot.settle()
    [dm] = [m for m in bot.slack.dms(ADMIN) if "Reply" in m.buttons()]
    await bot.driver.click(ADMIN, dm, "Reply")
    await bot.settle()
    await bot.driver.submit(ADMIN, bot.slack.views(ADMIN)[-1], answer="Twelve.")
    await bot.settle()
    _, actions = request_messages(bot)
    await bot.driver.click(REP, actions, "Deny")
    await bot.settle()
    deny = bot.slack.views(REP)[-1]
    assert ESCAPED in json.dumps(deny, ensure_ascii=False)  # the modal's intro names the org
    await bot.driver.submit(REP, deny, reason="Out of scope")
    await bot.settle()


async def run_alert(bot: RunningBot) -> None:
    """A critical alert for the org, acknowledged; the suspend modal opened."""
    assert (await post(bot, alert_item("a-1", severity="critical")))[0] == 202
    await bot.settle()
    message = bot.slack.messages("C0ACMESEC")[-1]
    await bot.driver.click(SEC_LEAD, message, "Acknowledge")
    await bot.settle()
    await bot.driver.click(SEC_LEAD, bot.slack.messages("C0ACMESEC")[-1], "Suspend access")
    await bot.settle()


async def test_hostile_directory_reaches_slack_escaped(bot: RunningBot) -> None:
    await seed_directory(bot.rt.db, bot.clock, HOSTILE_YAML)
    await decide_requests(bot)
    await run_alert(bot)
    for user, command in (
        (ADMIN, "status"), (REP, "status"), (ADMIN, "grants"), (ADMIN, "grants acme"), (OPERATOR, "grants"),
        (ADMIN, "credits"), (ADMIN, "credits acme"), (OPERATOR, "credits"), (SEC_LEAD, "alerts"),
        (SEC_LEAD, "alerts acme"), (OPERATOR, "alerts"), (ADMIN, "verify"), (ADMIN, "frobnicate"),
    ):  # fmt: skip
        response = await bot.driver.command(user, command)
        await bot.settle()
        assert_inert(response.json or {}, f"/trust {command} ack", no_mention=False)
    for user in (ADMIN, REP, SEC_LEAD, OPERATOR):
        await open_home(bot, user)
    await bot.driver.command(REP, f"revoke 1 Done with {EVIL}")
    await bot.settle()
    sent = everything_sent(bot)
    assert bot.slack.rejected == []
    for where, payload in sent:
        assert_inert(payload, where, no_mention=False)  # U0ADM1 is a real requester here
    shown = "\n".join(t for _, payload in sent for t in mrkdwn_texts(payload))
    assert ESCAPED in shown and f"Credits of {ESCAPED}" in shown and f"Open alerts for {ESCAPED}" in shown
    assert f"{EVIL} standard" in json.dumps([p for _, p in sent], ensure_ascii=False)  # plain_text: as is
