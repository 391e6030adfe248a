"""Prometheus metrics. The web process serves them at `GET /metrics`; a worker serves its own on
`RELAY_WORKER_METRICS_PORT` when that is set (each process counts what it does)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

#: Account label for callbacks to names that are not configured: never the name itself (unbounded).
UNKNOWN_ACCOUNT = "_unknown"

CALLBACKS = Counter("relay_callbacks", "Provider callbacks and nudges received, by result", ["account", "result"])
SYNCS = Counter("relay_syncs", "Finished syncs, by outcome", ["account", "status"])
SYNC_SECONDS = Histogram(
    "relay_sync_duration_seconds",
    "Duration of finished syncs",
    ["provider"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
INVOICES_READ = Counter("relay_invoices_read", "Provider records read by syncs", ["account"])
RECORDS_SKIPPED = Counter("relay_records_skipped", "Malformed provider records skipped", ["account"])
INVOICES_CHANGED = Counter("relay_invoices_changed", "Invoice changes recorded (snapshots written)", ["account"])
EVENTS = Counter("relay_events", "Events appended to the event log, by type", ["type"])
DELIVERY_ATTEMPTS = Counter("relay_delivery_attempts", "Delivery attempts, by result", ["result"])
DELIVERY_SECONDS = Histogram(
    "relay_delivery_latency_seconds",
    "Time from sending a delivery to the subscriber's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("relay_queue_depth", "Work waiting in Redis, read at scrape time", ["queue"])


def render(queue_depths: Mapping[str, int]) -> tuple[bytes, str]:
    """The exposition text, with the queue depths (read from Redis at scrape time) set first."""
    for queue, depth in queue_depths.items():
        QUEUE_DEPTH.labels(queue).set(depth)
    return generate_latest(), CONTENT_TYPE_LATEST
