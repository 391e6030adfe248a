"""What the four provider models share: operator actions, new invoices, callbacks, fault-aware pages.

Each provider module subclasses `Provider` with its record shapes, status vocabulary, wire formats and
signing; the mechanisms here exist once.
"""

from __future__ import annotations

import asyncio
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute

from sandbox import jsonio
from sandbox.callbacks import Delivery, Outgoing, record, send_in_background
from sandbox.errors import Problem
from sandbox.faults import ENDLESS_BODY_CAP, HUGE_BODY_BYTES, streamed, truncate
from sandbox.generate import random_amount
from sandbox.state import Account, AccountConfig, Invoice, Record, Sandbox, to_micros

# Operator actions that move an invoice through the provider's life cycle.
TRANSITIONS = ("pay", "partial", "overpay", "cancel", "expire", "refund")
CENT = Decimal("0.01")


class Provider(ABC):
    name: ClassVar[str]
    settings: ClassVar[frozenset[str]]  # AccountConfig fields this provider accepts
    id_field: ClassVar[str]
    amount_field: ClassVar[str]
    paid_field: ClassVar[str | None] = None
    transitions: ClassVar[frozenset[str]]
    open_statuses: ClassVar[frozenset[str]]  # statuses still awaiting payment (for churn)
    paid_statuses: ClassVar[frozenset[str]]  # statuses a refund can follow (for churn)
    callback_schemes: ClassVar[tuple[str, ...]] = ()  # the first is the default; empty: no callbacks

    # --- configuration -------------------------------------------------------------------------

    def check_config(self, config: AccountConfig) -> None:  # noqa: B027 - optional: most providers accept any
        """Refuse an account whose settings the provider could not work with."""

    def identities(self, config: AccountConfig) -> set[str]:
        """Credentials that pick this account out of the provider's accounts; they must not be shared."""
        return set()

    def describe(self, account: Account) -> dict[str, Any]:
        """Derived facts worth showing with the account (what a test needs but did not set)."""
        return {}

    # --- records -------------------------------------------------------------------------------

    @abstractmethod
    def new_id(self, account: Account, rng: random.Random) -> str:
        """A new invoice id in the provider's own form."""

    @abstractmethod
    def build(self, account: Account, key: str, rng: random.Random, created: datetime, amount: Decimal) -> Record:
        """A fresh, unpaid record."""

    @abstractmethod
    def transition(self, account: Account, rec: Record, action: str, rng: random.Random, at: datetime) -> None:
        """Apply an operator action to a record, as this provider would show it."""

    def touched(self, rec: Record, at: datetime) -> None:  # noqa: B027 - optional: most records carry no such field
        """Bookkeeping every change carries (SimplePay's updated_at)."""

    def event(self, before: Any, after: Any, action: str) -> str | None:
        """What the real provider would announce for this change; None when it stays silent."""
        return None

    def parse_amount(self, value: object) -> Decimal:
        """An operator-given amount (as the provider's wire shows it) in major units, for build()."""
        amount = to_decimal(value)
        if amount is None or amount <= 0 or amount != amount.quantize(CENT):
            raise Problem(400, "'amount' must be a positive decimal with at most two fraction digits")
        return amount.quantize(CENT)

    def normalize_id(self, key: str) -> str:
        return key

    def currency(self, rec: Record) -> Any:
        return None

    def summary(self, invoice: Invoice) -> dict[str, Any]:
        rec = invoice.record
        return {
            "id": invoice.key,
            "status": rec.get("status"),
            "amount": number_text(rec.get(self.amount_field)),
            "amount_paid": number_text(rec.get(self.paid_field)) if self.paid_field else None,
            "currency": self.currency(rec),
            "created_at": invoice.created_at.isoformat().replace("+00:00", "Z"),
        }

    def broken(self, rec: Record, rng: random.Random) -> Record:
        """A copy of `rec` a careful client must reject: its id gone, or its amount not a number."""
        copy = dict(rec)
        if rng.random() < 0.5:
            copy.pop(self.id_field, None)
        else:
            copy[self.amount_field] = "abc"
        return copy

    def stale(self, rec: Record) -> Record:
        """An older copy of `rec` in another status, as a provider listing one invoice twice might send it
        before the current one."""
        others = sorted((self.open_statuses | self.paid_statuses) - {rec.get("status")})
        return {**rec, "status": others[0]} if others else dict(rec)

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
        raise Problem(409, f"{self.name} sends no callbacks")

    def check_callback_scheme(self, scheme: str, kind: str) -> None:
        """Refuse a scheme the provider does not sign callbacks with; `kind` is what it calls them."""
        if scheme not in self.callback_schemes:
            raise Problem(400, f"{self.name} {kind} schemes: {list(self.callback_schemes)}")

    # --- HTTP ----------------------------------------------------------------------------------

    @abstractmethod
    def routes(self, sb: Sandbox) -> list[BaseRoute]:
        """The provider's own endpoints."""

    @abstractmethod
    def unauthorized(self) -> Response:
        """The provider's answer to bad credentials."""

    @abstractmethod
    def failure(self, status: int, headers: Mapping[str, str]) -> Response:
        """The provider's answer when it is overloaded (429) or broken (500)."""

    # --- shared mechanisms ---------------------------------------------------------------------

    def fresh_id(self, account: Account, rng: random.Random, taken: Callable[[str], bool]) -> str:
        while True:
            key = self.new_id(account, rng)
            if not taken(key):
                return key

    def create(
        self,
        sb: Sandbox,
        account: Account,
        *,
        amount: Decimal | None = None,
        status: str | None = None,
        created: datetime | None = None,
    ) -> Invoice:
        rng = account.rng
        key = self.fresh_id(account, rng, account.book.__contains__)
        created = created or sb.now()
        rec = self.build(account, key, rng, created, amount or random_amount(rng))
        if status is not None:
            rec["status"] = status
        invoice = Invoice(key, to_micros(created), record=rec)
        account.book.add(invoice)
        self._announce(sb, account, invoice, None, "create")
        return invoice

    def act(self, sb: Sandbox, account: Account, invoice: Invoice, action: str, params: Mapping[str, Any]) -> None:
        """Apply an operator (or churn) action; refuse with 409 what the provider has no notion of."""
        before = invoice.status
        at = sb.now()
        rec = invoice.record
        if action == "set_status":
            status = params.get("status")
            if not isinstance(status, str):
                raise Problem(400, "set_status needs {'status': '<raw provider status>'}")
            rec["status"] = status
            self.touched(rec, at)
        elif action == "set":
            if not params:
                raise Problem(400, "set needs {'<field>': <value>, ...}")
            self.touched(rec, at)
            rec.update(params)  # after touched(): a raw override of updated_at must win
        elif action in self.transitions:
            self.transition(account, rec, action, account.rng, at)
            self.touched(rec, at)
        elif action in TRANSITIONS:
            raise Problem(409, f"{self.name} has no '{action}': its invoices cannot be {action}-ed")
        else:
            raise Problem(404, f"unknown action '{action}'")
        invoice.changed()
        self._announce(sb, account, invoice, before, action)

    def _announce(self, sb: Sandbox, account: Account, invoice: Invoice, before: Any, action: str) -> None:
        url = account.config.callback_url
        if not url or not self.callback_schemes:
            return
        event = self.event(before, invoice.status, action)
        if event is None:
            return
        try:
            out = self.build_callback(
                account,
                invoice,
                url=url,
                scheme=account.config.callback_scheme or self.callback_schemes[0],
                event=event,
                expired=False,
                wrong_key=False,
            )
        except Problem as exc:  # e.g. no secret to sign with: counted, never raised into the action
            record(account, None, Delivery(None, "", exc.message), sb.now().isoformat())
            return
        send_in_background(sb, account, out)

    async def page(self, account: Account, invoices: Sequence[Invoice], wrap: Callable[[bytes], bytes]) -> Response:
        """Answer a list request: `wrap` turns the comma-joined records into the provider's envelope."""
        account.stats.list_requests += 1
        return await self._read_answer(account, "list", invoices, wrap)

    async def narrow(
        self, account: Account, found: Sequence[Invoice] | Response, wrap: Callable[[bytes], bytes] | None
    ) -> Response:
        """Answer a narrow request, for named invoices: `found` are the ones it selects, or the provider's own
        refusal of it (a 404 for an unknown invoice, a 400 for a bad request). `wrap` as for `page`; None
        when the answer is the one invoice's record alone (SimplePay's details)."""
        account.stats.narrow_requests += 1
        return await self._read_answer(account, "narrow", found, wrap)

    async def _read_answer(
        self,
        account: Account,
        endpoint: str,
        found: Sequence[Invoice] | Response,
        wrap: Callable[[bytes], bytes] | None,
    ) -> Response:
        # Armed faults apply to read requests only, list or narrow as each fault says: reads are what the
        # relay makes. A fault comes before the provider's own refusal, as a broken server's would.
        fault = account.faults.draw(endpoint)
        if fault is not None:
            account.stats.faults_injected += 1
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay)
            elif fault.kind == "401":
                return self.unauthorized()
            elif fault.kind in ("429", "500"):
                headers = {}
                if fault.kind == "429" and fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                return self.failure(int(fault.kind), headers)
            elif fault.kind == "endless_body":
                return StreamingResponse(streamed(ENDLESS_BODY_CAP), media_type="application/json")
            elif fault.kind == "huge_body":
                headers = {"content-length": str(HUGE_BODY_BYTES)}
                return StreamingResponse(streamed(HUGE_BODY_BYTES), headers=headers, media_type="application/json")
        if isinstance(found, Response):
            return found
        items = [invoice.json() for invoice in found]
        if fault is not None and fault.kind == "malformed_record" and items:
            at = account.faults.rng.randrange(len(items))
            items[at] = jsonio.dumps(self.broken(found[at].record, account.faults.rng))
        if fault is not None and fault.kind == "duplicate_records" and wrap is not None:
            # A record alone has no list to repeat it in: there the fault changes nothing.
            items = [copy for invoice in found for copy in (jsonio.dumps(self.stale(invoice.record)), invoice.json())]
        body = b",".join(items) if wrap is None else wrap(b",".join(items))
        if fault is not None and fault.kind == "malformed_json":
            body = truncate(body)
        return jsonio.respond_raw(body)


def to_decimal(value: object) -> Decimal | None:
    """A number from a record or an operator body, or None when it is not one."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value)) if isinstance(value, int | float | str) else value
    except InvalidOperation:
        return None
    if not isinstance(number, Decimal) or not number.is_finite():
        return None
    return number


def number_text(value: object) -> str | None:
    """How the operator API shows a provider amount: its digits as a string, no exponent."""
    number = to_decimal(value)
    if number is None:
        return None if value is None else str(value)
    return format(number, "f")


def bearer(request: Request, scheme: str = "Bearer") -> str | None:
    header = request.headers.get("authorization", "")
    prefix, _, credential = header.partition(" ")
    if prefix.lower() != scheme.lower() or not credential.strip():
        return None
    return credential.strip()


async def arrived(account: Account) -> Account:
    """A provider API request of `account`: counted, and held for the account's `latency_ms` (the round
    trip of a real provider) before it is answered."""
    account.stats.requests += 1
    if account.latency_ms:
        await asyncio.sleep(account.latency_ms / 1000)
    return account
