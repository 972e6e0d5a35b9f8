"""The sample program used by the tests and the benchmarks: people and a directory file."""

from __future__ import annotations

from trustbot.services.entitlements.identity import Profile

# The sample people, each by one name: the tests, the benchmarks and the demo use these.
OPERATOR = "U0OPS1"  # Olga Operator, one of the provider's operators
REP = "U0REP1"  # Rita Rep, acme's account rep
BACKUP_REP = "U0REP2"  # Bob Backup, acme's backup rep and globex's account rep
ADMIN = "U0ADM1"  # Ada Admin, an acme admin
ADMIN2 = "U0ADM2"  # Alan Admin, acme's other admin
SEC_LEAD = "U0SEC1"  # Sam Security, acme's security lead
DEV = "U0DEV1"  # Dana Dev, an acme member in no directory role
DEV2 = "U0DEV2"  # Eli Engineer, another acme member in no directory role
OUTSIDER = "U0OUT1"  # Otto Outsider, in no org at all
GLOBEX_ADMIN = "U0GLX1"  # Gia Globex, globex's admin

PEOPLE = {
    OPERATOR: "Olga Operator",
    REP: "Rita Rep",
    BACKUP_REP: "Bob Backup",
    ADMIN: "Ada Admin",
    ADMIN2: "Alan Admin",
    SEC_LEAD: "Sam Security",
    DEV: "Dana Dev",
    DEV2: "Eli Engineer",
    OUTSIDER: "Otto Outsider",
    GLOBEX_ADMIN: "Gia Globex",
}

# What Slack shows as each sample person's email (users.info): members at their org's domains; the
# provider's own staff and the outsider are not at any customer's domain.
EMAILS = {
    OPERATOR: "olga@trustbot.example",
    REP: "rita@trustbot.example",
    BACKUP_REP: "bob@trustbot.example",
    ADMIN: "ada@acme.com",
    ADMIN2: "alan@acme.com",
    SEC_LEAD: "sam@acme.com",
    DEV: "dana@acme.com",
    DEV2: "eli@acme.com",
    OUTSIDER: "otto@gmail.com",
    GLOBEX_ADMIN: "gia@globex.example",
}


def sample_profiles() -> dict[str, Profile]:
    """The sample people as `users.info` shows them, for services called without Slack (tests, benchmarks)."""
    return {user: Profile(user_id=user, name=PEOPLE[user], email=email) for user, email in EMAILS.items()}


# The sample directory file. It names the people by their Slack ids, as an operator's file does; the
# names above are those ids.
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
