"""The sync job: arq runs `sync_account` for each claim the dispatcher queues."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import StatusCode

from contracts.accounts import Account
from contracts.registry import provider_for
from service.state.account_state import AUTH_FAILED, OK, SyncReport
from service.state.scheduling import Claim
from service.state.stores import Stores
from service.state.sync_work import PendingWork
from service.tracing import TRACING, parent_and_links
from workers.clock import now_ms
from workers.sync.lease import LeaseHolder, LeaseLost
from workers.sync.planning import ReadKind, owed_full_read_ms, plan_read
from workers.sync.provider_http import Sender
from workers.sync.run import SyncPlan, run_sync
from workers.sync.sessions import Sessions
from workers.sync.source_cache import SourceCache

log = structlog.get_logger("relay.jobs")

#: After a failed sync: wait 5 s, doubling per consecutive failure, at most this long.
MAX_ERROR_BACKOFF_S = 300.0
#: The longest provider `Retry-After` honoured (a provider may send any number).
MAX_RETRY_AFTER_S = 3600.0
#: After 401/403, do not ask again sooner than this: wrong credentials will not fix themselves quickly.
AUTH_FAILED_RETRY_S = 600
#: An account this worker's configuration lacks is put back this far, not dropped: during a rolling
#: deploy another worker may know it. A removed account costs one no-op job per interval.
UNKNOWN_ACCOUNT_RETRY_MS = 60_000


@dataclass(frozen=True, slots=True)
class SyncDeps:
    """What sync jobs share in a worker process (arq's `ctx["sync"]`)."""

    accounts: Mapping[str, Account]
    stores: Stores
    send: Sender
    sessions: Sessions
    sources: SourceCache
    #: How long a claim lasts without renewal (RELAY_SYNC_LEASE).
    lease_ms: int
    #: Narrow requests in flight at once (RELAY_PROVIDER_CONCURRENCY).
    concurrency: int


def next_due_ms(
    account: Account,
    report: SyncReport,
    failures: int,
    retry_after: float | None,
    now: int,
    *,
    last_full_ms: int | None = None,
    last_narrow_ms: int | None = None,
) -> int | None:
    """When the account syncs next; None for "only on a trigger". After a sync that went well, when the next
    full read is owed: `last_full_ms` is when the last full read ended (None: this sync was one)."""
    poll = account.poll_interval
    if report.status == OK:
        owed = owed_full_read_ms(account, now if last_full_ms is None else last_full_ms, last_narrow_ms)
        return None if owed is None else max(owed, now)
    if report.status == AUTH_FAILED:
        return now + max(poll, AUTH_FAILED_RETRY_S) * 1000 if poll else None
    # A failed sync retries on its own even for trigger-only accounts: the trigger it served must not be lost.
    delay = min(MAX_ERROR_BACKOFF_S, 5.0 * 2 ** max(0, failures - 1)) * random.uniform(0.8, 1.2)  # noqa: S311
    if poll:
        delay = min(delay, float(poll))
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER_S))
    return now + int(delay * 1000)


