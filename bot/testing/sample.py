"""The sample program used by the tests and the benchmarks: people and a directory file."""

from __future__ import annotations

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
