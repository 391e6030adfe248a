"""The operator API under /_sandbox/: accounts, invoices, actions, callbacks, faults, stats."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from sandbox.accounts import create_account
from sandbox.callbacks import deliver
from sandbox.churn import churn_once
from sandbox.errors import Problem
from sandbox.faults import parse_fault
from sandbox.jsonio import object_body, respond, respond_raw
from sandbox.state import Account, Invoice, Sandbox

_INVOICE_KEYS = frozenset({"amount", "status", "created"})
_CALLBACK_KEYS = frozenset({"url", "invoice_id", "scheme", "expired", "wrong_key", "type"})


def _invoice(account: Account, key: str) -> Invoice:
    invoice = account.book.get(account.provider.normalize_id(key))
    if invoice is None:
        raise Problem(404, f"no invoice '{key}' in account '{account.name}'")
    return invoice


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise Problem(400, f"'{key}' must be true or false")
    return value


def _optional_str(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise Problem(400, f"'{key}' must be a string")
    return value


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise Problem(400, "'created' must be an ISO-8601 time") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def routes(sb: Sandbox) -> list[BaseRoute]:
    return [*_sandbox_routes(sb), *_invoice_routes(sb), *_tool_routes(sb)]


_BASE = "/_sandbox"
_ONE = _BASE + "/accounts/{name}"


def _sandbox_routes(sb: Sandbox) -> list[BaseRoute]:
    async def health(request: Request) -> Response:
        return respond({"status": "ok", "accounts": len(sb.accounts)})

    async def reset(request: Request) -> Response:
        sb.reset()
        return respond({"status": "reset"})

    async def churn(request: Request) -> Response:
        body = object_body(await request.body())
        seed = body.get("seed")
        rng = random.Random(seed if isinstance(seed, int) else None)
        return respond({"changes": [c.as_json() for c in churn_once(sb, rng)]})

    async def accounts(request: Request) -> Response:
        return respond({"accounts": [a.as_json() for a in sb.accounts.values()]})

    async def account_create(request: Request) -> Response:
        account = create_account(sb, object_body(await request.body()))
        return respond(account.as_json(), 201)

    async def account_get(request: Request) -> Response:
        return respond(sb.account(request.path_params["name"]).as_json())

    async def account_delete(request: Request) -> Response:
        sb.remove(request.path_params["name"])
        return Response(status_code=204)

    return [
        Route(_BASE + "/health", health, methods=["GET"]),
        Route(_BASE + "/reset", reset, methods=["POST"]),
        Route(_BASE + "/churn", churn, methods=["POST"]),
        Route(_BASE + "/accounts", accounts, methods=["GET"]),
        Route(_BASE + "/accounts", account_create, methods=["POST"]),
        Route(_ONE, account_get, methods=["GET"]),
        Route(_ONE, account_delete, methods=["DELETE"]),
    ]


def _invoice_routes(sb: Sandbox) -> list[BaseRoute]:
    async def invoices(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        status = request.query_params.get("status")
        summary = account.provider.summary
        listed = [summary(i) for i in account.book.newest_first() if status is None or i.status == status]
        return respond({"invoices": listed})

    async def invoice_create(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        body = object_body(await request.body())
        if unknown := sorted(set(body) - _INVOICE_KEYS):
            raise Problem(400, f"unknown keys: {unknown}")
        provider = account.provider
        amount = provider.parse_amount(body["amount"]) if body.get("amount") is not None else None
        created = _optional_str(body, "created")
        invoice = provider.create(
            sb,
            account,
            amount=amount,
            status=_optional_str(body, "status"),
            created=_moment(created) if created else None,
        )
        return respond({"id": invoice.key, "invoice": invoice.record}, 201)

    async def invoice_get(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        return respond_raw(_invoice(account, request.path_params["id"]).json())

    async def invoice_action(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        invoice = _invoice(account, request.path_params["id"])
        params = object_body(await request.body())
        account.provider.act(sb, account, invoice, request.path_params["action"], params)
        return respond_raw(invoice.json())

    return [
        Route(_ONE + "/invoices", invoices, methods=["GET"]),
        Route(_ONE + "/invoices", invoice_create, methods=["POST"]),
        Route(_ONE + "/invoices/{id}", invoice_get, methods=["GET"]),
        Route(_ONE + "/invoices/{id}/{action}", invoice_action, methods=["POST"]),
    ]


def _tool_routes(sb: Sandbox) -> list[BaseRoute]:
    async def callback(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        provider = account.provider
        if not provider.callback_schemes:
            raise Problem(409, f"{provider.name} has no provider callbacks")
        body = object_body(await request.body())
        if unknown := sorted(set(body) - _CALLBACK_KEYS):
            raise Problem(400, f"unknown keys: {unknown}")
        url = _optional_str(body, "url") or account.config.callback_url
        if not url:
            raise Problem(400, "'url' is required (the account has no callback_url)")
        invoice_id = _optional_str(body, "invoice_id")
        if not invoice_id:
            raise Problem(400, "'invoice_id' is required")
        out = provider.build_callback(
            account,
            _invoice(account, invoice_id),
            url=url,
            scheme=_optional_str(body, "scheme") or account.config.callback_scheme or provider.callback_schemes[0],
            event=_optional_str(body, "type"),
            expired=_flag(body, "expired"),
            wrong_key=_flag(body, "wrong_key"),
        )
        delivery = await deliver(sb, account, out)
        if delivery.status_code is None:
            return respond({"error": delivery.error, "sent": out.as_json()}, 502)
        return respond({"status_code": delivery.status_code, "body": delivery.body, "sent": out.as_json()})

    async def faults(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        if request.method == "POST":
            account.faults.arm(parse_fault(object_body(await request.body())))
            return respond({"faults": account.faults.as_json()}, 201)
        if request.method == "DELETE":
            account.faults.clear()
        return respond({"faults": account.faults.as_json()})

    async def stats(request: Request) -> Response:
        account = sb.account(request.path_params["name"])
        return respond({**vars(account.stats), "invoices": len(account.book)})

    return [
        Route(_ONE + "/callbacks", callback, methods=["POST"]),
        Route(_ONE + "/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(_ONE + "/stats", stats, methods=["GET"]),
    ]
