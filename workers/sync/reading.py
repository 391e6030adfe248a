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
from contracts.paging import Pager
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


async def fetch(send: Sender, request: HttpRequest, read: Callable[[HttpResponse], T]) -> T:
    """One request and its answer read, retrying transient failures with backoff and honouring a short
    Retry-After."""
    for attempt in range(PAGE_ATTEMPTS):
        try:
            return read(await send(request))
        except ProviderTransient as exc:
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
    #: Narrow requests in flight at once (RELAY_PROVIDER_CONCURRENCY).
    concurrency: int
    served: dict[str, str] = field(default_factory=dict)

    async def full(self, hints_pending: HintSource | None = None) -> None:
        """The whole list. Hints that arrive meanwhile are read narrowly between its pages: a long full read
        does not hold up the invoices callbacks name."""

        async def read() -> None:
            pager = self.provider.make_pager(self.account, datetime.now(UTC).date(), await self._token())
            await self._pages(pager, hints_pending)

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
