"""The directory file (a contract): parse it strictly, apply it idempotently.

`parse_directory` collects every problem into one `DirectoryError`, one line per problem naming
the org (or tier) and field. `apply_directory` runs inside the caller's transaction, so the
caller's `db.transaction()` makes it all or nothing; checks that need the database run before
anything is written. Orgs missing from the file are left alone and reported. Credits missing
from the file are kept too: usage records may point at them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from trustbot.services.audit import record_audit
from trustbot.services.context import ServiceContext
from trustbot.services.directory.connect import post_connect_buttons
from trustbot.services.directory.domains import drop_off_domain_members, shared_domain_problems, shared_team_problems
from trustbot.services.directory.file import (  # the file format lives there; re-exported for callers
    _ROLE_FIELDS,
    DEFAULT_TIERS,
    CreditSpec,
    DirectoryFile,
    OrgSpec,
    TierSpec,
    _summary,
    parse_directory,
)
from trustbot.services.directory.verification import restore_org_verification
from trustbot.services.entitlements.events import GrantEvent, grant_changed
from trustbot.services.errors import DirectoryError
from trustbot.storage.queries.directory import (
    clear_roles,
    count_tiers,
    credit_grants_of,
    credit_owners,
    get_directory_state,
    list_orgs,
    list_tiers,
    lock_directory,
    orgs_with_roles,
    tier_usage,
)
from trustbot.storage.queries.entitlements import set_org_domains
from trustbot.storage.tables import CreditGrant, Org, OrgRole, Role, Tier

__all__ = [
    "DEFAULT_TIERS",
    "ApplyReport",
    "CreditSpec",
    "DirectoryFile",
    "OrgSpec",
    "TierSpec",
    "apply_directory",
    "ensure_default_tiers",
    "format_apply_report",
    "list_orgs_summary",
    "parse_directory",
]


@dataclass
class ApplyReport:
    """What `apply_directory` did, by org slug."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    missing_from_file: list[str] = field(default_factory=list)
    verification_extended: list[str] = field(default_factory=list)
    grants_restored: list[int] = field(default_factory=list)
    members_removed: list[str] = field(default_factory=list)  # named members whose domain left their org
    tiers_changed: list[str] = field(default_factory=list)
    settings_changed: list[str] = field(default_factory=list)
    connect_posted: list[str] = field(default_factory=list)  # orgs whose Connect channel gets Request access

    @property
    def changed(self) -> bool:
        """True when the apply wrote anything that matters."""
        return bool(self.created or self.updated or self.tiers_changed or self.settings_changed)


async def ensure_default_tiers(session: AsyncSession) -> bool:
    """Insert the default tiers when there are none; True when it did."""
    if await count_tiers(session):
        return False
    for rank, spec in enumerate(DEFAULT_TIERS):
        session.add(Tier(rank=rank, **spec.model_dump()))
    await session.flush()
    return True


async def _database_problems(session: AsyncSession, directory: DirectoryFile, existing: dict[str, Org]) -> list[str]:
    """What the file cannot do to this database: steal credits, drop tiers still in use, share a domain."""
    return [
        *shared_domain_problems(directory, existing),
        *shared_team_problems(directory, existing),
        *await _credit_problems(session, directory, existing),
        *await _tier_problems(session, directory, existing),
    ]


async def _credit_problems(session: AsyncSession, directory: DirectoryFile, existing: dict[str, Org]) -> list[str]:
    """Credit ids the file gives an org other than the one that owns them."""
    wanted = {c.id: (org.slug, i) for org in directory.orgs for i, c in enumerate(org.credits)}
    if not wanted:
        return []
    slug_of = {org.pk: slug for slug, org in existing.items()}
    problems: list[str] = []
    for credit_id, org_id in (await credit_owners(session, credit_ids=list(wanted))).items():
        slug, i = wanted[credit_id]
        if slug_of.get(org_id) != slug:
            problems.append(
                f"org {slug!r}: field 'credits[{i}].id': credit id {credit_id!r} already belongs to org "
                f"{slug_of.get(org_id, org_id)!r}"
            )
    return problems


async def _tier_problems(session: AsyncSession, directory: DirectoryFile, existing: dict[str, Org]) -> list[str]:
    """Tiers the file drops that grants, requests or unlisted orgs still use; `max_tier`s naming no tier."""
    db_tiers = {t.id for t in await list_tiers(session)}
    if directory.tiers is None:  # the file keeps the tiers already defined; max_tier must name one of those
        return [
            f"org {org.slug!r}: field 'max_tier': unknown tier {org.max_tier!r} (tiers: {', '.join(sorted(db_tiers))})"
            for org in directory.orgs
            if db_tiers and org.max_tier is not None and org.max_tier not in db_tiers
        ]
    problems: list[str] = []
    file_slugs = {o.slug for o in directory.orgs}
    for tier_id in sorted(db_tiers - {t.id for t in directory.tiers}):
        grants, requests = await tier_usage(session, tier_id=tier_id)
        if grants or requests:
            problems.append(
                f"tier {tier_id!r}: cannot be removed: {grants} active or suspended grants and {requests} open "
                "requests use it"
            )
        for slug in sorted(s for s, o in existing.items() if o.max_tier == tier_id and s not in file_slugs):
            problems.append(
                f"tier {tier_id!r}: cannot be removed: it is the max_tier of org {slug!r}, which this file does not "
                "list"
            )
    return problems


