"""Reading a provider: the whole list (a full read) or just some invoices (a narrow read), through the one
`Sender`, with retries of what can pass, a second login when a session expired, and every record handed to
the `Recorder`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

import structlog

from contracts.accounts import Account
from contracts.errors import ProviderAuthFailed, ProviderRejected, ProviderTransient
from contracts.paging import PagedListing, Pager
from contracts.provider import Provider
from contracts.wire import HttpRequest, HttpResponse
from service.state.account_state import AUTH_FAILED, ERROR
from workers.sync.provider_http import Sender
from workers.sync.recorder import Recorder
from workers.sync.sessions import Sessions

log = structlog.get_logger("relay.sync")

#: Attempts of one request before the sync gives up and reschedules itself.
PAGE_ATTEMPTS = 4
#: The longest wait a sync sits through inline; a longer Retry-After ends the sync and reschedules it.
MAX_INLINE_WAIT = 10.0

T = TypeVar("T")
#: Pending hints now (invoice id -> stamp): read between the pages of a full read.
HintSource = Callable[[], Awaitable[Mapping[str, str]]]


class SyncFailed(Exception):
    """The sync stopped early; `report_status` says how to show it, `retry_after` when to try again."""

    def __init__(self, message: str, *, status: str, retry_after: float | None = None) -> None:
        self.report_status = status
        self.retry_after = retry_after
        super().__init__(message)


def backoff(attempt: int, base: float = 0.5, cap: float = 8.0) -> float:
    """Exponential backoff with full jitter."""
    return random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311 - jitter, not security


async def fetch(
    send: Sender,
    request: HttpRequest,
    read: Callable[[HttpResponse], T],
    on_retry: Callable[[], None] | None = None,
) -> T:
    """One request and its answer read, retrying transient failures with backoff and honouring a short
    Retry-After; `on_retry` hears of each failure retried."""
    for attempt in range(PAGE_ATTEMPTS):
        try:
            return read(await send(request))
        except ProviderTransient as exc:
            if on_retry is not None:
                on_retry()
            asked = exc.delay(datetime.now(UTC))
            last = attempt == PAGE_ATTEMPTS - 1
            if last or (asked is not None and asked > MAX_INLINE_WAIT):
                raise SyncFailed(str(exc), status=ERROR, retry_after=asked) from exc
            wait = asked if asked is not None else backoff(attempt)
            log.info("provider_retry", error=str(exc), attempt=attempt + 1, wait_s=round(wait, 3))
            await asyncio.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass
class Reader:
    """One sync's reads of one account. `served` collects the hints it read (invoice id -> stamp), so that
    the sync can remove them once its reads are committed."""

    account: Account
    provider: Provider
    send: Sender
    sessions: Sessions
    recorder: Recorder
    #: Requests in flight at once: narrow reads, and a full read's pages where the provider allows
    #: (RELAY_PROVIDER_CONCURRENCY).
    concurrency: int
    served: dict[str, str] = field(default_factory=dict)
    #: Pages fetched concurrently are recorded one at a time (the recorder and its source cache are not
    #: shared between concurrent commits).
    _recording: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def full(self, hints_pending: HintSource | None = None) -> None:
        """The whole list. Hints that arrive meanwhile are read narrowly between its pages: a long full read
        does not hold up the invoices callbacks name."""

        async def read() -> None:
            today, token = datetime.now(UTC).date(), await self._token()
            make_listing = self.provider.paged_listing if self.concurrency > 1 else None
            if make_listing is not None and await self._concurrent_pages(
                make_listing(self.account, today, token), hints_pending
            ):
                return
            await self._pages(self.provider.make_pager(self.account, today, token), hints_pending)

        await self._logged_in(read)

    async def narrow(self, hints: Mapping[str, str]) -> list[str]:
        """Just the hinted invoices; returns the ids the provider did not find (left to a full read).
        `ProviderRejected` when the provider refuses the narrow request: a full read then does instead."""
        not_found: list[str] = []

        async def read() -> None:
            nonlocal not_found
            not_found = await self._narrow(list(hints))

        await self._logged_in(read)
        missing = set(not_found)
        self.served.update({invoice_id: stamp for invoice_id, stamp in hints.items() if invoice_id not in missing})
        return not_found

    async def _token(self) -> str | None:
        return await self.sessions.token(self.account, self.provider)

    async def _logged_in(self, read: Callable[[], Awaitable[None]]) -> None:
        """Run `read`; a login session may simply have expired: on 401/403 log in again once, then believe
        the provider."""
        relogged = False
        while True:
            try:
                await read()
                return
            except ProviderAuthFailed as exc:
                if not relogged and self.sessions.drop(self.account):
                    relogged = True
                    log.info("provider_relogin")
                    continue
                raise SyncFailed(str(exc), status=AUTH_FAILED) from exc

    async def _pages(self, pager: Pager, hints_pending: HintSource | None) -> None:
        """Every page, each fetched while the one before it is compared and committed: the next request is
        known as soon as a page is parsed, so the provider's answer time overlaps the relay's own work."""
        request = pager.next_request()
        fetching = asyncio.ensure_future(fetch(self.send, request, pager.feed)) if request is not None else None
        try:
            while fetching is not None:
                records = await fetching
                self.recorder.counts.pages += 1
                request = pager.next_request()
                fetching = asyncio.ensure_future(fetch(self.send, request, pager.feed)) if request is not None else None
                await self.recorder.page(records)
                if hints_pending is not None:
                    await self.new_hints(hints_pending)
        finally:
            if fetching is not None and not fetching.done():
                fetching.cancel()

    async def _concurrent_pages(self, listing: PagedListing, hints_pending: HintSource | None) -> bool:
        """The first page, then every other up to `concurrency` at a time (halved, down to one, each time the
        provider asks to slow down or fails and is retried). False when the first page did not say how many
        there are: the list is then read page after page."""
        await self._record(await fetch(self.send, listing.first_request(), listing.feed_first), hints_pending)
        others = listing.other_requests()
        if others is None:
            return False
        pending = iter(others)
        window = self.concurrency

        def slow_down() -> None:
            nonlocal window
            window = max(1, window // 2)

        async def slot(number: int) -> None:
            # A slot past the window stops before taking a page: in-flight requests shrink as the window does.
            while number < window:
                request = next(pending, None)
                if request is None:
                    return
                await self._record(await fetch(self.send, request, listing.feed, slow_down), hints_pending)

        tasks = [asyncio.ensure_future(slot(number)) for number in range(self.concurrency)]
        try:
            await asyncio.gather(*tasks)
        except ProviderRejected as exc:
            # A server that refuses these pages' `limit` (it reads it as a page size and caps it): page after
            # page instead, which asks its way. What was recorded meanwhile reads again as unchanged.
            log.info("concurrent_pages_refused", error=str(exc))
            return False
        finally:
            for task in tasks:
                task.cancel()
        return True

    async def _record(self, records: list[object], hints_pending: HintSource | None) -> None:
        async with self._recording:
            self.recorder.counts.pages += 1
            await self.recorder.page(records)
            if hints_pending is not None:
                await self.new_hints(hints_pending)

    async def new_hints(self, hints_pending: HintSource) -> int:
        """Read narrowly the hints pending now that this sync has not read yet; how many were found. One the
        provider does not find, or refuses, stays pending for the next sync."""
        if self.provider.narrow_reader is None:
            return 0  # a provider without narrow reads lists everything in one answer anyway
        pending = await hints_pending()
        fresh = {invoice_id: stamp for invoice_id, stamp in pending.items() if self.served.get(invoice_id) != stamp}
        if not fresh:
            return 0
        try:
            not_found = set(await self._narrow(list(fresh)))
        except ProviderRejected as exc:
            log.info("narrow_read_refused", error=str(exc))
            return 0
        found = {invoice_id: stamp for invoice_id, stamp in fresh.items() if invoice_id not in not_found}
        self.served.update(found)
        return len(found)

    async def _narrow(self, invoice_ids: Sequence[str]) -> list[str]:
        assert self.provider.narrow_reader is not None
        narrow = self.provider.narrow_reader(self.account, invoice_ids, await self._token())
        limit = asyncio.Semaphore(self.concurrency)

        async def one(index: int, request: HttpRequest) -> list[object]:
            async with limit:
                return await fetch(self.send, request, lambda response: narrow.feed(index, response))

        tasks = [asyncio.ensure_future(one(index, request)) for index, request in enumerate(narrow.requests)]
        try:
            answers = await asyncio.gather(*tasks)
        except BaseException:
            for task in tasks:
                task.cancel()
            raise
        await self.recorder.page([record for records in answers for record in records])
        return narrow.not_found
