"""Change detection: the stored snapshot of an invoice (or none) and its newly read state -> what to record.

A snapshot is small on purpose (sequence, status, a fingerprint of the canonical fields, a digest of the
provider record it came from): an account of 100k invoices keeps 100k short strings in Redis, not 100k
provider records. The source digest, of the record's bytes as received, lets a sync skip translating a
record that is byte for byte what the snapshot was made from, which is most records of most syncs.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

import msgspec

from contracts.accounts import Account
from contracts.jsonio import dumps
from contracts.model import INVOICE_CREATED, INVOICE_UPDATED, Event, Invoice, Status, status_event_type
from contracts.records import RawRecord

#: Bump whenever a provider's translation changes what it makes of the same record: stored source digests
#: then stop matching, and the next sync translates every record again instead of skipping it.
TRANSLATION_VERSION = 1


@dataclass(frozen=True, slots=True)
class Snapshot:
    sequence: int
    status: Status
    fingerprint: str
    #: `source_digest` of the record this snapshot was made from ('' when unknown).
    source: str = ""

    def encode(self) -> str:
        # The source (hex, never "|") before the fingerprint, which takes the rest of the text.
        return f"{self.sequence}|{self.status.value}|{self.source}|{self.fingerprint}"

    @staticmethod
    def source_of(text: str) -> str:
        """The source digest of an encoded snapshot, without decoding the rest (a re-sync asks this of
        every record)."""
        parts = text.split("|", 3)
        return parts[2] if len(parts) == 4 else ""

    @classmethod
    def decode(cls, text: str | bytes) -> Snapshot:
        if isinstance(text, bytes):
            text = text.decode()
        sequence, status, source, fingerprint = text.split("|", 3)
        return cls(int(sequence), Status(status), fingerprint, source)


def translation_context(account: Account) -> bytes:
    """Everything besides the record itself that translation depends on."""
    settings = (account.provider, account.name, account.currency, account.amount_unit, account.timezone)
    return f"{TRANSLATION_VERSION}|{'|'.join(settings)}|".encode()


_ENCODER = msgspec.json.Encoder()


def source_digest(context: bytes, record: object) -> str:
    """A digest of one provider record as received, in its translation context.

    A `RawRecord` is digested as the exact bytes the provider sent: the same record sent with other
    spacing or key order merely gets translated again (its fingerprint then shows nothing changed).
    """
    if isinstance(record, RawRecord):
        # SHA-256, cut to 128 bits: measured faster than BLAKE2b on ~1.3 KB records where the CPU has SHA
        # instructions, and a re-sync digests every record it reads.
        return hashlib.sha256(context + record.body).hexdigest()[:32]
    try:
        encoded = _ENCODER.encode(record)
    except (TypeError, OverflowError):  # a value msgspec cannot write (a huge integer): never skipped
        return ""
    return hashlib.blake2b(context + encoded, digest_size=16).hexdigest()


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
    previous: Snapshot | None, current: Invoice, *, observed_at: datetime, silent: bool = False, source: str = ""
) -> Change | None:
    """None when nothing changed; otherwise the new snapshot and, unless `silent`, its event.

    `silent` records first sight without an event: the `initial_sync = "baseline"` mode. `source` is the
    record's `source_digest`: a record that changed only outside the canonical fields (in `raw`) gets its
    snapshot refreshed, without an event, so that the next sync can skip it.
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
    elif source and source != previous.source:
        return Change(Snapshot(previous.sequence, previous.status, previous.fingerprint, source), None)
    else:
        return None
    snapshot = Snapshot(sequence, current.status, current_fingerprint, source)
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
