"""Chapter: time passes; Ada is reminded to re-verify, misses it, access is suspended, she re-verifies."""

from __future__ import annotations

from datetime import UTC, datetime

from trustbot.demo.story import Story
from trustbot.standin.sample import ADMIN


async def run_job(story: Story, name: str, at: datetime) -> None:
    """Move the clock to `at` and run one scheduled job as the scheduler would, then deliver."""
    from trustbot.scheduler.runs import run_job as run

    story.clock.set(at)
    result = await run(story.rt.db, story.clock, story.rt.settings, name, slot_at=at)
    if not story.quiet:
        story.out.write(f"   [{at:%Y-%m-%d %H:%M} UTC · job {name}: {result.outcome}]\n")
    await story.settle()


async def reverification(story: Story) -> None:
    """Reminder 14 days ahead → overdue suspension → Re-verify restores access."""
    story.say("Two weeks later: the frontier tier re-verifies every 30 days, so Ada is reminded")
    await run_job(story, "reverification", datetime(2026, 11, 18, 9, 0, tzinfo=UTC))
    story.say("The same hour again (a second replica, or a retry) sends nothing twice")
    await run_job(story, "reverification", datetime(2026, 11, 18, 9, 0, tzinfo=UTC))

    story.say("Ada lets the due date pass; at the next run the grant is suspended")
    await run_job(story, "reverification", datetime(2026, 12, 2, 10, 0, tzinfo=UTC))

    story.say("Ada clicks Re-verify, confirms the roster and the use case; access is restored")
    reminder = [m for m in story.slack.dms(ADMIN) if "Re-verify" in m.buttons()][-1]
    await story.acme.click(ADMIN, reminder, "Re-verify")
    await story.settle()
    response = await story.acme.submit(ADMIN, story.slack.views(ADMIN)[-1], attestations=True)
    story.show_form_errors(response)
    await story.settle()
