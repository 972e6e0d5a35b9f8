"""What people see of the customer's IdP: the admins' digest of a sync burst, the request modal's Group input,
and the re-verification modal's word from the IdP — all within Slack's limits and escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from tests.test_request_messages import ACME, EVIL, TIERS, _card, _form
from trustbot.ids import Block, Element
from trustbot.messages.identity import build_identity_digest
from trustbot.messages.lifecycle import GrantInfo
from trustbot.messages.request_modals import GroupOption, OrgOption, RequestForm, build_request_modal
from trustbot.messages.requests import build_request_parent
from trustbot.messages.reverification import IdpRoster, build_reverify_modal
from trustbot.slack.payloads import submission_from_view
from trustbot.standin.block_kit_limits import message_problems, view_problems
from trustbot.standin.sample import DEV, DEV2
from trustbot.storage.tables import Grant

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
ORG = OrgOption(slug="acme", name="Acme", domains=("acme.com",), tiers=TIERS)


def _groups(n: int) -> tuple[GroupOption, ...]:
    return tuple(GroupOption(scim_id=f"g-{i}", name=f"Team {i}", org_name="Acme") for i in range(n))


def _group_input(form: RequestForm) -> dict[str, object] | None:
    view = build_request_modal(form).to_dict()
    assert view_problems(view) == []
    return next((b for b in view["blocks"] if b.get("block_id") == Block.GROUP), None)


def test_the_digest_counts_a_burst_by_kind_and_names_only_a_few() -> None:
    deactivated = [f"leaver{i}@acme.com" for i in range(12)]
    message = build_identity_digest(EVIL, {"deactivated": deactivated, "provisioned": ["new@acme.com"]}, 13)
    assert message_problems([b.to_dict() for b in message.blocks], message.text) == []
    assert "13 changes" in message.text
    assert "12 people deactivated (no longer covered): leaver0@acme.com" in message.text
    assert "leaver4@acme.com and 7 more" in message.text and "leaver5@acme.com" not in message.text
    assert "1 person provisioned: new@acme.com" in message.text
    assert "<!channel>" not in message.text  # the org's name is escaped


def test_the_request_modal_offers_the_orgs_groups_under_the_label_group() -> None:
    assert _group_input(_form(ORG)) is None  # no SCIM groups: no input
    block = _group_input(RequestForm(orgs=(ORG,), justification_min=20, text_max=3000, groups=_groups(3)))
    assert block is not None and "Group" in json.dumps(block["label"])
    element = block["element"]
    assert isinstance(element, dict) and element["type"] == "static_select" and len(element["options"]) == 3


def test_past_a_hundred_groups_the_admin_types_the_groups_name() -> None:
    block = _group_input(RequestForm(orgs=(ORG,), justification_min=20, text_max=3000, groups=_groups(101)))
    assert block is not None and isinstance(block["element"], dict)
    assert block["element"]["type"] == "plain_text_input"


def test_a_submitted_group_is_read_back_whether_chosen_or_typed() -> None:
    chosen = {Block.GROUP: {Element.GROUP: {"type": "static_select", "selected_option": {"value": "g-1"}}}}
    typed = {Block.GROUP: {Element.GROUP: {"type": "plain_text_input", "value": "  Red Team "}}}
    assert submission_from_view({"state": {"values": chosen}}).group == "g-1"
    assert submission_from_view({"state": {"values": typed}}).group == "Red Team"


def test_the_request_card_shows_the_group_and_its_size() -> None:
    card = _card(scim_group_id=4, members=[], blanket=False)
    card = type(card)(**{**card.__dict__, "group": ("Red <Team>", 12)})
    parent = build_request_parent(card, UTC)
    assert message_problems([b.to_dict() for b in parent.blocks], parent.text) == []
    assert "group *Red &lt;Team&gt;* (12 people now)" in json.dumps([b.to_dict() for b in parent.blocks])


def test_the_reverify_modal_says_what_the_idp_says_of_the_roster() -> None:
    grant = Grant(
        id=3,
        request_id=1,
        org_id=1,
        members=[DEV, DEV2],
        tier_id="frontier",
        scim_group_id=4,
        starts_at=NOW,
        expires_at=NOW,
        reverify_due_at=NOW,
    )
    info = GrantInfo(grant=grant, org=ACME, tier_name="Frontier")
    idp = IdpRoster(group=("Red Team", 12), withheld=((DEV2, "deactivated at the org's identity provider"),))
    view = build_reverify_modal(info, None, UTC, idp).to_dict()
    assert view_problems(view) == []
    text = json.dumps(view["blocks"], ensure_ascii=False)
    assert "Group *Red Team*: 12 people now" in text
    assert f"<@{DEV2}>: deactivated at the org's identity provider — not covered" in text
    assert "identity provider" not in json.dumps(build_reverify_modal(info, None, UTC).to_dict()["blocks"])
