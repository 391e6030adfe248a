"""Change detection: the stored snapshot of an invoice (or none) and its newly read state -> what to record.

A snapshot is small on purpose (sequence, status, a fingerprint of the canonical fields): an account of
100k invoices keeps 100k short strings in Redis, not 100k provider records.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from contracts.jsonio import dumps
from contracts.model import INVOICE_CREATED, INVOICE_UPDATED, Event, Invoice, Status, status_event_type


@dataclass(frozen=True, slots=True)
class Snapshot:
    sequence: int
    status: Status
    fingerprint: str

    def encode(self) -> str:
        return f"{self.sequence}|{self.status.value}|{self.fingerprint}"

    @classmethod
    def decode(cls, text: str | bytes) -> Snapshot:
        if isinstance(text, bytes):
            text = text.decode()
        sequence, status, fingerprint = text.split("|", 2)
        return cls(int(sequence), Status(status), fingerprint)


@dataclass(frozen=True, slots=True)
class Change:
    """What one observation records: the snapshot to store, and the event to log (None when silent)."""

    snapshot: Snapshot
    event: Event | None


def fingerprint(invoice: Invoice) -> str:
    """A digest of every canonical field but `raw`: equal fingerprints mean nothing to report.

    The values go in the canonical dict's fixed order (no key sorting) and the digest is written in hex:
    a re-sync of a large account fingerprints every invoice, so this stays cheap.
    """
    values = tuple(invoice.canonical().values())
    return hashlib.blake2b(dumps(values), digest_size=16).hexdigest()


def event_id(invoice_key: str, sequence: int, invoice_fingerprint: str) -> str:
    """Deterministic: the same change of the same invoice always gets the same id."""
    material = f"{invoice_key}\x00{sequence}\x00{invoice_fingerprint}".encode()
    digest = hashlib.blake2b(material, digest_size=15).digest()
    return "evt_" + base64.b32encode(digest).decode().lower()


def detect_change(
    previous: Snapshot | None, current: Invoice, *, observed_at: datetime, silent: bool = False
) -> Change | None:
    """None when nothing canonical changed; otherwise the new snapshot and, unless `silent`, its event.

    `silent` records first sight without an event: the `initial_sync = "baseline"` mode.
    """
    current_fingerprint = fingerprint(current)
    if previous is None:
        event_type = INVOICE_CREATED if current.status is Status.PENDING else status_event_type(current.status)
        sequence = 1
    elif current.status is not previous.status:
        event_type = status_event_type(current.status)
        sequence = previous.sequence + 1
    elif current_fingerprint != previous.fingerprint:
        event_type = INVOICE_UPDATED
        sequence = previous.sequence + 1
    else:
        return None
    snapshot = Snapshot(sequence, current.status, current_fingerprint)
    if silent and previous is None:
        return Change(snapshot, None)
    event = Event(
        id=event_id(current.key, sequence, current_fingerprint),
        type=event_type,
        timestamp=observed_at,
        sequence=sequence,
        previous_status=None if previous is None else previous.status,
        invoice=current,
    )
    return Change(snapshot, event)
