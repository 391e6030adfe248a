"""What every provider module offers, as one value: `PROVIDER = Provider(...)` in each module.

A provider declares here, besides what it does, what an account of it says in the accounts file; adding a
provider is its module and a line in `contracts.registry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from contracts.account_keys import AccountKey
from contracts.accounts import Account
from contracts.model import Invoice
from contracts.narrow import NarrowRead
from contracts.paging import PagedListing, Pager
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
    #: The keys an account takes besides the common ones (provider, base_url, poll_interval, initial_sync),
    #: by name; each name is an `Account` field. Any other key is refused.
    account_keys: Mapping[str, AccountKey[object]]
    #: The API's origin, or None for a provider each account names its own `base_url` for (self-hosted).
    default_base_url: str | None
    #: For providers with a login step (ISP CRM with username/password): build the login request...
    login_request: Callable[[Account], HttpRequest] | None = None
    #: ...and read the session token out of its answer.
    parse_login: Callable[[HttpResponse], str] | None = None
    #: A rule across keys, checked on the parsed account: what is wrong, in words, or None.
    account_rule: Callable[[Account], str | None] | None = None
    #: (account, invoice ids in the `invoice_id` form, login session token or None) -> a read of just those
    #: invoices from the same API as the list; None for a provider that has only its list (SMSOnline).
    narrow_reader: Callable[[Account, Sequence[str], str | None], NarrowRead] | None = None
    #: (account, today in UTC, login session token or None) -> the list as pages to fetch concurrently; None
    #: for a provider whose list does not say its total (it is read with `make_pager`, page after page).
    paged_listing: Callable[[Account, date, str | None], PagedListing] | None = None
