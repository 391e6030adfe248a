"""What every provider module offers, as one value: `PROVIDER = Provider(...)` in each module."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from contracts.accounts import Account
from contracts.model import Invoice
from contracts.paging import Pager
from contracts.wire import CallbackHint, CallbackRequest, HttpRequest, HttpResponse


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    #: (account, today in UTC, login session token or None) -> a pager over the account's invoices.
    make_pager: Callable[[Account, date, str | None], Pager]
    #: (account, one raw record) -> Invoice; raises `RecordError` for a bad record.
    translate: Callable[[Account, object], Invoice]
    #: One raw record -> the `invoice_id` that `translate` gives it (None when it has no usable id): read
    #: without translating, so that a sync can look up the stored snapshot first.
    record_id: Callable[[object], str | None]
    #: (account, request, now) -> hint; raises `CallbackError` with the status to answer.
    verify_callback: Callable[[Account, CallbackRequest, datetime], CallbackHint]
    #: For providers with a login step (ISP CRM with username/password): build the login request...
    login_request: Callable[[Account], HttpRequest] | None = None
    #: ...and read the session token out of its answer.
    parse_login: Callable[[HttpResponse], str] | None = None
