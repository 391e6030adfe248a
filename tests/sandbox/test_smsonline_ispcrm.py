"""SMSOnline's payment history and ISP CRM's login + invoices: envelopes, auth, zones, exact amounts."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.sandbox.conftest import Clock, make_account, new_invoice

PAYMENTS = "/v3/customers/u-100/payments"
LOCAL = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
CRYPTOMUS = {
    "confirm_check", "check", "process", "paid", "paid_over", "fail", "wrong_amount", "cancel",
    "system_fail", "refund_process", "refund_fail", "refund_paid",
}  # fmt: skip
LOGIN = "/api/v1/subscriber/Login"
INVOICES = "/api/v1/subscriber/getCustomersInvoices"


async def test_smsonline_list_and_record_shape(client: httpx.AsyncClient) -> None:
    await make_account(client, "smsonline", count=200)
    response = await client.get(PAYMENTS, params={"apiKey": "sms-key"})
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert len(body["body"]) == 200
    for rec in body["body"]:
        assert rec["method"] in {"cryptomus", "pay4bit"}
        assert isinstance(rec["sesid"], str)
        assert rec["sesid"]
        assert isinstance(rec["amount"], int)
        assert rec["amount"] > 0
        assert LOCAL.match(rec["created"])
        assert rec["expires_at"] is None if rec["method"] == "pay4bit" else LOCAL.match(rec["expires_at"])
        assert rec["status"] in CRYPTOMUS
        assert rec["userId"] == "u-100"
        completed = rec["status"] in {"paid", "paid_over", "refund_paid"}
        assert ("payId" in rec) == completed, rec
    created = [r["created"] for r in body["body"]]
    assert created == sorted(created, reverse=True)


async def test_smsonline_errors(client: httpx.AsyncClient) -> None:
    await make_account(client, "smsonline", count=2)
    wrong_key = await client.get(PAYMENTS, params={"apiKey": "nope"})
    assert wrong_key.status_code == 401
    assert wrong_key.json() == {"ok": False, "error": "Unauthorized"}
    no_key = await client.get(PAYMENTS)
    assert no_key.status_code == 401
    unknown = await client.get("/v3/customers/u-999/payments", params={"apiKey": "sms-key"})
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error": "User not found"}


async def test_smsonline_times_are_rendered_in_the_account_zone(client: httpx.AsyncClient) -> None:
    await make_account(client, "smsonline", name="moscow", timezone="Europe/Moscow")
    await make_account(client, "smsonline", name="utc", user_id="u-200", api_key="k2")
    moment = datetime(2026, 7, 1, 9, 30, 15, tzinfo=ZoneInfo("UTC"))
    await new_invoice(client, "moscow", created=moment.isoformat(), amount=500)
    await new_invoice(client, "utc", created=moment.isoformat(), amount=500)
    moscow = (await client.get(PAYMENTS, params={"apiKey": "sms-key"})).json()["body"][0]
    utc = (await client.get("/v3/customers/u-200/payments", params={"apiKey": "k2"})).json()["body"][0]
    assert utc["created"] == "2026-07-01 09:30:15"
    assert moscow["created"] == "2026-07-01 12:30:15"
    assert moscow["amount"] == 500


async def test_smsonline_amounts_are_whole_cents(client: httpx.AsyncClient) -> None:
    await make_account(client, "smsonline")
    refused = await client.post("/_sandbox/accounts/smsonline/invoices", json={"amount": "12.50"})
    assert refused.status_code == 400
    assert (await new_invoice(client, "smsonline", amount=1250))["invoice"]["amount"] == 1250


async def login(client: httpx.AsyncClient, username: str = "alice", password: str = "wonderland") -> httpx.Response:
    return await client.post(LOGIN, json={"username": username, "password": password})


async def test_ispcrm_login_and_invoices(client: httpx.AsyncClient) -> None:
    await make_account(client, "ispcrm", count=60)
    response = await login(client)
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Login successful"
    assert body["token"].count(".") == 2
    assert isinstance(body["user"], dict)
    listed = await client.get(INVOICES, headers={"Authorization": f"Bearer {body['token']}"})
    assert listed.status_code == 200
    answer = listed.json()
    assert answer["success"] is True
    assert len(answer["data"]) == 60
    statuses = {"Paid", "Pending", "Unpaid", "Overdue", "Partially Paid", "Cancelled", "Refunded"}
    for rec in answer["data"]:
        assert set(rec) == {"invoice_id", "amount", "status", "date", "due_date", "description"}
        assert isinstance(rec["invoice_id"], int)
        assert isinstance(rec["amount"], float | int)
        assert rec["status"] in statuses
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$", rec["date"])
        assert rec["due_date"] > rec["date"]
    # every amount is written with exactly two decimals in the body text
    amounts = re.findall(rb'"amount":([^,}]+)', listed.content)
    assert len(amounts) == 60
    assert all(re.fullmatch(rb"\d+\.\d{2}", a) for a in amounts), amounts


async def test_ispcrm_round_amount_keeps_two_decimals(client: httpx.AsyncClient) -> None:
    await make_account(client, "ispcrm", token="fixed-token-123")
    invoice = await new_invoice(client, "ispcrm", amount="50")
    response = await client.get(
        INVOICES, params={"id": invoice["id"]}, headers={"Authorization": "Bearer fixed-token-123"}
    )
    assert response.status_code == 200
    assert b'"amount":50.00,' in response.content
    assert [r["invoice_id"] for r in response.json()["data"]] == [int(invoice["id"])]


async def test_ispcrm_errors(client: httpx.AsyncClient) -> None:
    await make_account(client, "ispcrm", count=3)
    bad = await login(client, password="nope")
    assert bad.status_code == 401
    assert bad.json() == {"message": "Invalid credentials"}
    assert (await login(client, username="bob")).status_code == 401
    unauthorized = await client.get(INVOICES, headers={"Authorization": "Bearer forged"})
    assert unauthorized.status_code == 401
    assert unauthorized.json() == {"success": False, "message": "Unauthorized"}
    assert (await client.get(INVOICES)).status_code == 401
    token = (await login(client)).json()["token"]
    missing = await client.get(INVOICES, params={"id": "999999"}, headers={"Authorization": f"Bearer {token}"})
    assert missing.status_code == 404
    assert missing.json() == {"success": False, "message": "Subscriber not found"}


async def test_ispcrm_tokens_expire_after_token_ttl(client: httpx.AsyncClient, clock: Clock) -> None:
    await make_account(client, "ispcrm", count=3, token_ttl=60)
    token = (await login(client)).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    clock.advance(59)
    assert (await client.get(INVOICES, headers=headers)).status_code == 200
    clock.advance(2)
    assert (await client.get(INVOICES, headers=headers)).status_code == 401
    fresh = (await login(client)).json()["token"]
    assert fresh != token
    assert (await client.get(INVOICES, headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


@pytest.mark.parametrize("provider", ["smsonline", "ispcrm"])
async def test_no_provider_callbacks(client: httpx.AsyncClient, provider: str) -> None:
    await make_account(client, provider, count=1)
    invoice = (await client.get(f"/_sandbox/accounts/{provider}/invoices")).json()["invoices"][0]["id"]
    response = await client.post(
        f"/_sandbox/accounts/{provider}/callbacks", json={"url": "http://127.0.0.1:9/", "invoice_id": invoice}
    )
    assert response.status_code == 409
