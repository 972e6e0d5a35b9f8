"""Chapter: monitoring flags misuse; the alert, in acme's security channel in acme's workspace, groups its
repeats; acme's security lead acts on it there."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp

from trustbot.demo.story import Story
from trustbot.standin.sample import DEV
from trustbot.standin.sample import SEC_LEAD as LEAD


async def send_alerts(story: Story, *alerts: dict[str, object]) -> None:
    """POST `/alerts` signed as the monitoring producer would, and print the answer."""
    from trustbot.standin.producers import ingest_headers

    body = json.dumps({"alerts": list(alerts)} if len(alerts) > 1 else alerts[0]).encode()
    secret = story.rt.settings.ingest_secret
    assert secret is not None  # the demo's settings always set one
    headers = ingest_headers(secret.get_secret_value(), body, path="/alerts")
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{story.server.url}/alerts", data=body, headers=headers) as response,
    ):
        answer = await response.text()
    if not story.quiet:
        story.out.write(f"   [monitoring → POST /alerts: {response.status} {answer.strip()}]\n")
    await story.settle()


def alert(n: int, story: Story) -> dict[str, object]:
    """The n-th occurrence of one suspicious pattern at Acme."""
    at = story.clock.now() + timedelta(minutes=n)
    return {
        "id": f"mon-{n}",
        "org": "acme",
        "signal": "exploit-dev-burst",
        "severity": "high",
        "actor": "dev@acme.com",
        "summary": "Burst of exploit-development prompts against a third-party VPN appliance",
        "occurred_at": at.isoformat().replace("+00:00", "Z"),
        "score": 0.93,
        "evidence_url": "https://monitoring.example/cases/4711",
    }


async def alerts(story: Story) -> None:
    """High alert → repeats grouped → refusal → acknowledge → suspend access with a reason."""
    story.say("Monitoring flags a burst of exploit-development prompts by an Acme engineer (high severity)")
    await send_alerts(story, alert(1, story))
    story.say("Three more occurrences arrive (one of them resent): one message, its count updated")
    await send_alerts(story, alert(2, story), alert(3, story), alert(4, story), alert(2, story))

    acme = story.acme  # the alert is in acme's channel: whoever clicks it does so in acme's workspace
    message = story.slack.messages("C0ACMESEC")[-1]
    story.say("Dana, the engineer it is about, tries to resolve it herself")
    await acme.click(DEV, message, "Resolve")
    await story.settle()
    story.say("Sam, Acme's security lead, acknowledges, then suspends Acme's access")
    await acme.click(LEAD, message, "Acknowledge")
    await story.settle()
    await acme.click(LEAD, story.slack.messages("C0ACMESEC")[-1], "Suspend access")
    await story.settle()
    response = await acme.submit(
        LEAD, story.slack.views(LEAD)[-1], reason="Prompts target a vendor outside the approved use case."
    )
    story.show_form_errors(response)
    await story.settle()
