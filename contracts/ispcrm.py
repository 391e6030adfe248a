"""ISP CRM (Netgroot) subscriber API: one subscriber's invoices, polled; the operator's nudges instead of callbacks.

Auth: a static bearer `token`, or `username` + `password` traded at `POST /api/v1/subscriber/Login` for a
session token (the worker logs in again on 401). `GET /api/v1/subscriber/getCustomersInvoices` answers
`{"success": true, "data": [invoice, ...]}` in one response. An invoice: `invoice_id` (an integer), `amount`
(a JSON number), `status` (`Paid`, `Pending`, ...), `date`, `due_date` (ISO 8601 with `Z`), `description`.
Each CRM runs on its own domain, so `base_url` is required. The same endpoint with `?id=<invoice id>` answers
just that invoice, in the same envelope: the narrow read.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import partial
from urllib.parse import urlencode

from contracts.account_keys import AccountKey, currency_code, secret, text
from contracts.accounts import Account, endpoint_url, guaranteed
from contracts.answers import FlaggedEnvelope, json_body, raise_for_status
from contracts.errors import ProviderNotFound, ProviderTransient
from contracts.fields import RecordReader, id_field
from contracts.jsonio import dumps
from contracts.model import Invoice, Status, map_status
from contracts.narrow import NarrowRead, NarrowRequest, distinct
from contracts.nudge import verify_account_nudge
from contracts.paging import Pager, SinglePage
from contracts.provider import Provider
from contracts.wire import HttpRequest, HttpResponse

NAME = "ispcrm"
_LOGIN_PATH = "/api/v1/subscriber/Login"
_INVOICES_PATH = "/api/v1/subscriber/getCustomersInvoices"

#: The status table of the event contract (README). Only `Paid` and `Pending` are documented (capitalised); the others are undocumented, the
#: usual billing words, and anything else maps to unknown.
_STATUSES: Mapping[str, Status] = {
    "paid": Status.PAID,
    **dict.fromkeys(("pending", "unpaid", "due", "overdue"), Status.PENDING),
    **dict.fromkeys(("partially paid", "partial"), Status.PARTIALLY_PAID),
    **dict.fromkeys(("cancelled", "canceled", "void"), Status.CANCELED),
    "refunded": Status.REFUNDED,
}

#: 404 `{"success": false, "message": "Subscriber not found"}` is documented; `raise_for_status` makes it
#: `ProviderNotFound`, and the message is added to it.
_ENVELOPE = FlaggedEnvelope(NAME, flag="success", items="data", id_field="invoice_id")

#: A session token goes into a header as it is: visible ASCII only, so no answer can inject a line.
_HEADER_TOKEN = re.compile(r"[\x21-\x7e]+")
#: The documented `id` is an integer; the relay's `invoice_id` is its decimal text.
_INVOICE_NUMBER = re.compile(r"[0-9]{1,19}")
record_id = id_field("invoice_id")


def login_request(account: Account) -> HttpRequest:
    """The login call. Its body holds the password: only `log_url` and the method may be logged."""
    username = guaranteed(account, "username", account.username)
    password = guaranteed(account, "password", account.password)
    return HttpRequest(
        method="POST",
        url=endpoint_url(account, _LOGIN_PATH),
        headers={"content-type": "application/json", "accept": "application/json"},
        body=dumps({"username": username, "password": password.value}),
    )


def parse_login(response: HttpResponse) -> str:
    """The session token out of `{"message": "Login successful", "token": "<JWT>", ...}`.

    401 `{"message": "Invalid credentials"}` is `ProviderAuthFailed`. The provider's message is not added:
    without the account at hand it cannot be checked for an echoed password.
    """
    raise_for_status(response, NAME)
    document = json_body(response, NAME)
    token = document.get("token") if isinstance(document, Mapping) else None
    if not isinstance(token, str) or not _HEADER_TOKEN.fullmatch(token):
        raise ProviderTransient(f"{NAME} login answer carries no usable token")
    return token


def credentials_rule(account: Account) -> str | None:
    """`Provider.account_rule`: a static token, or a login, so that every sync has a bearer token."""
    if account.token is None and (account.username is None or account.password is None):
        return "ispcrm needs either 'token' or both 'username' and 'password'"
    if (account.username is None) != (account.password is None):
        # With a token beside it, half a login would still be tried: `logs_in` looks at the username only.
        return "ispcrm needs 'username' and 'password' together, or neither"
    return None


def _bearer_token(account: Account, session_token: str | None) -> str:
    if session_token:
        return session_token
    if account.token is None:
        # `credentials_rule` leaves only accounts that log in: their caller owes the session token.
        raise ValueError(f"account {account.name!r} logs in: make_pager needs its session token")
    return account.token.value


def make_pager(account: Account, today: date, session_token: str | None) -> Pager:
    token = _bearer_token(account, session_token)
    return SinglePage(_invoices_request(account, token, ""), _records_reader(account, token))


def _invoices_request(account: Account, token: str, query: str) -> HttpRequest:
    return HttpRequest(
        method="GET",
        url=endpoint_url(account, _INVOICES_PATH) + query,
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )


def _records_reader(account: Account, token: str) -> Callable[[HttpResponse], list[object]]:
    return partial(_ENVELOPE.records, secrets=(*account.secrets(), token))


def make_narrow_read(account: Account, invoice_ids: Sequence[str], session_token: str | None) -> NarrowRead:
    """One `getCustomersInvoices?id=` request per invoice. The documentation names `id` the invoice's id
    (optional, an integer); an id of another form is not sent, and the list decides about it."""
    token = _bearer_token(account, session_token)
    ids = distinct(invoice_ids)
    asks = [
        NarrowRequest(_invoices_request(account, token, "?" + urlencode({"id": each})), (each,))
        for each in ids
        if _INVOICE_NUMBER.fullmatch(each)
    ]
    return NarrowRead(ids, asks, partial(_read_one, _records_reader(account, token)), record_id)


def _read_one(records: Callable[[HttpResponse], list[object]], response: HttpResponse) -> list[object]:
    # The documented 404 ("Subscriber not found") is for an unknown subscriber or an unknown invoice alike.
    # Read as the invoice: a full read then tells an account that is gone. The documented example answer
    # holds two invoices: records of invoices not asked for are dropped by the `NarrowRead`.
    try:
        return records(response)
    except ProviderNotFound:
        return []


def _status_key(provider_status: str) -> str:
    # "Partially  Paid" or a non-breaking space is still "partially paid"; `map_status` trims and folds case.
    return " ".join(provider_status.split())


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "invoice_id")
    provider_status = read.text("status", required=True)
    return Invoice(
        account=account.name,
        provider=NAME,
        # An integer in the docs; its decimal text, so `123` and `"123"` are the same invoice.
        invoice_id=read.identifier("invoice_id"),
        status=map_status(_status_key(provider_status), _STATUSES),
        provider_status=provider_status,
        amount=read.amount("amount"),
        # The API has no paid amount; "Paid" is not evidence of how much.
        amount_paid=None,
        currency=account.currency,
        description=read.text("description"),
        # Zone-less times are read as UTC: ISP CRM accounts have no `timezone` key, and documented times
        # carry `Z` anyway.
        created_at=read.time("date"),
        due_at=read.time("due_date"),
        raw=read.record,
    )


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    record_id=record_id,
    verify_callback=verify_account_nudge,
    narrow_reader=make_narrow_read,
    account_keys={
        # The currency the CRM bills in: its invoices do not say.
        "currency": AccountKey(currency_code, required=True),
        "token": AccountKey(secret),
        "username": AccountKey(text),
        "password": AccountKey(secret),
        # ISP CRM never calls back: the operator's own systems nudge with this token.
        "callback_token": AccountKey(secret),
    },
    default_base_url=None,
    login_request=login_request,
    parse_login=parse_login,
    account_rule=credentials_rule,
)
