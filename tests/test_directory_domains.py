"""`trustbot orgs apply` and an org's email domains: one domain belongs to one org (whatever its case, whether
the other org is in the file or only in the database), and a domain taken from an org takes its named
members off the org's grants — audited, reported, and told to the gateway."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.gateway_helpers import approve_latest, gateway_bot, submit_request
from trustbot.cli.main import main
from trustbot.clock import FixedClock
from trustbot.standin.gateway import SECRET
from trustbot.standin.sample import DEV, DEV2, DIRECTORY_YAML
from trustbot.storage.database import Database
from trustbot.storage.tables import AuditEvent, Grant, GrantMember, Org, OrgDomain

ACME_ONLY = DIRECTORY_YAML[: DIRECTORY_YAML.index("  - slug: globex")]


@pytest.fixture
def cli(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The CLI on the test database (no `.env` is read from the working directory)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", database_url)
    return tmp_path


def apply(folder: Path, text: str) -> int:
    path = folder / "directory.yml"
    path.write_text(text)
    return main(["orgs", "apply", str(path)])


async def _rows(url: str, *tables: Any) -> list[list[Any]]:
    db = Database(url)
    try:
        async with db.sessions() as session:
            return [list((await session.scalars(select(t))).all()) for t in tables]
    finally:
        await db.dispose()


def rows(url: str, *tables: Any) -> list[list[Any]]:
    return asyncio.run(_rows(url, *tables))


@pytest.mark.parametrize("listed", ["ACME.com", "acme.com"])
def test_a_domain_listed_by_two_orgs_is_refused(
    cli: Path, database_url: str, capsys: pytest.CaptureFixture[str], listed: str
) -> None:
    assert apply(cli, DIRECTORY_YAML) == 0
    capsys.readouterr()
    [before] = rows(database_url, OrgDomain)
    shared = DIRECTORY_YAML.replace("domains: [globex.example]", f"domains: [globex.example, {listed}]")
    assert apply(cli, shared) == 2
    err = capsys.readouterr().err
    assert "domain 'acme.com': listed by more than one org: 'acme' and 'globex'" in err, err
    assert sorted((d.domain, d.org_id) for d in rows(database_url, OrgDomain)[0]) == sorted(
        (d.domain, d.org_id) for d in before
    )


def test_an_overlap_already_in_the_database_is_refused_on_the_next_apply(
    cli: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply(cli, DIRECTORY_YAML) == 0

    async def overlap() -> None:  # as an older Trustbot could leave it: globex also lists acme.com
        db = Database(database_url)
        try:
            async with db.transaction() as session:
                globex = (await session.scalars(select(Org).where(Org.slug == "globex"))).one()
                globex.domains = ["globex.example", "acme.com"]
                session.add(OrgDomain(domain="acme.com", org_id=globex.id or 0))
        finally:
            await db.dispose()

    asyncio.run(overlap())
    capsys.readouterr()
    # The file leaves globex alone, but the result would still have two orgs listing acme.com.
    assert apply(cli, ACME_ONLY.replace("name: Acme Security", "name: Acme Renamed")) == 2
    assert "domain 'acme.com': listed by more than one org: 'acme' and 'globex'" in capsys.readouterr().err
    [orgs] = rows(database_url, Org)
    assert {o.slug: o.name for o in orgs}["acme"] == "Acme Security"
    assert apply(cli, DIRECTORY_YAML) == 0  # a file that gives acme.com back to acme alone repairs it


async def test_a_removed_domain_takes_its_named_members_off_the_orgs_grants(
    cli: Path, database_url: str, fake_slack: Any, clock: FixedClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway_bot(database_url, fake_slack, clock) as (bot, gateway):
        monkeypatch.setenv("TRUSTBOT_WEBHOOK_URL", gateway.url)
        monkeypatch.setenv("TRUSTBOT_WEBHOOK_SECRET", SECRET)
        fake_slack.set_profile(DEV2, email="eli@acme.example")
        moved = DIRECTORY_YAML.replace("domains: [acme.com]", "domains: [acme.com, acme.example]")
        assert await asyncio.to_thread(apply, cli, moved) == 0
        await submit_request(bot, members=[DEV, DEV2])
        await approve_latest(bot)
        assert (await gateway.ask("dana@acme.com"))["entitled"] is True
        path = cli / "directory.yml"
        path.write_text(DIRECTORY_YAML.replace("domains: [acme.com]", "domains: [acme.example]"))
        out = await asyncio.to_thread(_apply_and_capture, path)
        assert out[0] == 0
        [grant_id] = [g.id for g in (await _rows(database_url, Grant))[0]]
        assert f"members removed (domain no longer the org's): #{grant_id} {DEV} (dana@acme.com)" in out[1]
        await bot.settle()
        assert gateway.types() == ["grant.activated", "grant.members_changed"]
        assert gateway.events[1]["data"]["grant"]["members"] == [
            {"slack_id": DEV2, "email": "eli@acme.example", "held": False, "reason": None}
        ]
        assert (await gateway.ask("dana@acme.com"))["entitled"] is False
        assert (await gateway.ask("eli@acme.example"))["entitled"] is True
        grants, members, audit = await _rows(database_url, Grant, GrantMember, AuditEvent)
        assert grants[0].members == [DEV2] and [m.slack_id for m in members] == [DEV2]
        [removed] = [e for e in audit if e.action == "grant.member_removed"]
        assert (removed.subject, removed.details["member"], removed.details["email"]) == (
            f"grant:{grant_id}",
            DEV,
            "dana@acme.com",
        )


def _apply_and_capture(path: Path) -> tuple[int, str]:
    """Run `orgs apply` and keep what it printed (capsys is not thread-safe across the event loop)."""
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["orgs", "apply", str(path)])
    return code, buffer.getvalue()
