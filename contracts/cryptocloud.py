"""CryptoCloud v2: the merchant invoice list, its records, and the JWT-signed postback.

Sources: CryptoCloud's API reference (invoice list, invoice information, postback, authorization) and the
open-source clients of its API. The invoice list page names the endpoint `merchant/info` once and
`merchant/list` in its curl example: `list` is the list, `info` takes invoice ids (the narrow read). Where
the sources leave a fact open, the comment at the spot where the code decides says which readings it handles.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from contracts.account_keys import AccountKey, integer_between, secret
from contracts.accounts import Account, endpoint_url, guaranteed
from contracts.answers import raise_for_status, records_body
from contracts.errors import (
    CallbackMalformed,
    CallbackUnauthorized,
    ProviderAuthFailed,
    ProviderNotFound,
    ProviderRejected,
    ProviderTransient,
)
from contracts.fields import RecordReader, id_text, record_id_of
from contracts.hints import hint_id
from contracts.jsonio import dumps, loads_exact
from contracts.jwt import verify_hs256
from contracts.model import Invoice, Status, map_status
from contracts.narrow import NarrowRead, NarrowRequest, distinct
from contracts.paging import PagedListing, Pager
from contracts.provider import Provider
from contracts.records import RawRecord
from contracts.wire import CallbackHint, CallbackRequest, HttpRequest, HttpResponse

NAME = "cryptocloud"
LIST_PATH = "/v2/invoice/merchant/list"
INFO_PATH = "/v2/invoice/merchant/info"
#: The documented maximum number of records per list request.
PAGE_SIZE = 100
#: The documented maximum number of ids per info request.
INFO_BATCH = 100
#: A listing that has not ended after this many pages is a server gone wrong (a million invoices in one
#: lookback window): the pager gives up rather than page forever.
MAX_PAGES = 10_000
#: The list example has no `fiat_currency`; the event contract pairs it with `fiat_currency`, else USD.
DEFAULT_CURRENCY = "USD"
ID_PREFIX = "INV-"

_STATUSES: Mapping[str, Status] = {
    "created": Status.PENDING,
    "partial": Status.PARTIALLY_PAID,
    "paid": Status.PAID,
    "overpaid": Status.OVERPAID,
    "canceled": Status.CANCELED,
}
#: What may follow `INV-` in an id taken from a callback (the documented ids are 8 alphanumerics).
_CALLBACK_ID = re.compile(r"[A-Za-z0-9]{1,64}")
_FORM = "application/x-www-form-urlencoded"


def invoice_id(text: str) -> str:
    """The `INV-XXXXXXXX` form of an invoice id: the list sends it, the postback omits the prefix."""
    if text[: len(ID_PREFIX)].upper() == ID_PREFIX:
        return ID_PREFIX + text[len(ID_PREFIX) :]
    return ID_PREFIX + text


# --- the list ------------------------------------------------------------------------------------


def list_window(today: date, lookback_days: int) -> tuple[str, str]:
    """`start`, `end` as the API wants them: "dd.mm.yyyy" (the docs' «dd.mm.yyyyy» is a typo; their
    own example is "01.01.2024")."""
    start = today - timedelta(days=lookback_days)
    return f"{start:%d.%m.%Y}", f"{today:%d.%m.%Y}"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """One account's list request for one window; `request` gives any page of it."""

    url: str
    api_key: str = field(repr=False)
    start: str
    end: str

    def request(self, offset: int, limit: int) -> HttpRequest:
        body = {"start": self.start, "end": self.end, "offset": offset, "limit": limit}
        return HttpRequest("POST", self.url, headers=_headers(self.api_key), body=dumps(body))


def list_query(account: Account, today: date) -> ListQuery:
    api_key = guaranteed(account, "api_key", account.api_key)
    start, end = list_window(today, account.lookback_days)
    return ListQuery(endpoint_url(account, LIST_PATH), api_key.value, start, end)


def _headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Token {api_key}", "Content-Type": "application/json"}


