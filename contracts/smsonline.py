"""SMSOnline (v3 customer API): one user's payment history, polled; the operator's nudges instead of callbacks.

`GET /v3/customers/{userId}/payments?apiKey=...` answers `{"ok": true, "body": [payment, ...]}` in one
response (no paging, no filters). A payment: `method`, `sesid` (the session id, the only key every payment
has), `payId` (only once paid), `amount` (an integer, cents of USD by default), `created` and `expires_at`
(`YYYY-MM-DD HH:MM:SS`, no zone), `status`, `userId`.

The first section holds helpers that `contracts.ispcrm` shares: an `{<flag>, <items>}` envelope, provider
messages safe to show, typed field reads, nudges. They belong in the core (answers.py, fields.py, nudge.py);
they live here only because the core was frozen while these two modules were written, and the other module
imports them rather than copying them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

from contracts.accounts import Account
from contracts.answers import json_body, raise_for_status
from contracts.errors import ConfigError, ProviderError, ProviderRejected, ProviderTransient
from contracts.fields import RecordReader
from contracts.jsonio import loads_exact
from contracts.model import Invoice, Status, map_status
from contracts.money import scale_minor_units
from contracts.nudge import verify_nudge
from contracts.paging import Pager, SinglePage
from contracts.provider import Provider
from contracts.times import zone_named
from contracts.wire import CallbackHint, CallbackRequest, HttpRequest, HttpResponse

# ---------------------------------------------------------------------------------------------------------
# Shared with contracts.ispcrm; candidates for the core.
# ---------------------------------------------------------------------------------------------------------

_T = TypeVar("_T")

#: Longer provider texts are more likely a dump of the request than a message meant for people.
_MESSAGE_LIMIT = 200
#: A long unbroken run of token characters: an API key, a JWT or a session id echoed back.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9+/=_.-]{24,}")


def required_key(account: Account, key: str, value: _T | None) -> _T:
    """An account key the provider cannot work without. `parse_account` already insists on it; an
    `Account` built some other way gets a configuration error here rather than a request with `None` in it."""
    if value is None:
        raise ConfigError(f"account {account.name!r}: key {key!r} is required for provider {account.provider}")
    return value


def endpoint_url(account: Account, path: str) -> str:
    return account.base_url.rstrip("/") + path


def account_zone(account: Account) -> tzinfo:
    """The zone zone-less provider times are read in."""
    try:
        return zone_named(account.timezone)
    except ValueError as exc:
        raise ConfigError(f"account {account.name!r}: key 'timezone' is not a known IANA zone") from exc


def safe_message(value: object, secrets: Sequence[str]) -> str | None:
    """A provider's own error text when an operator may see it (`last_error`): short, printable, and with
    nothing in it that looks like a credential, since providers echo requests and keys travel in queries."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > _MESSAGE_LIMIT or not text.isprintable() or _TOKEN_LIKE.search(text):
        return None
    if any(secret in text for secret in secrets if secret):
        return None
    return text


def _with_message(error: ProviderError, message: str) -> ProviderError:
    """The same classification, with the provider's words added; `Retry-After` survives."""
    text = f"{error}: {message}"
    if isinstance(error, ProviderTransient):
        return ProviderTransient(text, retry_after=error.retry_after)
    return type(error)(text)


