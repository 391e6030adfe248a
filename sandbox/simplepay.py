"""SimplePay v2: invoices behind a Bearer API key, webhooks signed by Standard Webhooks or by X-Signature."""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import random
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import jsonio
from sandbox.callbacks import Outgoing
from sandbox.errors import Problem
from sandbox.generate import Weighted, naive_utc, rng_uuid, stable_uuid
from sandbox.provider import CENT, Provider, arrived, bearer, to_decimal
from sandbox.state import Account, AccountConfig, Invoice, Record, Sandbox

STATUSES = ("active", "closed", "success", "canceled")
SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
CLIENTS_PER_ACCOUNT = 40
EXPIRED_AGE = 3600  # well outside Standard Webhooks' +-5 minutes

_SYMBOLS = Weighted((("USD", 60), ("USDT", 30), ("EUR", 10)))
_CODES = {"USD": 840, "EUR": 978, "USDT": 1}
# Shared between records: a change replaces the whole top-level value, never edits these in place.
_CURRENCIES = {
    s: {"id": stable_uuid(f"simplepay/currency/{s}"), "symbol": s, "code": _CODES[s]} for s in _SYMBOLS.values
}


_STYLES = ("seconds", "milliseconds", "microseconds")  # all three are seen in SimplePay's answers


def iso(moment: datetime, style: int = 2) -> str:
    """ISO-8601 in UTC with Z; `style` indexes _STYLES."""
    return naive_utc(moment).isoformat("T", _STYLES[style]) + "Z"


@functools.cache
def _clients(seed: int) -> tuple[str, ...]:
    return tuple(stable_uuid(f"simplepay/client/{seed}/{n}") for n in range(CLIENTS_PER_ACCOUNT))


