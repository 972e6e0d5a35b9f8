"""Block Kit builders for requests and grants: contract labels and button texts, escaping, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from trustbot.ids import Action, Block, Element
from trustbot.ids import View as ViewId
from trustbot.messages.grants import (
    GrantListing,
    GrantRow,
    RequestRow,
    StatusReport,
    build_grant_list,
    build_status,
)
from trustbot.messages.request_modals import (
    OrgOption,
    RequestForm,
    build_deny_modal,
    build_info_answer_modal,
    build_request_info_modal,
    build_request_modal,
    build_revoke_modal,
)
from trustbot.messages.requests import (
    RequestCard,
    build_info_question_dm,
    build_request_actions,
    build_request_parent,
    build_requester_approved_dm,
)
from trustbot.messages.text import (
    format_date,
    format_datetime,
    mention,
    quote,
    safe,
    truncate,
)
from trustbot.services.access.limits import JUSTIFICATION_MIN, TEXT_MAX
from trustbot.slack.payloads import (
    DecisionContext,
    GrantRef,
    RequestFormMeta,
    RequestRef,
    submission_from_view,
)
from trustbot.standin.sample import ADMIN, BACKUP_REP, DEV, DEV2, REP
from trustbot.storage.tables import AccessRequest, Grant, Org, Tier

NOW = datetime(2026, 11, 2, 23, 30, tzinfo=UTC)
EVIL = "Please <!channel> & <@U0BOSS> see <https://evil.example|this> > now"
TIERS = (
    Tier(id="standard", name="Standard", approvals=1, max_days=365, reverify_days=180, rank=0),
    Tier(id="frontier", name="Frontier", approvals=2, max_days=90, reverify_days=30, rank=2),
)
ACME = Org(id=1, slug="acme", name="Acme <Security>", domains=["acme.com", "example.org"], updated_at=NOW)


def _request(**overrides: Any) -> AccessRequest:
    values: dict[str, Any] = dict(
        id=7,
        org_id=1,
        requester=ADMIN,
        members=[DEV, DEV2],
        blanket=False,
        tier_id="frontier",
        use_case=EVIL,
        justification=EVIL,
        duration_days=30,
        status="pending",
        created_at=NOW,
        updated_at=NOW,
    )
    values.update(overrides)
    return AccessRequest(**values)


def _form(*orgs: OrgOption) -> RequestForm:
    return RequestForm(orgs=orgs, justification_min=JUSTIFICATION_MIN, text_max=TEXT_MAX)


def _card(**overrides: Any) -> RequestCard:
    grant = overrides.pop("grant", None)
    approvers = overrides.pop("approvers", ())
    return RequestCard(
        request=_request(**overrides), org=ACME, tier=TIERS[1], rep=REP, approvers=approvers, grant=grant
    )


def _dump(blocks: list[Any]) -> str:
    return json.dumps([b.to_dict() for b in blocks])


def _buttons(blocks: list[Any]) -> list[dict[str, Any]]:
    return [e for b in blocks for e in (b.to_dict().get("elements") or []) if e.get("type") == "button"] + [
        b.to_dict()["accessory"] for b in blocks if (b.to_dict().get("accessory") or {}).get("type") == "button"
    ]


def _labels(view: Any) -> dict[str, str]:
    return {b["block_id"]: b["label"]["text"] for b in view.to_dict()["blocks"] if b["type"] == "input"}


def test_request_modal_labels_contain_contract_words() -> None:
    form = _form(OrgOption(slug="acme", name="Acme", domains=("acme.com",), tiers=TIERS))
    view = build_request_modal(form)
    data = view.to_dict()
    labels = _labels(view)
    assert data["callback_id"] == ViewId.REQUEST_SUBMIT
    assert "Team members" in labels[Block.MEMBERS]
    assert "Blanket" in labels[Block.BLANKET]
    assert "Capability tier" in labels[Block.TIER]
    assert "Use case" in labels[Block.USE_CASE]
    assert "Justification" in labels[Block.JUSTIFICATION]
    assert "Duration" in labels[Block.DURATION] and "days" in labels[Block.DURATION]
    assert Block.ORG not in labels  # one org: no select, it travels in private_metadata
    assert RequestFormMeta.model_validate_json(data["private_metadata"]).org_slug == "acme"
    elements = {b["block_id"]: b["element"] for b in data["blocks"] if b["type"] == "input"}
    assert elements[Block.DURATION]["action_id"] == Element.DURATION and elements[Block.DURATION]["max_value"] == "365"
    assert elements[Block.MEMBERS]["type"] == "multi_users_select"
    assert [o["value"] for o in elements[Block.TIER]["options"]] == ["standard", "frontier"]
    # The text limits come from the form (the domain's limits), not from the modal builder.
    justification, use_case = elements[Block.JUSTIFICATION], elements[Block.USE_CASE]
    assert (justification["min_length"], justification["max_length"]) == (JUSTIFICATION_MIN, TEXT_MAX)
    assert use_case["max_length"] == TEXT_MAX and "min_length" not in use_case
    assert f"at least {JUSTIFICATION_MIN} characters" in justification["placeholder"]["text"]
    strict = build_request_modal(RequestForm(orgs=form.orgs, justification_min=50, text_max=1000)).to_dict()
    elements = {b["block_id"]: b["element"] for b in strict["blocks"] if b["type"] == "input"}
    assert (elements[Block.JUSTIFICATION]["min_length"], elements[Block.JUSTIFICATION]["max_length"]) == (50, 1000)
    assert elements[Block.USE_CASE]["max_length"] == 1000


def test_request_modal_with_several_orgs_has_org_select() -> None:
    form = _form(
        OrgOption(slug="acme", name="Acme", domains=("acme.com",), tiers=TIERS),
        OrgOption(slug="globex", name="Globex " + "x" * 200, domains=(), tiers=TIERS[:1]),
    )
    data = build_request_modal(form).to_dict()
    org_block = next(b for b in data["blocks"] if b.get("block_id") == Block.ORG)
    assert [o["value"] for o in org_block["element"]["options"]] == ["acme", "globex"]
    assert all(len(o["text"]["text"]) <= 75 for o in org_block["element"]["options"])


def test_submission_round_trips_from_view_state() -> None:
    view = {
        "private_metadata": RequestFormMeta(org_slug="acme").model_dump_json(),
        "state": {
            "values": {
                Block.MEMBERS: {Element.MEMBERS: {"type": "multi_users_select", "selected_users": [DEV]}},
                Block.BLANKET: {Element.BLANKET: {"type": "checkboxes", "selected_options": [{"value": "blanket"}]}},
                Block.TIER: {Element.TIER: {"type": "static_select", "selected_option": {"value": "frontier"}}},
                Block.USE_CASE: {Element.USE_CASE: {"type": "plain_text_input", "value": " red team "}},
                Block.DURATION: {Element.DURATION: {"type": "number_input", "value": "30"}},
                Block.JUSTIFICATION: {Element.JUSTIFICATION: {"type": "plain_text_input", "value": "because"}},
            }
        },
    }
    sub = submission_from_view(view)
    assert (sub.org_slug, sub.members, sub.blanket, sub.tier_id, sub.use_case, sub.duration_days) == (
        "acme",
        [DEV],
        True,
        "frontier",
        "red team",
        30,
    )
    view["state"]["values"][Block.DURATION][Element.DURATION]["value"] = "abc"
    assert submission_from_view(view).duration_days is None


def test_parent_names_everything_and_escapes_typed_text() -> None:
    rendered = build_request_parent(_card(), "UTC")
    dump = _dump(rendered.blocks)
    for word in (
        "#7",
        "Acme &lt;Security&gt;",
        "<@U0ADM1>",
        "<@U0REP1>",
        "2 named people",
        "<@U0DEV1>",
        "Frontier",
        "30 days",
        "Use case",
        "Justification",
        "2 approvals",
    ):
        assert word in dump, word
    assert "<!channel>" not in dump and "<@U0BOSS>" not in dump and "<https://evil" not in dump
    assert "&lt;!channel&gt;" in dump and "&amp;" in dump
    assert rendered.text == (
        "Access request #7 from <@U0ADM1> for Acme &lt;Security&gt;: "
        "Frontier tier, 30 days, 2 people — <@U0REP1> (pending)"
    )
    assert _buttons(rendered.blocks) == []  # decision buttons live in the thread


def test_blanket_scope_names_the_domains() -> None:
    dump = _dump(build_request_parent(_card(blanket=True, members=[])).blocks)
    assert "everyone at acme.com, example.org" in dump


def test_actions_message_buttons_then_none_after_decision() -> None:
    rendered = build_request_actions(_card())
    buttons = _buttons(rendered.blocks)
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Deny", "Request info"]
    assert [b.get("style") for b in buttons] == ["primary", "danger", None]
    assert [b["action_id"] for b in buttons] == [Action.REQUEST_APPROVE, Action.REQUEST_DENY, Action.REQUEST_INFO]
    assert all(RequestRef.model_validate_json(b["value"]).request_id == 7 for b in buttons)
    assert "<@U0REP1>" in rendered.text
    decided = build_request_actions(_card(status="denied", decided_by=REP, decided_at=NOW, decision_reason=EVIL))
    assert _buttons(decided.blocks) == [] and decided.text == "Request #7 is denied."
    assert "*Denied* by <@U0REP1> on 2026-11-02 23:30 UTC" in _dump(decided.blocks)
    assert "<!channel>" not in _dump(decided.blocks) and "&lt;!channel&gt;" in _dump(decided.blocks)


def test_partial_and_decided_parent_status() -> None:
    partial = _dump(build_request_parent(_card(approvers=(REP,))).blocks)
    assert "1 of 2 approvals" in partial
    grant = Grant(
        id=3,
        request_id=7,
        org_id=1,
        tier_id="frontier",
        starts_at=NOW,
        expires_at=NOW + timedelta(days=30),
        reverify_due_at=NOW + timedelta(days=30),
    )
    approved = _card(status="approved", decided_by=BACKUP_REP, decided_at=NOW, approvers=(REP, BACKUP_REP), grant=grant)
    dump = _dump(build_request_parent(approved, "Pacific/Auckland").blocks)
    assert "*Approved* by <@U0REP1>, <@U0REP2> on 2026-11-03 12:30 Pacific/Auckland" in dump  # NZ is UTC+13
    assert "grant #3 expires 2026-12-03" in dump
    dm = build_requester_approved_dm(approved, "UTC")
    assert "Grant #3 (Frontier tier, 2 people) is active until *2026-12-02*" in dm.text


def test_info_question_dm_has_reply_button() -> None:
    rendered = build_info_question_dm(_card(status="info_requested", info_question=EVIL, info_asked_by=REP))
    button = _buttons(rendered.blocks)[0]
    assert (button["text"]["text"], button["action_id"]) == ("Reply", Action.REQUEST_REPLY)
    assert RequestRef.model_validate_json(button["value"]) == RequestRef(request_id=7)
    assert "<!channel>" not in rendered.text and "&lt;!channel&gt;" in rendered.text


def test_reason_modals() -> None:
    ctx = DecisionContext(request_id=7)
    deny = build_deny_modal(ctx).to_dict()
    assert deny["callback_id"] == ViewId.REQUEST_DENY_REASON and Block.REASON in [
        b.get("block_id") for b in deny["blocks"]
    ]
    assert DecisionContext.model_validate_json(deny["private_metadata"]) == ctx
    info = build_request_info_modal(ctx).to_dict()
    assert info["callback_id"] == ViewId.REQUEST_INFO_QUESTION and Block.QUESTION in [
        b.get("block_id") for b in info["blocks"]
    ]
    answer = build_info_answer_modal(7, question=EVIL, asked_by=REP).to_dict()
    assert answer["callback_id"] == ViewId.REQUEST_INFO_ANSWER and "<!channel>" not in json.dumps(answer)
    assert RequestRef.model_validate_json(answer["private_metadata"]).request_id == 7
    revoke = build_revoke_modal(3).to_dict()
    assert revoke["callback_id"] == ViewId.GRANT_REVOKE_REASON
    assert GrantRef.model_validate_json(revoke["private_metadata"]).grant_id == 3
    for data in (deny, info, answer, revoke):
        assert len(data["title"]["text"]) <= 24


def _grant(status: str = "active", **overrides: Any) -> Grant:
    values: dict[str, Any] = dict(
        id=3,
        request_id=7,
        org_id=1,
        tier_id="frontier",
        members=[DEV],
        status=status,
        starts_at=NOW,
        expires_at=NOW + timedelta(days=30),
        reverify_due_at=NOW + timedelta(days=20),
    )
    values.update(overrides)
    return Grant(**values)


def test_grant_list_has_revoke_only_where_allowed() -> None:
    rows = (
        GrantRow(grant=_grant(), org=ACME, tier_name="Frontier", request=_request(), can_revoke=True),
        GrantRow(grant=_grant(id=4), org=ACME, tier_name="Frontier", can_revoke=False),
        GrantRow(
            grant=_grant("revoked", id=5, ended_by=REP, ended_at=NOW, end_reason=EVIL),
            org=ACME,
            tier_name="Frontier",
            can_revoke=True,
        ),
    )
    rendered = build_grant_list(GrantListing(title="Acme", rows=rows), "UTC")
    buttons = _buttons(rendered.blocks)
    assert [b["text"]["text"] for b in buttons] == ["Revoke"]
    assert (
        buttons[0]["action_id"] == Action.GRANT_REVOKE
        and GrantRef.model_validate_json(buttons[0]["value"]).grant_id == 3
    )
    dump = _dump(rendered.blocks)
    first = rendered.blocks[1].to_dict()["text"]["text"]
    assert first.startswith(":large_green_circle: *Grant #3* · Acme &lt;Security&gt; · Frontier")
    assert "expires 2026-12-02" in first
    assert "<!channel>" not in dump and rendered.text == "Grants — Acme: 3 grants, 2 active"
    assert len(rendered.blocks) <= 50
    many = build_grant_list(GrantListing(title="All", rows=rows[:1] * 80))
    assert len(many.blocks) <= 50 and "more not shown" in _dump(many.blocks)
    assert "No grants" in _dump(build_grant_list(GrantListing(title="x", rows=())).blocks)


def test_status_report() -> None:
    row = RequestRow(request=_request(), org=ACME, tier_name="Frontier", approvals=1, approvals_needed=2)
    report = StatusReport(
        user_id=REP,
        org_names=("Acme",),
        open_requests=(),
        awaiting_me=(row,),
        grants=(GrantRow(grant=_grant(), org=ACME, tier_name="Frontier"),),
    )
    rendered = build_status(report)
    dump = _dump(rendered.blocks)
    assert "Awaiting your decision" in dump and "1 of 2 approvals" in dump and "Grant #3" in dump
    assert "awaiting your decision" in rendered.text


def test_help_lists_every_subcommand() -> None:
    from trustbot.messages.help import build_help_blocks

    rendered = build_help_blocks()
    dump = _dump(rendered.blocks)
    for sub in ("help", "request", "status", "grants", "credits", "alerts", "verify", "revoke"):
        assert f"/trust {sub}" in dump
        assert f"/trust {sub}" in rendered.text


def test_text_helpers() -> None:
    assert truncate("abcdef", 4) == "abc…" and truncate("abc", 4) == "abc" and len(truncate("x" * 5000, 3000)) == 3000
    assert mention(REP) == "<@U0REP1>" and mention("<!channel>") == "&lt;!channel&gt;"
    assert format_date(NOW, "Pacific/Auckland") == "2026-11-03"
    assert format_datetime(NOW, "UTC") == "2026-11-02 23:30 UTC"
    assert quote("a\n> b") == "> a\n> &gt; b"


@given(st.text(alphabet=st.sampled_from("a&<> \n"), max_size=400), st.integers(min_value=1, max_value=300))
def test_safe_never_splits_an_entity_or_exceeds_the_limit(value: str, limit: int) -> None:
    out = safe(value, limit)
    assert len(out) <= limit
    assert "<" not in out and ">" not in out
    body = out.removesuffix("…")
    assert body.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "").count("&") == 0
