"""What operators read about customer workspaces installing and removing Trustbot."""

from __future__ import annotations

from slack_sdk.models.blocks import PlainTextObject, SectionBlock
from slack_sdk.models.views import View

from trustbot.messages.lifecycle import note
from trustbot.messages.text import Rendered, safe


def workspace_label(team_id: str | None, enterprise_id: str | None, team_name: str | None) -> str:
    """`Acme (T0ACME)`, `Grid org E0GRID`, …, escaped for mrkdwn."""
    ids = " in ".join(f"`{safe(i, 32)}`" for i in (team_id, enterprise_id) if i)
    return f"{safe(team_name, 100)} ({ids})" if team_name else (ids or "an unknown workspace")


def build_installed_notice_blocks(label: str, org_slug: str | None, linked_slug: str | None) -> Rendered:
    """Operators: a workspace installed Trustbot, and whether an org is bound to it."""
    if org_slug is not None:
        return note(
            f":white_check_mark: Trustbot was installed in {label}, the workspace of org `{safe(org_slug, 64)}`."
        )
    if linked_slug is not None:
        return note(
            f":warning: Trustbot was installed in {label} through org `{safe(linked_slug, 64)}`'s install link, but "
            f"`{safe(linked_slug, 64)}` does not bind that workspace (its `slack_team`), so the installation is "
            "unbound and nobody there can act. Fix the directory's `slack_team`, or send a link to the right workspace."
        )
    return note(
        f":warning: Trustbot was installed in {label}, which no org binds (the directory's `slack_team`): the "
        "installation is unbound and nobody there can act until an org binds it."
    )


def build_ended_notice_blocks(label: str, org_slug: str | None, reason: str) -> Rendered:
    """Operators: an installation ended (uninstalled, or its tokens revoked)."""
    why = "uninstalled Trustbot" if reason == "app_uninstalled" else "revoked Trustbot's tokens"
    whose = f" (org `{safe(org_slug, 64)}`)" if org_slug else " (unbound)"
    return note(
        f":no_entry: {label}{whose} {why}: its tokens are deleted and Trustbot can no longer reach anyone there. "
        "Send the org a new install link (`trustbot installs link ORG`) to bring it back."
    )


# Shown to a person Trustbot will not act for, from whichever workspace; it never names another org.
NOT_CONNECTED = (
    ":no_entry: This Slack workspace is not connected to Trustbot for any organisation, so Trustbot can't act on "
    "this here; nothing changed. Ask your account rep which workspace to use."
)


def build_not_connected_view() -> View:
    """The modal a refused submission turns into (Slack allows no ephemeral message there)."""
    return View(
        type="modal",
        title=PlainTextObject(text="Trustbot"),
        close=PlainTextObject(text="Close"),
        blocks=[SectionBlock(text=NOT_CONNECTED)],
    )


def build_broken_notice_blocks(label: str, org_slug: str | None, error: str) -> Rendered:
    """Operators: Slack refused an installation's token; its writes are held until it is installed again."""
    whose = f" (org `{safe(org_slug, 64)}`)" if org_slug else " (unbound)"
    return note(
        f":no_entry: Slack refused Trustbot's token for {label}{whose} (`{safe(error, 64)}`): the installation is "
        "marked broken and its Slack writes are held, not dropped. Send the org a new install link "
        "(`trustbot installs link ORG`); its held writes are delivered once it is installed again."
    )
