"""Reading just some invoices of an account (those a callback named), without I/O: the caller sends the
requests, in any order or all at once, and feeds each answer back.

    narrow = provider.narrow_reader(account, invoice_ids, session)
    for index, request in enumerate(narrow.requests):
        records = narrow.feed(index, await send(request))
    if narrow.not_found:
        ...  # read the whole account instead

Records come out as the list hands them out (for the provider's `record_id` and `translate`), and only
records of the invoices a request asked for: an answer that ignores its filter cannot pass off other
invoices as read. A request whose answer is an error raises the typed `ProviderError`, as a list page does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from contracts.wire import HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class NarrowRequest:
    request: HttpRequest
    #: The invoices it asks for, in the relay's `invoice_id` form.
    invoice_ids: tuple[str, ...]


class NarrowRead:
    """The requests for some invoices (`invoice_ids`) and what their answers found.

    An id no request asks for (not in a form the provider's ids take) is not found without a request.
    `read` turns one answer into its records (none for an answer that says "no such invoice"); `record_id`
    is the provider's `Provider.record_id`.
    """

    def __init__(
        self,
        invoice_ids: Iterable[str],
        asks: Sequence[NarrowRequest],
        read: Callable[[HttpResponse], list[object]],
        record_id: Callable[[object], str | None],
    ) -> None:
        self._wanted = distinct(invoice_ids)
        self._asks = tuple(asks)
        self._read = read
        self._record_id = record_id
        self._found: set[str] = set()

    @property
    def requests(self) -> tuple[HttpRequest, ...]:
        """Independent of each other: they may be sent concurrently."""
        return tuple(ask.request for ask in self._asks)

    def feed(self, index: int, response: HttpResponse) -> list[object]:
        """The records that the answer to `requests[index]` holds of the invoices it asked for."""
        asked = set(self._asks[index].invoice_ids)
        records = [record for record in self._read(response) if self._record_id(record) in asked]
        self._found.update(identifier for record in records if (identifier := self._record_id(record)) is not None)
        return records

    @property
    def not_found(self) -> list[str]:
        """The ids asked for that no answer fed so far held (all of them before any answer), in the order given."""
        return [identifier for identifier in self._wanted if identifier not in self._found]


def distinct(invoice_ids: Iterable[str]) -> list[str]:
    """Each id once, in the order first given."""
    return list(dict.fromkeys(invoice_ids))
