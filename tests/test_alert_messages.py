"""Alert message builders: pure functions, no database."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from tests.support.rows import NOW, alert_row, grant_row, org_row
from trustbot.ids import Action, Block, Element, View
from trustbot.messages import alert_lists as lists
from trustbot.messages import alert_notes as notes
from trustbot.messages import alerts as msg
from trustbot.slack.payloads import AlertRef
from trustbot.standin.sample import REP, SEC_LEAD
from trustbot.storage.tables import Alert, AlertStatus

BUTTONS = ["Acknowledge", "Escalate", "Suspend access", "False positive", "Resolve"]  # and the Snooze select


def _card(alert: Alert | None = None, **kw: object) -> msg.AlertCard:
    return msg.AlertCard(
        alert=alert or alert_row(),
        org=kw.get("org", org_row()),  # type: ignore[arg-type]
        grants=(msg.GrantLine(grant_row(), "Enhanced"),),
        security_leads=(SEC_LEAD,),
        rep=REP,
    )


def _all_text(rendered: msg.Rendered) -> str:
    return rendered.text + json.dumps(rendered.to_dict())


def _buttons(rendered: msg.Rendered) -> list[dict]:
    actions = [b for b in rendered.to_dict()["blocks"] if b["type"] == "actions"]
    return [e for b in actions for e in b["elements"] if e["type"] == "button"]


def test_message_shows_everything_the_lead_needs() -> None:
    rendered = msg.build_alert_message(_card())
    body = _all_text(rendered)
    for needle in (
        "Acme Security",
        "mallory@acme.com",
        "exfiltration",
        "HIGH",
        "Bulk download of weights",
        "https://mon.example/e/1",
        "Occurrences",
        "*Occurrences*\\n3",
        f"*First seen*\\n<!date^{int(NOW.timestamp())}^{{date_short_pretty}} {{time}}|2026-11-02 09:00 UTC>",
        f"*Last seen*\\n<!date^{int(NOW.timestamp()) + 300}^{{date_short_pretty}} {{time}}|2026-11-02 09:05 UTC>",
        "Enhanced",
        "blanket + 2 people",
        "expires <!date^1798761600^{date_short_pretty}|2027-01-01>",
        "Open",
    ):
        assert needle in body, needle
    assert "<@U0SEC1>" in rendered.text  # high: the security leads are notified


def test_buttons_are_the_contract_labels_with_typed_values() -> None:
    buttons = _buttons(msg.build_alert_message(_card()))
    assert [b["text"]["text"] for b in buttons] == BUTTONS
    assert {b["action_id"] for b in buttons} == {
        Action.ALERT_ACKNOWLEDGE,
        Action.ALERT_ESCALATE,
        Action.ALERT_SUSPEND,
        Action.ALERT_FALSE_POSITIVE,
        Action.ALERT_RESOLVE,
    }
    assert all(AlertRef.model_validate_json(b["value"]).alert_id == 7 for b in buttons)


def test_closed_alert_has_no_buttons_and_says_who() -> None:
    alert = alert_row(status=AlertStatus.RESOLVED, closed_by=SEC_LEAD, closed_at=NOW)
    rendered = msg.build_alert_message(_card(alert))
    assert _buttons(rendered) == []
    assert "Resolved" in _all_text(rendered) and "<@U0SEC1>" in _all_text(rendered)


def test_medium_does_not_mention_leads() -> None:
    rendered = msg.build_alert_message(_card(alert_row(severity="medium")))
    assert "<@U0SEC1>" not in rendered.text


def test_unknown_org_is_marked() -> None:
    alert = alert_row(org_id=None, org_slug="initech")
    rendered = msg.build_alert_message(msg.AlertCard(alert=alert, org=None))
    assert "unknown org" in rendered.text
    assert "not in the directory" in _all_text(rendered)


def test_suspension_is_shown() -> None:
    alert = alert_row(
        status=AlertStatus.ACKNOWLEDGED, owner=SEC_LEAD, suspended_by=SEC_LEAD, suspension_reason="Confirmed exfil"
    )
    body = _all_text(msg.build_alert_message(_card(alert)))
    assert "Access suspended" in body and "Confirmed exfil" in body


def test_summary_is_escaped_and_stripped_of_control_characters() -> None:
    alert = alert_row(summary="<!channel> ping <@U0OPS1> <https://evil.example|click> & \x07bell\x1b[31m")
    rendered = msg.build_alert_message(_card(alert))
    body = _all_text(rendered)
    assert "<!channel>" not in body and "<@U0OPS1>" not in body and "<https://evil" not in body
    assert "&lt;!channel&gt;" in body and "&amp;" in body
    assert "\x07" not in body and "\x1b" not in body
    assert "\\u0007" not in body and "\\u001b" not in body


def test_evidence_link_cannot_break_out() -> None:
    link = msg.evidence_link("https://mon.example/x?a=1&b=<2>|evil")
    assert link == "<https://mon.example/x?a=1&amp;b=%3C2%3E%7Cevil|mon.example>"


def test_suspend_modal() -> None:
    view = notes.build_suspend_modal(_card()).to_dict()
    assert view["callback_id"] == View.ALERT_SUSPEND_CONFIRM
    assert AlertRef.model_validate_json(view["private_metadata"]).alert_id == 7
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert inputs[0]["block_id"] == Block.REASON and inputs[0]["element"]["action_id"] == Element.REASON
    assert "Enhanced" in json.dumps(view)


def test_alert_list_and_summary() -> None:
    listing = lists.build_alert_list([(alert_row(severity="low"), "Acme Security")], "Open alerts", "UTC")
    assert "LOW" in _all_text(listing) and "1 open alert" in listing.text
    assert "No open alerts" in lists.build_alert_list([], "Open alerts", "UTC").text
    summary = lists.build_channel_summary(
        lists.ChannelSummary(lines=(lists.SummaryLine(1, "acme", "exfil", "high", 40),), total_alerts=1)
    )
    assert "rate-limiting" in summary.text and "40 occurrences" in summary.text
    assert (
        "recovered" in lists.build_channel_summary(lists.ChannelSummary(lines=(), total_alerts=0, recovered=True)).text
    )


@given(st.text(max_size=500))
def test_any_summary_renders_within_limits_and_inert(summary: str) -> None:
    rendered = msg.build_alert_message(_card(alert_row(summary=summary)))
    data = rendered.to_dict()
    assert len(rendered.text) <= 3000
    for block in data["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
    quoted = data["blocks"][0]["text"]["text"]
    assert "<!" not in quoted.split("\n", 1)[-1] and "<@" not in quoted.split(">", 1)[-1].split("\n", 1)[-1]
