"""Prometheus metrics. The web process serves them at `GET /metrics`; a worker serves its own on
`RELAY_WORKER_METRICS_PORT` when that is set (each process counts what it does)."""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from service.state.memory import Memory

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
PROVIDER_REQUESTS = Counter(
    "relay_provider_requests", "Requests sent to providers, by the kind of read (full, narrow)", ["account", "read"]
)
INVOICES_READ = Counter("relay_invoices_read", "Provider records read by syncs", ["account"])
RECORDS_SKIPPED = Counter("relay_records_skipped", "Malformed provider records skipped", ["account"])
RECORDS_DUPLICATED = Counter(
    "relay_records_duplicated",
    "Provider records dropped for a later record of the same invoice in one answer",
    ["account"],
)
INVOICES_CHANGED = Counter("relay_invoices_changed", "Invoice changes recorded (snapshots written)", ["account"])
EVENTS = Counter("relay_events", "Events appended to the event log, by type", ["type"])
DELIVERY_ATTEMPTS = Counter("relay_delivery_attempts", "Delivery attempts, by result", ["result"])
DELIVERY_SECONDS = Histogram(
    "relay_delivery_latency_seconds",
    "Time from sending a delivery to the subscriber's answer",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
QUEUE_DEPTH = Gauge("relay_queue_depth", "Work waiting in Redis, read at scrape time", ["queue"])
STATE_LOST_AT = Gauge(
    "relay_redis_state_lost_timestamp_seconds",
    "When a worker last found that Redis had lost the relay's data (0: not since the marker was written)",
)
REDIS_MEMORY_USED = Gauge("relay_redis_memory_used_bytes", "Memory Redis uses, read at scrape time")
REDIS_MEMORY_MAX = Gauge(
    "relay_redis_memory_max_bytes", "Redis maxmemory (0: no limit of its own), read at scrape time"
)
#: Counted by the worker that noticed (on its own metrics port); the gauge above is what every web shows.
STATE_LOSSES = Counter("relay_redis_state_losses", "Times this worker found that Redis had lost the relay's data")


def render(queue_depths: Mapping[str, int], state_lost_at_ms: int | None, memory: Memory) -> tuple[bytes, str]:
    """The exposition text, with the figures read from Redis at scrape time set first."""
    for queue, depth in queue_depths.items():
        QUEUE_DEPTH.labels(queue).set(depth)
    REDIS_MEMORY_USED.set(memory.used_bytes)
    REDIS_MEMORY_MAX.set(memory.max_bytes)
    STATE_LOST_AT.set(0 if state_lost_at_ms is None else state_lost_at_ms / 1000)
    return generate_latest(), CONTENT_TYPE_LATEST
