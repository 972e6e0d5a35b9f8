"""The demo's chapters, played in order; later capabilities add theirs to `ALL`."""

from bot.demo.chapters.alerts import alerts
from bot.demo.chapters.gateway import gateway_after_approval, gateway_after_suspension, gateway_before
from bot.demo.chapters.requests import access_request
from bot.demo.chapters.reverification import reverification

ALL = [gateway_before, access_request, gateway_after_approval, reverification, alerts, gateway_after_suspension]
