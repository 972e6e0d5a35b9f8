"""Who is who: resolving a Slack user to their roles in each org, operators and strangers."""

from __future__ import annotations

from tests.support.factories import acting, seed_directory, settings
from trustbot.clock import FixedClock
from trustbot.services.directory.people import resolve_actor
from trustbot.standin.sample import ADMIN, BACKUP_REP, DIRECTORY_YAML, OPERATOR, OUTSIDER, REP, SEC_LEAD
from trustbot.storage.database import Database
from trustbot.storage.queries.directory import get_org
from trustbot.storage.tables import Role

DIRECTORY = DIRECTORY_YAML


async def test_resolve_actor_roles_operators_and_strangers(db: Database, clock: FixedClock) -> None:
    await seed_directory(db, clock, DIRECTORY)
    async with db.sessions() as session:
        acme_org = await get_org(session, slug="acme")
        globex_org = await get_org(session, slug="globex")
        assert acme_org is not None and acme_org.id is not None and globex_org is not None and globex_org.id is not None
        acme, globex = acme_org.id, globex_org.id
        rep = await resolve_actor(session, user_id=REP, settings_operators=[])
        assert rep.roles == {acme: frozenset({Role.REP})} and not rep.is_operator
        assert rep.is_rep_of(acme) and not rep.is_rep_of(globex) and not rep.is_admin_of(acme)
        backup = await resolve_actor(session, user_id=BACKUP_REP, settings_operators=[])
        assert backup.is_rep_of(acme) and backup.is_rep_of(globex) and backup.org_ids(Role.REP) == [globex]
        assert backup.roles == {acme: frozenset({Role.BACKUP_REP}), globex: frozenset({Role.REP})}
        admin = await resolve_actor(session, user_id=ADMIN, settings_operators=[])
        assert admin.is_admin_of(acme) and not admin.is_rep_of(acme) and admin.org_ids() == [acme] and admin.is_known
        lead = await resolve_actor(session, user_id=SEC_LEAD, settings_operators=[])
        assert lead.roles == {acme: frozenset({Role.SECURITY_LEAD})}
        assert lead.is_security_lead_of(acme) and not lead.is_security_lead_of(globex)
        from_file = await resolve_actor(session, user_id=OPERATOR, settings_operators=[])
        from_env = await resolve_actor(session, user_id="U0ENV1", settings_operators=["U0ENV1"])
        assert from_file.is_operator and from_file.roles == {}
        assert from_env.is_operator and from_env.is_known and from_env.roles == {}
        stranger = await resolve_actor(session, user_id=OUTSIDER, settings_operators=["U0ENV1"])
        assert not stranger.is_known and not stranger.is_operator and stranger.org_ids() == []
        assert not stranger.has_role(acme, *Role)
        # A Slack request's context resolves the same way, operators from the settings included.
        ctx = await acting(session, "U0ENV1", clock, settings(TRUSTBOT_OPERATORS="U0ENV1"))
        assert (ctx.user_id, ctx.actor) == ("U0ENV1", from_env)
        assert (await acting(session, REP, clock)).actor == rep


async def test_resolve_actor_before_any_directory(db: Database) -> None:
    async with db.sessions() as session:
        actor = await resolve_actor(session, user_id=REP, settings_operators=[])
    assert (actor.is_known, actor.is_operator, actor.roles) == (False, False, {})
