"""One sync of one account: the read its plan calls for (see `workers.sync.planning`), every record compared
with its snapshot and each change committed once (see `workers.sync.recorder`), then a report of it.

A narrow read that cannot serve every hinted invoice (one the provider does not find, or a provider that
refuses the narrow request) becomes a full read, in the same sync.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from contracts.accounts import Account
from contracts.errors import ProviderAuthFailed, ProviderError, ProviderRejected
from contracts.registry import provider_for
from contracts.wire import HttpRequest, HttpResponse
from service.config import DEFAULTS
from service.metrics import (
    INVOICES_CHANGED,
    INVOICES_READ,
    PROVIDER_REQUESTS,
    RECORDS_DUPLICATED,
    RECORDS_SKIPPED,
    SYNC_SECONDS,
    SYNCS,
)
from service.state.account_state import AUTH_FAILED, ERROR, OK, SyncReport
from service.state.eventlog import EventLog
from workers.sync.planning import ReadKind
from workers.sync.provider_http import Sender
from workers.sync.reading import HintSource, Reader, SyncFailed
from workers.sync.recorder import Recorder, SyncCounts
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache

log = structlog.get_logger("relay.sync")

#: After a narrow read, hints that arrived meanwhile are read in the same sync, round after round while
#: they keep coming, up to this long: a steady stream of callbacks is served without a new sync (a claim,
#: a job and their round trips) for each handful of invoices, and the lease is renewed well within it.
FOLLOW_UP_S = 2.0
#: How long a follow-up round waits when nothing new came, and how many such rounds in a row end the sync.
FOLLOW_UP_GAP_S = 0.01
FOLLOW_UP_IDLE_ROUNDS = 5


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What one sync reads: the whole account, or the hinted invoices (id -> stamp)."""

    kind: ReadKind = ReadKind.FULL
    hints: Mapping[str, str] = field(default_factory=dict)
    #: Between the pages of a full read, the hints that arrived meanwhile.
    hints_pending: HintSource | None = None


@dataclass(frozen=True, slots=True)
class SyncOutcome:
    report: SyncReport
    #: After a failure, the wait the provider asked for (seconds).
    retry_after: float | None
    #: The read that ran: a narrow read that fell back is a full read.
    kind: ReadKind
    #: The hints it read (invoice id -> stamp), to remove once recorded.
    served: Mapping[str, str]


async def run_sync(
    account: Account,
    send: Sender,
    sessions: Sessions,
    eventlog: EventLog,
    *,
    baseline_done: bool,
    sources: SourceCache,
    plan: SyncPlan | None = None,
    concurrency: int = DEFAULTS.provider_concurrency,
) -> SyncOutcome:
    """Run one sync to its end (a full read unless `plan` says otherwise)."""
    plan = plan or SyncPlan()
    provider = provider_for(account.provider)
    silent = account.initial_sync == "baseline" and not baseline_done
    counts = SyncCounts()

    async def counted(request: HttpRequest) -> HttpResponse:
        counts.requests += 1
        return await send(request)

    known = sources.open(account.name, await eventlog.snapshot_stamp(account.name))
    recorder = Recorder(eventlog, account, provider, silent, known, counts)
    reader = Reader(account, provider, counted, sessions, recorder, concurrency)
    started = time.monotonic()
    kind, status, error, retry_after, complete = plan.kind, OK, None, None, False
    try:
        if kind is ReadKind.NARROW:
            kind = await _narrow_or_full(reader, plan)
        else:
            await _full(reader, plan)
        complete = kind is ReadKind.FULL
    except SyncFailed as exc:
        status, error, retry_after = exc.report_status, str(exc), exc.retry_after
    except ProviderError as exc:
        status, error = (AUTH_FAILED if isinstance(exc, ProviderAuthFailed) else ERROR), str(exc)
    duration = time.monotonic() - started
    _count(account, kind, status, counts, duration)
    level = finished_log_level(status, routine=not counts.changes and not counts.skipped)
    getattr(log, level)(
        "sync_finished",
        read=kind.value,
        status=status,
        error=error,
        requests=counts.requests,
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
        read=kind.value,
    )
    return SyncOutcome(report, retry_after, kind, reader.served if status == OK else {})


async def _narrow_or_full(reader: Reader, plan: SyncPlan) -> ReadKind:
    try:
        not_found = await reader.narrow(plan.hints)
    except ProviderRejected as exc:
        log.info("narrow_read_refused", error=str(exc))
        not_found = list(plan.hints)
    if not not_found:
        await _follow_up(reader, plan)
        return ReadKind.NARROW
    log.info("narrow_read_incomplete", not_found=not_found[:20], missing=len(not_found))
    await _full(reader, plan)
    return ReadKind.FULL


async def _follow_up(reader: Reader, plan: SyncPlan) -> None:
    """Read the hints that keep arriving, round after round: between callbacks of a steady stream the sync
    waits a little (FOLLOW_UP_GAP_S, at most FOLLOW_UP_IDLE_ROUNDS times in a row) rather than end and leave
    the next callback to a new sync."""
    if plan.hints_pending is None:
        return
    ends = time.monotonic() + FOLLOW_UP_S
    idle = 0
    while time.monotonic() < ends and idle < FOLLOW_UP_IDLE_ROUNDS:
        if await reader.new_hints(plan.hints_pending):
            idle = 0
        else:
            idle += 1
            await asyncio.sleep(FOLLOW_UP_GAP_S)


async def _full(reader: Reader, plan: SyncPlan) -> None:
    """A full read covers every hint pending when it starts: none is read narrowly between its pages."""
    reader.served.update(plan.hints)
    await reader.full(plan.hints_pending)


def finished_log_level(status: str, *, routine: bool) -> str:
    """A failed sync is a warning. A sync that found nothing new is routine: debug, or a 5 s poll would flood
    the log."""
    if status != OK:
        return "warning"
    return "debug" if routine else "info"


def _count(account: Account, kind: ReadKind, status: str, counts: SyncCounts, duration: float) -> None:
    SYNCS.labels(account.name, status).inc()
    SYNC_SECONDS.labels(account.provider).observe(duration)
    PROVIDER_REQUESTS.labels(account.name, kind.value).inc(counts.requests)
    INVOICES_READ.labels(account.name).inc(counts.records)
    RECORDS_SKIPPED.labels(account.name).inc(counts.skipped)
    RECORDS_DUPLICATED.labels(account.name).inc(counts.duplicates)
    INVOICES_CHANGED.labels(account.name).inc(counts.changes)