async def sync_account(ctx: dict[str, Any], account_name: str, token: str, lease_end_ms: int) -> dict[str, Any]:
    """Run one claimed sync of `account_name`; the claim (token, lease) comes from the dispatcher."""
    deps: SyncDeps = ctx["sync"]
    schedule, states = deps.stores.schedule, deps.stores.states
    structlog.contextvars.bind_contextvars(account=account_name, job_id=ctx.get("job_id"))
    lease_ms = deps.lease_ms
    claim = await schedule.renew(Claim(account_name, token, lease_end_ms), now_ms(), lease_ms)
    if claim is None:
        # A re-run of a job whose claim has since been released or taken over: nothing to do.
        return {"status": "stale"}
    account = deps.accounts.get(account_name)
    if account is None:
        log.warning("sync_unknown_account")
        await schedule.finish(claim, now_ms() + UNKNOWN_ACCOUNT_RETRY_MS)
        return {"status": "unknown_account"}
    holder = LeaseHolder(schedule, claim, lease_ms)
    baseline_done = await states.baseline_done(account.name)
    work = await deps.stores.work.pending(account.name)
    narrow_supported = provider_for(account.provider).narrow_reader is not None
    kind = plan_read(account, work, baseline_done=baseline_done, narrow_supported=narrow_supported, now_ms=now_ms())
    if kind is ReadKind.NONE:
        # Due for nothing left to read (a request that a sync before this one served): keep the schedule.
        owed = owed_full_read_ms(account, work.last_full_ms, work.last_narrow_ms)
        await schedule.finish(holder.claim, owed)
        if TRACING.on and work.traceparents:
            # Callbacks the sync before this one served as they came (between its pages or rounds).
            _, links = parent_and_links(work.traceparents)
            TRACING.tracer.start_span("sync", links=links, attributes={"relay.account": account.name}).end()
        return {"status": "nothing_to_read"}
    if not TRACING.on:
        return await _read_and_record(deps, account, holder, work=work, kind=kind, baseline_done=baseline_done)
    # A scheduled poll starts its own trace; a sync serving callbacks continues the first one's and links to each.
    parent, links = parent_and_links(work.traceparents)
    attributes = {"relay.account": account.name, "relay.provider": account.provider, "relay.read": kind.value}
    with TRACING.tracer.start_as_current_span("sync", context=parent, links=links, attributes=attributes) as span:
        result = await _read_and_record(deps, account, holder, work=work, kind=kind, baseline_done=baseline_done)
        span.set_attribute("relay.sync.status", str(result["status"]))
        if result["status"] not in (OK, "lease_lost"):
            span.set_status(StatusCode.ERROR, str(result["status"]))
        return result


async def hints_since(deps: SyncDeps, account: str) -> dict[str, str]:
    """The hints pending now, read between a sync's pages and rounds; with tracing on, the callbacks that left
    them are linked from the running sync's span, which serves them."""
    hints = await deps.stores.work.hints(account)
    if TRACING.on:
        span = trace.get_current_span()
        for link in parent_and_links(await deps.stores.work.take_traceparents(account))[1]:
            span.add_link(link.context)
    return hints


async def _read_and_record(
    deps: SyncDeps, account: Account, holder: LeaseHolder, *, work: PendingWork, kind: ReadKind, baseline_done: bool
) -> dict[str, Any]:
    """Read what is owed, record the outcome, and hand the account back with its next due time."""
    schedule, states = deps.stores.schedule, deps.stores.states
    plan = SyncPlan(kind, work.hints, lambda: hints_since(deps, account.name))
    try:
        outcome = await holder.run(
            run_sync(
                account,
                deps.send,
                deps.sessions,
                deps.stores.eventlog,
                baseline_done=baseline_done,
                sources=deps.sources,
                plan=plan,
                concurrency=deps.concurrency,
            )
        )
    except LeaseLost:
        return {"status": "lease_lost"}
    except asyncio.CancelledError:
        # Shutdown: hand the account back so that any worker syncs it again right away.
        await asyncio.shield(schedule.release(holder.claim, now_ms()))
        raise
    report = outcome.report
    finished = now_ms()
    full_read_at = finished if report.complete else None
    narrow_read_at = finished if report.status == OK and outcome.kind is ReadKind.NARROW else None
    if report.status == OK:
        await deps.stores.work.served(
            account.name,
            hints=outcome.served,
            full_requested=work.full_requested if report.complete else None,
            full_read_at_ms=full_read_at,
            narrow_read_at_ms=narrow_read_at,
        )
    failures = await states.record(account.name, report)
    next_due = next_due_ms(
        account,
        report,
        failures,
        outcome.retry_after,
        finished,
        last_full_ms=full_read_at or work.last_full_ms,
        last_narrow_ms=narrow_read_at or work.last_narrow_ms,
    )
    await schedule.finish(holder.claim, next_due)
    return {
        "status": report.status,
        "read": outcome.kind.value,
        "records": report.records,
        "events": report.events,
        "skipped": report.skipped,
    }
