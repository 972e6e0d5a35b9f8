"""Chapter: an admin asks from acme's workspace for blanket frontier access; reps ask in the provider's, are
answered from acme's, and approve."""

from __future__ import annotations

from trustbot.demo.story import Story
from trustbot.demo.workspaces import ACME_GENERAL
from trustbot.standin.sample import ADMIN, DEV, DEV2, OUTSIDER, REP
from trustbot.standin.sample import BACKUP_REP as BACKUP

REQUEST = {
    "members": [DEV, DEV2],
    "blanket": True,
    "tier": "frontier",
    "use_case": "Red-teaming our own EDR product",
    "justification": "We test detection of <!channel> AI-assisted intrusion tooling.",
}


async def _submit(story: Story) -> None:
    """The admin opens the form, overshoots the tier's cap, is told inline, and fixes it."""
    slack, driver = story.slack, story.acme

    story.say("Ada, Acme's admin, types /trust request in Acme's workspace; a form opens")
    await driver.command(ADMIN, "request", ACME_GENERAL)
    await story.settle()
    form = slack.views(ADMIN)[-1]
    story.say("She asks for frontier access for two engineers and everyone at acme.com for 120 days")
    response = await driver.submit(ADMIN, form, duration="120", **REQUEST)
    story.show_form_errors(response)
    await story.settle()
    story.say("The frontier tier allows at most 90 days, so the form answered inline; she fixes it")
    await driver.submit(ADMIN, form, duration="90", **REQUEST)
    await story.settle()


async def access_request(story: Story) -> None:
    """Request → question → answer → refusal → two approvals → grant."""
    slack, driver, acme = story.slack, story.driver, story.acme
    await _submit(story)
    parent = slack.messages("C0REPS")[-1]
    actions = slack.replies("C0REPS", parent.ts)[0]
    story.say("Otto, who is not in the program, tries to approve")
    await driver.click(OUTSIDER, actions, "Approve")
    await story.settle()

    story.say("Rita asks a question before deciding")
    await driver.click(REP, actions, "Request info")
    await story.settle()
    await driver.submit(REP, slack.views(REP)[-1], question="Which teams are covered by the blanket scope?")
    await story.settle()
    story.say("Ada answers from her DM, in Acme's workspace")
    dm = [m for m in slack.dms(ADMIN) if "Reply" in m.buttons()][-1]
    await acme.click(ADMIN, dm, "Reply")
    await story.settle()
    await acme.submit(ADMIN, slack.views(ADMIN)[-1], answer="Only the detection engineering group (14 people).")
    await story.settle()

    story.say("Rita approves in the provider's workspace; frontier needs a second, different approver — Bob")
    await driver.click(REP, actions, "Approve")
    await story.settle()
    await driver.click(REP, actions, "Approve")
    await story.settle()
    await driver.click(BACKUP, actions, "Approve")
    await story.settle()

    story.say("Ada checks /trust status")
    await acme.command(ADMIN, "status", ACME_GENERAL)
    await story.settle()
