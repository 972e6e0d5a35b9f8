"""The plain, accessible pages a customer's Slack admin sees at the end of an install."""

from __future__ import annotations

from html import escape

_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · Trustbot</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; line-height: 1.5">
<main>
<h1>{title}</h1>
{paragraphs}
</main>
</body>
</html>
"""


def render_page(title: str, *paragraphs: str) -> str:
    """An HTML page with a heading and paragraphs (all escaped)."""
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return _PAGE.format(title=escape(title), paragraphs=body)


def installed_page(team_name: str | None, org_slug: str | None) -> str:
    """Shown when the installation was stored."""
    where = team_name or "your workspace"
    if org_slug is None:
        return render_page(
            "Trustbot is installed, but not yet linked",
            f"Trustbot was added to {where}, but this workspace is not the one the install link was made for, or "
            "no organisation is linked to it yet, so nobody here can use Trustbot for now.",
            "Your Trustbot contact has been told. You do not need to do anything else; they will get in touch.",
        )
    return render_page(
        "Trustbot is installed",
        f"Trustbot was added to {where}. You can close this page.",
        "Trustbot will appear in your Slack workspace's apps; your Trustbot contact has been told.",
    )


FAILURES = {
    "access_denied": "The installation was cancelled in Slack, so nothing was installed.",
    "invalid_browser": (
        "This installation was started in another browser, or it took too long, so nothing was installed."
    ),
    "invalid_state": (
        "This install link was already used, has expired, or is not one Trustbot issued, so nothing was installed."
    ),
    "invalid_code": "Slack did not confirm the installation, so nothing was installed.",
    "missing_code": "Slack did not confirm the installation, so nothing was installed.",
}


def failed_page(reason: str, detail: str | None = None) -> str:
    """Shown when nothing was installed: what happened and what to do."""
    what = detail or FAILURES.get(reason, "Trustbot could not finish the installation, so nothing was installed.")
    return render_page(
        "Trustbot was not installed",
        what,
        "Ask your Trustbot contact for a new install link, then open it in this browser and finish in one go.",
    )
