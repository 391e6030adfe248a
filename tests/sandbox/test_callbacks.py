"""Callbacks over real HTTP to a real receiver, checked with independent verifiers (PyJWT, standardwebhooks)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from sandbox.state import Sandbox
from tests.sandbox.conftest import CC_SECRET, SP_WEBHOOK_SECRET, act, make_account, new_invoice
from tests.sandbox.receiver import Received, Receiver
from tests.support.procs import free_port
from tests.support.waiting import await_until


async def send(client: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/_sandbox/accounts/{name}/callbacks", json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def paid_cryptocloud(client: httpx.AsyncClient) -> str:
    await make_account(client, "cryptocloud")
    invoice: str = (await new_invoice(client, "cryptocloud", amount="40.00"))["id"]
    assert (await act(client, "cryptocloud", invoice, "pay")).status_code == 200
    return invoice


async def test_cryptocloud_json_postback(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await paid_cryptocloud(client)
    answer = await send(client, "cryptocloud", url=receiver.url, invoice_id=invoice)
    assert answer["status_code"] == 200
    assert answer["body"] == "got 1"
    (got,) = receiver.requests
    assert got.headers["Content-Type"].startswith("application/json")
    body = json.loads(got.body)
    assert body["status"] == "success"
    assert body["invoice_id"] == invoice.removeprefix("INV-")
    assert not body["invoice_id"].startswith("INV-")
    assert body["currency"] == body["invoice_info"]["currency"]["fullcode"]
    assert body["order_id"] == body["invoice_info"]["order_id"]
    assert isinstance(body["amount_crypto"], float | int)
    assert body["amount_crypto"] > 0
    record = (await client.get(f"/_sandbox/accounts/cryptocloud/invoices/{invoice}")).json()
    assert body["invoice_info"] == record
    claims = jwt.decode(body["token"], CC_SECRET, algorithms=["HS256"])
    assert claims["id"] == invoice
    assert 200 < claims["exp"] - time.time() <= 301


async def test_cryptocloud_form_postback(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await paid_cryptocloud(client)
    await send(client, "cryptocloud", url=receiver.url, invoice_id=invoice, scheme="form")
    (got,) = receiver.requests
    assert got.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = {k: v[0] for k, v in parse_qs(got.body.decode(), keep_blank_values=True).items()}
    assert form["status"] == "success"
    assert form["invoice_id"] == invoice.removeprefix("INV-")
    assert json.loads(form["invoice_info"])["uuid"] == invoice
    assert jwt.decode(form["token"], CC_SECRET, algorithms=["HS256"])["id"] == invoice


@pytest.mark.parametrize(
    ("flags", "error"),
    [({"expired": True}, jwt.ExpiredSignatureError), ({"wrong_key": True}, jwt.InvalidSignatureError)],
)
async def test_cryptocloud_bad_tokens(
    client: httpx.AsyncClient, receiver: Receiver, flags: dict[str, bool], error: type[Exception]
) -> None:
    invoice = await paid_cryptocloud(client)
    await send(client, "cryptocloud", url=receiver.url, invoice_id=invoice, **flags)
    token = json.loads(receiver.requests[0].body)["token"]
    with pytest.raises(error):
        jwt.decode(token, CC_SECRET, algorithms=["HS256"])


async def simplepay_invoice(client: httpx.AsyncClient, **spec: Any) -> str:
    await make_account(client, "simplepay", **spec)
    invoice: str = (await new_invoice(client, "simplepay", amount="15.00"))["id"]
    return invoice


def standard_verify(got: Received) -> Any:
    return Webhook(SP_WEBHOOK_SECRET).verify(got.body, got.headers)


async def test_simplepay_standard_webhook(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await simplepay_invoice(client)
    await act(client, "simplepay", invoice, "pay")
    await send(client, "simplepay", url=receiver.url, invoice_id=invoice)
    (got,) = receiver.requests
    payload = standard_verify(got)
    assert payload["type"] == "invoice.success"
    assert payload["id"].startswith("evt_")
    assert got.headers["webhook-id"] == payload["id"]
    assert payload["data"] == (await client.get(f"/_sandbox/accounts/simplepay/invoices/{invoice}")).json()


@pytest.mark.parametrize("flag", ["expired", "wrong_key"])
async def test_simplepay_standard_webhook_refusals(client: httpx.AsyncClient, receiver: Receiver, flag: str) -> None:
    invoice = await simplepay_invoice(client)
    await send(client, "simplepay", url=receiver.url, invoice_id=invoice, **{flag: True})
    with pytest.raises(WebhookVerificationError):
        standard_verify(receiver.requests[0])


async def test_simplepay_hmac_webhook(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await simplepay_invoice(client)
    await act(client, "simplepay", invoice, "cancel")
    await send(client, "simplepay", url=receiver.url, invoice_id=invoice, scheme="hmac")
    await send(client, "simplepay", url=receiver.url, invoice_id=invoice, scheme="hmac", wrong_key=True)
    good, bad = receiver.requests
    assert good.headers["X-Version"] == "2"
    expected = hmac.new(b"sp-key", good.body, hashlib.sha256).hexdigest()
    assert good.headers["X-Signature"] == expected
    assert json.loads(good.body)["type"] == "invoice.canceled"
    assert "webhook-signature" not in good.headers
    assert bad.headers["X-Signature"] != hmac.new(b"sp-key", bad.body, hashlib.sha256).hexdigest()
    expired = await client.post(
        "/_sandbox/accounts/simplepay/callbacks",
        json={"url": receiver.url, "invoice_id": invoice, "scheme": "hmac", "expired": True},
    )
    assert expired.status_code == 400


async def test_receiver_answer_is_passed_back(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await paid_cryptocloud(client)
    receiver.status = 503
    answer = await send(client, "cryptocloud", url=receiver.url, invoice_id=invoice)
    assert answer["status_code"] == 503
    stats = (await client.get("/_sandbox/accounts/cryptocloud/stats")).json()
    assert stats["callbacks_sent"] == 1
    assert stats["callbacks_rejected"] == 1


async def test_unreachable_receiver_is_a_502_and_counted(client: httpx.AsyncClient) -> None:
    invoice = await paid_cryptocloud(client)
    response = await client.post(
        "/_sandbox/accounts/cryptocloud/callbacks",
        json={"url": f"http://127.0.0.1:{free_port()}/", "invoice_id": invoice},
    )
    assert response.status_code == 502
    assert response.json()["error"]
    assert (await client.get("/_sandbox/accounts/cryptocloud/stats")).json()["callbacks_failed"] == 1


async def test_cryptocloud_announces_payments_automatically(
    client: httpx.AsyncClient, receiver: Receiver, sb: Sandbox
) -> None:
    await make_account(client, "cryptocloud", callback_url=receiver.url)
    invoice = (await new_invoice(client, "cryptocloud", amount="40.00"))["id"]
    for action in ("partial", "partial", "pay", "cancel"):
        assert (await act(client, "cryptocloud", invoice, action)).status_code == 200
    await sb.drain()
    statuses = [json.loads(r.body)["invoice_info"]["status"] for r in receiver.requests]
    assert sorted(statuses) == ["paid", "partial", "partial"], "creation and cancel are not announced"
    for got in receiver.requests:
        assert jwt.decode(json.loads(got.body)["token"], CC_SECRET, algorithms=["HS256"])["id"] == invoice


async def test_simplepay_announces_created_success_canceled(client: httpx.AsyncClient, receiver: Receiver) -> None:
    invoice = await simplepay_invoice(client, callback_url=receiver.url)
    await act(client, "simplepay", invoice, "partial")  # no event for a partial payment
    await act(client, "simplepay", invoice, "pay")
    other = (await new_invoice(client, "simplepay"))["id"]
    await act(client, "simplepay", other, "cancel")

    async def four() -> bool:
        return len(receiver.requests) >= 4

    await await_until(four, what="four webhooks")
    events = sorted((json.loads(r.body)["data"]["id"], json.loads(r.body)["type"]) for r in receiver.requests)
    assert events == sorted(
        [(invoice, "invoice.created"), (invoice, "invoice.success"), (other, "invoice.created"),
         (other, "invoice.canceled")]
    )  # fmt: skip
    for got in receiver.requests:
        standard_verify(got)


async def test_simplepay_automatic_hmac_scheme(client: httpx.AsyncClient, receiver: Receiver, sb: Sandbox) -> None:
    await simplepay_invoice(client, callback_url=receiver.url, callback_scheme="hmac")
    await sb.drain()
    (got,) = receiver.requests
    assert got.headers["X-Signature"] == hmac.new(b"sp-key", got.body, hashlib.sha256).hexdigest()


async def test_automatic_callback_failures_are_counted_not_raised(client: httpx.AsyncClient, sb: Sandbox) -> None:
    await make_account(client, "cryptocloud", callback_url=f"http://127.0.0.1:{free_port()}/hook")
    invoice = (await new_invoice(client, "cryptocloud"))["id"]
    assert (await act(client, "cryptocloud", invoice, "pay")).status_code == 200
    await sb.drain()
    stats = (await client.get("/_sandbox/accounts/cryptocloud/stats")).json()
    assert stats["callbacks_failed"] == 1
    assert stats["callbacks_sent"] == 0
    assert stats["last_callback"]["error"]
    # an account without a secret cannot sign: also counted, and the action still succeeds
    await make_account(client, "cryptocloud", name="nosecret", api_key="k2", secret_key=None, callback_url="http://x/")
    other = (await new_invoice(client, "nosecret"))["id"]
    assert (await act(client, "nosecret", other, "pay")).status_code == 200
    assert (await client.get("/_sandbox/accounts/nosecret/stats")).json()["callbacks_failed"] == 1
