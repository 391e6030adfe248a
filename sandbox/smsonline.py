"""SMSOnline v3: a customer's top-up history, authenticated by `apiKey` in the query; no callbacks."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import jsonio
from sandbox.errors import Problem
from sandbox.generate import Weighted, rng_uuid
from sandbox.provider import Provider, arrived, to_decimal
from sandbox.state import Account, AccountConfig, Record, Sandbox

# Cryptomus' invoice lifetime; the documented example expires an hour after creation.
LIFETIME = timedelta(hours=1)
_METHODS = Weighted((("cryptomus", 75), ("pay4bit", 25)))
_OPEN = Weighted((("check", 50), ("confirm_check", 25), ("process", 25)))
_ACTION_STATUS = {
    "pay": "paid",
    "partial": "wrong_amount",
    "overpay": "paid_over",
    "cancel": "cancel",
    "expire": "cancel",  # Cryptomus reports an expired payment as cancel
    "refund": "refund_paid",
}
# Statuses after which the payment has an id: the money actually arrived.
_COMPLETED = frozenset({"paid", "paid_over", "refund_process", "refund_fail", "refund_paid"})


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).replace(tzinfo=None).isoformat(" ", "seconds")


def _set_pay_id(rec: Record, pay_id: str) -> None:
    """Give the record a payId right after sesid, where the documented example has it."""
    if "payId" in rec:
        return
    fields = list(rec.items())
    rec.clear()
    for key, value in fields:
        rec[key] = value
        if key == "sesid":
            rec["payId"] = pay_id
    rec.setdefault("payId", pay_id)


class SmsOnline(Provider):
    name = "smsonline"
    settings = frozenset({"user_id", "api_key", "timezone"})
    id_field = "sesid"
    amount_field = "amount"
    transitions = frozenset(_ACTION_STATUS)
    open_statuses = frozenset(_OPEN.values)
    paid_statuses = frozenset({"paid", "paid_over"})

    def check_config(self, config: AccountConfig) -> None:
        if not config.user_id or not config.api_key:
            raise Problem(400, "a smsonline account needs 'user_id' and 'api_key'")
        try:
            ZoneInfo(config.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise Problem(400, f"'timezone' must be an IANA zone name, not {config.timezone!r}") from exc

    def identities(self, config: AccountConfig) -> set[str]:
        return {f"user_id:{config.user_id}"}

    def parse_amount(self, value: object) -> Decimal:
        cents = to_decimal(value)
        if cents is None or cents <= 0 or cents != cents.to_integral_value():
            raise Problem(400, "a smsonline 'amount' is a positive whole number of cents, e.g. 500 for $5")
        return cents.scaleb(-2)

    # --- records -------------------------------------------------------------------------------

    def new_id(self, account: Account, rng: random.Random) -> str:
        return rng_uuid(rng)

    def build(self, account: Account, key: str, rng: random.Random, created: datetime, amount: Decimal) -> Record:
        # Zone-less times in the account's zone: the relay must read them in its configured zone.
        zone = ZoneInfo(account.config.timezone)
        method = _METHODS.pick(rng)
        return {
            "method": method,
            "sesid": key,
            "amount": int(amount * 100),
            "created": _local(created, zone),
            # "Expiration Date (If cryptocurrency)": card payments have none.
            "expires_at": _local(created + LIFETIME, zone) if method == "cryptomus" else None,
            "status": _OPEN.pick(rng),
            "userId": account.config.user_id,
        }

    def transition(self, account: Account, rec: Record, action: str, rng: random.Random, at: datetime) -> None:
        status = _ACTION_STATUS[action]
        rec["status"] = status
        if status in _COMPLETED:
            _set_pay_id(rec, rng_uuid(rng))

    # --- HTTP ----------------------------------------------------------------------------------

    def unauthorized(self) -> Response:
        return jsonio.respond({"ok": False, "error": "Unauthorized"}, 401)

    def failure(self, status: int, headers: Mapping[str, str]) -> Response:
        error = "Too Many Requests" if status == 429 else "Internal Server Error"
        return jsonio.respond({"ok": False, "error": error}, status, headers)

    def routes(self, sb: Sandbox) -> list[BaseRoute]:
        async def payments(request: Request) -> Response:
            key = request.query_params.get("apiKey")
            # The key authenticates; the path's user must then be the key's owner.
            owners = [a for a in sb.of_provider(self.name) if key and a.config.api_key == key]
            if not owners:
                return self.unauthorized()
            user = request.path_params["userId"]
            account = next((a for a in owners if a.config.user_id == user), None)
            if account is None:
                return jsonio.respond({"ok": False, "error": "User not found"}, 404)
            await arrived(account)
            invoices = account.book.newest_first()
            return await self.page(account, invoices, lambda items: b'{"ok":true,"body":[' + items + b"]}")

        return [Route("/v3/customers/{userId}/payments", payments, methods=["GET"])]
