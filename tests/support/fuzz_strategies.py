"""Hypothesis strategies for hostile input: ingest bodies, Slack payloads and directory files.

Mostly-valid shapes with hostile values mixed in (lone surrogates, NUL, huge integers, dates at
the ends of the calendar, wrong types), so inputs get past the first check and reach validation,
the services and the database, not only the JSON parser.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from trustbot.ids import Action, View
from trustbot.standin.sample import ADMIN, BACKUP_REP, PEOPLE, REP, SEC_LEAD

# Text as a hostile producer might send it: any code point, lone surrogates and NUL included.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(st.characters(exclude_categories=()), max_size=20),
    st.sampled_from(["\ud800", "a\x00b", "\udfff\ud800", "²", "١٢", "-1", "0", " ", "<!channel>", "x" * 600]),
)
# Slack sends UTF-8: form bodies can carry NUL but never a lone surrogate.
SLACK_TEXT = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), max_size=60),
    st.sampled_from(["\x00", "²", "#0", "'", '"', "acme", "globex", "<@U0REP1>", "9" * 25]),
)
# Inside JSON (events, and interactive payloads, which are JSON in a form field) a lone surrogate
# travels as a `\ud800` escape, so there anything goes.
JSON_TEXT = st.one_of(SLACK_TEXT, HOSTILE_TEXT)
HUGE_INTS = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30]),
)
DATES = st.one_of(
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-11-02T08:59:00Z",
            "2026-11-02",
            "now",
            "",
        ]
    ),
    HOSTILE_TEXT,
)
SCALARS = st.one_of(st.none(), st.booleans(), HUGE_INTS, st.floats(allow_nan=True, allow_infinity=True), HOSTILE_TEXT)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(HOSTILE_TEXT, inner, max_size=4)),
    max_leaves=12,
)


def _maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the valid value, sometimes anything at all."""
    return st.one_of(valid, valid, valid, JSON)


def _item(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """An item with each field present or not, valid-looking or hostile, plus a stray key sometimes."""
    optional = {name: _maybe(value) for name, value in fields.items()}
    return st.fixed_dictionaries({}, optional=optional).flatmap(
        lambda item: st.dictionaries(HOSTILE_TEXT, JSON, max_size=1).map(lambda extra: {**extra, **item})
    )


ORG = st.sampled_from(["acme", "globex", "nosuch", "ACME", ""])
ALERT_ITEM = _item(
    {
        "id": st.text(min_size=1, max_size=8).map(lambda s: f"fz-{s}"),
        "org": ORG,
        "signal": st.sampled_from(["exfiltration", "jailbreak", "x" * 65]),
        "severity": st.sampled_from(["low", "medium", "high", "critical", "HIGH", "urgent"]),
        "summary": HOSTILE_TEXT,
        "occurred_at": DATES,
        "actor": HOSTILE_TEXT,
        "score": st.one_of(st.floats(), HUGE_INTS),
        "evidence_url": st.sampled_from(["https://evidence.example/1", "http://x", "javascript:alert(1)", "https://"]),
        "fingerprint": HOSTILE_TEXT,
        "details": JSON,
    }
)
USAGE_ITEM = _item(
    {
        "id": st.text(min_size=1, max_size=8).map(lambda s: f"fz-{s}"),
        "org": ORG,
        "amount_usd": st.one_of(st.floats(), HUGE_INTS, st.sampled_from(["12.5", "1e400", 0.001, 1e308])),
        "occurred_at": DATES,
        "credit_grant": st.sampled_from(["acme-2026", "nosuch", ""]) | HOSTILE_TEXT,
    }
)


def ingest_body(item: st.SearchStrategy[dict[str, Any]], key: str) -> st.SearchStrategy[Any]:
    """One item, a batch of them, or any JSON at all."""
    return st.one_of(item, st.lists(item, max_size=5).map(lambda items: {key: items}), JSON)


ALERT_BODY = ingest_body(ALERT_ITEM, "alerts")
USAGE_BODY = ingest_body(USAGE_ITEM, "usage")

COMMAND_USERS = st.sampled_from([*PEOPLE, "", "UNOBODY"]) | SLACK_TEXT
USERS = st.sampled_from([*PEOPLE, "", "UNOBODY"]) | JSON_TEXT
TEAMS = st.sampled_from(["T0TEAM", "T0TEAM", "T0OTHER", ""]) | JSON_TEXT
_ID_VALUES = st.one_of(HUGE_INTS, HOSTILE_TEXT, st.none())
REF_VALUE = st.one_of(
    st.builds(lambda k, v: {k: v}, st.sampled_from(["request_id", "grant_id", "alert_id", "org_slug"]), _ID_VALUES),
    JSON,
)


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value)


