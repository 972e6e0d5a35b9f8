"""The demo's chapters, played in order; later capabilities add theirs to `ALL`."""

from trustbot.demo.chapters.alerts import alerts
from trustbot.demo.chapters.gateway import gateway_after_approval, gateway_after_suspension, gateway_before
from trustbot.demo.chapters.identity import identity
from trustbot.demo.chapters.install import install_acme
from trustbot.demo.chapters.requests import access_request
from trustbot.demo.chapters.reverification import reverification

ALL = [
    install_acme,
    gateway_before,
    access_request,
    gateway_after_approval,
    reverification,
    identity,
    alerts,
    gateway_after_suspension,
]
