"""Opening the Redis client of a process that is not an arq worker (arq opens the worker's own pool)."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def open_redis(url: str) -> Redis:
    """A client that fails fast: short timeouts and one quick retry (2 s at worst), so that while Redis is
    down a caller (a provider's callback) gets its 503 promptly and retries, rather than hanging. The pool reconnects by
    itself when Redis returns. No periodic health check: against a Redis that stops answering (paused, or
    partitioned without a reset) it made commands hang after the first half minute instead of timing out."""
    client: Redis = Redis.from_url(
        url,
        socket_connect_timeout=1.0,
        socket_timeout=1.0,
        retry=Retry(NoBackoff(), retries=1),
        retry_on_timeout=True,
        health_check_interval=0,
        max_connections=256,
    )
    return client
