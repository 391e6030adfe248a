"""One sync of one account: read the provider's list end to end, translate, compare, record changes.

Memory is bounded by one page: each page is translated, compared with its stored snapshots (one HMGET)
and committed (one script) before the next page is requested.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from contracts.accounts import Account
from contracts.changes import Snapshot, detect_change, source_digest, translation_context
from contracts.errors import ProviderAuthFailed, ProviderError, ProviderTransient, RecordError
from contracts.model import Status
from contracts.paging import Pager
from contracts.provider import Provider
from contracts.registry import provider_for
from contracts.wire import HttpRequest
from service.metrics import (
    EVENTS,
    INVOICES_CHANGED,
    INVOICES_READ,
    RECORDS_DUPLICATED,
    RECORDS_SKIPPED,
    SYNC_SECONDS,
    SYNCS,
)
from service.state.account_state import AUTH_FAILED, ERROR, OK, SyncReport
from service.state.eventlog import EventLog, PendingChange
from workers.sync.provider_http import Sender
from workers.sync.sessions import Sessions
from workers.sync.source_cache import AccountSources, SourceCache, bytes_hash

log = structlog.get_logger("relay.sync")

#: Attempts of one page request before the sync gives up and reschedules itself.
PAGE_ATTEMPTS = 4
#: The longest wait a sync sits through inline; a longer Retry-After ends the sync and reschedules it.
MAX_INLINE_WAIT = 10.0


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


class SyncFailed(Exception):
    """The sync stopped early; `report_status` says how to show it, `retry_after` when to try again."""

    def __init__(self, message: str, *, status: str, retry_after: float | None = None) -> None:
        self.report_status = status
        self.retry_after = retry_after
        super().__init__(message)


def backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not security


async def fetch_page(pager: Pager, request: HttpRequest, send: Sender) -> list[object]:
    """One page, retrying transient failures with backoff and honouring a short Retry-After."""
    for attempt in range(PAGE_ATTEMPTS):
        try:
            return pager.feed(await send(request))
        except ProviderTransient as exc:
            asked = exc.delay(datetime.now(UTC))
            last = attempt == PAGE_ATTEMPTS - 1
            if last or (asked is not None and asked > MAX_INLINE_WAIT):
                raise SyncFailed(str(exc), status=ERROR, retry_after=asked) from exc
            wait = asked if asked is not None else backoff(attempt)
            log.info("provider_retry", error=str(exc), attempt=attempt + 1, wait_s=round(wait, 3))
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


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
        result = await self.eventlog.commit(self.account.name, pending, stamp)
        self.known.settle(read, committed, result, stamp)
        for event_type in result.types:
            EVENTS.labels(event_type).inc()
        self.counts.changes += result.written
        self.counts.events += result.logged
        self.counts.conflicts += result.conflicts


async def read_pages(pager: Pager, send: Sender, recorder: Recorder) -> None:
    """Every page, each fetched while the one before it is compared and committed: the next request is
    known as soon as a page is parsed, so the provider's answer time overlaps the relay's own work."""
    request = pager.next_request()
    fetching = asyncio.ensure_future(fetch_page(pager, request, send)) if request is not None else None
    try:
        while fetching is not None:
            records = await fetching
            recorder.counts.pages += 1
            request = pager.next_request()
            fetching = asyncio.ensure_future(fetch_page(pager, request, send)) if request is not None else None
            await recorder.page(records)
    finally:
        if fetching is not None and not fetching.done():
            fetching.cancel()


async def read_listing(
    account: Account,
    send: Sender,
    sessions: Sessions,
    eventlog: EventLog,
    *,
    silent: bool,
    counts: SyncCounts,
    sources: SourceCache,
) -> None:
    provider = provider_for(account.provider)
    known = sources.open(account.name, await eventlog.snapshot_stamp(account.name))
    recorder = Recorder(eventlog, account, provider, silent, known, counts)
    relogged = False
    while True:
        try:
            pager = provider.make_pager(account, datetime.now(UTC).date(), await sessions.token(account, provider))
            await read_pages(pager, send, recorder)
            return
        except ProviderAuthFailed as exc:
            # A login session may simply have expired: log in again once, then believe the provider.
            if not relogged and sessions.drop(account):
                relogged = True
                log.info("provider_relogin")
                continue
            raise SyncFailed(str(exc), status=AUTH_FAILED) from exc


async def run_sync(
    account: Account,
    send: Sender,
    sessions: Sessions,
    eventlog: EventLog,
    *,
    baseline_done: bool,
    sources: SourceCache,
) -> tuple[SyncReport, float | None]:
    """Run one sync to its end; the report to store and, after a failure, the wait the provider asked for."""
    silent = account.initial_sync == "baseline" and not baseline_done
    counts = SyncCounts()
    started = time.monotonic()
    status, error, retry_after, complete = OK, None, None, False
    try:
        await read_listing(account, send, sessions, eventlog, silent=silent, counts=counts, sources=sources)
        complete = True
    except SyncFailed as exc:
        status, error, retry_after = exc.report_status, str(exc), exc.retry_after
    except ProviderError as exc:
        status, error = (AUTH_FAILED if isinstance(exc, ProviderAuthFailed) else ERROR), str(exc)
    duration = time.monotonic() - started
    SYNCS.labels(account.name, status).inc()
    SYNC_SECONDS.labels(account.provider).observe(duration)
    INVOICES_READ.labels(account.name).inc(counts.records)
    RECORDS_SKIPPED.labels(account.name).inc(counts.skipped)
    RECORDS_DUPLICATED.labels(account.name).inc(counts.duplicates)
    INVOICES_CHANGED.labels(account.name).inc(counts.changes)
    # A sync that found nothing new is routine: logged at debug, or a 5 s poll would flood the log.
    routine = status == OK and not counts.changes and not counts.skipped
    (log.debug if routine else log.info)(
        "sync_finished",
        status=status,
        error=error,
        pages=counts.pages,
        records=counts.records,
        skipped=counts.skipped,
        duplicates=counts.duplicates,
        changes=counts.changes,
        events=counts.events,
        conflicts=counts.conflicts,
        baseline=silent,
        duration_ms=round(duration * 1000, 1),
    )
    report = SyncReport(
        status=status,
        finished_at=datetime.now(UTC),
        error=error,
        records=counts.records,
        skipped=counts.skipped,
        events=counts.events,
        complete=complete,
    )
    return report, retry_after
