"""The failure drills of `tests.support.drills`, short versions: Trustbot under a misbehaving Slack, SIGKILL,
SIGTERM and two replicas, with two workspaces (home and acme's, installed through OAuth). Each must end
with every expected Slack message delivered exactly once, in order per thread and lane, in the workspace
its row names, and messages delivered in both workspaces. SQLite always; PostgreSQL too when
TEST_DATABASE_URL is set (the replica drills run only there). `bench/drills.py` runs them at full size."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.delivery_helpers import make_worker, queue, rows
from tests.support.drill_workspaces import ACME_TEAM, HOME_TEAM
from tests.support.drills import DRILLS, run_drill
from trustbot.storage.database import Database
from trustbot.storage.queries import outbox as outbox_q
from trustbot.storage.tables import OutboxStatus


@pytest.mark.drill
@pytest.mark.parametrize("name", [d.name for d in DRILLS])
async def test_drill_delivers_every_message_once_and_in_order(name: str, database_url: str, tmp_path: Path) -> None:
    result = await run_drill(name, database_url, tmp_path, quick=True)
    if result.skipped:
        pytest.skip(result.skipped)
    tally = result.tally
    assert tally is not None
    assert tally.lost == 0, tally.problems
    assert tally.duplicated == 0, tally.problems
    assert tally.out_of_order == 0, tally.problems
    assert tally.expected > 0 and tally.delivered == tally.expected
    assert tally.delivered_in(HOME_TEAM) > 0
    assert tally.delivered_in(ACME_TEAM) > 0, tally.notes  # acme's installed workspace got its share
    assert tally.problems == []


async def test_a_post_re_rendered_while_in_doubt_shows_its_newest_render(db: Database, fake_slack: Any) -> None:
    """What the `late` drill found: an alert's post carried out but answered too late stays pending (in doubt);
    a repeat of the alert rewrites that pending row's payload; the next attempt finds the earlier post by its
    metadata and must bring it up to date, not just record it as sent with the old count showing."""
    fake_slack.answer_late("chat.postMessage", seconds=2.5)
    await queue(db, ("post_message", {"channel": "C1", "key": "alert:1", "message": "alert (1 occurrence)"}))
    worker = make_worker(db, fake_slack, timeout=1)
    assert await worker.deliver_once() == 0  # the attempt timed out; its post landed with the first render
    [row] = await rows(db)
    assert row.status == OutboxStatus.PENDING and row.doubt_since is not None
    async with db.transaction() as session:  # what render_alerts does for a repeat
        renders = await outbox_q.pending_renders(session, keys=["alert:1"], now=datetime.now(UTC))
        await outbox_q.rewrite_payloads(session, payloads={renders["alert:1"]: {"text": "alert (2 occurrences)"}})
    await worker.drain(timeout=20)
    [message] = fake_slack.messages("C1")
    assert message.text == "alert (2 occurrences)"
    assert [c.method for c in fake_slack.calls] == ["chat.postMessage", "conversations.history", "chat.update"]
    [row] = await rows(db)
    assert (row.status, row.doubt_since) == (OutboxStatus.SENT, None)
