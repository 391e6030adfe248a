"""The operator API: accounts, seeded generation, invoices, every action on every provider."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from sandbox.app import create_app
from sandbox.state import Sandbox
from tests.sandbox.conftest import NOW, SPECS, Clock, act, make_account, new_invoice, summaries

PROVIDERS = list(SPECS)
OPEN = {
    "cryptocloud": {"created"},
    "simplepay": {"active"},
    "smsonline": {"confirm_check", "check", "process"},
    "ispcrm": {"Pending", "Unpaid"},
}


async def test_health(client: httpx.AsyncClient) -> None:
    response = await client.get("/_sandbox/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_create_account_answers_201_with_the_account(client: httpx.AsyncClient, provider: str) -> None:
    account = await make_account(client, provider, count=25)
    assert account["name"] == provider
    assert account["provider"] == provider
    assert account["invoices"] == 25
    listed = (await client.get("/_sandbox/accounts")).json()["accounts"]
    assert [a["name"] for a in listed] == [provider]
    assert len(await summaries(client, provider)) == 25


@pytest.mark.parametrize(
    ("spec", "status"),
    [
        ({"name": "x", "provider": "paypal", "api_key": "k"}, 400),
        ({"name": "Bad Name", "provider": "cryptocloud", "api_key": "k"}, 400),
        ({"name": "x", "provider": "cryptocloud"}, 400),  # no api_key
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "apikey": "typo"}, 400),
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "user_id": "u"}, 400),  # not its setting
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "limit_mode": "pages"}, 400),
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "count": -1}, 400),
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "count": "5"}, 400),
        ({"name": "x", "provider": "cryptocloud", "api_key": "k", "callback_url": "ftp://h/"}, 400),
        ({"name": "x", "provider": "simplepay", "api_key": "k", "webhook_secret": "secret"}, 400),
        ({"name": "x", "provider": "simplepay", "api_key": "k", "webhook_secret": "whsec_!!!"}, 400),
        ({"name": "x", "provider": "simplepay", "api_key": "k", "callback_scheme": "json"}, 400),
        ({"name": "x", "provider": "simplepay", "api_key": "k", "app_id": "not-a-uuid"}, 400),
        ({"name": "x", "provider": "smsonline", "api_key": "k", "user_id": "u", "timezone": "Mars/Base"}, 400),
        ({"name": "x", "provider": "smsonline", "api_key": "k"}, 400),
        ({"name": "x", "provider": "ispcrm", "username": "u"}, 400),
        ({"name": "x", "provider": "ispcrm", "token": "t", "token_ttl": 0}, 400),
    ],
)
async def test_create_account_refusals(client: httpx.AsyncClient, spec: dict[str, Any], status: int) -> None:
    response = await client.post("/_sandbox/accounts", json=spec)
    assert response.status_code == status, response.text
    assert "error" in response.json()
    assert (await client.get("/_sandbox/accounts")).json()["accounts"] == []


async def test_explicit_and_derived_settings_are_shown(client: httpx.AsyncClient) -> None:
    app_id = "0b3a6d5e-8a55-4b7e-9d84-2b1f0d1f0c11"
    assert (await make_account(client, "simplepay", app_id=app_id))["app_id"] == app_id
    crm = await make_account(client, "ispcrm")
    assert isinstance(crm["subscriber_id"], int)
    assert crm["token_ttl"] == 3600
    assert "api_key" not in crm, "only the provider's own settings"
    login = await client.post("/api/v1/subscriber/Login", json={"username": "alice", "password": "wonderland"})
    assert login.json()["user"]["id"] == crm["subscriber_id"]


async def test_names_and_credentials_are_unique(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", name="shop")
    again = await client.post("/_sandbox/accounts", json={"name": "shop", "provider": "simplepay", "api_key": "z"})
    assert again.status_code == 409
    same_key = await client.post(
        "/_sandbox/accounts", json={"name": "b", "provider": "cryptocloud", "api_key": "cc-key"}
    )
    assert same_key.status_code == 409
    # the same key at another provider is no clash: the paths tell them apart
    other = await client.post("/_sandbox/accounts", json={"name": "c", "provider": "simplepay", "api_key": "cc-key"})
    assert other.status_code == 201


async def test_reset_and_delete(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=5)
    await make_account(client, "simplepay", count=5)
    assert (await client.delete("/_sandbox/accounts/simplepay")).status_code == 204
    assert (await client.get("/_sandbox/accounts/simplepay")).status_code == 404
    assert (await client.post("/_sandbox/reset")).status_code == 200
    assert (await client.get("/_sandbox/accounts")).json()["accounts"] == []
    listed = await client.post("/v2/invoice/merchant/list", headers={"Authorization": "Token cc-key"}, json={})
    assert listed.status_code == 401


async def _snapshot(provider: str, seed: int) -> list[tuple[dict[str, Any], bytes]]:
    """Invoices of an account made in a fresh sandbox at the same instant: summaries and raw records."""
    state = Sandbox(clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(state)), base_url="http://s") as c:
        await make_account(c, provider, count=40, seed=seed)
        listed = await summaries(c, provider)
        return [(s, (await c.get(f"/_sandbox/accounts/{provider}/invoices/{s['id']}")).content) for s in listed]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_same_seed_same_invoices(provider: str) -> None:
    first = await _snapshot(provider, seed=7)
    assert len(first) == 40
    assert first == await _snapshot(provider, seed=7)
    other = await _snapshot(provider, seed=8)
    assert [s["id"] for s, _ in other] != [s["id"] for s, _ in first]


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_generated_mix_is_recent_and_mostly_pending(client: httpx.AsyncClient, provider: str) -> None:
    await make_account(client, provider, count=2000, seed=3)
    invoices = await summaries(client, provider)
    for invoice in invoices:
        created = datetime.fromisoformat(invoice["created_at"])
        assert NOW - timedelta(days=3) <= created <= NOW
    statuses = Counter(i["status"] for i in invoices)
    pending = sum(n for s, n in statuses.items() if s in OPEN[provider])
    assert 0.4 < pending / len(invoices) < 0.75, statuses
    assert all(pending > n for s, n in statuses.items() if s not in OPEN[provider]), statuses
    assert len(statuses) >= 4, statuses


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_create_one_invoice(client: httpx.AsyncClient, provider: str) -> None:
    await make_account(client, provider)
    amount = 1250 if provider == "smsonline" else "12.50"
    created = await new_invoice(client, provider, amount=amount)
    listed = await summaries(client, provider)
    assert [i["id"] for i in listed] == [created["id"]]
    assert listed[0]["amount"] in {"12.50", "12.5", "1250"}
    assert listed[0]["status"] in OPEN[provider]
    raw = await client.get(f"/_sandbox/accounts/{provider}/invoices/{created['id']}")
    assert raw.status_code == 200
    assert raw.json() == created["invoice"]
    odd = await new_invoice(client, provider, status="weird_status")
    assert odd["invoice"]["status"] == "weird_status"
    assert (await client.get(f"/_sandbox/accounts/{provider}/invoices/nope")).status_code == 404


# action -> provider status, per provider; None: the provider has no such thing (409)
EXPECTED: dict[str, dict[str, str | None]] = {
    "cryptocloud": {"pay": "paid", "partial": "partial", "overpay": "overpaid", "cancel": "canceled",
                    "expire": "canceled", "refund": None},
    "simplepay": {"pay": "success", "partial": "active", "overpay": "success", "cancel": "canceled",
                  "expire": "closed", "refund": None},
    "smsonline": {"pay": "paid", "partial": "wrong_amount", "overpay": "paid_over", "cancel": "cancel",
                  "expire": "cancel", "refund": "refund_paid"},
    "ispcrm": {"pay": "Paid", "partial": "Partially Paid", "overpay": None, "cancel": "Cancelled",
               "expire": "Overdue", "refund": "Refunded"},
}  # fmt: skip
CASES = [(p, a, s) for p, actions in EXPECTED.items() for a, s in actions.items()]


def _amounts(provider: str, rec: dict[str, Any]) -> tuple[Decimal, Decimal | None]:
    if provider == "cryptocloud":
        return Decimal(str(rec["amount"])), Decimal(str(rec["amount_paid"]))
    if provider == "simplepay":
        return Decimal(rec["total"]), Decimal(rec["paid"])
    return Decimal(str(rec["amount"])), None


@pytest.mark.parametrize(("provider", "action", "status"), CASES)
async def test_action(client: httpx.AsyncClient, clock: Clock, provider: str, action: str, status: str | None) -> None:
    await make_account(client, provider)
    created = await new_invoice(client, provider, amount=2000 if provider == "smsonline" else "20.00")
    before = created["invoice"]
    clock.advance(5)
    response = await act(client, provider, created["id"], action)
    if status is None:
        assert response.status_code == 409
        assert "error" in response.json()
        return
    assert response.status_code == 200, response.text
    rec = response.json()
    assert rec["status"] == status
    assert rec == (await client.get(f"/_sandbox/accounts/{provider}/invoices/{created['id']}")).json()
    amount, paid = _amounts(provider, rec)
    assert amount == _amounts(provider, before)[0], "the price does not change"
    if paid is not None:
        expected = {"pay": paid == amount, "partial": 0 < paid < amount, "overpay": paid > amount}
        assert expected.get(action, paid == 0), (action, amount, paid)
    if provider == "smsonline":
        assert ("payId" in rec) == (action in {"pay", "overpay", "refund"})
    if provider == "simplepay":
        assert rec["updated_at"] > before["updated_at"]
        assert rec["updated_at"].startswith((NOW + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S"))


async def test_every_change_bumps_simplepay_updated_at(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay")
    invoice = (await new_invoice(client, "simplepay"))["id"]
    stamps = []
    for action, body in [("partial", {}), ("set_status", {"status": "active"}), ("set", {"payload": {"a": 1}})]:
        response = await act(client, "simplepay", invoice, action, **body)  # the clock stands still
        assert response.status_code == 200, response.text
        stamps.append(response.json()["updated_at"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 3


async def test_set_status_and_set_are_raw(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud")
    invoice = (await new_invoice(client, "cryptocloud", amount="30.00"))["id"]
    odd = await act(client, "cryptocloud", invoice, "set_status", status="on_hold")
    assert odd.json()["status"] == "on_hold"
    assert [i["status"] for i in await summaries(client, "cryptocloud")] == ["on_hold"]
    raw = await client.post(
        f"/_sandbox/accounts/cryptocloud/invoices/{invoice}/set", content=b'{"amount": 30.10, "order_id": null}'
    )
    assert raw.status_code == 200
    assert b'"amount":30.10,' in raw.content
    assert b'"order_id":null' in raw.content
    listed = await client.post(
        "/v2/invoice/merchant/list",
        headers={"Authorization": "Token cc-key"},
        json={"start": "20.11.2026", "end": "22.11.2026"},
    )
    assert b'"amount":30.10,' in listed.content
    assert (await act(client, "cryptocloud", invoice, "set_status")).status_code == 400
    assert (await act(client, "cryptocloud", invoice, "explode")).status_code == 404
    garbage = await act(client, "cryptocloud", invoice, "set", amount="abc")
    assert garbage.status_code == 200
    assert (await act(client, "cryptocloud", invoice, "pay")).status_code == 409


async def test_stats_count_requests(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay", count=3)
    for _ in range(4):
        await client.get("/invoice", params={"v": 2}, headers={"Authorization": "Bearer sp-key"})
    await client.get("/invoice", params={"v": 2}, headers={"Authorization": "Bearer wrong"})
    stats = (await client.get("/_sandbox/accounts/simplepay/stats")).json()
    assert stats["list_requests"] == 4
    assert stats["requests"] == 4
    assert stats["invoices"] == 3
    assert stats["callbacks_sent"] == stats["callbacks_failed"] == 0
