"""Sync requests from callbacks, written to the schedule in coalesced batches (see `service.state.coalesce`).

Every callback needs its trigger durably written before it may answer 202; under load, redis-py's
per-command cost, not the network, bounds the callback path, so concurrent callbacks share one write (one
script: the due times and the notice that wakes idle dispatchers).
"""

from __future__ import annotations

from service.state.coalesce import Coalescer
from service.state.scheduling import SyncSchedule


class TriggerBatcher:
    def __init__(self, schedule: SyncSchedule) -> None:
        self._schedule = schedule
        self._coalescer: Coalescer[tuple[str, int]] = Coalescer(self._write)

    async def request(self, account: str, now_ms: int) -> None:
        """Return once a write covering this request is acknowledged."""
        await self._coalescer.submit((account, now_ms))

    async def _write(self, items: list[tuple[str, int]]) -> None:
        earliest: dict[str, int] = {}
        for account, at in items:
            earliest[account] = min(at, earliest.get(account, at))
        await self._schedule.request_at(earliest)
