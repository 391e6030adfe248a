"""ISP CRM (Netgroot) subscriber API: one subscriber's invoices, polled; the operator's nudges instead of callbacks.

Auth: a static bearer `token`, or `username` + `password` traded at `POST /api/v1/subscriber/Login` for a
session token (the worker logs in again on 401). `GET /api/v1/subscriber/getCustomersInvoices` answers
`{"success": true, "data": [invoice, ...]}` in one response. An invoice: `invoice_id` (an integer), `amount`
(a JSON number), `status` (`Paid`, `Pending`, ...), `date`, `due_date` (ISO 8601 with `Z`), `description`.
Each CRM runs on its own domain, so `base_url` is required.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from functools import partial

from contracts.accounts import Account, account_zone, endpoint_url, required_key
from contracts.answers import FlaggedEnvelope, json_body, raise_for_status
from contracts.errors import ConfigError, ProviderTransient
from contracts.fields import RecordReader, id_field
from contracts.jsonio import dumps
from contracts.model import Invoice, Status, map_status
from contracts.nudge import verify_account_nudge
from contracts.paging import Pager, SinglePage
from contracts.provider import Provider
from contracts.wire import HttpRequest, HttpResponse

NAME = "ispcrm"
_LOGIN_PATH = "/api/v1/subscriber/Login"
_INVOICES_PATH = "/api/v1/subscriber/getCustomersInvoices"

#: SPEC's table. [U] only `Paid` and `Pending` are documented (capitalised); the others are the usual
#: billing words, and anything else maps to unknown.
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


def login_request(account: Account) -> HttpRequest:
    """The login call. Its body holds the password: only `log_url` and the method may be logged."""
    username = required_key(account, "username", account.username)
    password = required_key(account, "password", account.password)
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


def _bearer_token(account: Account, session_token: str | None) -> str:
    if session_token:
        return session_token
    if account.token is not None:
        return account.token.value
    raise ConfigError(f"account {account.name!r}: no token and no login session; log in first")


def make_pager(account: Account, today: date, session_token: str | None) -> Pager:
    token = _bearer_token(account, session_token)
    request = HttpRequest(
        method="GET",
        url=endpoint_url(account, _INVOICES_PATH),
        headers={"authorization": f"Bearer {token}", "accept": "application/json"},
    )
    secrets = (*account.secrets(), token)
    return SinglePage(request, partial(_ENVELOPE.records, secrets=secrets))


def _status_key(provider_status: str) -> str:
    # "Partially  Paid" or a non-breaking space is still "partially paid"; `map_status` trims and folds case.
    return " ".join(provider_status.split())


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "invoice_id")
    provider_status = read.text("status", required=True)
    # ISP CRM accounts have no `timezone` key, so this is UTC; documented times carry `Z` anyway.
    zone = account_zone(account)
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
        created_at=read.time("date", zone),
        due_at=read.time("due_date", zone),
        raw=read.record,
    )


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    record_id=id_field("invoice_id"),
    verify_callback=verify_account_nudge,
    login_request=login_request,
    parse_login=parse_login,
)
