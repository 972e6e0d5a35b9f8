"""The Grafana dashboard in bot/ops: valid Grafana 10 JSON on a `${DS_PROMETHEUS}` data source, whose every
expression names only series a running Trustbot exposes at `/metrics`."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from tests.support.alert_helpers import alert_bot, raise_alert

DASHBOARD = Path(__file__).resolve().parent.parent / "bot" / "ops" / "grafana-dashboard.json"
# Our series and the process / GC collectors' are the only metric names; the rest of an expression is
# PromQL functions, label names and `$__rate_interval`.
SERIES = re.compile(r"\b(?:trustbot|process|python_gc)_[a-z0-9_]+\b")
SUFFIXES = {
    "counter": ["_total", "_created"],
    "histogram": ["_bucket", "_count", "_sum", "_created"],
    "gauge": [""],
    "summary": ["_count", "_sum", "_created"],
    "info": ["_info"],
}


def _dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text()))


def _expressions(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def _exposed(text: str) -> set[str]:
    """Every series name `/metrics` declares (a labelled counter is declared before its first increment)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, [""]))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_dashboard_is_grafana_10_json_on_a_prometheus_variable() -> None:
    dashboard = _dashboard()
    assert dashboard["schemaVersion"] >= 38 and dashboard["uid"] and dashboard["title"] == "Trustbot"
    [source] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
    assert (source["name"], source["query"]) == ("DS_PROMETHEUS", "prometheus")
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 9
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"]), panel["title"]
        assert panel["targets"] and set(panel["gridPos"]) == {"h", "w", "x", "y"}, panel["title"]


def test_the_dashboard_covers_each_signal() -> None:
    expressions = "\n".join(_expressions(_dashboard()))
    for needed in (
        "trustbot_slack_requests_total",
        "histogram_quantile(0.5, sum by (le, route) (rate(trustbot_http_request_seconds_bucket",
        "histogram_quantile(0.99, sum by (le, route)",
        "sum by (le, method) (rate(trustbot_slack_api_seconds_bucket",
        "sum by (kind) (trustbot_outbox_pending",
        "trustbot_outbox_sent_total",
        "trustbot_outbox_retried_total",
        "trustbot_outbox_failed_total",
        "sum by (kind, outcome) (rate(trustbot_ingested_total",
        "sum by (job, outcome) (increase(trustbot_job_runs_total",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
        "python_gc_collections_total",
    ):
        assert needed in expressions, needed
    [jobs] = [p for p in _dashboard()["panels"] if "trustbot_job_runs_total" in p["targets"][0]["expr"]]
    [failed] = jobs["fieldConfig"]["overrides"]
    assert failed["matcher"]["options"] == ".* failed" and "red" in json.dumps(failed["properties"])


async def test_every_series_the_dashboard_uses_is_exposed(database_url: str, fake_slack: Any, clock: Any) -> None:
    async with alert_bot(database_url, fake_slack, clock) as bot, aiohttp.ClientSession() as http:
        await raise_alert(bot)
        async with http.get(f"{bot.server.url}/metrics") as response:
            exposed = _exposed(await response.text())
    used = {name for expr in _expressions(_dashboard()) for name in SERIES.findall(expr)}
    assert len(used) >= 12
    assert used <= exposed, sorted(used - exposed)
