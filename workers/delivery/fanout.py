"""Fan-out: every logged event becomes one delivery per matching enabled subscription.

The event log is read through a Redis consumer group, so each event is fanned out by one worker, and an
event whose worker died before acknowledging it is claimed by another after `RECLAIM_IDLE_MS`. Creating a
delivery is idempotent (see `service.state.deliveries`), so fanning an event out twice is harmless.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from service.state.deliveries import DeliveryStore
from service.state.keys import EVENTS, FANOUT_GROUP
from service.state.redis_types import text
from workers.delivery.lanes import DeliveryPool
from workers.delivery.subscription_cache import SubscriptionCache
from workers.sync.lease import now_ms

log = structlog.get_logger("relay.fanout")

READ_COUNT = 500
BLOCK_MS = 1000
RECLAIM_IDLE_MS = 30_000
RECLAIM_EVERY_S = 10.0


class Fanout:
    def __init__(
        self, redis: Redis, cache: SubscriptionCache, store: DeliveryStore, pool: DeliveryPool, consumer: str
    ) -> None:
        self._redis = redis
        self._cache = cache
        self._store = store
        self._pool = pool
        self._consumer = consumer

    async def ensure_group(self) -> None:
        try:
            # From the start of the log: a first worker fans out whatever was logged before it ran.
            await self._redis.xgroup_create(EVENTS, FANOUT_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def run_forever(self) -> None:
        last_reclaim = 0.0
        group_ready = False
        while True:
            try:
                if not group_ready:
                    await self.ensure_group()
                    group_ready = True
                if time.monotonic() - last_reclaim > RECLAIM_EVERY_S:
                    await self.reclaim()
                    last_reclaim = time.monotonic()
                reply = await self._redis.xreadgroup(
                    FANOUT_GROUP, self._consumer, {EVENTS: ">"}, count=READ_COUNT, block=BLOCK_MS
                )
                for _stream, entries in reply or []:
                    await self.process(entries)
            except ResponseError as exc:
                # NOGROUP: the stream or group vanished (a Redis without persistence restarted).
                log.warning("fanout_group_error", error=str(exc))
                group_ready = False
                await asyncio.sleep(1.0)
            except RedisError as exc:
                log.warning("fanout_redis_error", error=str(exc))
                await asyncio.sleep(1.0)

    async def process(self, entries: list[Any]) -> None:
        if not entries:
            return
        await self._cache.refresh()
        pairs: list[tuple[str, str]] = []
        entry_ids = []
        for entry_id, fields in entries:
            entry_ids.append(entry_id)
            if not fields:
                continue  # an entry deleted from the stream while pending
            event_id = text(fields[b"id"])
            self._pool.remember(event_id, fields[b"body"])
            for subscription in self._cache.matching(text(fields[b"account"]), text(fields[b"type"])):
                pairs.append((subscription.id, event_id))
        touched = await self._store.fan_out(pairs, now_ms())
        await self._redis.xack(EVENTS, FANOUT_GROUP, *entry_ids)
        self._pool.wake(touched)

    async def reclaim(self) -> None:
        """Take over events that a dead worker read but never acknowledged."""
        start = "0-0"
        while True:
            reply = await self._redis.xautoclaim(
                EVENTS, FANOUT_GROUP, self._consumer, RECLAIM_IDLE_MS, start_id=start, count=READ_COUNT
            )
            start, entries = text(reply[0]), reply[1]
            if entries:
                log.info("fanout_reclaimed", events=len(entries))
                await self.process(entries)
            if start == "0-0":
                return
