"""How a failure drill counts: what reached the fake Slack, compared with the outbox.

- expected: outbox rows of op post, reply or dm;
- delivered: rows with exactly one Slack message carrying their metadata (and, for a message
  edited later, showing the text of its newest sent edit);
- duplicated: rows with more than one message;
- lost: rows with none, or whose message does not show its newest sent edit (or lost an edit
  delivery gave up on);
- out of order: within each thread, replies whose ts order differs from their outbox id order,
  and within each lane (channel, or OutboxOp.DM user) top-level posts likewise.

Per workspace: each message is looked for in the workspace its row names (`outbox.workspace`, empty for
home) and counted there; one found in another workspace is a problem (sent with the wrong token). The
fake Slack's writes, faults and lookups of posts in doubt are counted by the workspace of their channel;
a lookup the fake refused (a token that cannot see the channel) is a problem, since an unread history
makes a post in doubt be sent again.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from tests.support import queries as inspection
from tests.support.drill_workspaces import HOME_TEAM, WORKSPACES, team_of_workspace
from trustbot.delivery.slack_writes import EVENT_TYPE
from trustbot.standin.transcript import Call, Message
from trustbot.storage.database import Database
from trustbot.storage.tables import OutboxMessage, OutboxOp, OutboxStatus

SENT_OPS = (OutboxOp.POST, OutboxOp.REPLY, OutboxOp.DM)
LOOKUPS = ("conversations.history", "conversations.replies")


@dataclass
class Tally:
    """One drill's count; `problems` lists anything else the drill found wrong, in words."""

    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the drill did, for the report
    delivered_by: Counter[str] = field(default_factory=Counter)  # by team id
    faulted_by: Counter[str] = field(default_factory=Counter)  # writes that met a fault, by team id

    @property
    def clean(self) -> bool:
        """Nothing lost, duplicated or out of order, and nothing else wrong."""
        return (
            not (self.lost or self.duplicated or self.out_of_order or self.problems) and self.delivered == self.expected
        )

    def delivered_in(self, team: str) -> int:
        """Messages delivered (exactly once) in workspace `team`."""
        return self.delivered_by[team]


async def outbox_rows(db: Database) -> list[OutboxMessage]:
    """Every outbox row, in id order."""
    async with db.sessions() as session:
        return await inspection.all_outbox_rows(session)


def row_of(message: Message) -> int | None:
    """The outbox row a message names in its metadata (None: not one of ours)."""
    metadata = message.metadata or {}
    if metadata.get("event_type") != EVENT_TYPE:
        return None
    row = (metadata.get("event_payload") or {}).get("outbox_row")
    return row if isinstance(row, int) else None


def count(
    rows: Iterable[OutboxMessage], messages: Iterable[Message], team_of_channel: Callable[[str], str] | None = None
) -> Tally:
    """Compare the outbox with what reached Slack (`team_of_channel`: the workspace of a message's channel)."""
    team_of = team_of_channel or (lambda _channel: HOME_TEAM)
    rows = list(rows)
    by_row: dict[int, list[Message]] = defaultdict(list)
    for message in messages:
        row_id = row_of(message)
        if row_id is not None:
            by_row[row_id].append(message)
    tally = Tally()
    wanted = [r for r in rows if r.op in SENT_OPS]
    stale = _stale_messages(rows, by_row)
    for row in wanted:
        found = by_row.get(row.id or 0, [])
        tally.expected += 1
        if len(found) > 1:
            tally.duplicated += 1
            tally.problems.append(f"row {_describe(row)} posted {len(found)} times")
        elif not found or (row.id or 0) in stale:
            tally.lost += 1
            tally.problems.append(f"row {_describe(row)} " + ("never posted" if not found else stale[row.id or 0]))
        else:
            tally.delivered += 1
            team, wanted_team = team_of(found[0].channel), team_of_workspace(row.workspace)
            tally.delivered_by[team] += 1
            if team != wanted_team:
                tally.problems.append(f"row {_describe(row)} landed in {team}'s workspace, not {wanted_team}'s")
    tally.out_of_order = _out_of_order(wanted, by_row)
    failed = Counter(f"{r.op} ({r.last_error})" for r in rows if r.status == OutboxStatus.FAILED)
    tally.problems += [f"{n} outbox row(s) failed: {what}" for what, n in sorted(failed.items())]
    pending = sum(1 for r in rows if r.status == OutboxStatus.PENDING)
    if pending:
        tally.problems.append(f"{pending} outbox row(s) still pending")
    strays = sum(1 for ms in by_row.values() for m in ms if not any(r.id == row_of(m) for r in wanted))
    if strays:
        tally.problems.append(f"{strays} Slack message(s) name no post/reply/dm row")
    return tally


def _describe(row: OutboxMessage) -> str:
    return f"#{row.id} ({row.op} to {row.channel}, {row.save_as or row.message_key or 'no key'}, {row.status})"


