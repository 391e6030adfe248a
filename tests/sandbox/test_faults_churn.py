"""Injected faults on list requests, and churn moving invoices along."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest

from sandbox.churn import churn_once
from sandbox.state import Sandbox
from tests.sandbox.conftest import make_account, summaries

# One list request per provider, as the relay would make it (ISP CRM with a fixed token).
REQUESTS: dict[str, dict[str, Any]] = {
    "cryptocloud": {
        "method": "POST",
        "url": "/v2/invoice/merchant/list",
        "headers": {"Authorization": "Token cc-key"},
        "json": {"start": "15.11.2026", "end": "22.11.2026", "offset": 0, "limit": 100},
    },
    "simplepay": {
        "method": "GET",
        "url": "/invoice",
        "params": {"v": 2},
        "headers": {"Authorization": "Bearer sp-key"},
    },
    "smsonline": {"method": "GET", "url": "/v3/customers/u-100/payments", "params": {"apiKey": "sms-key"}},
    "ispcrm": {
        "method": "GET",
        "url": "/api/v1/subscriber/getCustomersInvoices",
        "headers": {"Authorization": "Bearer fixed-token"},
    },
}
EXTRA = {"ispcrm": {"username": None, "password": None, "token": "fixed-token"}}
ID_FIELD = {"cryptocloud": "uuid", "simplepay": "id", "smsonline": "sesid", "ispcrm": "invoice_id"}
AMOUNT_FIELD = {"cryptocloud": "amount", "simplepay": "total", "smsonline": "amount", "ispcrm": "amount"}


def records(provider: str, response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    found: list[dict[str, Any]] = {
        "cryptocloud": lambda: body["result"],
        "simplepay": lambda: body,
        "smsonline": lambda: body["body"],
        "ispcrm": lambda: body["data"],
    }[provider]()
    return found


async def setup(client: httpx.AsyncClient, provider: str, **fault: Any) -> None:
    await make_account(client, provider, count=20, **EXTRA.get(provider, {}))
    if fault:
        response = await client.post(f"/_sandbox/accounts/{provider}/faults", json=fault)
        assert response.status_code == 201, response.text


async def fetch(client: httpx.AsyncClient, provider: str) -> httpx.Response:
    return await client.request(**REQUESTS[provider])


@pytest.mark.parametrize("provider", list(REQUESTS))
async def test_429_with_retry_after_then_normal(client: httpx.AsyncClient, provider: str) -> None:
    await setup(client, provider, kind="429", count=2, retry_after=7)
    for _ in range(2):
        response = await fetch(client, provider)
        assert response.status_code == 429
        assert response.headers["retry-after"] == "7"
    assert (await fetch(client, provider)).status_code == 200
    stats = (await client.get(f"/_sandbox/accounts/{provider}/stats")).json()
    assert stats["list_requests"] == 3
    assert stats["faults_injected"] == 2


@pytest.mark.parametrize("provider", list(REQUESTS))
async def test_500_and_401(client: httpx.AsyncClient, provider: str) -> None:
    await setup(client, provider, kind="500")
    await client.post(f"/_sandbox/accounts/{provider}/faults", json={"kind": "401"})
    assert (await fetch(client, provider)).status_code == 500
    unauthorized = await fetch(client, provider)
    assert unauthorized.status_code == 401
    if provider == "simplepay":
        assert unauthorized.content == b""
    else:
        assert "nauthorized" in unauthorized.text
    assert (await fetch(client, provider)).status_code == 200


@pytest.mark.parametrize("provider", list(REQUESTS))
async def test_malformed_json_is_a_truncated_200(client: httpx.AsyncClient, provider: str) -> None:
    await setup(client, provider, kind="malformed_json")
    response = await fetch(client, provider)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)
    whole = await fetch(client, provider)
    assert whole.content.startswith(response.content)


@pytest.mark.parametrize("provider", list(REQUESTS))
async def test_malformed_record_breaks_exactly_one(client: httpx.AsyncClient, provider: str) -> None:
    await setup(client, provider)
    good = records(provider, await fetch(client, provider))
    await client.post(f"/_sandbox/accounts/{provider}/faults", json={"kind": "malformed_record", "count": 5})
    for _ in range(5):
        broken = records(provider, await fetch(client, provider))
        assert len(broken) == len(good)
        differ = [(g, b) for g, b in zip(good, broken, strict=True) if g != b]
        assert len(differ) == 1
        original, bad = differ[0]
        assert ID_FIELD[provider] not in bad or bad[AMOUNT_FIELD[provider]] == "abc"
        assert {k: v for k, v in bad.items() if k not in (ID_FIELD[provider], AMOUNT_FIELD[provider])} == {
            k: v for k, v in original.items() if k not in (ID_FIELD[provider], AMOUNT_FIELD[provider])
        }
    assert records(provider, await fetch(client, provider)) == good


async def test_slow(client: httpx.AsyncClient) -> None:
    await setup(client, "smsonline", kind="slow", delay=0.1)
    started = time.monotonic()
    assert (await fetch(client, "smsonline")).status_code == 200
    assert time.monotonic() - started >= 0.1
    # Without count or rate it fires once: nothing stays armed to slow the next request down.
    assert (await client.get("/_sandbox/accounts/smsonline/faults")).json() == {"faults": []}
    assert (await fetch(client, "smsonline")).status_code == 200
    stats = (await client.get("/_sandbox/accounts/smsonline/stats")).json()
    assert (stats["list_requests"], stats["faults_injected"]) == (2, 1)


async def test_rate_is_seeded_and_delete_clears(client: httpx.AsyncClient) -> None:
    async def pattern(http: httpx.AsyncClient) -> list[int]:
        return [(await fetch(http, "simplepay")).status_code for _ in range(40)]

    await setup(client, "simplepay", kind="500", rate=0.3)
    first = await pattern(client)
    assert 3 <= first.count(500) <= 25
    assert first.count(200) >= 15
    await client.post("/_sandbox/reset")
    await setup(client, "simplepay", kind="500", rate=0.3)
    assert await pattern(client) == first, "same account seed, same fault pattern"
    listed = (await client.get("/_sandbox/accounts/simplepay/faults")).json()["faults"]
    assert listed[0]["kind"] == "500"
    assert listed[0]["remaining"] is None
    assert (await client.delete("/_sandbox/accounts/simplepay/faults")).json() == {"faults": []}
    assert set(await pattern(client)) == {200}


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "404"},
        {"kind": "500", "count": 0},
        {"kind": "500", "rate": 1.5},
        {"kind": "slow"},
        {"kind": "429", "x": 1},
    ],
)
async def test_bad_fault_specs(client: httpx.AsyncClient, fault: dict[str, Any]) -> None:
    await setup(client, "simplepay")
    assert (await client.post("/_sandbox/accounts/simplepay/faults", json=fault)).status_code == 400


async def test_churn_changes_state_in_every_account(client: httpx.AsyncClient, sb: Sandbox) -> None:
    for provider in REQUESTS:
        await make_account(client, provider, count=30, **EXTRA.get(provider, {}))
    before = {p: {i["id"]: i["status"] for i in await summaries(client, p)} for p in REQUESTS}
    rng = random.Random(5)
    changes = [c for _ in range(5) for c in churn_once(sb, rng)]
    assert {c.account for c in changes} == set(REQUESTS)
    after = {p: {i["id"]: i["status"] for i in await summaries(client, p)} for p in REQUESTS}
    for provider in REQUESTS:
        mine = [c for c in changes if c.account == provider]
        moved = {k for k, v in after[provider].items() if before[provider].get(k) != v}
        assert moved, f"nothing changed in {provider}"
        assert moved <= {c.invoice_id for c in mine}
        last = {c.invoice_id: c.status for c in mine}
        assert all(after[provider][k] == status for k, status in last.items())
        created = {c.invoice_id for c in mine if c.action == "create"}
        assert not created & set(before[provider])
        assert set(after[provider]) == set(before[provider]) | created


async def test_churn_endpoint(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay", count=10)
    response = await client.post("/_sandbox/churn", json={"seed": 1})
    assert response.status_code == 200
    changes = response.json()["changes"]
    assert 1 <= len(changes) <= 3
    assert all(c["account"] == "simplepay" for c in changes)