class ListPager:
    """Pages through `/v2/invoice/merchant/list` so that every invoice comes out exactly once.

    The docs say `limit` is the index of the last record wanted (offset=10, limit=20 -> the 11th..20th);
    every client library sends it as a page size. Asking for `limit = offset + PAGE_SIZE` means 100
    records under the index reading, and, under the count reading, whatever the server's cap of 100
    allows. Either way the next offset is this one plus the records actually received, so a short page
    never skips anything, and duplicates (from an overlapping reading or a listing that shifts while we
    page) are dropped by `uuid`.
    """

    def __init__(self, query: ListQuery) -> None:
        self._query = query
        self._offset = 0
        self._pages = 0
        # The count reading, for a server that refuses a `limit` over 100 instead of capping it.
        self._as_count = False
        self._done = False
        self._seen: set[str] = set()

    def _limit(self) -> int:
        return PAGE_SIZE if self._as_count else self._offset + PAGE_SIZE

    def next_request(self) -> HttpRequest | None:
        if self._done:
            return None
        return self._query.request(self._offset, self._limit())

    def feed(self, response: HttpResponse) -> list[object]:
        try:
            records, all_count = read_page(response)
        except ProviderRejected:
            if self._as_count or self._limit() <= PAGE_SIZE:
                raise
            # Only a request with limit > 100 differs between the readings: retry this offset once as a
            # page size. A rejection for another reason is raised by that retry.
            self._as_count = True
            return []
        self._pages += 1
        fresh = [record for record in records if self._is_new(record)]
        self._offset += len(records)
        if (
            not records
            or (all_count is not None and self._offset >= all_count)
            or not any(_uuid_of(record) for record in fresh)
        ):
            self._done = True
        elif self._pages >= MAX_PAGES:
            # Raised, not ended quietly: a listing cut short must show as a failed sync. This page's
            # records are read again by the next sync.
            raise ProviderTransient(f"{NAME} listing did not end after {MAX_PAGES} pages")
        return fresh

    def _is_new(self, record: object) -> bool:
        uuid = _uuid_of(record)
        if uuid is None:
            # Passed through for translation to report; it does not count as progress, so a server
            # sending only broken records cannot keep the pager going.
            return True
        if uuid in self._seen:
            return False
        self._seen.add(uuid)
        return True


def _uuid_of(record: object) -> str | None:
    """The dedupe key: the id `translate` will give the record, or None when it will refuse it."""
    uuid = record_id_of(record, "uuid")
    return invoice_id(uuid) if uuid else None


def read_page(response: HttpResponse) -> tuple[list[object], int | None]:
    """The records of one list answer and its `all_count` (None when the server leaves it out)."""
    body = _success(response, "list")
    return body["result"], _all_count(body)


def _success(response: HttpResponse, endpoint: str) -> dict[str, Any]:
    """A `{"status": "success", "result": [...]}` answer of the list or info endpoint, its records raw."""
    raise_for_status(response, NAME)
    body = records_body(response, NAME, "uuid")
    if not isinstance(body, dict):
        raise ProviderTransient(f"{NAME} sent an {endpoint} answer that is not an object")
    if body.get("status") == "error":
        raise _envelope_error(body.get("result"), endpoint)
    if body.get("status") != "success" or not isinstance(body.get("result"), list):
        raise ProviderTransient(f"{NAME} sent an {endpoint} answer without status success and a result array")
    return body


def _all_count(body: Mapping[str, Any]) -> int | None:
    # `all_count` is inferred from the client libraries, not documented: absent is tolerated (paging
    # then ends on an empty page or a page with nothing new), present but not a count is malformed.
    value = body.get("all_count")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProviderTransient(f"{NAME} sent an all_count that is not a count")
    return value


def _envelope_error(result: object, endpoint: str) -> ProviderAuthFailed | ProviderRejected:
    # Field names only: the values are the provider's prose and may echo what was sent.
    fields = sorted(str(key) for key in result) if isinstance(result, Mapping) else []
    if "authorization" in (field.lower() for field in fields):
        return ProviderAuthFailed(f"{NAME} refused the credentials (error envelope)")
    where = ", ".join(fields[:10]) or "the request"
    return ProviderRejected(f"{NAME} refused the {endpoint} request: error in {where}")


def make_pager(account: Account, today: date, session: str | None) -> Pager:
    return ListPager(list_query(account, today))


# --- the list, page by page concurrently -----------------------------------------------------------