def _parse_iso(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _paid_text(amount: Decimal) -> str:
    return "0" if amount == 0 else str(amount.quantize(CENT))


def secret_key(webhook_secret: str) -> bytes:
    """The HMAC key inside a `whsec_<base64>` secret."""
    raw = webhook_secret.removeprefix(SECRET_PREFIX)
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class SimplePay(Provider):
    name = "simplepay"
    settings = frozenset({"api_key", "app_id", "webhook_secret", "callback_url", "callback_scheme"})
    id_field = "id"
    amount_field = "total"
    paid_field = "paid"
    transitions = frozenset({"pay", "partial", "overpay", "cancel", "expire"})
    open_statuses = frozenset({"active"})
    paid_statuses = frozenset()
    callback_schemes = ("standard", "hmac")

    def check_config(self, config: AccountConfig) -> None:
        if not config.api_key:
            raise Problem(400, "a simplepay account needs 'api_key'")
        if config.app_id is not None and not _is_uuid(config.app_id):
            raise Problem(400, "'app_id' must be a UUID")
        if config.webhook_secret is not None:
            try:
                ok = config.webhook_secret.startswith(SECRET_PREFIX) and bool(secret_key(config.webhook_secret))
            except (binascii.Error, ValueError):
                ok = False
            if not ok:
                raise Problem(400, "'webhook_secret' must be 'whsec_' followed by non-empty base64")
        if config.callback_scheme is not None and config.callback_scheme not in self.callback_schemes:
            raise Problem(400, f"'callback_scheme' must be one of {list(self.callback_schemes)}")

    def identities(self, config: AccountConfig) -> set[str]:
        return {f"api_key:{config.api_key}"}

    def describe(self, account: Account) -> dict[str, Any]:
        return {"app_id": self.app_id(account)}

    def app_id(self, account: Account) -> str:
        return account.config.app_id or stable_uuid(f"simplepay/app/{account.seed}")

    def currency(self, rec: Record) -> Any:
        currency = rec.get("currency")
        return currency.get("symbol") if isinstance(currency, dict) else None

    # --- records -------------------------------------------------------------------------------

    def new_id(self, account: Account, rng: random.Random) -> str:
        return rng_uuid(rng)

    def build(self, account: Account, key: str, rng: random.Random, created: datetime, amount: Decimal) -> Record:
        symbol = _SYMBOLS.pick(rng)
        client = _clients(account.seed)[int(rng.random() * CLIENTS_PER_ACCOUNT)]
        parent = rng_uuid(rng) if rng.random() < 0.08 else None  # a tranche of an earlier invoice
        stamp = iso(created, int(rng.random() * len(_STYLES)))
        return {
            "id": key,
            "parent_id": parent,
            "client_id": client,
            "total": str(amount.quantize(CENT)),
            "paid": "0",
            "type": "payment",
            "status": "active",
            "payload": {},
            "created_at": stamp,
            "updated_at": stamp,
            "currency": _CURRENCIES[symbol],
            "products": [],
        }

    def transition(self, account: Account, rec: Record, action: str, rng: random.Random, at: datetime) -> None:
        if action == "cancel":
            rec["status"] = "canceled"
            return
        if action == "expire":
            rec["status"] = "closed"
            return
        total = to_decimal(rec.get("total"))
        if total is None or total < Decimal("0.02"):
            raise Problem(409, "the record's 'total' is not a payable amount (overridden?)")
        if action == "pay":
            rec.update(status="success", paid=_paid_text(total))
        elif action == "partial":
            part = (total * Decimal(str(round(rng.uniform(0.2, 0.8), 4)))).quantize(CENT)
            part = min(max(part, CENT), total - CENT)
            rec.update(status="active", paid=_paid_text(part))  # SimplePay has no partial status
        else:
            extra = (total * Decimal(str(round(rng.uniform(0.05, 0.5), 4)))).quantize(CENT)
            rec.update(status="success", paid=_paid_text(total + max(extra, CENT)))

    def touched(self, rec: Record, at: datetime) -> None:
        previous = _parse_iso(rec.get("updated_at"))
        if previous is not None and previous.tzinfo is not None and at <= previous:
            at = previous + timedelta(microseconds=1)  # every change must show, even within a microsecond
        rec["updated_at"] = iso(at, 2)

    def event(self, before: Any, after: Any, action: str) -> str | None:
        if action == "create":
            return "invoice.created"
        if after == "success" and before != "success":
            return "invoice.success"
        if after == "canceled" and before != "canceled":
            return "invoice.canceled"
        return None

    # --- callbacks -----------------------------------------------------------------------------

    def build_callback(
        self,
        account: Account,
        invoice: Invoice,
        *,
        url: str,
        scheme: str,
        event: str | None,
        expired: bool,
        wrong_key: bool,
    ) -> Outgoing:
        self.check_callback_scheme(scheme, "webhook")
        if event is None:
            event = {"success": "invoice.success", "canceled": "invoice.canceled"}.get(
                str(invoice.status), "invoice.created"
            )
        msg_id = "evt_" + uuid.uuid4().hex
        body = jsonio.dumps({"id": msg_id, "type": event, "data": orjson.Fragment(invoice.json())})
        headers = {"content-type": "application/json"}
        if scheme == "standard":
            if not account.config.webhook_secret:
                raise Problem(409, "the account has no 'webhook_secret' to sign Standard Webhooks with")
            key = secret_key(account.config.webhook_secret)
            if wrong_key:
                key = hashlib.sha256(b"wrong" + key).digest()
            timestamp = int(time.time()) - (EXPIRED_AGE if expired else 0)
            headers |= {
                "webhook-id": msg_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": standard_signature(key, msg_id, timestamp, body),
            }
        else:
            if expired:
                raise Problem(400, "the 'hmac' scheme carries no timestamp, so it cannot be expired")
            api_key = (account.config.api_key or "").encode()
            if wrong_key:
                api_key = b"wrong-" + api_key
            headers |= {"X-Version": "2", "X-Signature": hmac.new(api_key, body, hashlib.sha256).hexdigest()}
        return Outgoing(url, headers, body, f"{event} {invoice.key} {scheme}")

    # --- HTTP ----------------------------------------------------------------------------------

    def unauthorized(self) -> Response:
        return Response(status_code=401)  # bare, as documented

    def failure(self, status: int, headers: Mapping[str, str]) -> Response:
        return Response(status_code=status, headers=dict(headers))

    async def _account(self, sb: Sandbox, request: Request) -> Account | None:
        key = bearer(request)
        for account in sb.of_provider(self.name):
            if key is not None and account.config.api_key == key:
                return await arrived(account)
        return None

    def routes(self, sb: Sandbox) -> list[BaseRoute]:
        async def gate(request: Request) -> Account | Response:
            account = await self._account(sb, request)
            if account is None:
                return self.unauthorized()
            if request.query_params.get("v") != "2":
                return jsonio.respond({"v": "must be 2"}, 400)
            return account

        async def invoice_list(request: Request) -> Response:
            account = await gate(request)
            if isinstance(account, Response):
                return account
            query = request.query_params
            app_id, client_id, status = query.get("app_id"), query.get("client_id"), query.get("status")
            errors = {k: "must be a UUID" for k in ("app_id", "client_id") if query.get(k) and not _is_uuid(query[k])}
            if status is not None and status.lower() not in STATUSES:
                errors["status"] = f"must be one of {', '.join(STATUSES)}"
            if errors:
                return jsonio.respond(errors, 400)
            invoices: Sequence[Invoice] = account.book.newest_first()
            if app_id and app_id.lower() != self.app_id(account):
                invoices = []  # records do not carry the app; every invoice belongs to the account's app
            if status is not None or client_id:
                wanted = status.lower() if status is not None else None
                invoices = [
                    i
                    for i in invoices
                    if (wanted is None or str(i.status).lower() == wanted)
                    and (not client_id or i.record.get("client_id") == client_id.lower())
                ]
            return await self.page(account, invoices, lambda items: b"[" + items + b"]")

        def find(request: Request, account: Account) -> Invoice | Response:
            key = request.path_params["id"]
            if not _is_uuid(key):
                return jsonio.respond({"id": "must be a UUID"}, 400)
            invoice = account.book.get(key.lower())
            return Response(status_code=404) if invoice is None else invoice

        async def invoice_get(request: Request) -> Response:
            account = await gate(request)
            if isinstance(account, Response):
                return account
            invoice = find(request, account)
            return await self.narrow(account, invoice if isinstance(invoice, Response) else [invoice], None)

        async def invoice_cancel(request: Request) -> Response:
            account = await gate(request)
            if isinstance(account, Response):
                return account
            invoice = find(request, account)
            if isinstance(invoice, Response):
                return invoice
            if invoice.status != "active":
                return Response(status_code=409)  # "only active invoices can be cancelled"
            self.act(sb, account, invoice, "cancel", {})
            return jsonio.respond_raw(invoice.json())

        return [
            Route("/invoice", invoice_list, methods=["GET"]),
            Route("/invoice/{id}", invoice_get, methods=["GET"]),
            Route("/invoice/{id}", invoice_cancel, methods=["DELETE"]),
        ]
