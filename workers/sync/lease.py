"""Holding a sync's claim while it runs: renew the lease periodically, stop the sync if it is lost."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from service.state.scheduling import Claim, SyncSchedule
from workers.clock import now_ms

T = TypeVar("T")
log = structlog.get_logger("relay.lease")


class LeaseLost(Exception):
    """Another worker took the account over (this one stalled past its lease)."""


class LeaseHolder:
    def __init__(self, schedule: SyncSchedule, claim: Claim, lease_ms: int) -> None:
        self.schedule = schedule
        self.claim = claim
        self.lease_ms = lease_ms

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        try:
            while True:
                # Renew at a third of the lease: two renewals can fail before the lease runs out.
                done, _ = await asyncio.wait({task}, timeout=self.lease_ms / 3000)
                if done:
                    return task.result()
                renewed = await self.schedule.renew(self.claim, now_ms(), self.lease_ms)
                if renewed is None:
                    log.warning("lease_lost", account=self.claim.account)
                    task.cancel()
                    raise LeaseLost(self.claim.account)
                self.claim = renewed
        finally:
            if not task.done():
                task.cancel()
