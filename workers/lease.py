"""Holding a sync's claim while it runs: renew the lease periodically, stop the sync if it is lost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

import structlog

from service.scheduling import Claim, SyncSchedule

T = TypeVar("T")
log = structlog.get_logger("relay.lease")

#: A claim's lease. Long enough to ride out a slow page, short enough that a killed worker's account
#: is taken over quickly.
LEASE_MS = 30_000
RENEW_EVERY_S = 10.0


class LeaseLost(Exception):
    """Another worker took the account over (this one stalled past its lease)."""


def now_ms() -> int:
    return int(time.time() * 1000)


class LeaseHolder:
    def __init__(self, schedule: SyncSchedule, claim: Claim) -> None:
        self.schedule = schedule
        self.claim = claim

    async def run(self, work: Awaitable[T]) -> T:
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=RENEW_EVERY_S)
                if done:
                    return task.result()
                renewed = await self.schedule.renew(self.claim, now_ms(), LEASE_MS)
                if renewed is None:
                    log.warning("lease_lost", account=self.claim.account)
                    task.cancel()
                    raise LeaseLost(self.claim.account)
                self.claim = renewed
        finally:
            if not task.done():
                task.cancel()