PAYLOAD_TEXT = st.one_of(REF_VALUE.map(_json_text), JSON_TEXT, st.just(""))
_CONTAINERS = ["user", "team", "actions", "view", "container", "channel", "message", "enterprise", "type", "state"]
COMMAND = st.tuples(
    COMMAND_USERS,
    st.sampled_from(["", "help", "request", "status", "grants", "credits", "alerts", "verify", "revoke"]),
    SLACK_TEXT,
    st.sampled_from(["/trust", "/trust", "/other"]),
).map(lambda t: {"user": t[0], "text": f"{t[1]} {t[2]}".strip(), "command": t[3]})
BLOCK_ACTION = st.fixed_dictionaries(
    {
        "user": USERS,
        "team": TEAMS,
        "action_id": st.sampled_from([str(a) for a in Action]) | JSON_TEXT,
        "value": PAYLOAD_TEXT,
        "in_view": st.booleans(),
        # Sometimes one container of the payload in a shape Slack never sends.
        "mangle": st.none() | st.tuples(st.sampled_from(_CONTAINERS), JSON),
    }
)
STATE_VALUES = st.dictionaries(
    st.sampled_from(
        [
            "members",
            "blanket",
            "tier",
            "use_case",
            "justification",
            "duration",
            "org",
            "reason",
            "question",
            "answer",
            "roster",
            "attestations",
        ]
    )
    | JSON_TEXT,
    st.dictionaries(JSON_TEXT | st.sampled_from(["reason_input", "roster_input", "members_input"]), JSON, max_size=2),
    max_size=4,
)
VIEW_SUBMISSION = st.fixed_dictionaries(
    {
        "user": USERS,
        "team": TEAMS,
        "callback_id": st.sampled_from([str(v) for v in View]) | JSON_TEXT,
        "private_metadata": PAYLOAD_TEXT,
        "values": st.one_of(STATE_VALUES, JSON),
        "view_id": JSON_TEXT,
        "mangle": st.none() | st.tuples(st.sampled_from(_CONTAINERS), JSON),
    }
)
EVENT = st.fixed_dictionaries(
    {
        "team": TEAMS,
        "event_id": JSON_TEXT,
        "event": st.one_of(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["app_home_opened", "message", "app_mention", "member_joined_channel"])},
                optional={
                    "user": USERS,
                    "tab": st.sampled_from(["home", "messages"]) | JSON_TEXT,
                    "channel": JSON_TEXT,
                    "text": JSON_TEXT,
                    "view": JSON,
                },
            ),
            JSON,
        ),
        "type": st.sampled_from(["event_callback", "event_callback", "url_verification", "app_rate_limited"])
        | JSON_TEXT,
    }
)

_VALID_ORG = {
    "slug": "acme",
    "name": "Acme Security",
    "domains": ["acme.com"],
    "rep": REP,
    "backup_reps": [BACKUP_REP],
    "admins": [ADMIN],
    "security_leads": [SEC_LEAD],
    "max_tier": "enhanced",
    "verified_until": "2027-06-30",
    "credits": [{"id": "acme-2026", "amount_usd": 250000, "starts": "2026-01-01", "expires": "2027-01-01"}],
}
_VALID_TIER = {"id": "standard", "name": "Standard", "approvals": 1, "max_days": 365, "reverify_days": 180}
DIRECTORY_DATA = _item(
    {
        "operators": st.lists(USERS, max_size=2),
        "reps_channel": st.sampled_from(["C0REPS", "general"]),
        "security_channel": st.sampled_from(["C0SEC", ""]),
        "tiers": st.lists(_item({k: st.just(v) for k, v in _VALID_TIER.items()}), max_size=2),
        "orgs": st.lists(_item({k: st.just(v) for k, v in _VALID_ORG.items()}), max_size=3),
    }
)


def _dump(data: Any) -> str:
    try:
        return yaml.safe_dump(data, allow_unicode=True)
    except (yaml.YAMLError, UnicodeError):
        return str(data)


DIRECTORY_TEXT = st.one_of(
    DIRECTORY_DATA.map(_dump),
    st.text(max_size=200),
    st.sampled_from(["", "---", "- a\n- b", "orgs: !!python/object:os.system x", "a: &x 1\nb: *x", "{", "orgs: 5"]),
)
