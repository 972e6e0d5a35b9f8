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

from trustbot.storage.tables import OutboxOp

# Outbox op -> the kind of lane it waits in.
LANE_KINDS: dict[str, str] = {
    OutboxOp.POST: "channel",
    OutboxOp.REPLY: "channel",
    OutboxOp.UPDATE: "channel",
    OutboxOp.PIN: "channel",
    OutboxOp.DM: "dm",
}


class Metrics:
    """Every metric Trustbot exports at `/metrics`."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._backlog_kinds: set[str] = set()
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
        self.outbox_pending = Gauge(
            "trustbot_outbox_pending", "Slack writes waiting, by lane kind", ["kind"], registry=self.registry
        )
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
        self.http_connections_closed = Counter(
            "trustbot_http_connections_closed_total",
            "Connections the HTTP listener closed to protect itself (the cap, deadlines)",
            ["reason"],
            registry=self.registry,
        )
        self.http_connections_open = Gauge(
            "trustbot_http_connections_open", "Connections open on the HTTP listeners", registry=self.registry
        )
        self.job_runs = Counter(
            "trustbot_job_runs_total", "Scheduled job runs", ["job", "outcome"], registry=self.registry
        )

    def set_outbox_backlog(self, pending_by_op: dict[str, int]) -> None:
        """The backlog by lane kind: DMs (a person's lane), channel writes, and any other op by its name."""
        # Every kind ever reported is set each scrape: one whose rows all went out must read 0, not its last count.
        kinds = dict.fromkeys([*LANE_KINDS.values(), *self._backlog_kinds], 0)
        for op, count in pending_by_op.items():
            kind = LANE_KINDS.get(op, op)
            kinds[kind] = kinds.get(kind, 0) + count
        for kind, count in kinds.items():
            self.outbox_pending.labels(kind).set(count)
        self._backlog_kinds = set(kinds)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
