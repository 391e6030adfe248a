"""SimplePay's invoice endpoints: the plain array, bare 401/404, the `v` rule, filters, record shape."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import httpx
import pytest

from tests.sandbox.conftest import make_account, new_invoice

AUTH = {"Authorization": "Bearer sp-key"}
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6})?Z$")
DECIMAL = re.compile(r"^\d+(\.\d+)?$")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


async def test_list_is_a_plain_array_of_documented_records(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay", count=200)
    response = await client.get("/invoice", params={"v": 2}, headers=AUTH)
    assert response.status_code == 200
    records = response.json()
    assert isinstance(records, list)
    assert len(records) == 200
    for rec in records:
        assert set(rec) == {
            "id", "parent_id", "client_id", "total", "paid", "type", "status",
            "payload", "created_at", "updated_at", "currency", "products",
        }  # fmt: skip
        assert is_uuid(rec["id"])
        assert is_uuid(rec["client_id"])
        assert rec["parent_id"] is None or is_uuid(rec["parent_id"])
        assert isinstance(rec["total"], str)
        assert DECIMAL.match(rec["total"])
        assert isinstance(rec["paid"], str)
        assert DECIMAL.match(rec["paid"])
        assert rec["type"] == "payment"
        assert rec["status"] in {"active", "closed", "success", "canceled"}
        assert ISO.match(rec["created_at"])
        assert ISO.match(rec["updated_at"])
        assert rec["updated_at"] >= rec["created_at"][:19]
        assert rec["currency"]["symbol"] in {"USD", "EUR", "USDT"}
        assert isinstance(rec["currency"]["code"], int)
        assert is_uuid(rec["currency"]["id"])
        assert rec["payload"] == {}
        assert rec["products"] == []
        total, paid = Decimal(rec["total"]), Decimal(rec["paid"])
        if rec["status"] == "success":
            assert paid >= total
        if rec["status"] == "active":
            assert paid < total
    assert any(r["paid"] == "0" for r in records)
    assert any(r["parent_id"] is not None for r in records)
    # all three time layouts appear: whole seconds, milliseconds, microseconds
    layouts = {len(r["created_at"]) for r in records}
    assert layouts == {20, 24, 27}
    created = [r["created_at"][:19] for r in records]
    assert created == sorted(created, reverse=True)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Token sp-key"}])
async def test_unauthorized_is_a_bare_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await make_account(client, "simplepay", count=2)
    response = await client.get("/invoice", params={"v": 2}, headers=headers)
    assert response.status_code == 401
    assert response.content == b""


@pytest.mark.parametrize("params", [{}, {"v": "1"}, {"v": "two"}])
async def test_v_must_be_2(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    await make_account(client, "simplepay", count=2)
    invoice = (await new_invoice(client, "simplepay"))["id"]
    for path in ("/invoice", f"/invoice/{invoice}"):
        response = await client.get(path, params=params, headers=AUTH)
        assert response.status_code == 400
        assert response.json() == {"v": "must be 2"}


async def test_get_one_and_bare_404(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay", count=5)
    records = (await client.get("/invoice", params={"v": 2}, headers=AUTH)).json()
    one = await client.get(f"/invoice/{records[3]['id']}", params={"v": 2}, headers=AUTH)
    assert one.status_code == 200
    assert one.json() == records[3]
    missing = await client.get(f"/invoice/{uuid.uuid4()}", params={"v": 2}, headers=AUTH)
    assert missing.status_code == 404
    assert missing.content == b""


async def test_filters(client: httpx.AsyncClient) -> None:
    account = await make_account(client, "simplepay", count=300)  # app_id derived from the seed
    everything = (await client.get("/invoice", params={"v": 2}, headers=AUTH)).json()

    async def listed(**params: str) -> list[dict[str, str]]:
        response = await client.get("/invoice", params={"v": 2, **params}, headers=AUTH)
        assert response.status_code == 200, response.text
        result: list[dict[str, str]] = response.json()
        return result

    success = await listed(status="success")
    assert success
    assert success == [r for r in everything if r["status"] == "success"]
    assert await listed(status="SUCCESS") == success
    client_id = everything[0]["client_id"]
    assert await listed(client_id=client_id) == [r for r in everything if r["client_id"] == client_id]
    assert await listed(app_id=account["app_id"]) == everything
    assert await listed(app_id=str(uuid.uuid4())) == []
    bad = await client.get("/invoice", params={"v": 2, "status": "paid", "client_id": "x"}, headers=AUTH)
    assert bad.status_code == 400
    assert set(bad.json()) == {"status", "client_id"}


async def test_delete_cancels_only_active_invoices(client: httpx.AsyncClient) -> None:
    await make_account(client, "simplepay")
    invoice = (await new_invoice(client, "simplepay", amount="10.00"))["id"]
    canceled = await client.delete(f"/invoice/{invoice}", params={"v": 2}, headers=AUTH)
    assert canceled.status_code == 200
    assert canceled.json()["status"] == "canceled"
    again = await client.delete(f"/invoice/{invoice}", params={"v": 2}, headers=AUTH)
    assert again.status_code == 409
