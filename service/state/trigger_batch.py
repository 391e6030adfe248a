"""Sync requests from callbacks, written to the schedule in coalesced batches (see `service.state.coalesce`).

Every callback needs its trigger durably written before it may answer 202; under load, redis-py's
per-command cost, not the network, bounds the callback path, so concurrent callbacks share one `ZADD`.
"""

from __future__ import annotations

from redis.asyncio import Redis

from service.state.coalesce import Coalescer
from service.state.keys import SYNC_DUE


class TriggerBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._coalescer: Coalescer[tuple[str, int]] = Coalescer(self._write)

    async def request(self, account: str, now_ms: int) -> None:
        """Return once a write covering this request is acknowledged."""
        await self._coalescer.submit((account, now_ms))

    async def _write(self, items: list[tuple[str, int]]) -> None:
        earliest: dict[str, int] = {}
        for account, at in items:
            earliest[account] = min(at, earliest.get(account, at))
        await self._redis.zadd(SYNC_DUE, earliest, lt=True)
