"""The demo's chapters, played in order; later capabilities add theirs to `ALL`."""

from bot.demo.chapters.requests import access_request

ALL = [access_request]