def _edits(rows: list[OutboxMessage]) -> tuple[dict[str, OutboxMessage], set[str]]:
    """The newest sent edit of each message key, and the keys one of whose edits was given up."""
    newest: dict[str, OutboxMessage] = {}
    gave_up: set[str] = set()
    for row in rows:
        if row.op == OutboxOp.UPDATE and row.message_key:
            if row.status == OutboxStatus.SENT:
                newest[row.message_key] = row
            elif row.status == OutboxStatus.FAILED:
                gave_up.add(row.message_key)
    return newest, gave_up


def _stale_messages(rows: list[OutboxMessage], by_row: dict[int, list[Message]]) -> dict[int, str]:
    """Rows whose message does not show what its newest sent edit (or, unedited, the row itself) says,
    or one of whose edits was given up."""
    posted_by: dict[str, OutboxMessage] = {}
    for row in rows:
        if row.op in SENT_OPS and row.save_as:
            posted_by[row.save_as] = row  # a key posted again: the newest post wins, as delivery saves it
    newest, gave_up = _edits(rows)
    stale: dict[int, str] = {}
    for key, post in posted_by.items():
        found = by_row.get(post.id or 0, [])
        if len(found) != 1:
            continue
        source = newest.get(key) or post
        if found[0].text != source.payload.get("text", ""):
            stale[post.id or 0] = (
                f"shows {found[0].text[:80]!r}, not row #{source.id}'s {source.payload.get('text', '')[:80]!r}"
            )
        elif key in gave_up:
            stale[post.id or 0] = "lost an edit delivery gave up on"
    return stale


def _out_of_order(rows: list[OutboxMessage], by_row: dict[int, list[Message]]) -> int:
    """Messages that landed before one queued earlier in their thread (replies) or lane (top-level posts;
    in a shared lane, the same party's)."""
    groups: dict[tuple[str, ...], list[tuple[int, float]]] = defaultdict(list)
    for row in rows:
        found = by_row.get(row.id or 0)
        if not found:
            continue
        message = found[0]
        if row.op == OutboxOp.REPLY:
            group: tuple[str, ...] = ("thread", message.channel, message.thread_ts or "")
        else:  # in a lane parties share (orgs in the reps channel) each party's posts keep their order
            group = ("lane", row.channel, row.share or "")
        groups[group].append((row.id or 0, float(message.ts)))
    late = 0
    for members in groups.values():
        newest = float("-inf")
        for _row_id, ts in sorted(members):
            if ts < newest:
                late += 1
            newest = max(newest, ts)
    return late


def _kind(call: Call) -> str:
    if call.carried_out:
        return "carried out, answered late or not at all"
    if call.status != 200:
        return f"HTTP {call.status}"
    return "ok" if call.ok else "ok:false"


def team_of_call(fake: Any, call: Call) -> str:
    """The workspace a call's channel belongs to (a DM's channel is the workspace's own; a DM sent to a user id
    is in that person's workspace)."""
    channel = str(call.get("channel") or "")
    if channel[:1] in ("U", "W"):
        return str(fake.user_teams.get(channel, HOME_TEAM))
    return str(fake.team_of_channel(channel)) if channel else HOME_TEAM


def slack_note(fake: Any) -> str:
    """What the fake Slack did with the writes it got, and how often delivery looked for a post in doubt."""
    writes = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update")]
    kinds = Counter(_kind(c) for c in writes)
    lookups = sum(1 for c in fake.calls if c.method in LOOKUPS)
    shown = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: -kv[1]))
    return f"{len(writes)} Slack writes: {shown}; {lookups} lookups of posts in doubt"


def workspace_note(fake: Any, result: Tally) -> str:
    """Per workspace: messages delivered, writes, writes that met a fault, lookups of posts in doubt."""
    writes = Counter(team_of_call(fake, c) for c in fake.calls if c.method in ("chat.postMessage", "chat.update"))
    lookups = Counter(team_of_call(fake, c) for c in fake.calls if c.method in LOOKUPS)
    parts = [
        f"{name}: {result.delivered_in(team)} delivered, {writes[team]} writes ({result.faulted_by[team]} met a "
        f"fault), {lookups[team]} lookups"
        for team, name in WORKSPACES.items()
    ]
    return "by workspace — " + "; ".join(parts)


def _faults_and_refused_lookups(fake: Any, result: Tally) -> None:
    for call in fake.calls:
        if call.method in ("chat.postMessage", "chat.update") and _kind(call) != "ok":
            result.faulted_by[team_of_call(fake, call)] += 1
    refused = [c for c in fake.calls if c.method in LOOKUPS and c.status == 200 and not c.ok]
    if refused:
        where = Counter(team_of_call(fake, c) for c in refused)
        result.problems.append(f"{len(refused)} lookup(s) of posts in doubt refused by Slack: {dict(where)}")


async def tally(db: Database, fake: Any) -> Tally:
    """Count a drill's outcome from its database and fake Slack."""
    result = count(await outbox_rows(db), fake.all_messages(), fake.team_of_channel)
    _faults_and_refused_lookups(fake, result)
    result.notes += [slack_note(fake), workspace_note(fake, result)]
    return result
