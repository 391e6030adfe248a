"""The dispatcher: each worker process claims due accounts and queues their sync jobs.

It runs beside arq's own loop in every worker; the claim script makes sure one account is claimed by
one worker at a time, so several workers poll each account once per interval, not once each.
"""

from __future__ import annotations

import asyncio
import uuid

import structlog
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from service.state.scheduling import SyncSchedule
from workers.clock import now_ms

log = structlog.get_logger("relay.dispatch")

#: Seconds between looks at the schedule when nothing was due: the latency a trigger can add.
DISPATCH_INTERVAL_S = 0.01
#: Accounts claimed per look, at most.
CLAIM_BATCH = 16


class Dispatcher:
    def __init__(self, schedule: SyncSchedule, queue: ArqRedis, lease_ms: int) -> None:
        self._schedule = schedule
        self._queue = queue
        self._lease_ms = lease_ms

    async def run_forever(self) -> None:
        while True:
            try:
                claimed = await self.dispatch_once()
            except RedisError as exc:
                log.warning("dispatch_redis_error", error=str(exc))
                await asyncio.sleep(1.0)
                continue
            if not claimed:
                await asyncio.sleep(DISPATCH_INTERVAL_S)

    async def dispatch_once(self) -> int:
        claims = await self._schedule.claim(now_ms(), self._lease_ms, CLAIM_BATCH, uuid.uuid4().hex)
        for claim in claims:
            # A unique job id per claim: arq refuses a repeated id for as long as it keeps a result.
            await self._queue.enqueue_job(
                "sync_account", claim.account, claim.token, claim.lease_end_ms, _job_id=f"sync:{claim.token}"
            )
            log.debug("sync_queued", account=claim.account)
        return len(claims)
