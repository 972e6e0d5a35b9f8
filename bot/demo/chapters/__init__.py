"""The demo's chapters, played in order; later capabilities add theirs to `ALL`."""

from bot.demo.chapters.alerts import alerts
from bot.demo.chapters.requests import access_request
from bot.demo.chapters.reverification import reverification

ALL = [access_request, reverification, alerts]
