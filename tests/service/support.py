"""What the service tests share: invoices built to order and events logged through `EventLog.commit`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from redis.asyncio import Redis

from contracts.changes import Snapshot, detect_change
from contracts.model import Invoice, Status
from service.state.eventlog import EventLog, PendingChange


def invoice(account: str, number: int, status: Status = Status.PENDING) -> Invoice:
    return Invoice(
        account=account,
        provider="cryptocloud",
        invoice_id=f"INV-{number:08d}",
        status=status,
        provider_status=status.value,
        amount=Decimal("10.50"),
        amount_paid=None,
        currency="USD",
        raw={"n": number},
    )


async def log_events(redis: Redis, account: str, events: int | Sequence[Status]) -> list[PendingChange]:
    """Log one event per new invoice `INV-<n>` of `account` and return the changes committed.

    `events` is either the statuses of invoices 0, 1, ... in order, or a count: then odd numbers are
    `invoice.paid`, even ones `invoice.created`.
    """
    statuses = [Status.PAID if n % 2 else Status.PENDING for n in range(events)] if isinstance(events, int) else events
    now = datetime.now(UTC)
    changes = [
        PendingChange(inv.invoice_id, "", change)
        for inv in (invoice(account, n, status) for n, status in enumerate(statuses))
        if (change := detect_change(None, inv, observed_at=now)) is not None
    ]
    result = await EventLog(redis).commit(account, changes)
    assert result.logged == len(statuses)
    return changes


async def log_history(redis: Redis, number: int, length: int) -> list[str]:
    """Log `length` events of invoice INV-<number> of account `acct` (sequences 1 to `length`): their ids in
    sequence order."""
    log = EventLog(redis)
    snapshot: Snapshot | None = None
    ids: list[str] = []
    for n in range(length):
        current = invoice("acct", number, Status.PAID if n % 2 else Status.PENDING)
        change = detect_change(snapshot, current, observed_at=datetime.now(UTC))
        assert change is not None
        assert change.event is not None
        expected = "" if snapshot is None else snapshot.encode()
        assert (await log.commit("acct", [PendingChange(current.invoice_id, expected, change)])).logged == 1
        snapshot = change.snapshot
        ids.append(change.event.id)
    return ids
