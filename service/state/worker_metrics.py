"""Each worker's metrics in Redis, for the web's `/metrics`: a worker on a platform that gives it no port of
its own (a Procfile's `worker` process) is still scraped, through any web process.

Every worker writes its registry's samples (JSON, made by `service.metrics`) into a hash of its own every few
seconds and at shutdown, with an expiry a few periods long, and notes the time in an index: a worker that died
drops out of both once its hash expires.
"""

from __future__ import annotations

from redis.asyncio import Redis

from service.state.keys import WORKER_METRICS_INDEX, worker_metrics
from service.state.redis_types import awaited, text

#: How often a worker publishes.
PUBLISH_EVERY_S = 5.0
#: How long a publication is shown: several periods, so that a worker held up for a moment (a long sync's
#: CPU, a Redis blip) does not drop out; a worker that stopped drops out this long after its last one.
WORKER_METRICS_TTL_MS = 30_000


class WorkerMetricsStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def publish(self, worker_id: str, samples: bytes, now_ms: int, ttl_ms: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(worker_metrics(worker_id), mapping={"samples": samples, "at": now_ms})
            pipe.pexpire(worker_metrics(worker_id), ttl_ms)
            pipe.zadd(WORKER_METRICS_INDEX, {worker_id: now_ms})
            # Workers that stopped publishing leave the index with their hash.
            pipe.zremrangebyscore(WORKER_METRICS_INDEX, "-inf", now_ms - ttl_ms)
            await pipe.execute()

    async def published(self, now_ms: int, ttl_ms: int) -> dict[str, bytes]:
        """Worker id -> the samples it published last, for every worker that published within `ttl_ms`."""
        found = await awaited(self._redis.zrangebyscore(WORKER_METRICS_INDEX, now_ms - ttl_ms, "+inf"))
        workers = [text(worker_id) for worker_id in found]
        if not workers:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for worker_id in workers:
                pipe.hget(worker_metrics(worker_id), "samples")
            samples = await pipe.execute()
        return {worker_id: raw for worker_id, raw in zip(workers, samples, strict=True) if raw is not None}
