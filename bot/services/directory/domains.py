"""An org's email domains: one domain belongs to one org, and a domain an org no longer lists takes its
people with it.

A domain listed by two orgs would let one org's blanket grant cover the other's people (and answer
for them under the wrong org), so the directory refuses it, whether both orgs are in the file or one
of them is an org the file leaves alone. When an apply removes a domain from an org, the named
members recorded at that domain leave the org's live grants in the same transaction, audited
(`/v1/entitlements` already refuses such an address; this keeps the rosters honest too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.file import DirectoryFile
from trustbot.services.entitlements.identity import domain_of
from trustbot.storage.queries.entitlements import keep_members, member_emails
from trustbot.storage.queries.grants import live_grants_for_orgs, transition_grant
from trustbot.storage.tables import LIVE_GRANTS, Org


def shared_domain_problems(directory: DirectoryFile, existing: Mapping[str, Org]) -> list[str]:
    """Domains more than one org would list after this apply (the file's orgs and those it leaves alone)."""
    listed = {spec.slug: list(spec.domains) for spec in directory.orgs}
    for slug, org in existing.items():
        listed.setdefault(slug, list(org.domains or []))
    owners: dict[str, set[str]] = {}
    for slug, domains in listed.items():
        for domain in domains:
            owners.setdefault(domain.strip().lower(), set()).add(slug)
    return [
        f"domain {domain!r}: listed by more than one org: " + " and ".join(repr(s) for s in sorted(slugs))
        for domain, slugs in sorted(owners.items())
        if len(slugs) > 1
    ]


def shared_team_problems(directory: DirectoryFile, existing: Mapping[str, Org]) -> list[str]:
    """Slack workspaces more than one org would bind after this apply (the file's orgs and those it leaves alone)."""
    bound = {spec.slug: spec.slack_team for spec in directory.orgs}
    for slug, org in existing.items():
        bound.setdefault(slug, org.slack_team)
    owners: dict[str, set[str]] = {}
    for slug, team in bound.items():
        if team:
            owners.setdefault(team, set()).add(slug)
    return [
        f"slack_team {team!r}: bound by more than one org: " + " and ".join(repr(s) for s in sorted(slugs))
        for team, slugs in sorted(owners.items())
        if len(slugs) > 1
    ]


@dataclass(frozen=True)
class RemovedMember:
    """A named member taken off a grant because their address's domain is no longer the org's."""

    grant_id: int
    slack_id: str
    email: str

    def describe(self) -> str:
        """`#3 U0DEV1 (dana@acme.com)`."""
        return f"#{self.grant_id} {self.slack_id} ({self.email})"


async def drop_off_domain_members(
    session: AsyncSession, ctx: ServiceContext, *, org: Org, domains: Iterable[str]
) -> tuple[list[int], list[RemovedMember]]:
    """Take members recorded outside `domains` off the org's live grants; (live grant ids, who was removed)."""
    current = {d.lower() for d in domains}
    live = await live_grants_for_orgs(session, org_ids=[org.pk])
    emails = await member_emails(session, grant_ids=[g.pk for g in live])
    removed: list[RemovedMember] = []
    for grant in live:
        recorded = emails.get(grant.pk, {})
        gone = [m for m in grant.members if m in recorded and domain_of(recorded[m]) not in current]
        if not gone:
            continue
        kept = [m for m in grant.members if m not in gone]
        if not await transition_grant(session, grant_id=grant.pk, from_statuses=LIVE_GRANTS, values={"members": kept}):
            continue
        await keep_members(session, grant_id=grant.pk, slack_ids=kept)
        for member in gone:
            why = f"their email domain ({domain_of(recorded[member])}) is no longer one of {org.slug}'s domains"
            details = {"member": member, "email": recorded[member], "why": why, "members": kept}
            subject = f"grant:{grant.pk}"
            await record_audit(session, ctx, action="grant.member_removed", subject=subject, details=details)
            removed.append(RemovedMember(grant.pk, member, recorded[member]))
        grant.members = kept
    return [g.pk for g in live], removed