@dataclass(frozen=True, slots=True)
class FlaggedEnvelope:
    """List answers shaped `{<flag>: true, <items>: [...]}`, refusals `{<flag>: false, "message": ...}`."""

    provider: str
    flag: str
    items: str
    #: Where a refusal may carry its reason, most specific first.
    message_keys: tuple[str, ...] = ("message",)

    def records(self, response: HttpResponse, secrets: Sequence[str] = ()) -> list[object]:
        """The records of one answer, or the typed error for an unusable one. `secrets` are kept out of
        the error messages."""
        self._raise_for_status(response, secrets)
        document = json_body(response, self.provider)
        if not isinstance(document, Mapping) or not isinstance(document.get(self.flag), bool):
            raise ProviderTransient(f"{self.provider} sent a body that is not its {self.flag}/{self.items} envelope")
        if document[self.flag] is False:
            # A refusal with a success status: no retry will change it, but it says nothing about credentials.
            reason = self._message(document, secrets)
            raise ProviderRejected(f"{self.provider} refused the request" + (f": {reason}" if reason else ""))
        if self.items not in document:
            raise ProviderTransient(f"{self.provider} sent {self.flag}: true without {self.items!r}")
        items = document[self.items]
        if items is None:
            # [U] how an empty history looks is undocumented: `[]` surely, `null` plausibly. Reading null as
            # empty costs nothing (a missing invoice emits no event), reading it as an error would fail the
            # account for good.
            return []
        if not isinstance(items, list):
            raise ProviderTransient(f"{self.provider} sent {self.items!r} that is not a list")
        return list(items)

    def _raise_for_status(self, response: HttpResponse, secrets: Sequence[str]) -> None:
        try:
            raise_for_status(response, self.provider)
        except ProviderError as error:
            reason = self._message(_parsed(response.body), secrets)
            if reason is None:
                raise
            raise _with_message(error, reason) from error

    def _message(self, document: object, secrets: Sequence[str]) -> str | None:
        if not isinstance(document, Mapping):
            return None
        for key in self.message_keys:
            found = safe_message(document.get(key), secrets)
            if found is not None:
                return found
        return None


def _parsed(body: bytes) -> Any:
    try:
        return loads_exact(body)
    except ValueError:
        return None


def read_status(read: RecordReader, name: str = "status") -> str:
    """The provider's status as sent; a record without one cannot be placed in any state."""
    text = read.text(name, required=True)
    if text is None:  # pragma: no cover - `required=True` raises instead
        raise read.fail(name, "required text missing")
    return text


def read_amount(read: RecordReader, name: str) -> Decimal:
    """A required amount, exact (`RecordReader.amount` types it optional even when required)."""
    amount = read.amount(name, required=True)
    if amount is None:  # pragma: no cover - `required=True` raises instead
        raise read.fail(name, "required amount missing")
    return amount


def verify_account_nudge(account: Account, request: CallbackRequest, now: datetime) -> CallbackHint:
    """For providers that never call back: only the operator's own systems nudge, with `callback_token`."""
    return verify_nudge(request, account.callback_token)


# ---------------------------------------------------------------------------------------------------------
# SMSOnline
# ---------------------------------------------------------------------------------------------------------

NAME = "smsonline"

#: SPEC's table. Only `cancel` is documented by SMSOnline; the rest is the vocabulary of Cryptomus, which
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

#: [I] the error shape is undocumented: `{"ok": false, ...}` presumably, its reason under `message`,
#: `error`, or as a text `body`; every one is tried.
_ENVELOPE = FlaggedEnvelope(NAME, flag="ok", items="body", message_keys=("message", "error", "body"))


def list_request(account: Account) -> HttpRequest:
    """The payment history. The API key rides in the query, so `log_url` masks it."""
    user_id = required_key(account, "user_id", account.user_id)
    api_key = required_key(account, "api_key", account.api_key)
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
    """[I] "500 = USD $5" in the V2 docs: integer cents unless the account says `amount_unit = "units"`."""
    if account.amount_unit == "units":
        return amount
    if account.amount_unit == "cents":
        # Exact (no rounding to 28 digits); a fractional cents value keeps every digit sent: 5.5 -> 0.055.
        return scale_minor_units(amount)
    raise ConfigError(f"account {account.name!r}: key 'amount_unit' must be cents or units")


def translate(account: Account, record: object) -> Invoice:
    read = RecordReader.of(record, "sesid")
    zone = account_zone(account)
    provider_status = read_status(read)
    return Invoice(
        account=account.name,
        provider=NAME,
        invoice_id=read.identifier("sesid"),
        status=map_status(provider_status, _STATUSES),
        provider_status=provider_status,
        amount=_major_units(read_amount(read, "amount"), account),
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
        created_at=read.time("created", zone),
        due_at=read.time("expires_at", zone),
        raw=read.record,
    )


PROVIDER = Provider(
    name=NAME,
    make_pager=make_pager,
    translate=translate,
    verify_callback=verify_account_nudge,
)
