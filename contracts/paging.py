"""Reading a provider's list endpoint page by page, without I/O: the caller sends each request.

    pager = provider.make_pager(account, today, session)
    while (request := pager.next_request()) is not None:
        records = pager.feed(await send(request))

Memory stays bounded by one page: records are handed out as each page arrives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from contracts.wire import HttpRequest, HttpResponse


class Pager(Protocol):
    def next_request(self) -> HttpRequest | None:
        """The next request to send, or None when the listing is complete."""

    def feed(self, response: HttpResponse) -> list[object]:
        """The records of the page `response` answers; raises a `ProviderError` for an unusable answer."""


class SinglePage:
    """For list endpoints that answer everything in one response (no paging documented)."""

    def __init__(self, request: HttpRequest, extract: Callable[[HttpResponse], list[object]]) -> None:
        self._request: HttpRequest | None = request
        self._extract = extract

    def next_request(self) -> HttpRequest | None:
        return self._request

    def feed(self, response: HttpResponse) -> list[object]:
        records = self._extract(response)
        self._request = None
        return records


class PagedListing(Protocol):
    """A list a caller can fetch concurrently: the first page tells how many there are, and the others are
    independent requests from then on. Records come out each once (by id) whatever order answers arrive in."""

    def first_request(self) -> HttpRequest: ...

    def feed_first(self, response: HttpResponse) -> list[object]:
        """The first page's records; afterwards `other_requests` is known."""
        ...

    def other_requests(self) -> list[HttpRequest] | None:
        """The requests for every other page; None when the first answer did not tell the total (the caller
        pages one after the other instead)."""
        ...

    def feed(self, response: HttpResponse) -> list[object]:
        """Another page's records, those no page fed before held."""
        ...
