"""Access-request listeners: the request modal, decision buttons and their modals."""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp

from bot.runtime import Runtime


def register(app: AsyncApp, rt: Runtime) -> None:
    """Listen for request actions and views."""