async def _apply_tiers(session: AsyncSession, specs: list[TierSpec] | None) -> list[str]:
    if specs is None:
        return ["default tiers created"] if await ensure_default_tiers(session) else []
    changes: list[str] = []
    current = {t.id: t for t in await list_tiers(session)}
    for rank, spec in enumerate(specs):
        values = {**spec.model_dump(), "rank": rank}
        tier = current.pop(spec.id, None)
        if tier is None:
            session.add(Tier(**values))
            changes.append(f"tier {spec.id} added")
        elif any(getattr(tier, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(tier, key, value)
            changes.append(f"tier {spec.id} changed")
    for tier in current.values():
        await session.delete(tier)
        changes.append(f"tier {tier.id} removed")
    await session.flush()
    return changes


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


async def _apply_org(
    session: AsyncSession, spec: OrgSpec, org: Org, roles: dict[Role, list[str]], now: datetime
) -> dict[str, Any]:
    """Bring one existing (or just added) org in line with its spec; return what changed."""
    changes = _apply_fields(spec, org)
    if "domains" in changes:  # the index `/v1/entitlements` finds an address's org by
        await set_org_domains(session, org_id=org.pk, domains=org.domains)
    changes.update(await _apply_roles(session, spec, org, roles))
    credits = await _apply_credits(session, spec, org)
    if credits:
        changes["credits"] = credits
    if changes:
        org.updated_at = now
    await session.flush()
    return changes


def _apply_fields(spec: OrgSpec, org: Org) -> dict[str, Any]:
    """Copy the org's own fields from its spec; each change as `{"from": …, "to": …}`."""
    changes: dict[str, Any] = {}
    for name in ("name", "domains", "security_channel", "max_tier", "verified_until", "slack_team", "connect_channel"):
        old, new = getattr(org, name), getattr(spec, name)
        if old != new:
            changes[name] = {"from": _jsonable(old), "to": _jsonable(new)}
            setattr(org, name, list(new) if isinstance(new, list) else new)
    for name in ("issuer", "jwks_uri"):
        old, new = getattr(org, f"ssf_{name}"), getattr(spec.ssf, name) if spec.ssf else None
        if old != new:
            changes[f"ssf.{name}"] = {"from": old, "to": new}
            setattr(org, f"ssf_{name}", new)
    return changes


async def _apply_roles(session: AsyncSession, spec: OrgSpec, org: Org, roles: dict[Role, list[str]]) -> dict[str, Any]:
    """Replace the org's roles when the spec names other people; the changes by role field."""
    desired = {
        Role.REP: [spec.rep],
        Role.BACKUP_REP: spec.backup_reps,
        Role.ADMIN: spec.admins,
        Role.SECURITY_LEAD: spec.security_leads,
    }
    changes = {
        _ROLE_FIELDS[role]: {"from": roles.get(role, []), "to": list(people)}
        for role, people in desired.items()
        if roles.get(role, []) != people
    }
    if changes:
        await clear_roles(session, org_id=org.pk)
        for role, people in desired.items():
            for position, user_id in enumerate(people):
                session.add(OrgRole(org_id=org.pk, user_id=user_id, role=role.value, position=position))
    return changes


async def _apply_credits(session: AsyncSession, spec: OrgSpec, org: Org) -> dict[str, list[str]]:
    """Add or change the org's credit grants the spec lists (others are kept); the ids `added` and `changed`."""
    changes: dict[str, list[str]] = {}
    current = {c.id: c for c in await credit_grants_of(session, org_ids=[org.pk])}
    for credit in spec.credits:
        row = current.get(credit.id)
        values = credit.model_dump(exclude={"id"})
        if row is None:
            session.add(CreditGrant(id=credit.id, org_id=org.pk, **values))
            changes.setdefault("added", []).append(credit.id)
        elif any(getattr(row, k) != v for k, v in values.items()):
            for key, value in values.items():
                setattr(row, key, value)
            changes.setdefault("changed", []).append(credit.id)
    return changes


async def _apply_orgs(
    session: AsyncSession, ctx: ServiceContext, directory: DirectoryFile, existing: dict[str, Org], report: ApplyReport
) -> None:
    """Create or update each org of the file, auditing each change, and report what happened to it."""
    now = ctx.now()
    roles = await orgs_with_roles(session, org_ids=[o.pk for o in existing.values()])
    for spec in directory.orgs:
        org = existing.get(spec.slug)
        if org is None:
            org = Org(slug=spec.slug, name=spec.name, domains=[], updated_at=now)
            session.add(org)
            await session.flush()
            await _apply_org(session, spec, org, {}, now)
            report.created.append(spec.slug)
            details = {k: _jsonable(v) for k, v in spec.model_dump(exclude={"credits"}).items()}
            details["credits"] = [c.id for c in spec.credits]
            await record_audit(session, ctx, action="org.created", subject=f"org:{spec.slug}", details=details)
            continue
        old_verified = org.verified_until
        changes = await _apply_org(session, spec, org, roles.get(org.pk, {}), now)
        if not changes:
            report.unchanged.append(spec.slug)
            continue
        report.updated.append(spec.slug)
        if spec.verified_until is not None and (old_verified is None or spec.verified_until > old_verified):
            report.verification_extended.append(spec.slug)
        await record_audit(session, ctx, action="org.updated", subject=f"org:{spec.slug}", details=changes)
        if "domains" in changes:  # what the org's grants cover changed: the gateway must hear of it
            live, removed = await drop_off_domain_members(session, ctx, org=org, domains=spec.domains)
            report.members_removed += [m.describe() for m in removed]
            await grant_changed(session, ctx, live, GrantEvent.MEMBERS_CHANGED)
    file_slugs = {o.slug for o in directory.orgs}
    report.missing_from_file = sorted(s for s in existing if s not in file_slugs)


async def _apply_program_settings(
    session: AsyncSession, ctx: ServiceContext, directory: DirectoryFile, report: ApplyReport
) -> None:
    state = await get_directory_state(session, create=True)
    for name in ("operators", "reps_channel", "security_channel"):
        new = getattr(directory, name)
        if (getattr(state, name) or ([] if name == "operators" else None)) != new:
            report.settings_changed.append(name)
            setattr(state, name, list(new) if isinstance(new, list) else new)
    # applied_at is bookkeeping (when the file was last applied), not directory content.
    state.applied_at = ctx.now()
    await session.flush()


async def apply_directory(session: AsyncSession, ctx: ServiceContext, directory: DirectoryFile) -> ApplyReport:
    """Apply a parsed directory in the caller's transaction; idempotent, audited when it changes anything.

    An org whose `verified_until` moved later gets back the grants its lapsed verification
    suspended, in the same transaction.
    """
    await lock_directory(session)
    existing = {org.slug: org for org in await list_orgs(session)}
    problems = await _database_problems(session, directory, existing)
    if problems:
        raise DirectoryError(_summary(problems))
    report = ApplyReport(tiers_changed=await _apply_tiers(session, directory.tiers))
    await _apply_orgs(session, ctx, directory, existing, report)
    await _apply_program_settings(session, ctx, directory, report)
    if report.changed:
        details = {
            "created": report.created,
            "updated": report.updated,
            "missing_from_file": report.missing_from_file,
            "tiers": report.tiers_changed,
            "settings": report.settings_changed,
        }
        if report.members_removed:
            details["members_removed"] = report.members_removed
        await record_audit(session, ctx, action="directory.applied", subject="directory", details=details)
    if report.verification_extended:
        extended = [existing[slug].pk for slug in report.verification_extended]
        report.grants_restored = await restore_org_verification(session, ctx, org_ids=extended)
    report.connect_posted = await post_connect_buttons(session, ctx)
    return report


def format_apply_report(report: ApplyReport) -> str:
    """A few human lines summarising an apply."""
    lines = [
        f"directory applied: {len(report.created)} created, {len(report.updated)} updated, {len(report.unchanged)} "
        "unchanged"
    ]
    for label, items in (
        ("created", report.created),
        ("updated", report.updated),
        ("not in the file, left alone", report.missing_from_file),
        ("verification extended", report.verification_extended),
        ("tiers", report.tiers_changed),
        ("program settings changed", report.settings_changed),
        ("Request access message queued (delivery posts and pins it)", report.connect_posted),
    ):
        if items:
            lines.append(f"{label}: {', '.join(items)}")
    if report.grants_restored:
        lines.append("grants restored (org verified again): " + ", ".join(f"#{g}" for g in report.grants_restored))
    if report.members_removed:
        lines.append("members removed (domain no longer the org's): " + ", ".join(report.members_removed))
    if not report.changed:
        lines.append("nothing changed")
    return "\n".join(lines)


async def list_orgs_summary(session: AsyncSession) -> list[dict[str, Any]]:
    """One row per org for `trustbot orgs list`."""
    orgs = await list_orgs(session)
    roles = await orgs_with_roles(session, org_ids=[o.pk for o in orgs])
    rows = []
    for org in orgs:
        people = roles.get(org.pk, {})
        rows.append(
            {
                "slug": org.slug,
                "name": org.name,
                "rep": next(iter(people.get(Role.REP, [])), None),
                "admins": len(people.get(Role.ADMIN, [])),
                "security_channel": org.security_channel,
                "max_tier": org.max_tier,
                "verified_until": org.verified_until.isoformat() if org.verified_until else None,
                "slack_team": org.slack_team,
                "connect_channel": org.connect_channel,
            }
        )
    return rows