def page_count(all_count: int, page_size: int = PAGE_SIZE) -> int:
    """How many pages of `page_size` records hold a listing of `all_count` (at least the first one)."""
    return max(1, -(-all_count // page_size))


def page_request(query: ListQuery, page: int, *, page_size: int = PAGE_SIZE, as_count: bool = False) -> HttpRequest:
    """The request for page `page` (from 0) of `page_size` records, for a caller that fetches the pages
    concurrently once the first answer has told `all_count` (the `ListPager` pages one after the other).

    Page 0 is the `ListPager`'s first request whatever the reading of `limit`. For the others, as there:
    `limit = offset + page_size` (`as_count` False) selects the page under the documented index reading, and
    under the page-size reading from a server that caps `limit` at its page size; a server that refuses such
    a `limit` instead reads it as a page size, and `as_count` asks that way. `page_size` is the server's
    page: `PAGE_SIZE` documented, or what a first page came back with when it was shorter than `all_count`.
    Unlike the `ListPager`, a listing that shifts between the pages is not followed: records may then come
    twice (drop them by id) or be missed until the next sync.
    """
    offset = page * page_size
    return query.request(offset, page_size if as_count else offset + page_size)


class ConcurrentListing:
    """`PagedListing` over `/v2/invoice/merchant/list`: the first page is the `ListPager`'s first request; its
    `all_count` and its length (the server's page size, when shorter than the total) give every other page
    (`page_request`). Unlike the `ListPager`, a listing that shifts between pages is not followed: a record
    that comes twice is dropped by `uuid`, one that moves past a page already read is left to the next sync."""

    def __init__(self, query: ListQuery) -> None:
        self._query = query
        self._seen: set[str] = set()
        self._others: list[HttpRequest] | None = None

    def first_request(self) -> HttpRequest:
        return page_request(self._query, 0)

    def feed_first(self, response: HttpResponse) -> list[object]:
        records, all_count = read_page(response)
        if all_count is not None:
            page_size = len(records) if 0 < len(records) < all_count else PAGE_SIZE
            pages = min(page_count(all_count, page_size), MAX_PAGES)
            self._others = [page_request(self._query, page, page_size=page_size) for page in range(1, pages)]
        return self._new(records)

    def other_requests(self) -> list[HttpRequest] | None:
        return self._others

    def feed(self, response: HttpResponse) -> list[object]:
        return self._new(read_page(response)[0])

    def _new(self, records: list[object]) -> list[object]:
        fresh = []
        for record in records:
            uuid = _uuid_of(record)
            if uuid is None:
                fresh.append(record)  # passed through for translation to report
            elif uuid not in self._seen:
                self._seen.add(uuid)
                fresh.append(record)
        return fresh


def make_paged_listing(account: Account, today: date, session: str | None) -> PagedListing:
    return ConcurrentListing(list_query(account, today))


# --- the narrow read: the info endpoint ----------------------------------------------------------

#: Fields the list answer carries and `translate` reads that the info documentation's example leaves out.
#: Inferred: the current info documentation lists the same invoice object as the list (with `created`),
#: its older example a shorter one. A record without them would translate to another invoice than the list
#: gives (no creation time, no paid amount), which change detection would report as an update: such a
#: record is taken as not found, so that the caller reads the list instead.
_LIST_FIELDS = ("created", "amount_paid")


def info_requests(account: Account, ids: Sequence[str]) -> list[NarrowRequest]:
    """One `merchant/info` request per `INFO_BATCH` ids, each id once; ids go in their `INV-` form, which
    the documentation accepts beside the bare one."""
    api_key = guaranteed(account, "api_key", account.api_key)
    url = endpoint_url(account, INFO_PATH)
    batches = [ids[start : start + INFO_BATCH] for start in range(0, len(ids), INFO_BATCH)]
    headers = _headers(api_key.value)
    return [
        NarrowRequest(HttpRequest("POST", url, headers=headers, body=dumps({"uuids": batch})), tuple(batch))
        for batch in batches
    ]


def read_info(response: HttpResponse) -> list[object]:
    """The records of one info answer that carry what the list carries.

    Undocumented: how the info endpoint answers an id it does not know. A record left out is not found; an
    error envelope refuses the whole batch (`ProviderRejected`), and so does a 404, which cannot name one
    invoice of a batch; either way the caller reads the list instead.
    """
    try:
        body = _success(response, "info")
    except ProviderNotFound as exc:
        raise ProviderRejected(f"{NAME} answered 404 to an info request") from exc
    return [record for record in body["result"] if _has_list_fields(record)]


def _has_list_fields(record: object) -> bool:
    # Each field read without parsing the record. A null one counts as missing too: wrongly missing costs a
    # list read, never a wrong event.
    return isinstance(record, RawRecord) and all(record.get(name) is not None for name in _LIST_FIELDS)


def make_narrow_read(account: Account, invoice_ids: Sequence[str], session: str | None) -> NarrowRead:
    ids = distinct(invoice_id(each) for each in invoice_ids)
    return NarrowRead(ids, info_requests(account, ids), read_info, _uuid_of)


# --- records -------------------------------------------------------------------------------------


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "uuid")
    provider_status = read.text("status", required=True)
    return Invoice(
        account=account.name,
        provider=NAME,
        invoice_id=invoice_id(read.identifier("uuid")),
        status=map_status(provider_status, _STATUSES),
        provider_status=provider_status,
        # The event contract pairs `amount` with `fiat_currency`; the docs call it just "invoice amount" beside
        # `amount_usd` and `amount_in_fiat`, so which currency it is in is the contract's reading.
        amount=read.amount("amount"),
        amount_paid=read.amount("amount_paid", required=False),
        currency=read.text("fiat_currency") or DEFAULT_CURRENCY,
        order_id=read.text("order_id"),
        customer_id=None,
        description=None,
        created_at=read.time("created"),
        due_at=read.time("expiry_date"),
        test_mode=read.boolean("test_mode"),
        raw=read.record,
    )


# --- the postback --------------------------------------------------------------------------------


def verify_callback(account: Account, request: CallbackRequest, now: datetime) -> CallbackHint:
    """Only `token` is signed (HS256, the project's secret key); everything else in the body is not."""
    if account.secret_key is None:
        raise CallbackUnauthorized("this account has no secret_key: postbacks cannot be verified")
    fields = callback_fields(request)
    token = fields.get("token")
    if not isinstance(token, str) or not token:
        raise CallbackUnauthorized("postback without a token")
    claims = verify_hs256(token, account.secret_key.encoded(), now=now)
    # The unsigned `invoice_id` is good enough for a hint: it only makes the relay read that invoice back.
    # The token's `id` claim is seen in the wild but undocumented; it is read as the invoice id, with or
    # without the prefix. Were it something else, the hint would name a wrong invoice, which costs nothing.
    # (An `x-cryptocloud-signature` header some third-party SDKs describe is not in the docs: ignored.)
    named = _hint_id(fields.get("invoice_id")) or _hint_id(claims.get("id"))
    return CallbackHint(invoice_ids=() if named is None else (named,))


def callback_fields(request: CallbackRequest) -> Mapping[str, object]:
    """The postback body as a mapping: JSON or a form, as the project settings choose."""
    if _is_form(request):
        return _form_fields(request.body)
    try:
        body = loads_exact(request.body)
    except ValueError as exc:
        raise CallbackMalformed("postback body is not JSON") from exc
    if not isinstance(body, dict):
        raise CallbackMalformed("postback body is not a JSON object")
    return body


def _is_form(request: CallbackRequest) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    if _FORM in content_type:
        return True
    if "json" in content_type:
        return False
    # No usable content type: a JSON object starts with a brace, a form never does.
    return not request.body.lstrip().startswith(b"{")


def _form_fields(body: bytes) -> Mapping[str, object]:
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as exc:
        raise CallbackMalformed("postback body is not a form") from exc
    # A field sent twice is ambiguous: refuse it for the two fields read, ignore it elsewhere.
    if any(len(parsed.get(name, ())) > 1 for name in ("token", "invoice_id")):
        raise CallbackMalformed("postback form repeats token or invoice_id")
    return {name: values[0] for name, values in parsed.items()}


def _hint_id(value: object) -> str | None:
    """An id from the postback in the list's `INV-` form; sent as text or a number, with or without the prefix."""
    text = id_text(value)
    if text is None:
        return None
    bare = hint_id(invoice_id(text.strip())[len(ID_PREFIX) :], _CALLBACK_ID)
    return None if bare is None else ID_PREFIX + bare


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    record_id=_uuid_of,
    verify_callback=verify_callback,
    narrow_reader=make_narrow_read,
    paged_listing=make_paged_listing,
    account_keys={
        "api_key": AccountKey(secret, required=True),
        # Without the project's secret key postbacks cannot be verified, and are refused: polling still works.
        "secret_key": AccountKey(secret),
        # The list answers for a period: each sync asks for this many days back from today.
        "lookback_days": AccountKey(integer_between(0, 366), default=7),
    },
    default_base_url="https://api.cryptocloud.plus",
)
