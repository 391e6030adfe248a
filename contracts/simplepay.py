"""SimplePay (API v2): the invoice list, its records, and callbacks signed in either of two schemes.

Sources: SimplePay's API documentation (the Invoices page, webhooks) and its official API clients (TypeScript
and PHP), which show the wire format where the documentation is silent.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from contracts import standard_webhooks
from contracts.account_keys import AccountKey, secret, text, whsec_secret
from contracts.accounts import Account, endpoint_url, guaranteed
from contracts.answers import raise_for_status, records_body
from contracts.errors import CallbackUnauthorized, ProviderNotFound, ProviderTransient
from contracts.fields import RecordReader, id_field
from contracts.hints import hint_id
from contracts.jsonio import loads_exact
from contracts.model import Invoice, Status, map_status
from contracts.narrow import NarrowRead, NarrowRequest, distinct
from contracts.paging import Pager, SinglePage
from contracts.provider import Provider
from contracts.records import RawRecord
from contracts.wire import CallbackHint, CallbackRequest, HttpRequest, HttpResponse

NAME = "simplepay"
LIST_PATH = "/invoice"
API_VERSION = "2"

# The docs print ACTIVE / SUCCESS / CANCELED; the wire values are lowercase and include `closed`.
_STATUSES: Mapping[str, Status] = {
    "active": Status.PENDING,
    "success": Status.PAID,
    "canceled": Status.CANCELED,
    "closed": Status.EXPIRED,
}
_STANDARD_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
_X_SIGNATURE = "x-signature"
#: What an id in a hint may look like (invoice UUIDs, event ids); anything else is left out of the hint.
_HINT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: Which field of `data` names the invoice, by the event type's family (`invoice.*`, `transaction.*`).
_INVOICE_FIELD_BY_FAMILY: Mapping[str, str] = {"invoice": "id", "transaction": "invoice_id"}
record_id = id_field("id")
#: The documented form of an invoice id (`string · uuid`), any case.
_INVOICE_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


# --- the list ------------------------------------------------------------------------------------


def list_request(account: Account) -> HttpRequest:
    query = [("v", API_VERSION)]
    if account.app_id is not None:
        query.append(("app_id", account.app_id))
    return _get(account, LIST_PATH, query)


def _get(account: Account, path: str, query: list[tuple[str, str]]) -> HttpRequest:
    api_key = guaranteed(account, "api_key", account.api_key)
    return HttpRequest(
        "GET",
        f"{endpoint_url(account, path)}?{urlencode(query)}",
        headers={"Authorization": f"Bearer {api_key.value}", "Accept": "application/json"},
    )


def read_invoices(response: HttpResponse) -> list[object]:
    raise_for_status(response, NAME)
    body = records_body(response, NAME, "id")
    if not isinstance(body, list):
        raise ProviderTransient(f"{NAME} sent an invoice list that is not a JSON array")
    return body


def make_pager(account: Account, today: date, session: str | None) -> Pager:
    # Neither official SDK pages or filters by date; whether the server can is unknown, so the whole
    # list is read in one request.
    return SinglePage(list_request(account), read_invoices)


# --- the narrow read: one invoice's details ---------------------------------------------------------


def invoice_request(account: Account, invoice_id: str) -> HttpRequest:
    """`GET /invoice/{id}?v=2`; `invoice_id` must be a UUID (see `make_narrow_read`)."""
    return _get(account, f"{LIST_PATH}/{invoice_id}", [("v", API_VERSION)])


def read_invoice(response: HttpResponse) -> list[object]:
    """The invoice of a details answer, as a list answer's record; none for the documented 404."""
    try:
        raise_for_status(response, NAME)
    except ProviderNotFound:
        return []
    record = RawRecord(response.body)
    try:
        invoice = record.value()
    except ValueError as exc:
        raise ProviderTransient(f"{NAME} sent a body that is not JSON") from exc
    if not isinstance(invoice, dict):
        raise ProviderTransient(f"{NAME} sent invoice details that are not a JSON object")
    return [record]


def make_narrow_read(account: Account, invoice_ids: Sequence[str], session: str | None) -> NarrowRead:
    ids = distinct(invoice_ids)
    if account.app_id is not None:
        # Undocumented: whether the details endpoint is limited to one app as the list is by `app_id`; its
        # record does not name its app, so it could show an invoice this account's list never does. Such an
        # account reads its list instead.
        return NarrowRead(ids, [], read_invoice, record_id)
    # An id that is not a UUID names no invoice (the path takes a UUID); it is not sent, which also keeps
    # text such as `..` out of the path. The list then decides.
    asks = [NarrowRequest(invoice_request(account, each), (each,)) for each in ids if _INVOICE_UUID.fullmatch(each)]
    return NarrowRead(ids, asks, read_invoice, record_id)


# --- records -------------------------------------------------------------------------------------


