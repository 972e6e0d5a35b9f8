"""The demo's two workspaces: the provider's own (home) and acme's, which installs Trustbot; who is in which,
and which one each thing the transcript shows appeared in."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from trustbot.standin import sample

if TYPE_CHECKING:
    from trustbot.standin.fake_slack import FakeSlack

HOME_TEAM = "T0TEAM"  # the fake's home workspace: the provider's
ACME_TEAM = "T0ACME"
ACME_GENERAL = "C0ACMEGEN"  # a channel of acme's workspace where Ada types her commands
ACME_PEOPLE = (sample.ADMIN, sample.ADMIN2, sample.SEC_LEAD, sample.DEV, sample.DEV2)
WORKSPACES = {HOME_TEAM: "provider's workspace", ACME_TEAM: "acme's workspace"}
_BOUND_AFTER = "    security_channel: C0ACMESEC\n"


def bound_directory(issuer: str | None = None, jwks_uri: str | None = None) -> str:
    """The sample directory with acme bound to its own workspace (`slack_team`) and, if given, its IdP (`ssf`)."""
    if _BOUND_AFTER not in sample.DIRECTORY_YAML:
        raise RuntimeError("the sample directory no longer names acme's security channel; bind acme another way")
    bound = f"{_BOUND_AFTER}    slack_team: {ACME_TEAM}\n"
    if issuer and jwks_uri:
        bound += f"    ssf: {{issuer: '{issuer}', jwks_uri: '{jwks_uri}'}}\n"
    return sample.DIRECTORY_YAML.replace(_BOUND_AFTER, bound, 1)


def add_acme_workspace(slack: FakeSlack) -> None:
    """acme's workspace in the fake: it can install the app; its people and channels are there, not at home."""
    from trustbot.standin.fake_workspaces import FakeWorkspace

    slack.workspaces.add(FakeWorkspace(team_id=ACME_TEAM, name="Acme Corp", installer=sample.ADMIN))
    for channel in ("C0ACMESEC", ACME_GENERAL):
        slack.add_channel(channel, team=ACME_TEAM)
    for user in ACME_PEOPLE:
        slack.add_user(user, slack.users[user], team=ACME_TEAM)


def workspace_of(slack: FakeSlack, event: dict[str, Any]) -> str:
    """Which workspace a transcript event appeared in: its channel's, else (a modal, a Home tab) its person's."""
    channel = event.get("channel")
    if channel:
        team = slack.team_of_channel(str(channel))
    else:
        team = slack.user_teams.get(str(event.get("user") or ""), HOME_TEAM)
    return WORKSPACES.get(team, f"workspace {team}")


def people_by_workspace(people: dict[str, str]) -> list[str]:
    """One line per workspace naming who is in it, as the demo introduces them."""
    acme = [name for user, name in people.items() if user in ACME_PEOPLE]
    home = [name for user, name in people.items() if user not in ACME_PEOPLE]
    return [f"In the {WORKSPACES[HOME_TEAM]}: " + ", ".join(home), f"In {WORKSPACES[ACME_TEAM]}: " + ", ".join(acme)]
