"""Apply and inspect Alembic migrations programmatically.

Alembic itself (and the Mako, Pygments and configparser it pulls in, ~0.15 s of imports) is loaded
only when a migration really has to run: the head revision is read from the revision files, and the
database's revision with one query, so a start or a readiness probe on a database already at head
never touches Alembic.
"""

from __future__ import annotations

import ast
import asyncio
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncEngine

from trustbot.storage.database import create_engine
from trustbot.storage.queries.schema import stored_revisions

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and `url`."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _revision_ids(source: str) -> tuple[str | None, set[str]]:
    """A revision file's `revision` and its `down_revision`s (module-level assignments)."""
    revision: str | None = None
    down: set[str] = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = ast.literal_eval(node.value) if isinstance(node.value, ast.Constant | ast.Tuple) else None
            if node.targets[0].id == "revision" and isinstance(value, str):
                revision = value
            elif node.targets[0].id == "down_revision" and value:
                down |= {value} if isinstance(value, str) else set(value)
    return revision, down


class UnknownRevision(Exception):
    """The database records a revision this version does not ship: a newer release migrated it."""


@cache
def known_revisions() -> frozenset[str]:
    """Every revision shipped with this version."""
    return frozenset(revision for revision, _ in _shipped())


def _shipped() -> list[tuple[str, set[str]]]:
    found = [_revision_ids(path.read_text()) for path in sorted((MIGRATIONS / "versions").glob("*.py"))]
    return [(revision, down) for revision, down in found if revision is not None]


def revision_problem(revision: str | None) -> str | None:
    """What an operator must do about a database at `revision` before using it (None: it is at head)."""
    if revision == head_revision():
        return None
    if revision is None:
        return "the database is not migrated: run `trustbot db upgrade`"
    if revision not in known_revisions():
        return (
            f"the database is at revision {revision}, which this version of trustbot does not know "
            f"(its newest is {head_revision()}): a newer release migrated it; run that release"
        )
    return f"the database is at revision {revision}, not {head_revision()}: run `trustbot db upgrade`"


@cache
def head_revision() -> str | None:
    """The newest revision shipped with this version: the one no other revision builds on."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for revision, down in _shipped():
        revisions.add(revision)
        parents |= down
    heads = sorted(revisions - parents)
    if len(heads) > 1:
        raise RuntimeError(f"the migrations have more than one head: {heads}")
    return heads[0] if heads else None


async def upgrade(url: str) -> None:
    """Bring the database at `url` to the newest revision (runs Alembic in a worker thread, if needed)."""
    engine = create_engine(url)
    try:
        revision = await current_revision(engine)
    finally:
        await engine.dispose()
    if revision == head_revision():
        return
    if revision is not None and revision not in known_revisions():
        raise UnknownRevision(revision_problem(revision))
    from alembic import command

    await asyncio.to_thread(command.upgrade, alembic_config(url), "head")


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None when never migrated."""
    async with engine.connect() as connection:
        revisions = await stored_revisions(connection)
    if len(revisions) > 1:
        raise RuntimeError(f"the database records more than one revision: {revisions}")
    return revisions[0] if revisions else None


async def is_up_to_date(engine: AsyncEngine) -> bool:
    """True when the database answers and sits at the head revision."""
    return await current_revision(engine) == head_revision()
