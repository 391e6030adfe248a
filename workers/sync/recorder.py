"""Comparing a sync's records with their stored snapshots and committing the changes, however the records
were read (a full read's pages, a narrow read's answers).

Memory is bounded by one page: each page is translated, compared with its stored snapshots (one HMGET)
and committed (one script) before the next is asked for.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from contracts.accounts import Account
from contracts.changes import Snapshot, detect_change, source_digest, translation_context
from contracts.errors import RecordError
from contracts.model import Status
from contracts.provider import Provider
from service.metrics import EVENTS
from service.state.eventlog import CommitResult, EventLog, PendingChange
from service.tracing import TRACING, traceparent
from workers.sync.source_cache import AccountSources, bytes_hash

log = structlog.get_logger("relay.sync")


@dataclass
class SyncCounts:
    pages: int = 0
    records: int = 0
    skipped: int = 0
    changes: int = 0
    events: int = 0
    conflicts: int = 0
    #: Records dropped because a later record of the same answer had the same invoice id.
    duplicates: int = 0
    #: Requests sent to the provider (pages, narrow reads, logins), retries included.
    requests: int = 0


#: Records compared and committed together. A provider that answers in one page (thousands of records)
#: is taken in chunks, so that fan-out and deliveries sharing the worker's event loop are not held up.
CHUNK = 200
#: A record and the invoice id the provider module reads from it (None: none usable).
Identified = tuple[object, str | None]


@dataclass
class Recorder:
    """Compares one sync's records with their stored snapshots and commits the changes, counting as it goes."""

    eventlog: EventLog
    account: Account
    provider: Provider
    silent: bool
    known: AccountSources
    counts: SyncCounts

    async def page(self, records: list[object]) -> None:
        identified = self.last_per_invoice([(record, self.provider.record_id(record)) for record in records])
        for start in range(0, len(identified), CHUNK):
            await self.chunk(identified[start : start + CHUNK])

    def last_per_invoice(self, identified: list[Identified]) -> list[Identified]:
        """One record per invoice id: the last the provider sent. Two records of one invoice in one answer
        cannot both be its state; comparing each with the snapshot would log a change back and forth on
        every sync."""
        last: dict[str, int] = {}
        with_ids = 0
        for index, (_, record_id) in enumerate(identified):
            if record_id is not None:
                last[record_id] = index
                with_ids += 1
        if len(last) == with_ids:
            return identified
        kept = []
        repeated = set()
        for index, (record, record_id) in enumerate(identified):
            if record_id is None or last[record_id] == index:
                kept.append((record, record_id))
            else:
                repeated.add(record_id)
        self.counts.duplicates += len(identified) - len(kept)
        log.warning("duplicate_records", dropped=len(identified) - len(kept), invoice_ids=sorted(repeated)[:20])
        return kept

    async def _commit(self, pending: list[PendingChange], stamp: str) -> CommitResult:
        """One script for the chunk's changes; with tracing on, a span whose traceparent each event keeps."""
        if not TRACING.on:
            return await self.eventlog.commit(self.account.name, pending, stamp)
        with TRACING.tracer.start_as_current_span("commit", attributes={"relay.changes": len(pending)}) as span:
            result = await self.eventlog.commit(self.account.name, pending, stamp, traceparent())
            span.set_attribute("relay.events", result.logged)
            return result

    async def chunk(self, identified: list[Identified]) -> None:
        """Compare records with the stored snapshots (one HMGET) and commit their changes (one script).

        A record whose source digest equals its snapshot's is byte for byte what the snapshot was made
        from: it is neither parsed (pagers hand records out as their text, `RawRecord`, whose id is read
        without parsing the rest) nor translated. On a re-sync that is nearly every record. Records this
        worker already knows unchanged (`known`, see `workers.sync.source_cache`) are not even digested or read.
        """
        self.counts.records += len(identified)
        hashes = self.known.hashes
        unknown = []
        for record, record_id in identified:
            hashed = bytes_hash(record)
            if hashed is not None and record_id is not None and hashes.get(record_id) == hashed:
                continue
            unknown.append((record, record_id, hashed))
        if not unknown:
            return
        lookup = [record_id for _, record_id, _ in unknown if record_id is not None]
        stored = dict(zip(lookup, await self.eventlog.snapshots(self.account.name, lookup), strict=True))
        context = translation_context(self.account)
        observed_at = datetime.now(UTC)
        read: dict[str, int] = {}
        committed: dict[str, int | None] = {}
        pending = []
        for record, record_id, hashed in unknown:
            source = source_digest(context, record)
            expected = stored.get(record_id, "") if record_id is not None else ""
            if record_id is not None and expected and source and Snapshot.source_of(expected) == source:
                if hashed is not None:
                    read[record_id] = hashed
                continue
            previous = Snapshot.decode(expected) if expected else None
            try:
                invoice = self.provider.translate(self.account, record)
            except RecordError as exc:
                self.counts.skipped += 1
                log.warning("record_skipped", field=exc.field, record_id=exc.record_id, error=str(exc))
                continue
            if invoice.invoice_id != record_id:  # a provider module whose record_id disagrees: stay correct
                expected = (await self.eventlog.snapshots(self.account.name, [invoice.invoice_id]))[0]
                previous = Snapshot.decode(expected) if expected else None
            change = detect_change(previous, invoice, observed_at=observed_at, silent=self.silent, source=source)
            if change is None:
                continue
            if invoice.status is Status.UNKNOWN:
                log.warning("unknown_provider_status", invoice=invoice.key, provider_status=invoice.provider_status)
            if change.event is not None:
                log.debug("invoice_changed", invoice=invoice.key, event_id=change.event.id, type=change.event.type)
            pending.append(PendingChange(invoice.invoice_id, expected, change))
            committed[invoice.invoice_id] = hashed if source else None
        stamp = uuid.uuid4().hex
        result = await self._commit(pending, stamp)
        self.known.settle(read, committed, result, stamp)
        for event_type in result.types:
            EVENTS.labels(event_type).inc()
        self.counts.changes += result.written
        self.counts.events += result.logged
        self.counts.conflicts += result.conflicts
