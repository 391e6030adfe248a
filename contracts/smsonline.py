"""SMSOnline (v3 customer API): one user's payment history, polled; the operator's nudges instead of callbacks.

`GET /v3/customers/{userId}/payments?apiKey=...` answers `{"ok": true, "body": [payment, ...]}` in one
response (no paging, no filters). A payment: `method`, `sesid` (the session id, the only key every payment
has), `payId` (only once paid), `amount` (an integer, cents of USD by default), `created` and `expires_at`
(`YYYY-MM-DD HH:MM:SS`, no zone), `status`, `userId`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from functools import partial
from urllib.parse import quote

from contracts.account_keys import AccountKey, currency_code, iana_zone, one_of, secret, text_or_integer
from contracts.accounts import Account, endpoint_url, guaranteed
from contracts.answers import FlaggedEnvelope
from contracts.fields import RecordReader, id_field
from contracts.model import Invoice, Status, map_status
from contracts.money import scale_minor_units
from contracts.nudge import verify_account_nudge
from contracts.paging import Pager, SinglePage
from contracts.provider import Provider
from contracts.wire import HttpRequest

NAME = "smsonline"

#: The status table of the event contract (README). Only `cancel` is documented by SMSOnline; the rest is the vocabulary of Cryptomus, which
#: processes its crypto payments. `refund_process`, `refund_fail` and anything else map to unknown.
_STATUSES: Mapping[str, Status] = {
    "paid": Status.PAID,
    "success": Status.PAID,
    "paid_over": Status.OVERPAID,
    "wrong_amount": Status.PARTIALLY_PAID,
    "cancel": Status.CANCELED,
    "fail": Status.FAILED,
    "system_fail": Status.FAILED,
    "refund_paid": Status.REFUNDED,
    **dict.fromkeys(("confirm_check", "check", "process", "pending", "created"), Status.PENDING),
}

#: The error shape is undocumented, so this is inferred: `{"ok": false, ...}` presumably, its reason under
#: `message`, `error`, or as a text `body`; every one is tried.
_ENVELOPE = FlaggedEnvelope(NAME, flag="ok", items="body", id_field="sesid", message_keys=("message", "error", "body"))


def list_request(account: Account) -> HttpRequest:
    """The payment history. The API key rides in the query, so `log_url` masks it."""
    user_id = guaranteed(account, "user_id", account.user_id)
    api_key = guaranteed(account, "api_key", account.api_key)
    endpoint = endpoint_url(account, f"/v3/customers/{quote(user_id, safe='')}/payments")
    return HttpRequest(
        method="GET",
        url=f"{endpoint}?apiKey={quote(api_key.value, safe='')}",
        headers={"accept": "application/json"},
        log_url=f"{endpoint}?apiKey=***",
    )


def make_pager(account: Account, today: date, session_token: str | None) -> Pager:
    return SinglePage(list_request(account), partial(_ENVELOPE.records, secrets=tuple(account.secrets())))


def _major_units(amount: Decimal, account: Account) -> Decimal:
    """Integer cents unless the account says `amount_unit = "units"`: inferred from "500 = USD $5" in the V2
    docs."""
    if account.amount_unit == "units":
        return amount
    # Cents, the only other unit the account keys let through. Exact (no rounding to 28 digits): a
    # fractional cents value keeps every digit sent, 5.5 -> 0.055.
    return scale_minor_units(amount)


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "sesid")
    provider_status = read.text("status", required=True)
    return Invoice(
        account=account.name,
        provider=NAME,
        invoice_id=read.identifier("sesid"),
        status=map_status(provider_status, _STATUSES),
        provider_status=provider_status,
        amount=_major_units(read.amount("amount"), account),
        # The history has no paid amount, and a status is no evidence of one (wrong_amount says nothing of
        # how much arrived).
        amount_paid=None,
        currency=account.currency,
        # `payId` is the processor's id of the completed payment, not an order of the merchant's; no field
        # of this API is an order id. It stays in `raw`.
        order_id=None,
        customer_id=read.text("userId"),
        # `method` names the payment channel, not what the payment is for: not a description. In `raw`.
        description=None,
        created_at=read.time("created", account.zone),
        due_at=read.time("expires_at", account.zone),
        raw=read.record,
    )


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    record_id=id_field("sesid"),
    verify_callback=verify_account_nudge,
    account_keys={
        # `userId` in the path: an id the accounts file may write as a number.
        "user_id": AccountKey(text_or_integer, required=True),
        "api_key": AccountKey(secret, required=True),
        # The payments carry no currency; the docs price them in US dollars.
        "currency": AccountKey(currency_code, default="USD"),
        "amount_unit": AccountKey(one_of("cents", "units"), default="cents"),
        # The payments' times carry no zone.
        "timezone": AccountKey(iana_zone, default="UTC"),
        # SMSOnline never calls back: the operator's own systems nudge with this token.
        "callback_token": AccountKey(secret),
    },
    default_base_url="https://api-x.smsonline.cloud",
)
