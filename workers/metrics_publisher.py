"""Publishing this worker's metrics to Redis every few seconds and once more at shutdown, for the web's
`/metrics` (see `service.state.worker_metrics`): a worker needs no port of its own to be scraped."""

from __future__ import annotations

import asyncio

import structlog
from redis.exceptions import RedisError

from service.metrics import worker_samples
from service.state.worker_metrics import PUBLISH_EVERY_S, WORKER_METRICS_TTL_MS, WorkerMetricsStore
from workers.clock import now_ms

log = structlog.get_logger("relay.worker")

#: The last publication at shutdown waits this long at most for a Redis that does not answer.
FINAL_PUBLISH_S = 2.0


class MetricsPublisher:
    def __init__(self, store: WorkerMetricsStore, worker_id: str, interval_s: float = PUBLISH_EVERY_S) -> None:
        self._store = store
        self.worker_id = worker_id
        self._interval_s = interval_s

    async def run_forever(self) -> None:
        while True:
            try:
                await self.publish_once()
            except RedisError as exc:
                log.warning("metrics_publish_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(self._interval_s)

    async def publish_once(self) -> None:
        await self._store.publish(self.worker_id, worker_samples(), now_ms(), WORKER_METRICS_TTL_MS)

    async def publish_final(self) -> None:
        """The figures as the worker stops (the worker's Redis client retries through an outage: bounded)."""
        try:
            await asyncio.wait_for(self.publish_once(), FINAL_PUBLISH_S)
        except (RedisError, TimeoutError) as exc:
            log.warning("metrics_publish_failed", error=f"{type(exc).__name__}: {exc}", final=True)
