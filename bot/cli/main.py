"""The `trustbot` command line."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trustbot.cli.entitlements import add_entitlements_parser, run_entitlements
from trustbot.cli.errors import EXIT_USAGE, CliError, check_database, one_line
from trustbot.config import Settings, load_settings
from trustbot.logs import configure_logging

if TYPE_CHECKING:
    from trustbot.services.audit_checkpoints import Checkpoint
    from trustbot.storage.database import Database


def _command(commands: Any, name: str, summary: str) -> argparse.ArgumentParser:
    """A subcommand whose `--help` says what it does (the same words as in the list above it)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name, help=summary, description=summary[0].upper() + summary[1:]
    )
    return parser


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trustbot", description="Trusted-access program bot for Slack.")
    parser.add_argument("--version", action="version", version=f"trustbot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    _command(commands, "serve", "run the bot (HTTP mode, or Socket Mode when SLACK_APP_TOKEN is set)")
    demo = _command(commands, "demo", "play the whole story against a local Slack stand-in")
    demo.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)

    orgs = _command(commands, "orgs", "the directory of orgs, people and tiers").add_subparsers(
        dest="orgs_command", required=True, metavar="ACTION"
    )
    apply = _command(orgs, "apply", "apply a directory file (all or nothing)")
    apply.add_argument("file", type=Path, help="the directory file (YAML)")
    _command(orgs, "list", "list orgs")

    audit = _command(commands, "audit", "the hash-chained audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    verify = _command(audit, "verify", "check the hash chain, and that no checkpointed event is missing")
    verify.add_argument(
        "--checkpoint", metavar="COUNT:HASH", help="also check against a checkpoint kept elsewhere (the audit channel)"
    )
    export = _command(audit, "export", "print events as JSON lines")
    export.add_argument("--since", help="RFC 3339 time; only events at or after it")

    db = _command(commands, "db", "database maintenance").add_subparsers(
        dest="db_command", required=True, metavar="ACTION"
    )
    _command(db, "upgrade", "apply pending migrations")

    installs = _command(commands, "installs", "customer workspaces that installed Trustbot").add_subparsers(
        dest="installs_command", required=True, metavar="ACTION"
    )
    _command(installs, "list", "list installations and the org each is bound to")
    link = _command(installs, "link", "print a single-use install link for an org")
    link.add_argument("org", help="the org's slug")

    scim = _command(commands, "scim", "the orgs' SCIM service provider").add_subparsers(
        dest="scim_command", required=True, metavar="ACTION"
    )
    scim_token = _command(scim, "token", "issue the org's SCIM bearer token (printed once; replaces the old one)")
    scim_token.add_argument("org", help="the org's slug")

    _add_jobs_parser(commands)
    add_entitlements_parser(commands, _command)
    return parser


def _version() -> str:
    try:
        return metadata.version("trustbot")
    except metadata.PackageNotFoundError:
        return "unknown"


def _add_jobs_parser(commands: Any) -> None:
    try:
        from trustbot.scheduler.cli import add_jobs_parser
    except ImportError:
        return
    add_jobs_parser(commands)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trustbot` console script; failures an operator can fix are one line, exit 2."""
    args = _parser().parse_args(argv)
    database_url = ""
    try:
        settings = load_settings()
        database_url = settings.database_url
        # The other commands print their own results: only warnings (or everything, at DEBUG) are logged.
        quiet = "DEBUG" if settings.log_level == "DEBUG" else "WARNING"
        configure_logging(settings.log_level if args.command == "serve" else quiet, settings.log_format)
        return asyncio.run(_run(settings, args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = one_line(exc, database_url)
        if line is None:
            raise
        print(f"trustbot: {line}", file=sys.stderr)
        return EXIT_USAGE


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "serve":
        settings.require_for_serve()
    if args.command != "demo":
        await check_database(settings.database_url)
    return await _HANDLERS[args.command](settings, args)


async def _serve(settings: Settings, _: argparse.Namespace) -> int:
    from trustbot.services.errors import DirectoryError
    from trustbot.web.server import TrustbotServer

    try:
        await TrustbotServer(settings).run_until_signalled()
    except DirectoryError as exc:
        raise CliError(f"TRUSTBOT_DIRECTORY {settings.directory}: {exc.message}") from None
    return 0


async def _demo(_: Settings, args: argparse.Namespace) -> int:
    from trustbot.demo import run_demo

    return await run_demo(out=sys.stdout, quiet=args.quiet)


async def _orgs(settings: Settings, args: argparse.Namespace) -> int:
    from trustbot.clock import SystemClock
    from trustbot.services.context import system_context
    from trustbot.services.directory.apply import (
        apply_directory,
        format_apply_report,
        list_orgs_summary,
        parse_directory,
    )
    from trustbot.services.errors import DirectoryError
    from trustbot.storage.database import Database
    from trustbot.storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        if args.orgs_command == "apply":
            try:
                text = args.file.read_text()
            except OSError as exc:
                raise CliError(f"cannot read {args.file}: {exc.strerror}") from None
            try:
                directory = parse_directory(text)
                async with db.transaction() as session:
                    report = await apply_directory(
                        session, system_context(SystemClock(), settings, as_user="cli"), directory
                    )
            except DirectoryError as exc:
                raise CliError(f"{args.file}: {exc.message}") from None
            print(format_apply_report(report))
            return 0
        async with db.sessions() as session:
            rows = await list_orgs_summary(session)
        _print_table(rows)
        return 0
    finally:
        await db.dispose()


async def _audit(settings: Settings, args: argparse.Namespace) -> int:
    from trustbot.clock import parse_rfc3339
    from trustbot.services.audit import ExportTally, iter_audit_export
    from trustbot.services.audit_checkpoints import parse_checkpoint
    from trustbot.storage.database import Database

    try:
        given = parse_checkpoint(args.checkpoint) if getattr(args, "checkpoint", None) else None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    try:
        since = parse_rfc3339(args.since) if getattr(args, "since", None) else None
    except ValueError:
        raise CliError(f"--since {args.since!r} is not an RFC 3339 time") from None
    db = Database(settings.database_url)
    try:
        async with _audit_database(db):
            if args.audit_command == "verify":
                return await _audit_verify(db, settings, given)
            tally = ExportTally()
            async with db.sessions() as session:
                async for line in iter_audit_export(session, tally, since=since):
                    sys.stdout.write(line + "\n")
        if tally.corrupt:
            shown = ", ".join(map(str, tally.corrupt[:10])) + (" …" if len(tally.corrupt) > 10 else "")
            print(f"{len(tally.corrupt)} corrupt event(s) exported as stored, marked corrupt: {shown}", file=sys.stderr)
            return 1
        return 0
    finally:
        await db.dispose()


@asynccontextmanager
async def _audit_database(db: Database) -> AsyncIterator[None]:
    """Refuse an unmigrated database and turn an unreachable one into one line (exit 2), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from trustbot.storage.migrate import current_revision, revision_problem

    try:
        revision = await current_revision(db.engine)
        problem = revision_problem(revision)
        if problem is not None:
            raise CliError(problem)
        yield
    except (SQLAlchemyError, OSError) as exc:
        # After a failed connect aiosqlite stops its worker thread without waiting for it; let the thread
        # finish before `asyncio.run` closes the loop, or it prints a traceback of its own.
        await asyncio.sleep(0.1)
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise CliError(f"cannot read the audit log from the database: {reason}") from None


async def _audit_verify(db: Database, settings: Settings, given: Checkpoint | None) -> int:
    from trustbot.clock import SystemClock
    from trustbot.services.audit_checkpoints import verify_audit_log
    from trustbot.services.context import system_context

    async with db.sessions() as session:
        verdict = await verify_audit_log(session, system_context(SystemClock(), settings, as_user="cli"), given=given)
    chain = verdict.chain
    if not chain.intact:
        what = "cannot be verified" if chain.unverifiable else "broken"
        print(f"audit chain {what} at event {chain.first_bad_id}: {chain.problem}", file=sys.stderr)
        return 1
    if verdict.problem is not None:
        print(f"audit chain broken: {verdict.problem}", file=sys.stderr)
        return 1
    for warning in verdict.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    checked = " and ".join(c.source for c in verdict.checkpoints)
    print(f"audit chain intact: {chain.count} events" + (f" (matches {checked})" if checked else ""))
    return 0


async def _db(settings: Settings, _: argparse.Namespace) -> int:
    from trustbot.storage.migrate import head_revision, upgrade

    await upgrade(settings.database_url)
    print(f"database at revision {head_revision()}")
    return 0


async def _installs(settings: Settings, args: argparse.Namespace) -> int:
    from trustbot.services.installs.links import issue_install_link
    from trustbot.services.installs.workspaces import list_installations
    from trustbot.storage.database import Database
    from trustbot.storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        if args.installs_command == "link":
            token = await _as_cli(db, settings, lambda s, ctx: issue_install_link(s, ctx, org_slug=args.org))
            print(f"{settings.public_url}/slack/install?link={token}")
            return 0
        async with db.sessions() as session:
            rows = await list_installations(session)
        _print_table(rows, empty="no installations")
        return 0
    finally:
        await db.dispose()


async def _as_cli(db: Database, settings: Settings, work: Callable[[Any, Any], Awaitable[str]]) -> str:
    """Run one service call as the CLI in its own transaction; a domain refusal is a one-line error (exit 2)."""
    from trustbot.clock import SystemClock
    from trustbot.services.context import system_context
    from trustbot.services.errors import DomainError

    try:
        async with db.transaction() as session:
            return await work(session, system_context(SystemClock(), settings, as_user="cli"))
    except DomainError as exc:
        raise CliError(exc.message) from None


async def _scim(settings: Settings, args: argparse.Namespace) -> int:
    from trustbot.services.identity.scim_common import issue_token
    from trustbot.storage.database import Database
    from trustbot.storage.migrate import upgrade

    await upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        print(await _as_cli(db, settings, lambda s, ctx: issue_token(s, ctx, org_slug=args.org)))
        return 0
    finally:
        await db.dispose()


async def _jobs(settings: Settings, args: argparse.Namespace) -> int:
    from trustbot.scheduler.cli import run_jobs_command

    return await run_jobs_command(settings, args)


def _print_table(rows: list[dict[str, Any]], *, empty: str = "no orgs") -> None:
    if not rows:
        print(empty)
        return
    columns = list(rows[0])
    cells = [[("" if row[c] is None else str(row[c])) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


_HANDLERS: dict[str, Callable[[Settings, argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "serve": _serve,
    "demo": _demo,
    "entitlements": run_entitlements,
    "orgs": _orgs,
    "audit": _audit,
    "db": _db,
    "jobs": _jobs,
    "installs": _installs,
    "scim": _scim,
}

if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
