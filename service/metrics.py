"""Prometheus metrics. Each process counts what it does in its own registry (the metrics below). The web
serves `GET /metrics`: its own registry, the relay's state read from Redis at scrape time (queue depths, memory,
per subscription figures), and the samples every worker published to Redis (`service.state.worker_metrics`),
each labelled `worker` with the worker's id. A worker also serves its own registry on
`RELAY_WORKER_METRICS_PORT` when that is set.

Why a `worker` label rather than sums across workers: a worker's counters start from zero in each process, and
a sum that lost a stopped worker's share would go down, which Prometheus reads as a counter reset (and counts
the whole sum again as new). Per-process series keep every counter monotonic; `sum without (worker)` over
`rate()` gives the relay's totals. A stopped worker's series end when its published samples expire.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.state.stores import Figures

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
#: Counted by the worker that noticed; `relay_redis_state_lost_timestamp_seconds` is what Redis keeps of it.
STATE_LOSSES = Counter("relay_redis_state_losses", "Times this worker found that Redis had lost the relay's data")


#: The label that tells the workers' samples apart on the web's `/metrics`.
WORKER_LABEL = "worker"


def worker_samples() -> bytes:
    """This process's registry as JSON, for a worker to publish. `*_created` samples (when each series began)
    are left out: they double the size and say nothing a scraper of the web uses."""
    return orjson.dumps(
        [
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    [sample.name, sample.labels, sample.value]
                    for sample in family.samples
                    if not sample.name.endswith("_created")
                ],
            }
            for family in REGISTRY.collect()
        ]
    )


def render(figures: Figures | None) -> tuple[bytes, str]:
    """The web's exposition: its own registry, then what was read from Redis (`figures`; None when Redis could
    not be read: the process's own metrics are still served, with `relay_redis_up` 0)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Exposition(figures))
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _Exposition(Collector):
    def __init__(self, figures: Figures | None) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        # Merged by family name: a family appears once, with the web's samples and each worker's. Copies: some
        # collectors hand out the same family object at every collection.
        families = {family.name: _copy(family) for family in REGISTRY.collect()}
        redis_up = GaugeMetricFamily("relay_redis_up", "1 when /metrics could read Redis, 0 when it could not")
        redis_up.add_metric([], 0 if self.figures is None else 1)
        yield redis_up
        if self.figures is not None:
            read_from_redis = {family.name: family for family in _state_families(self.figures)}
            yield from read_from_redis.values()
            for worker_id, raw in self.figures.workers.items():
                # A worker's family of the same name as one read from Redis is not the worker's to add to.
                _merge_worker(families, read_from_redis.keys(), worker_id, raw)
        yield from families.values()


def _copy(family: Metric) -> Metric:
    copied = Metric(family.name, family.documentation, family.type, family.unit)
    copied.samples = list(family.samples)
    return copied


def _state_families(figures: Figures) -> Iterator[Metric]:
    depth = GaugeMetricFamily("relay_queue_depth", "Work waiting in Redis, read at scrape time", labels=["queue"])
    for queue, count in figures.queue_depths.items():
        depth.add_metric([queue], count)
    yield depth
    yield GaugeMetricFamily(
        "relay_redis_state_lost_timestamp_seconds",
        "When a worker last found that Redis had lost the relay's data (0: not since the marker was written)",
        value=0 if figures.state_lost_at_ms is None else figures.state_lost_at_ms / 1000,
    )
    yield GaugeMetricFamily("relay_redis_memory_used_bytes", "Memory Redis uses", value=figures.memory.used_bytes)
    yield GaugeMetricFamily(
        "relay_redis_memory_max_bytes", "Redis maxmemory (0: no limit of its own)", value=figures.memory.max_bytes
    )
    yield GaugeMetricFamily(
        "relay_workers_reporting",
        "Workers whose published metrics are shown here (labelled worker)",
        value=len(figures.workers),
    )
    yield from _subscription_families(figures)


def _subscription_families(figures: Figures) -> Iterator[Metric]:
    labels = ["subscription_id"]
    attempts = CounterMetricFamily(
        "relay_subscription_delivery_attempts",
        "Delivery attempts to the subscription, by outcome (delivered, retry, failed)",
        labels=[*labels, "result"],
    )
    dead = CounterMetricFamily(
        "relay_subscription_deliveries_dead_lettered",
        "Deliveries to the subscription that ended failed (retries exhausted, subscription disabled)",
        labels=labels,
    )
    pending = GaugeMetricFamily(
        "relay_subscription_deliveries_pending",
        "Deliveries to the subscription waiting: due, in flight, or waiting for a retry",
        labels=labels,
    )
    oldest = GaugeMetricFamily(
        "relay_subscription_oldest_pending_age_seconds",
        "Age of the subscription's oldest pending delivery, since it was created or replayed (0: none pending)",
        labels=labels,
    )
    now_ms = figures.read_at_ms
    for found in figures.subscriptions:
        for result, count in found.attempts.items():
            attempts.add_metric([found.subscription_id, result], count)
        dead.add_metric([found.subscription_id], found.dead_lettered)
        pending.add_metric([found.subscription_id], found.pending)
        age_ms = 0 if found.oldest_pending_ms is None else max(0, now_ms - found.oldest_pending_ms)
        oldest.add_metric([found.subscription_id], age_ms / 1000)
    yield from (attempts, dead, pending, oldest)


def _merge_worker(families: dict[str, Metric], reserved: Collection[str], worker_id: str, raw: bytes) -> None:
    """Add one worker's published samples, labelled with its id; a payload that does not parse is skipped
    whole, a family whose type differs from this process's (another version, mid-deploy) on its own."""
    try:
        published: list[dict[str, Any]] = orjson.loads(raw)
        parsed = [
            (
                str(family["name"]),
                str(family["type"]),
                str(family["help"]),
                [
                    (str(name), {str(k): str(v) for k, v in labels.items()}, value)
                    for name, labels, value in family["samples"]
                ],
            )
            for family in published
        ]
    except (TypeError, KeyError, ValueError, AttributeError):  # orjson.JSONDecodeError is a ValueError
        return
    for name, kind, documentation, samples in parsed:
        if name in reserved:
            continue
        family = families.get(name)
        if family is None:
            try:
                family = families[name] = Metric(name, documentation, kind)
            except ValueError:
                continue
        elif family.type != kind:
            continue
        for sample_name, labels, value in samples:
            if isinstance(value, int | float):
                family.add_sample(sample_name, {**labels, WORKER_LABEL: worker_id}, float(value))
