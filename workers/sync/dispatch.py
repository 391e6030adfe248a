"""The dispatcher: each worker process claims due accounts and queues their sync jobs.

It runs beside arq's own loop in every worker; the claim script makes sure one account is claimed by
one worker at a time, so several workers poll each account once per interval, not once each. Between
looks it sleeps until the earliest due time on the schedule, or until a wake notice says an account was
made due now (a callback, a trigger): idle, it costs Redis about one read a second, and a callback still
reaches a sync at once.
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

#: The longest sleep between looks at the schedule: it bounds how late a due time is noticed when no
#: notice comes (a dead worker's lease running out, a notice lost while Redis reconnected).
MAX_IDLE_S = 1.0
#: Accounts claimed per look, at most.
CLAIM_BATCH = 16


class Dispatcher:
    def __init__(self, schedule: SyncSchedule, queue: ArqRedis, lease_ms: int) -> None:
        self._schedule = schedule
        self._queue = queue
        self._lease_ms = lease_ms

    async def run_forever(self) -> None:
        wakeups = self._schedule.wakeups()
        try:
            while True:
                try:
                    if not await self.dispatch_once():
                        await wakeups.wait(await self.idle_seconds())
                except RedisError as exc:
                    log.warning("dispatch_redis_error", error=str(exc))
                    await asyncio.sleep(1.0)
        finally:
            await wakeups.close()

    async def idle_seconds(self) -> float:
        """How long to sleep when nothing could be claimed: until the next due time, at most MAX_IDLE_S. A due
        time already past belongs to a sync still running; its end sends a notice."""
        next_due = await self._schedule.next_due_ms()
        if next_due is None:
            return MAX_IDLE_S
        wait_s = (next_due - now_ms()) / 1000
        return wait_s if 0 < wait_s < MAX_IDLE_S else MAX_IDLE_S

    async def dispatch_once(self) -> int:
        claims = await self._schedule.claim(now_ms(), self._lease_ms, CLAIM_BATCH, uuid.uuid4().hex)
        for claim in claims:
            # A unique job id per claim: arq refuses a repeated id for as long as it keeps a result.
            await self._queue.enqueue_job(
                "sync_account", claim.account, claim.token, claim.lease_end_ms, _job_id=f"sync:{claim.token}"
            )
            log.debug("sync_queued", account=claim.account)
        return len(claims)
