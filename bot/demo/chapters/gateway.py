"""Chapters: the provider's gateway asks `/v1/entitlements` about two people before the request, after
approval and after the security lead's one-click suspension, and shows the signed events it received."""

from __future__ import annotations

from trustbot.demo.story import Story

PEOPLE = ("dana@acme.com", "new.hire@acme.com")  # a named member, and someone only the blanket scope covers


async def ask_gateway(story: Story, emails: tuple[str, ...] = PEOPLE) -> None:
    """The gateway asks `/v1/entitlements` about each address and the demo prints its answers."""
    for email in emails:
        answer = await story.gateway.ask(email)
        if not story.quiet:
            verdict = f"entitled, tier {answer['tier']}" if answer["entitled"] else f"not entitled ({answer['reason']})"
            story.out.write(f"   [gateway → GET /v1/entitlements?email={email}: {verdict}]\n")


def _events(story: Story, since: int) -> int:
    events = story.gateway.events
    if not story.quiet:
        for event in events[since:]:
            grant = event["data"]["grant"]
            story.out.write(
                f"   [gateway ← webhook {event['type']} grant #{grant['id']} ({grant['org']}, "
                f"{grant['status']}), signature verified]\n"
            )
    return len(events)


async def gateway_before(story: Story) -> None:
    """Before any request: nobody at Acme is entitled."""
    story.gateway.api_base = story.server.url
    story.say("The provider's API gateway asks Trustbot about two Acme people")
    await ask_gateway(story)


async def gateway_after_approval(story: Story) -> None:
    """After approval: the gateway heard `grant.activated` and both are entitled."""
    story.say("The gateway heard of the approval and asks again")
    story.shown_events = _events(story, 0)
    await ask_gateway(story)


async def gateway_after_suspension(story: Story) -> None:
    """After the security lead's suspension: `grant.suspended` arrived and access is cut."""
    story.say("The gateway heard of the suspension within one delivery pass; access is cut")
    _events(story, story.shown_events)
    await ask_gateway(story)
