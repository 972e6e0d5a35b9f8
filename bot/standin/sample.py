"""The sample program used by the tests and the benchmarks: people and a directory file."""

from __future__ import annotations

from trustbot.services.entitlements.identity import Profile

PEOPLE = {
    "U0OPS1": "Olga Operator",
    "U0REP1": "Rita Rep",
    "U0REP2": "Bob Backup",
    "U0ADM1": "Ada Admin",
    "U0ADM2": "Alan Admin",
    "U0SEC1": "Sam Security",
    "U0DEV1": "Dana Dev",
    "U0DEV2": "Eli Engineer",
    "U0OUT1": "Otto Outsider",
    "U0GLX1": "Gia Globex",
}

# What Slack shows as each sample person's email (users.info): members at their org's domains; the
# provider's own staff and the outsider are not at any customer's domain.
EMAILS = {
    "U0OPS1": "olga@trustbot.example",
    "U0REP1": "rita@trustbot.example",
    "U0REP2": "bob@trustbot.example",
    "U0ADM1": "ada@acme.com",
    "U0ADM2": "alan@acme.com",
    "U0SEC1": "sam@acme.com",
    "U0DEV1": "dana@acme.com",
    "U0DEV2": "eli@acme.com",
    "U0OUT1": "otto@gmail.com",
    "U0GLX1": "gia@globex.example",
}


def sample_profiles() -> dict[str, Profile]:
    """The sample people as `users.info` shows them, for services called without Slack (tests, benchmarks)."""
    return {user: Profile(user_id=user, name=PEOPLE[user], email=email) for user, email in EMAILS.items()}


DIRECTORY_YAML = """
operators: [U0OPS1]
reps_channel: C0REPS
security_channel: C0SEC
orgs:
  - slug: acme
    name: Acme Security
    domains: [acme.com]
    rep: U0REP1
    backup_reps: [U0REP2]
    admins: [U0ADM1, U0ADM2]
    security_leads: [U0SEC1]
    security_channel: C0ACMESEC
    max_tier: frontier
    verified_until: 2027-06-30
    credits:
      - {id: acme-2026, amount_usd: 250000, starts: 2026-01-01, expires: 2027-01-01}
  - slug: globex
    name: Globex
    domains: [globex.example]
    rep: U0REP2
    admins: [U0GLX1]
    security_leads: []
    max_tier: standard
    verified_until: 2027-03-31
"""
