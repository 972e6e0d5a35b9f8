"""Prometheus metrics, one registry per app so tests can build many apps in one process."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)


class Metrics:
    """Every metric Trustbot exports at `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.http_seconds = Histogram(
            "trustbot_http_request_seconds", "HTTP request latency", ["route", "status"], registry=self.registry
        )
        self.slack_requests = Counter(
            "trustbot_slack_requests_total", "Requests received from Slack", ["kind"], registry=self.registry
        )
        self.outbox_sent = Counter(
            "trustbot_outbox_sent_total", "Slack writes delivered", ["op"], registry=self.registry
        )
        self.outbox_retried = Counter(
            "trustbot_outbox_retried_total", "Slack writes retried", ["reason"], registry=self.registry
        )
        self.outbox_failed = Counter(
            "trustbot_outbox_failed_total", "Slack writes given up on", ["error"], registry=self.registry
        )
        self.outbox_pending = Gauge("trustbot_outbox_pending", "Slack writes waiting", registry=self.registry)
        self.slack_api_seconds = Histogram(
            "trustbot_slack_api_seconds", "Slack Web API call latency", ["method"], registry=self.registry
        )
        self.outbox_lookups = Counter(
            "trustbot_outbox_lookups_total",
            "Posts whose earlier attempt had an unknown outcome, looked for in Slack before posting again",
            ["result"],
            registry=self.registry,
        )
        self.ingested = Counter(
            "trustbot_ingested_total", "Items accepted on ingest endpoints", ["kind", "outcome"], registry=self.registry
        )
        self.job_runs = Counter(
            "trustbot_job_runs_total", "Scheduled job runs", ["job", "outcome"], registry=self.registry
        )

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
