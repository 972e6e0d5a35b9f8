"""Hypothesis fuzzing of every surface a stranger or a producer reaches: `/alerts`, `/usage`, `/slack/events`
(commands, clicks, modal submissions, events) and the directory file. Never a 5xx, never a partial batch,
never an unhandled exception in the log. A bounded number of examples per surface, so the suite stays
fast; `bench/fuzz.py` runs the same checks with many more."""

from __future__ import annotations

import asyncio
import logging
import os

import pytest

from tests.support.bots import INGEST_SECRET, SIGNING_SECRET, RunningBot
from tests.support.fuzzing import SURFACES, FuzzTarget, run_surface
from trustbot.standin.sample import ADMIN, REP
from trustbot.standin.slack_requests import view_submission_body

EXAMPLES = int(os.environ.get("TRUSTBOT_FUZZ_EXAMPLES", "50"))


def fuzz_target(bot: RunningBot) -> FuzzTarget:
    """The checks' view of a running test bot."""
    return FuzzTarget(
        url=bot.server.url,
        db=bot.rt.db,
        signing_secret=SIGNING_SECRET,
        ingest_secret=INGEST_SECRET,
        fake=bot.slack,
        settle=bot.settle,
        clock=bot.clock,
        config=bot.rt.settings,
    )


@pytest.mark.slow
@pytest.mark.parametrize("surface", list(SURFACES))
async def test_no_input_gets_a_5xx_a_partial_batch_or_a_traceback(
    bot: RunningBot, surface: str, caplog: pytest.LogCaptureFixture
) -> None:
    target = fuzz_target(bot)
    logging.getLogger().addHandler(target.logs)
    try:
        with caplog.at_level(logging.ERROR):
            result = await asyncio.to_thread(run_surface, target, asyncio.get_running_loop(), surface, EXAMPLES)
    finally:
        logging.getLogger().removeHandler(target.logs)
        await target.close()
    assert result.tried >= EXAMPLES // 2  # hypothesis may stop early only when the space is exhausted
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "Traceback" not in caplog.text


# Found by the fuzzer: Bolt's own middleware and matchers dereference these without checking their type.
@pytest.mark.parametrize(
    "payload",
    [
        {"type": "url_verification", "team_id": "T0TEAM", "event": None},
        {"type": "url_verification", "team_id": "T0TEAM", "event": [1]},
        {"type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "actions": [[1]]},
        {"type": "view_submission", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "view": [[-1], {}]},
        {"type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "actions": [{"value": "x"}]},
        {"type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "actions": [{"action_id": 5}]},
        {"type": "block_actions", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "actions": []},
        {"type": "block_suggestion", "team": {"id": "T0TEAM"}, "user": {"id": REP}, "action_id": 5},
    ],
)
async def test_containers_in_a_shape_slack_never_sends_are_400_without_a_traceback(
    bot: RunningBot, payload: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    import json
    from urllib.parse import urlencode

    if "event" in payload:
        body, content_type = json.dumps(payload).encode(), "application/json"
    else:
        body, content_type = urlencode({"payload": json.dumps(payload)}).encode(), "application/x-www-form-urlencoded"
    with caplog.at_level(logging.WARNING):
        answer = await bot.driver.post_signed(body, content_type)
    await bot.settle()
    assert answer.status == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


async def test_a_reverification_submitted_with_malformed_state_is_refused_without_a_traceback(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    from trustbot.ids import View

    view = {
        "id": "V1",
        "type": "modal",
        "blocks": [],
        "callback_id": View.GRANT_REVERIFY_SUBMIT,
        "private_metadata": '{"grant_id": 1}',
    }
    for state in ([None], {"roster": [1]}, {"roster": {"roster_input": {"selected_users": 5}}}):
        await bot.driver.post_signed(view_submission_body(user_id=ADMIN, view=view, values=state))
        await bot.settle()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("grant_id", [2**31, 2**62])
async def test_ids_too_large_for_the_database_name_nothing(
    bot: RunningBot, grant_id: int, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    from trustbot.ids import Action

    await bot.driver.command(REP, f"verify {grant_id}")
    await bot.driver.click_in_view(
        REP, {"id": "V1", "type": "modal", "blocks": []}, Action.GRANT_REVOKE, json.dumps({"grant_id": grant_id})
    )
    await bot.settle()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bot.slack.dms(REP)[-1].text == ":no_entry: That button or form is out of date. Please start again."


@pytest.mark.parametrize("event_id", ["\x00", "Ev\x00Ev", "\ud800"])
async def test_an_event_id_that_cannot_be_stored_is_not_a_500(
    bot: RunningBot, event_id: str, caplog: pytest.LogCaptureFixture
) -> None:
    import json

    body = {"type": "event_callback", "team_id": "T0TEAM", "event_id": event_id, "event": {"type": "app_home_opened"}}
    answer = await bot.driver.post_signed(json.dumps(body).encode(), "application/json")
    await bot.settle()
    assert answer.status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