def status_of(provider_status: str, total: Decimal, paid: Decimal | None) -> Status:
    """The event contract's status table: the status word, refined by how much of `total` is `paid`.

    Only the two refinements the contract names: an `active` invoice paid in full stays pending until SimplePay
    itself calls it `success`, and a `success` one paid short stays paid (the provider decided).
    """
    status = map_status(provider_status, _STATUSES)
    if paid is None:
        return status
    if status is Status.PENDING and 0 < paid < total:
        return Status.PARTIALLY_PAID
    if status is Status.PAID and paid > total:
        return Status.OVERPAID
    return status


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "id")
    invoice_id = read.identifier("id")
    provider_status = read.text("status", required=True)
    # The docs' "Total" also mentions "amount that left to pay"; the contract reads it as the invoice amount.
    total = read.amount("total")
    paid = read.amount("paid", required=False)
    return Invoice(
        account=account.name,
        provider=NAME,
        invoice_id=invoice_id,
        status=status_of(provider_status, total, paid),
        provider_status=provider_status,
        amount=total,
        amount_paid=paid,
        currency=_currency(read),
        order_id=None,
        customer_id=read.text("client_id"),
        description=None,
        created_at=read.time("created_at"),  # documented (ISO-8601), so given, not left out
        due_at=None,  # no due or expiry date is documented
        test_mode=None,  # nor a test flag on the invoice (dev mode is a property of the app)
        raw=read.record,
    )


def _currency(read: RecordReader) -> str:
    # `currency.symbol`, as the event contract says. The docs' example holds only "text", so whether it is a code ("USDT")
    # or a sign ("$") is unknown: it is passed on as sent, trimmed. Text only, unlike `RecordReader.text`:
    # a number here would be neither a code nor a sign.
    currency = read.nested("currency")
    symbol = currency.record.get("symbol")
    if not isinstance(symbol, str) or not symbol.strip():
        raise currency.fail("symbol", f"expected non-empty text, got {type(symbol).__name__}")
    return symbol.strip()


# --- callbacks -----------------------------------------------------------------------------------

Scheme = Callable[[Account, CallbackRequest, datetime], str | None]


def _verify_standard(account: Account, request: CallbackRequest, now: datetime) -> str | None:
    """Standard Webhooks; returns the verified `webhook-id`."""
    if account.webhook_secret is None:
        raise CallbackUnauthorized("Standard Webhooks headers, but this account has no webhook_secret")
    try:
        key = standard_webhooks.secret_key(account.webhook_secret.value)
    except ValueError as exc:  # `parse_account` refuses a malformed one; never answer 500 regardless
        raise CallbackUnauthorized("webhook_secret is not a whsec_ secret") from exc
    return standard_webhooks.verify(request.headers, request.body, key, now=now)


def _verify_x_signature(account: Account, request: CallbackRequest, now: datetime) -> str | None:
    """The older SDK scheme: lowercase hex HMAC-SHA256 of the raw body, keyed with the API key. No
    timestamp is signed, so nothing bounds a replay; harmless here, as a callback only triggers a sync."""
    if account.api_key is None:
        raise CallbackUnauthorized("X-Signature header, but this account has no api_key")
    expected = hmac.new(account.api_key.encoded(), request.body, hashlib.sha256).hexdigest().encode()
    offered = request.headers.get(_X_SIGNATURE, "").strip().lower().encode()
    if not hmac.compare_digest(expected, offered):
        raise CallbackUnauthorized("X-Signature does not match")
    return None


def _schemes(headers: Mapping[str, str]) -> list[Scheme]:
    # Which scheme the server signs with today is unknown: accept either, picked by the headers that
    # arrived. When both arrive, either one verifying is proof enough.
    schemes: list[Scheme] = []
    if any(name in headers for name in _STANDARD_HEADERS):
        schemes.append(_verify_standard)
    if _X_SIGNATURE in headers:
        schemes.append(_verify_x_signature)
    return schemes


def authenticate(account: Account, request: CallbackRequest, now: datetime) -> str | None:
    """Check the signature over the raw body; returns the verified `webhook-id`, if any."""
    schemes = _schemes(request.headers)
    if not schemes:
        raise CallbackUnauthorized("neither Standard Webhooks nor X-Signature headers")
    refusals: list[str] = []
    for scheme in schemes:
        try:
            return scheme(account, request, now)
        except CallbackUnauthorized as exc:
            refusals.append(str(exc))
    raise CallbackUnauthorized("; ".join(refusals))


def verify_callback(account: Account, request: CallbackRequest, now: datetime) -> CallbackHint:
    delivery_id = authenticate(account, request, now)
    # Parsed only once verified. An unreadable body still counts: the callback is only a hint to sync.
    try:
        message = loads_exact(request.body)
    except ValueError:
        message = None
    if not isinstance(message, dict):
        return CallbackHint(delivery_id=delivery_id)
    named = _named_invoice(message)
    return CallbackHint(
        invoice_ids=() if named is None else (named,),
        delivery_id=delivery_id or hint_id(message.get("id"), _HINT_ID),
    )


def _named_invoice(message: Mapping[str, Any]) -> str | None:
    """`data.id` of an `invoice.*` event, `data.invoice_id` of a `transaction.*` one."""
    event_type, data = message.get("type"), message.get("data")
    if not isinstance(event_type, str) or not isinstance(data, Mapping):
        return None
    field = _INVOICE_FIELD_BY_FAMILY.get(event_type.partition(".")[0].strip().lower())
    return None if field is None else hint_id(data.get(field), _HINT_ID)


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    record_id=record_id,
    verify_callback=verify_callback,
    narrow_reader=make_narrow_read,
    account_keys={
        "api_key": AccountKey(secret, required=True),
        # The list's optional filter: one app's invoices.
        "app_id": AccountKey(text),
        # Without it only X-Signature callbacks verify (keyed with the API key).
        "webhook_secret": AccountKey(whsec_secret),
    },
    default_base_url="https://api.simplepay.ai",
)
