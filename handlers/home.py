"""App Home listeners (being built)."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for app_home_opened."""
