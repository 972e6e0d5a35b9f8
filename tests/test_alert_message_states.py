"""The alert message in each state: which actions it offers, what its status line says, where the ids go."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.support.rows import NOW, alert_row, grant_row, org_row
from trustbot.ids import Action
from trustbot.messages import alert_lists as lists
from trustbot.messages import alert_notes as notes
from trustbot.messages import alerts as msg
from trustbot.messages.text import slack_date
from trustbot.slack.payloads import AlertSnooze
from trustbot.standin.sample import OPERATOR, REP, SEC_LEAD
from trustbot.storage.tables import Alert, AlertStatus, GrantStatus, SuspensionReason

LATER = NOW + timedelta(hours=4)
SNOOZE_OPTIONS = ["1 hour", "4 hours", "24 hours"]


def _card(alert: Alert | None = None, *, grants: tuple[msg.GrantLine, ...] | None = None) -> msg.AlertCard:
    return msg.AlertCard(
        alert=alert or alert_row(),
        org=org_row(),
        grants=grants if grants is not None else (msg.GrantLine(grant_row(), "Enhanced"),),
        security_leads=(SEC_LEAD,),
        rep=REP,
    )


def _controls(rendered: msg.Rendered) -> list[str]:
    """Visible controls in order: button texts, and a select as `[placeholder]`."""
    shown = []
    for block in rendered.to_dict()["blocks"]:
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element["type"] == "button":
                shown.append(element["text"]["text"])
            else:
                shown.append(f"[{element['placeholder']['text']}]")
    return shown


def _status_line(rendered: msg.Rendered) -> str:
    [line] = [
        b["elements"][0]["text"]
        for b in rendered.to_dict()["blocks"]
        if b["type"] == "context" and b["elements"][0]["text"].startswith("*Status:*")
    ]
    return str(line)


SECURITY_SUSPENDED = grant_row(status=GrantStatus.SUSPENDED, suspended_reason=SuspensionReason.SECURITY_ACTION)
REVERIFY_SUSPENDED = grant_row(status=GrantStatus.SUSPENDED, suspended_reason=SuspensionReason.MISSED_REVERIFICATION)
ACTIVE = ["Acknowledge", "Escalate", "Suspend access", "[Snooze]", "False positive", "Resolve"]


CASES = [
    ("open", alert_row(), None, ACTIVE, "*Status:* Open"),
    (
        "acknowledged",
        alert_row(status=AlertStatus.ACKNOWLEDGED, owner=SEC_LEAD),
        None,
        ["Unacknowledge", "Escalate", "Suspend access", "[Snooze]", "False positive", "Resolve"],
        "*Status:* Acknowledged · owner <@U0SEC1>",
    ),
    (
        "escalated",
        alert_row(status=AlertStatus.ESCALATED, escalated_at=NOW),
        None,
        ["Acknowledge", "Suspend access", "[Snooze]", "False positive", "Resolve"],
        f"*Status:* Escalated · escalated {slack_date(NOW)}",
    ),
    (
        "suspended by this alert",
        alert_row(status=AlertStatus.ACKNOWLEDGED, owner=SEC_LEAD, suspended_by=SEC_LEAD, suspension_reason="exfil"),
        None,
        ["Unacknowledge", "Escalate", "[Snooze]", "False positive", "Resolve"],
        "*Status:* Acknowledged · owner <@U0SEC1>\n:lock: *Access suspended* by <@U0SEC1>: exfil",
    ),
    (
        "org suspended by another alert",
        alert_row(),
        (msg.GrantLine(SECURITY_SUSPENDED, "Enhanced"),),
        ["Acknowledge", "Escalate", "[Snooze]", "False positive", "Resolve"],
        "*Status:* Open\n:lock: The org's access is already suspended (every grant, by a security action).",
    ),
    (
        "a grant suspended for a weaker reason can still be suspended",
        alert_row(),
        (msg.GrantLine(SECURITY_SUSPENDED, "Enhanced"), msg.GrantLine(REVERIFY_SUSPENDED, "Enhanced")),
        ACTIVE,
        "*Status:* Open",
    ),
    (
        "snoozed",
        alert_row(snoozed_until=LATER),
        None,
        ACTIVE,
        f"*Status:* Open · :zzz: snoozed until {slack_date(LATER)}",
    ),
    (
        "snooze over",
        alert_row(snoozed_until=NOW - timedelta(seconds=1)),
        None,
        ACTIVE,
        "*Status:* Open",
    ),
    (
        "resolved",
        alert_row(status=AlertStatus.RESOLVED, closed_by=SEC_LEAD, closed_at=NOW, snoozed_until=LATER),
        None,
        [],
        f"*Status:* Resolved · by <@U0SEC1> {slack_date(NOW)}",
    ),
    (
        "false positive",
        alert_row(status=AlertStatus.FALSE_POSITIVE, closed_by=OPERATOR, closed_at=NOW),
        None,
        [],
        f"*Status:* False positive · by <@U0OPS1> {slack_date(NOW)}",
    ),
]


@pytest.mark.parametrize(("name", "alert", "grants", "controls", "status"), CASES, ids=[c[0] for c in CASES])
def test_controls_and_status_follow_the_state(
    name: str, alert: Alert, grants: tuple[msg.GrantLine, ...] | None, controls: list[str], status: str
) -> None:
    rendered = msg.build_alert_message(_card(alert, grants=grants), now=NOW)
    assert _controls(rendered) == controls, name
    assert _status_line(rendered) == status, name


def test_unknown_org_offers_no_suspension() -> None:
    card = msg.AlertCard(alert=alert_row(org_id=None, org_slug="initech"), org=None)
    assert "Suspend access" not in _controls(msg.build_alert_message(card, now=NOW))


def test_an_org_without_live_grants_offers_no_suspension() -> None:
    rendered = msg.build_alert_message(_card(grants=()), now=NOW)
    assert "Suspend access" not in _controls(rendered) and "Acknowledge" in _controls(rendered)


def test_snooze_select_offers_one_four_and_twenty_four_hours_as_typed_values() -> None:
    [actions] = [b for b in msg.build_alert_message(_card(), now=NOW).to_dict()["blocks"] if b["type"] == "actions"]
    [select] = [e for e in actions["elements"] if e["type"] == "static_select"]
    assert select["action_id"] == Action.ALERT_SNOOZE
    assert [o["text"]["text"] for o in select["options"]] == SNOOZE_OPTIONS
    assert [AlertSnooze.model_validate_json(o["value"]) for o in select["options"]] == [
        AlertSnooze(alert_id=7, hours=h) for h in (1, 4, 24)
    ]
    acknowledged = msg.build_alert_message(_card(alert_row(status=AlertStatus.ACKNOWLEDGED))).to_dict()
    assert Action.ALERT_UNACKNOWLEDGE in json.dumps(acknowledged)


def test_ids_sit_in_the_last_context_line_not_the_main_text() -> None:
    rendered = msg.build_alert_message(_card(), now=NOW)
    blocks = rendered.to_dict()["blocks"]
    assert blocks[-1] == {
        "type": "context",
        "elements": [
            {"type": "mrkdwn", "text": "fingerprint `acme:mallory@acme.com:exfiltration` · first event `evt-1`"}
        ],
    }
    main = json.dumps(blocks[:-1]) + rendered.text
    assert "evt-1" not in main and "acme:mallory@acme.com:exfiltration" not in main


def test_evidence_link_is_labelled_by_its_host() -> None:
    shown = json.dumps(msg.build_alert_message(_card(), now=NOW).to_dict())
    assert "Evidence: <https://mon.example/e/1|mon.example>" in shown


def test_snoozed_state_reaches_the_notification_text() -> None:
    assert msg.build_alert_message(_card(alert_row(snoozed_until=LATER)), now=NOW).text.endswith(
        "(3 occurrences, open, snoozed) <@U0SEC1>"
    )


def test_dates_are_slack_date_tokens_with_a_utc_fallback() -> None:
    assert slack_date(NOW) == "<!date^1793610000^{date_short_pretty} {time}|2026-11-02 09:00 UTC>"
    assert slack_date(NOW, with_time=False) == "<!date^1793610000^{date_short_pretty}|2026-11-02>"
    assert slack_date(None) == "—"


def test_snooze_notes() -> None:
    assert notes.snooze_note(SEC_LEAD, LATER).text == (
        f":zzz: <@U0SEC1> snoozed this alert until {slack_date(LATER)}: repeats are counted "
        "but not announced, and it does not escalate until then."
    )
    assert notes.snooze_ended_note(alert_row()).text == (
        f":alarm_clock: The snooze ended: alert #7 is active again (3 occurrences so far, last seen "
        f"{slack_date(NOW + timedelta(minutes=5))})."
    )


def test_alert_list_says_which_alerts_are_snoozed() -> None:
    listing = lists.build_alert_list(
        [(alert_row(snoozed_until=LATER), "Acme Security"), (alert_row(id=8), "Acme")], "Open", "UTC"
    )
    first, second = [b["text"]["text"] for b in listing.to_dict()["blocks"][1:3]]
    assert first.endswith(f", snoozed until {slack_date(LATER)}") and "snoozed" not in second
