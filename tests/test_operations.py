"""Operating Trustbot: one-line errors with exit 2, JSON log lines, and metrics that move."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import sys
from typing import Any

import aiohttp
import pytest

from tests.support.alert_helpers import alert_bot, raise_alert
from trustbot.cli import main as cli
from trustbot.logs import configure_logging, log_context
from trustbot.standin.sample import REP
from trustbot.storage.migrate import head_revision


def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any, **values: str) -> None:
    monkeypatch.chdir(tmp_path)  # no .env
    for name in ("SLACK_APP_TOKEN", "TRUSTBOT_DIRECTORY", "TRUSTBOT_LOG_LEVEL", "TRUSTBOT_LOG_FORMAT"):
        monkeypatch.delenv(name, raising=False)
    defaults = {"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/t.db", "PORT": "0", "HOST": "127.0.0.1"}
    for name, value in {**defaults, **values}.items():
        monkeypatch.setenv(name, value)


async def _serve() -> tuple[int, list[str]]:
    """`trustbot serve` in a process of its own (it installs signal handlers, which need the main thread)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "trustbot", "serve", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode or 0, err.decode().splitlines()


async def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = await asyncio.to_thread(cli.main, list(argv))
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"TRUSTBOT_LOG_LEVEL": "LOUD"}, "TRUSTBOT_LOG_LEVEL: Value error, must be one of DEBUG, INFO, WARNING"),
        ({"TRUSTBOT_LOG_FORMAT": "xml"}, "TRUSTBOT_LOG_FORMAT: Input should be 'text' or 'json'"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: Value error, mysql://x is not supported"),
        ({"DATABASE_URL": "notaurl"}, "DATABASE_URL: Value error, not a database URL"),
        ({"TRUSTBOT_WEBHOOK_URL": "notaurl"}, "TRUSTBOT_WEBHOOK_URL: Value error, must be an http:// or https://"),
        ({"DATABASE_URL": "postgresql+asyncpg://u:pw@127.0.0.1:9/x"}, "cannot reach the database at DATABASE_URL "
         "postgresql+asyncpg://u:***@127.0.0.1:9/x"),
    ],
)  # fmt: skip
async def test_bad_settings_and_databases_are_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str], env: dict[str, str], line: str
) -> None:
    _env(monkeypatch, tmp_path, **env)
    code, err = await _cli(capsys, "orgs", "list")
    assert code == 2 and len(err) == 1 and err[0].startswith("trustbot: ") and line in err[0], err
    assert "pw" not in err[0]


async def test_audit_verify_on_an_empty_database_says_unmigrated(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path)
    assert await _cli(capsys, "audit", "verify") == (
        2,
        ["trustbot: the database is not migrated: run `trustbot db upgrade`"],
    )


async def test_a_database_migrated_by_a_newer_release_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path)
    assert (await _cli(capsys, "db", "upgrade"))[0] == 0
    with sqlite3.connect(tmp_path / "t.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999_future'")
    line = (
        f"trustbot: the database is at revision 9999_future, which this version of trustbot does not know "
        f"(its newest is {head_revision()}): a newer release migrated it; run that release"
    )
    for argv in (
        ["db", "upgrade"],
        ["orgs", "list"],
        ["jobs", "list"],
        ["audit", "verify"],
        ["entitlements", "check", "dana@acme.com"],
    ):
        assert await _cli(capsys, *argv) == (2, [line]), argv


@pytest.mark.slow
async def test_serve_names_a_host_it_cannot_listen_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fake_slack: Any
) -> None:
    _env(
        monkeypatch,
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake_slack.api_url,
        TRUSTBOT_SCHEDULER_ENABLED="false",
        HOST="256.1.1.1",
    )
    code, err = await _serve()
    assert code == 2 and len(err) == 1 and err[0].startswith("trustbot: cannot listen on HOST 256.1.1.1 PORT 0: "), err


@pytest.mark.slow
async def test_serve_names_a_missing_directory_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fake_slack: Any
) -> None:
    missing = tmp_path / "nope.yml"
    _env(
        monkeypatch,
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-1",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake_slack.api_url,
        TRUSTBOT_DIRECTORY=str(missing),
        TRUSTBOT_SCHEDULER_ENABLED="false",
    )
    assert await _serve() == (
        2,
        [f"trustbot: TRUSTBOT_DIRECTORY {missing}: cannot read the file: No such file or directory"],
    )


