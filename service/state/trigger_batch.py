"""Sync requests from callbacks, written to the schedule in coalesced batches (see `service.state.coalesce`).

Every callback needs its trigger durably written before it may answer 202; under load, redis-py's
per-command cost, not the network, bounds the callback path, so concurrent callbacks share one write (one
script: the due times and the notice that wakes idle dispatchers).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.state.coalesce import Coalescer
from service.state.scheduling import SyncRequest, SyncSchedule


class TriggerBatcher:
    def __init__(self, schedule: SyncSchedule) -> None:
        self._schedule = schedule
        self._coalescer: Coalescer[SyncRequest] = Coalescer(self._write)

    async def request(self, request: SyncRequest) -> None:
        """Return once a write covering this request is acknowledged."""
        await self._coalescer.submit(request)

    async def _write(self, requests: list[SyncRequest]) -> None:
        await self._schedule.request(merged(requests), callbacks=len(requests))


def merged(requests: Sequence[SyncRequest]) -> list[SyncRequest]:
    """Per account, one request for the invoices named (at the earliest time) and one for a full read if any
    asked for it."""
    earliest: dict[tuple[str, bool], int] = {}
    named: dict[str, dict[str, None]] = {}
    traced: dict[tuple[str, bool], list[str]] = {}
    for request in requests:
        key = (request.account, bool(request.invoice_ids))
        earliest[key] = min(request.at_ms, earliest.get(key, request.at_ms))
        named.setdefault(request.account, {}).update(dict.fromkeys(request.invoice_ids))
        if request.traceparents:
            traced.setdefault(key, []).extend(request.traceparents)
    return [
        SyncRequest(account, at_ms, tuple(named[account]) if hinted else (), tuple(traced.get((account, hinted), ())))
        for (account, hinted), at_ms in earliest.items()
    ]
