"""The trimmer: every RELAY_RETENTION_INTERVAL each worker tries to take the retention lock; the one that holds
it trims everything past the horizon, batch by batch (see `service.state.retention`), renewing the lock as it
goes. An event past the horizon leaves the log within that interval plus the time to trim, unless a delivery
of it is still pending: it then leaves at the first round after the last such delivery ends.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from dataclasses import dataclass

import structlog
from redis.exceptions import RedisError

from service.config import DEFAULTS
from service.state.stores import Stores
from workers.clock import now_ms

log = structlog.get_logger("relay.retention")

#: The lock's lease, in intervals between rounds: a trimmer killed mid-round leaves the lock to another worker
#: after this many.
LEASE_INTERVALS = 2
#: Keys one batch's script touches at most (three per subscription for each entry looked at): a batch never
#: holds Redis for long, however many subscriptions there are.
BATCH_KEY_BUDGET = 20_000


def batch_size(subscriptions: int) -> int:
    return max(10, min(500, BATCH_KEY_BUDGET // (3 * subscriptions + 3)))


@dataclass(frozen=True, slots=True)
class TrimRound:
    removed: int
    #: Events past the horizon kept because a delivery of theirs is pending.
    kept: int


class Trimmer:
    def __init__(self, stores: Stores, retention_s: int, *, every_s: float = DEFAULTS.retention_interval) -> None:
        self._stores = stores
        self._retention_ms = retention_s * 1000
        self._every_s = every_s
        self._lease_ms = int(every_s * LEASE_INTERVALS * 1000)
        # Unique to this trimmer, and naming its host and process for whoever looks at the lock.
        self._token = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"

    async def run_forever(self) -> None:
        while True:
            try:
                await self.trim_once()
            except RedisError as exc:
                log.warning("retention_redis_error", error=str(exc))
            await asyncio.sleep(self._every_s)

    async def trim_once(self) -> TrimRound | None:
        """One round; None when another worker holds the lock."""
        retention = self._stores.retention
        if not await retention.lock(self._token, self._lease_ms):
            return None
        try:
            bound = await retention.bound(now_ms() - self._retention_ms)
            subscription_ids = await self._stores.subscriptions.ids()
            count = batch_size(len(subscription_ids))
            removed = kept = 0
            start = "-"
            while True:
                batch = await retention.trim_batch(start, bound, subscription_ids, count)
                removed, kept = removed + batch.removed, kept + batch.kept
                if batch.last_entry is None or batch.removed + batch.kept < count:
                    break
                start = "(" + batch.last_entry
                if not await retention.renew(self._token, self._lease_ms):
                    break  # stalled past the lease: another worker may be trimming now
        finally:
            await retention.release(self._token)
        if removed or kept:
            log.info("log_trimmed", removed=removed, kept_pending=kept)
        return TrimRound(removed, kept)
