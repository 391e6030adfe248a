"""ISP CRM (Netgroot) subscriber API: log in for a token that expires, then read the invoices."""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import jwt
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox import jsonio
from sandbox.errors import Problem
from sandbox.generate import Weighted, naive_utc, stable_int
from sandbox.provider import CENT, Provider, arrived, bearer
from sandbox.state import Account, AccountConfig, Record, Sandbox

DUE_AFTER = timedelta(days=14)
_OPEN = Weighted((("Pending", 60), ("Unpaid", 40)))
_ACTION_STATUS = {
    "pay": "Paid",
    "partial": "Partially Paid",
    "cancel": "Cancelled",
    "expire": "Overdue",  # an unpaid bill past its due date stays owed
    "refund": "Refunded",
}
_DESCRIPTIONS = (
    "Monthly Internet Subscription",
    "Monthly IPTV Subscription",
    "Router rental",
    "Installation fee",
    "Static IP address",
    "Speed upgrade 100 Mbps",
    "Late payment fee",
)
# Login tokens only need to look like the CRM's JWTs; nothing outside the sandbox verifies them.
_SIGNING_KEY = secrets.token_bytes(32)


def _iso(moment: datetime) -> str:
    return naive_utc(moment).isoformat("T", "seconds") + "Z"


def _unauthorized() -> Response:
    return jsonio.respond({"success": False, "message": "Unauthorized"}, 401)


def _not_found() -> Response:
    return jsonio.respond({"success": False, "message": "Subscriber not found"}, 404)


class IspCrm(Provider):
    name = "ispcrm"
    settings = frozenset({"username", "password", "token", "token_ttl"})
    id_field = "invoice_id"
    amount_field = "amount"
    transitions = frozenset(_ACTION_STATUS)
    open_statuses = frozenset({"Pending", "Unpaid", "Overdue", "Partially Paid"})
    paid_statuses = frozenset({"Paid"})

    def check_config(self, config: AccountConfig) -> None:
        if not config.token and not (config.username and config.password):
            raise Problem(400, "an ispcrm account needs 'username' and 'password', or 'token'")
        if bool(config.username) != bool(config.password):
            raise Problem(400, "'username' and 'password' go together")
        if config.token_ttl <= 0:
            raise Problem(400, "'token_ttl' must be a positive number of seconds")

    def identities(self, config: AccountConfig) -> set[str]:
        found = set()
        if config.username:
            found.add(f"username:{config.username}")
        if config.token:
            found.add(f"token:{config.token}")
        return found

    def describe(self, account: Account) -> dict[str, Any]:
        return {"subscriber_id": self.subscriber_id(account)}

    def subscriber_id(self, account: Account) -> int:
        return 1000 + stable_int(f"ispcrm/subscriber/{account.seed}", 9000)

    # --- records -------------------------------------------------------------------------------

    def new_id(self, account: Account, rng: random.Random) -> str:
        # Sequential, as a CRM's database hands them out; the first one depends on the seed.
        return str(100 + stable_int(f"ispcrm/first/{account.seed}", 900) + account.next_serial())

    def build(self, account: Account, key: str, rng: random.Random, created: datetime, amount: Decimal) -> Record:
        return {
            "invoice_id": int(key),
            "amount": amount.quantize(CENT),  # a Decimal, so the body says 50.00, not 50.0
            "status": _OPEN.pick(rng),
            "date": _iso(created),
            "due_date": _iso(created + DUE_AFTER),
            "description": _DESCRIPTIONS[int(rng.random() * len(_DESCRIPTIONS))],
        }

    def transition(self, account: Account, rec: Record, action: str, rng: random.Random, at: datetime) -> None:
        rec["status"] = _ACTION_STATUS[action]

    # --- HTTP ----------------------------------------------------------------------------------

    def unauthorized(self) -> Response:
        return _unauthorized()

    def failure(self, status: int, headers: Mapping[str, str]) -> Response:
        message = "Too Many Attempts." if status == 429 else "Server Error"
        return jsonio.respond({"success": False, "message": message}, status, headers)

    async def _account(self, sb: Sandbox, request: Request) -> Account | None:
        token = bearer(request)
        if token is None:
            return None
        for account in sb.of_provider(self.name):
            if account.config.token and account.config.token == token:
                return await arrived(account)
        session = sb.sessions.get(token)
        if session is None or session[1] <= sb.now().timestamp():
            return None
        owner = sb.accounts.get(session[0])
        return await arrived(owner) if owner is not None else None

    def _login(self, sb: Sandbox, account: Account) -> dict[str, Any]:
        now = sb.now().timestamp()
        expires = now + account.config.token_ttl
        subscriber = self.subscriber_id(account)
        claims = {
            "sub": str(subscriber),
            "username": account.config.username,
            "iat": int(now),
            "exp": int(expires),
            "jti": secrets.token_hex(8),  # two logins in one second still get two tokens
        }
        token = jwt.encode(claims, _SIGNING_KEY, algorithm="HS256")
        sb.sessions[token] = (account.name, expires)
        account.stats.logins += 1
        return {
            "message": "Login successful",
            "token": token,
            "user": {
                "id": subscriber,
                "username": account.config.username,
                "name": "Sandbox Subscriber",
                "email": f"{account.config.username}@example.net",
            },
        }

    def routes(self, sb: Sandbox) -> list[BaseRoute]:
        async def login(request: Request) -> Response:
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                body = None
            username = body.get("username") if isinstance(body, dict) else None
            password = body.get("password") if isinstance(body, dict) else None
            if not isinstance(username, str) or not isinstance(password, str):
                return jsonio.respond({"message": "The username and password fields are required."}, 422)
            for account in sb.of_provider(self.name):
                if account.config.username == username:
                    await arrived(account)
                    if secrets.compare_digest(account.config.password or "", password):
                        return jsonio.respond(self._login(sb, account))
            return jsonio.respond({"message": "Invalid credentials"}, 401)

        async def invoices(request: Request) -> Response:
            account = await self._account(sb, request)
            if account is None:
                return _unauthorized()
            wanted = request.query_params.get("id")
            if wanted is None:
                return await self.page(account, account.book.newest_first(), self._envelope)
            # `id` is the invoice's id (an integer); the documented 404 covers an unknown invoice too.
            wanted = wanted.strip()
            invoice = account.book.get(str(int(wanted))) if wanted.isascii() and wanted.isdigit() else None
            if invoice is None:
                return await self.narrow(account, _not_found(), self._envelope)
            return await self.narrow(account, [invoice], self._envelope)

        return [
            Route("/api/v1/subscriber/Login", login, methods=["POST"]),
            Route("/api/v1/subscriber/getCustomersInvoices", invoices, methods=["GET"]),
        ]

    @staticmethod
    def _envelope(items: bytes) -> bytes:
        return b'{"success":true,"data":[' + items + b"]}"
