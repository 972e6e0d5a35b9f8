"""Parsing the directory file strictly: every problem named by org and field, and nothing but
`DirectoryError` for any input."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from trustbot.services.directory.apply import parse_directory
from trustbot.services.errors import DirectoryError
from trustbot.standin.sample import DIRECTORY_YAML, REP

DIRECTORY = DIRECTORY_YAML


def test_unknown_top_level_field_and_yaml_syntax() -> None:
    with pytest.raises(DirectoryError, match="field 'owner': unknown field"):
        parse_directory(DIRECTORY + "owner: me\n")
    with pytest.raises(DirectoryError, match="field 'reps_channel': not a Slack channel id"):
        parse_directory(DIRECTORY.replace("reps_channel: C0REPS", "reps_channel: '#reps'"))
    with pytest.raises(DirectoryError, match="YAML syntax error at line 3, column"):
        parse_directory("operators: [U0OPS1]\nreps_channel: C0REPS\nsecurity_channel: C0SEC: x\n")
    with pytest.raises(DirectoryError, match="key 'rep' appears twice"):
        parse_directory(DIRECTORY.replace("rep: U0REP1", "rep: U0REP1\n    rep: U0REP3"))


def test_cross_field_problems_are_all_reported() -> None:
    bad = (
        DIRECTORY.replace("max_tier: standard", "max_tier: gold")
        .replace(
            "verified_until: 2027-03-31",
            "verified_until: 2027-03-31\n"
            "    credits: [{id: acme-2026, amount_usd: 5, starts: 2026-01-01, expires: 2026-01-01}]",
        )
        .replace("slug: globex", "slug: acme")
    )
    with pytest.raises(DirectoryError) as caught:
        parse_directory(bad)
    assert caught.value.message.splitlines() == [
        "invalid directory file (4 problems):",
        "  org 'acme': field 'credits[0].expires': must be after starts (2026-01-01)",
        "  org 'acme': field 'slug': listed more than once",
        "  org 'acme': field 'max_tier': unknown tier 'gold' (tiers: enhanced, frontier, standard)",
        "  org 'acme': field 'credits[0].id': credit id 'acme-2026' is also used by org 'acme'",
    ]


def test_max_tier_is_checked_against_the_files_tiers() -> None:
    tiers = "tiers:\n  - {id: basic, name: Basic, approvals: 1, max_days: 30, reverify_days: 30}\n"
    with pytest.raises(
        DirectoryError, match="org 'acme': field 'max_tier': unknown tier 'frontier' \\(tiers: basic\\)"
    ):
        parse_directory(tiers + DIRECTORY)
    parsed = parse_directory(
        tiers + DIRECTORY.replace("max_tier: frontier", "max_tier: basic").replace("max_tier: standard", "")
    )
    assert [t.id for t in parsed.tiers or []] == ["basic"]


_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.dates(),
    st.sampled_from(["acme", REP, "C0SEC", "standard", "2027-06-30", "acme.com", "bad id", ""]),
)


_keys = st.sampled_from(
    [
        "slug",
        "name",
        "domains",
        "rep",
        "backup_reps",
        "admins",
        "security_leads",
        "security_channel",
        "max_tier",
        "verified_until",
        "credits",
        "id",
        "amount_usd",
        "starts",
        "expires",
        "approvals",
        "max_days",
        "reverify_days",
        "operators",
        "reps_channel",
        "tiers",
        "orgs",
        "other",
    ]
)


_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_keys, inner, max_size=6), max_leaves=25
)


_files = st.dictionaries(_keys, _values, max_size=8) | _values


@hypothesis_settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files)
def test_parse_directory_only_ever_raises_directory_error(data: object) -> None:
    try:
        parse_directory(yaml.safe_dump(data))
    except DirectoryError as exc:
        assert exc.message.startswith("invalid directory file"), exc.message


@hypothesis_settings(max_examples=50, deadline=None)
@given(st.sampled_from(["rep", "name", "domains", "max_tier", "credits", "slug", "admins"]), _values)
def test_a_broken_org_field_is_named(field_name: str, value: object) -> None:
    data = yaml.safe_load(DIRECTORY)
    data["orgs"][0][field_name] = value
    try:
        parse_directory(yaml.safe_dump(data))
    except DirectoryError as exc:
        assert f"field '{field_name}" in exc.message


@pytest.mark.parametrize(
    ("url", "ok"),
    [("https://idp.acme.com", True), ("http://127.0.0.1:8080/idp", True), ("http://idp.acme.com", False),
     ("ftp://idp.acme.com", False), ("https://", False)],
)  # fmt: skip
def test_ssf_urls_are_https_or_loopback(url: str, ok: bool) -> None:
    data = yaml.safe_load(DIRECTORY)
    data["orgs"][0]["ssf"] = {"issuer": url, "jwks_uri": url}
    if ok:
        assert parse_directory(yaml.safe_dump(data)).orgs[0].ssf is not None
    else:
        with pytest.raises(DirectoryError, match="ssf"):
            parse_directory(yaml.safe_dump(data))