@pytest.mark.slow
async def test_serve_refuses_a_token_slack_rejects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, fake_slack: Any
) -> None:
    _env(
        monkeypatch,
        tmp_path,
        SLACK_BOT_TOKEN="xoxb-bad",
        SLACK_SIGNING_SECRET="s",
        SLACK_API_URL=fake_slack.api_url,
        TRUSTBOT_SCHEDULER_ENABLED="false",
    )
    fake_slack.fail("auth.test", error="invalid_auth")
    assert await _serve() == (2, ["trustbot: Slack refused SLACK_BOT_TOKEN (invalid_auth)"])


async def test_jobs_run_without_slack_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    _env(monkeypatch, tmp_path, SLACK_BOT_TOKEN="xoxb-1", SLACK_API_URL="http://127.0.0.1:9/api/")
    code, err = await _cli(capsys, "jobs", "run", "credit-digest")
    assert code == 2 and err == ["trustbot: cannot reach Slack at http://127.0.0.1:9/api/: ClientConnectorError"]
    _env(monkeypatch, tmp_path)
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    assert await _cli(capsys, "jobs", "run", "credit-digest") == (
        2,
        ["trustbot: missing required setting(s): SLACK_BOT_TOKEN"],
    )


def test_version_and_every_subcommand_help_says_what_it_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--version"])
    assert capsys.readouterr().out.startswith("trustbot ")
    for argv in (
        ["serve"],
        ["demo"],
        ["orgs", "apply"],
        ["orgs", "list"],
        ["audit", "verify"],
        ["audit", "export"],
        ["db", "upgrade"],
        ["jobs", "list"],
        ["jobs", "run"],
    ):
        with pytest.raises(SystemExit):
            cli.main([*argv, "--help"])
        paragraphs = capsys.readouterr().out.split("\n\n")
        assert len(paragraphs) > 2 and paragraphs[1].strip()[0].isupper(), argv


def test_json_log_lines_parse_and_carry_the_context(capsys: pytest.CaptureFixture[str]) -> None:
    handler = configure_logging("INFO", "json")
    try:
        with log_context(team="T0TEAM", user=REP, action_id="approve"):
            logging.getLogger("trustbot.test").info("approved %s", "req-1")
        logging.getLogger("alembic.runtime.migration").info("library noise")
    finally:
        logging.getLogger().removeHandler(handler)
    [line] = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert entry["message"] == "approved req-1" and entry["level"] == "INFO" and entry["logger"] == "trustbot.test"
    assert (entry["team"], entry["user"], entry["action_id"]) == ("T0TEAM", REP, "approve")
    assert entry["time"].endswith("Z")


async def test_metrics_move_when_their_events_happen(database_url: str, fake_slack: Any, clock: Any) -> None:
    async with alert_bot(database_url, fake_slack, clock) as running, aiohttp.ClientSession() as http:
        await raise_alert(running)
        async with http.get(f"{running.server.url}/healthz") as response:
            assert response.status == 200
        async with http.get(f"{running.server.url}/metrics") as response:
            text = await response.text()
    assert 'trustbot_ingested_total{kind="alert",outcome="accepted"} 1.0' in text
    assert 'trustbot_http_request_seconds_count{route="/healthz",status="200"} 1.0' in text
    assert 'trustbot_http_request_seconds_count{route="/alerts",status="202"} 1.0' in text
    assert "process_resident_memory_bytes" in text and "python_gc_collections_total" in text


async def test_job_runs_are_counted_by_job_and_outcome(db: Any, database_url: str, clock: Any) -> None:
    from tests.support.bots import make_settings
    from trustbot.metrics import Metrics
    from trustbot.scheduler.runs import run_job

    metrics = Metrics()
    settings = make_settings(database_url, "http://127.0.0.1:9/api/")
    for _ in range(2):  # the second run of the same slot is skipped
        await run_job(db, clock, settings, "request-sla", slot_at=clock.now(), metrics=metrics)
    text = metrics.render().decode()
    assert 'trustbot_job_runs_total{job="request-sla",outcome="finished"} 1.0' in text
    assert 'trustbot_job_runs_total{job="request-sla",outcome="skipped"} 1.0' in text


def test_the_demo_tells_the_story_across_acmes_workspace_and_the_providers(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    sections: dict[str, list[str]] = {}
    where = ""
    for line in out.splitlines():
        if line.strip() in ("[acme's workspace]", "[provider's workspace]"):
            where = line.strip()
        elif where:
            sections.setdefault(where, []).append(line)
    acme, provider = "\n".join(sections["[acme's workspace]"]), "\n".join(sections["[provider's workspace]"])
    assert "modal opened for @Ada" in acme and "#C0ACMESEC" in acme  # her form and acme's security channel
    assert "DM → @Ada" in acme and "DM → @Ada" not in provider
    assert "#C0REPS" in provider and "#C0REPS" not in acme  # the reps' card stays in the provider's
    assert "Trustbot is installed" in out and len(out.splitlines()) < 320
