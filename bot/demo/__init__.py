"""`trustbot demo`: the whole story against the built-in Slack stand-in and a throw-away SQLite file."""

from trustbot.demo.story import run_demo

__all__ = ["run_demo"]
