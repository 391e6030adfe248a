"""Coalescing concurrent sync requests into one Redis write.

Every callback needs its trigger durably written before it may answer 202. Under load, many callbacks wait
on the same round trip shape (`ZADD relay:sync:due LT ...`); while one write is in flight, the next
callbacks' requests gather into the next batch, and each batch is one `ZADD` with every account in it.
There is no timer: an idle server writes a lone callback at once, a busy one amortises redis-py's
per-command cost (which, not the network, bounds this path) over the batch.
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from service.keys import SYNC_DUE


class TriggerBatcher:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._pending: dict[str, int] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def request(self, account: str, now_ms: int) -> None:
        """Return once a write covering this request is acknowledged; raise what that write raised."""
        earliest = self._pending.get(account)
        self._pending[account] = now_ms if earliest is None else min(earliest, now_ms)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        await waiter

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, waiters = self._pending, self._waiters
                self._pending, self._waiters = {}, []
                try:
                    await self._redis.zadd(SYNC_DUE, batch, lt=True)
                except Exception as exc:  # handed to every waiter of this batch, whatever it is
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(exc)
                else:
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_result(None)
        finally:
            self._flusher = None
