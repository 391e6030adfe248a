"""Keeping the schedule whole, whatever happened to Redis.

Scheduling never depends on an entry surviving: every few seconds each worker puts back any polled
account missing from the schedule (a no-op when it is there: ZADD NX), and checks the state marker. A
marker gone missing means Redis lost its data: the worker logs an error and counts it. What else needs
rebuilding rebuilds itself: the fan-out group on its next read, subscription caches through their version
(which cannot repeat after a loss), delivery lanes from the caches. It also watches Redis's memory: a
warning above 80% of maxmemory, and a refusal to run on a Redis that may evict keys.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import structlog
from redis.exceptions import RedisError

from contracts.accounts import Account
from service.metrics import STATE_LOSSES
from service.state.memory import WARN_RATIO, check_policy
from service.state.stores import Stores
from workers.clock import now_ms

log = structlog.get_logger("relay.upkeep")

#: Seconds between checks: a polled account lost from the schedule is back within this long.
UPKEEP_INTERVAL_S = 5.0
#: A Redis above WARN_RATIO of its maxmemory is logged at most this often.
MEMORY_WARNING_EVERY_MS = 60_000


class Upkeep:
    def __init__(self, stores: Stores, accounts: Mapping[str, Account], interval_s: float = UPKEEP_INTERVAL_S) -> None:
        self._stores = stores
        self._polled = [account.name for account in accounts.values() if account.poll_interval]
        self._interval_s = interval_s
        self._seen_marker = False
        self._warned_at_ms = -MEMORY_WARNING_EVERY_MS

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check_once()
            except RedisError as exc:
                log.warning("upkeep_redis_error", error=str(exc))
            await asyncio.sleep(self._interval_s)

    async def check_once(self) -> bool:
        """One check; True when it found that Redis had lost its data. `UnsafePolicy` for a Redis that may
        evict keys (raised at start-up, the worker stops)."""
        now = now_ms()
        await self._check_memory(now)
        missing_marker = await self._stores.marker.ensure(now, seen_before=self._seen_marker)
        lost = missing_marker and self._seen_marker
        self._seen_marker = True
        restored = await self._stores.schedule.schedule_missing(self._polled, now)
        if lost:
            STATE_LOSSES.inc()
            log.error("redis_state_lost", rescheduled=restored, detail="the relay's data in Redis is gone; rebuilding")
        elif restored:
            log.warning("schedule_restored", accounts=restored)
        return lost

    async def _check_memory(self, now: int) -> None:
        found = await self._stores.memory()
        check_policy(found)
        ratio = found.ratio
        if ratio is not None and ratio > WARN_RATIO and now - self._warned_at_ms >= MEMORY_WARNING_EVERY_MS:
            self._warned_at_ms = now
            log.warning(
                "redis_memory_high",
                used_bytes=found.used_bytes,
                max_bytes=found.max_bytes,
                used_pct=round(ratio * 100, 1),
                detail="at maxmemory Redis refuses writes: callbacks get 503 and work waits until memory frees",
            )
