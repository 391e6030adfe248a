"""Narrow reads in the sandbox (CryptoCloud info, SimplePay invoice details, ISP CRM `?id=`): answered as
the documents describe, counted apart from list requests, broken by faults aimed at them; and the
per-account latency on every provider request."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.sandbox.conftest import make_account

CC_AUTH = {"Authorization": "Token cc-key"}
SP_AUTH = {"Authorization": "Bearer sp-key"}
ISP_AUTH = {"Authorization": "Bearer fixed-token"}
INFO = "/v2/invoice/merchant/info"
CC_LIST = "/v2/invoice/merchant/list"
WEEK = {"start": "15.11.2026", "end": "22.11.2026", "offset": 0, "limit": 100}
ISP_INVOICES = "/api/v1/subscriber/getCustomersInvoices"
ISPCRM_FIXED_TOKEN = {"username": None, "password": None, "token": "fixed-token"}
EXTRA: dict[str, dict[str, Any]] = {"ispcrm": ISPCRM_FIXED_TOKEN}


async def stats(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get(f"/_sandbox/accounts/{name}/stats")).json()
    return body


async def arm(client: httpx.AsyncClient, name: str, **fault: Any) -> None:
    response = await client.post(f"/_sandbox/accounts/{name}/faults", json=fault)
    assert response.status_code == 201, response.text


# One list request and one narrow request per provider, as the relay makes them.


async def list_request(client: httpx.AsyncClient, provider: str) -> httpx.Response:
    if provider == "cryptocloud":
        return await client.post(CC_LIST, headers=CC_AUTH, json=WEEK)
    if provider == "simplepay":
        return await client.get("/invoice", params={"v": 2}, headers=SP_AUTH)
    return await client.get(ISP_INVOICES, headers=ISP_AUTH)


def record_id(provider: str, record: dict[str, Any]) -> str:
    return str(record[{"cryptocloud": "uuid", "simplepay": "id", "ispcrm": "invoice_id"}[provider]])


async def narrow_request(client: httpx.AsyncClient, provider: str, invoice_id: str) -> httpx.Response:
    if provider == "cryptocloud":
        return await client.post(INFO, headers=CC_AUTH, json={"uuids": [invoice_id]})
    if provider == "simplepay":
        return await client.get(f"/invoice/{invoice_id}", params={"v": 2}, headers=SP_AUTH)
    return await client.get(ISP_INVOICES, params={"id": invoice_id}, headers=ISP_AUTH)


def narrow_records(provider: str, response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    return [body] if provider == "simplepay" else records_of(provider, body)


def records_of(provider: str, body: Any) -> list[dict[str, Any]]:
    """The records of a list answer, or of a narrow one in the list's envelope."""
    found: list[dict[str, Any]] = body if provider == "simplepay" else body[ENVELOPE_FIELD[provider]]
    return found


ENVELOPE_FIELD = {"cryptocloud": "result", "ispcrm": "data"}


NARROW = ["cryptocloud", "simplepay", "ispcrm"]
UNKNOWN = {"cryptocloud": "INV-NOSUCH00", "simplepay": str(uuid.uuid4()), "ispcrm": "999999"}


async def listing(client: httpx.AsyncClient, provider: str, count: int = 5, **spec: Any) -> list[dict[str, Any]]:
    await make_account(client, provider, count=count, **EXTRA.get(provider, {}), **spec)
    response = await list_request(client, provider)
    assert response.status_code == 200, response.text
    return records_of(provider, response.json())


# --- each narrow endpoint answers as documented --------------------------------------------------------


@pytest.mark.parametrize("provider", NARROW)
async def test_a_narrow_read_answers_the_record_the_list_shows(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    for record in records:
        response = await narrow_request(client, provider, record_id(provider, record))
        assert response.status_code == 200, response.text
        assert narrow_records(provider, response) == [record]


async def test_cryptocloud_info_envelope_order_and_id_forms(client: httpx.AsyncClient) -> None:
    records = await listing(client, "cryptocloud", count=6)
    asked = [records[4]["uuid"], records[1]["uuid"].removeprefix("INV-"), "INV-NOSUCH00", records[0]["uuid"]]
    response = await client.post(INFO, headers=CC_AUTH, json={"uuids": asked})
    assert response.status_code == 200
    # Both documented id forms; unknown ids are left out; the order is the order asked.
    assert response.json() == {"status": "success", "result": [records[4], records[1], records[0]]}
    # Each record is the list's record byte for byte, not merely the same JSON.
    listed = (await client.post(CC_LIST, headers=CC_AUTH, json=WEEK)).content
    assert all(json.dumps(record, separators=(",", ":")).encode() in listed for record in records)


@pytest.mark.parametrize(
    "body",
    [{"uuids": ["INV-AAAAAAAA"] * 101}, {"uuids": "INV-AAAAAAAA"}, {"uuids": [1]}, {}, []],
    ids=["101-ids", "not-a-list", "not-text", "missing", "not-an-object"],
)
async def test_cryptocloud_info_refuses_a_bad_request_naming_uuids(client: httpx.AsyncClient, body: Any) -> None:
    await make_account(client, "cryptocloud", count=1)
    response = await client.post(INFO, headers=CC_AUTH, json=body)
    assert response.status_code == 400
    assert response.json()["status"] == "error"
    assert "uuids" in response.json()["result"]


async def test_cryptocloud_info_takes_100_ids(client: httpx.AsyncClient) -> None:
    records = await listing(client, "cryptocloud", count=100)
    response = await client.post(INFO, headers=CC_AUTH, json={"uuids": [r["uuid"] for r in records]})
    assert response.status_code == 200
    assert response.json()["result"] == records


async def test_cryptocloud_info_unauthorized(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud")
    response = await client.post(INFO, headers={"Authorization": "Token wrong"}, json={"uuids": []})
    assert response.status_code == 401
    assert response.json() == {"status": "error", "result": {"authorization": "Unauthorized request."}}


async def test_simplepay_details_answers(client: httpx.AsyncClient) -> None:
    records = await listing(client, "simplepay")
    one = await client.get(f"/invoice/{records[2]['id']}", params={"v": 2}, headers=SP_AUTH)
    assert one.json() == records[2]
    missing = await client.get(f"/invoice/{uuid.uuid4()}", params={"v": 2}, headers=SP_AUTH)
    assert (missing.status_code, missing.content) == (404, b"")  # bare, as documented
    odd = await client.get("/invoice/not-a-uuid", params={"v": 2}, headers=SP_AUTH)
    assert odd.status_code == 400
    unauthorized = await client.get(f"/invoice/{records[2]['id']}", params={"v": 2})
    assert (unauthorized.status_code, unauthorized.content) == (401, b"")


@pytest.mark.parametrize("wanted", ["999999", "abc", "-1", ""])
async def test_ispcrm_id_not_an_invoice_is_the_documented_404(client: httpx.AsyncClient, wanted: str) -> None:
    await listing(client, "ispcrm")
    response = await client.get(ISP_INVOICES, params={"id": wanted}, headers=ISP_AUTH)
    assert response.status_code == 404
    assert response.json() == {"success": False, "message": "Subscriber not found"}


async def test_ispcrm_id_in_other_digits_is_not_an_invoice(client: httpx.AsyncClient) -> None:
    records = await listing(client, "ispcrm")
    arabic_indic = str(records[0]["invoice_id"]).translate(
        str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669")
    )
    response = await client.get(ISP_INVOICES, params={"id": arabic_indic}, headers=ISP_AUTH)
    assert response.status_code == 404


async def test_ispcrm_id_answers_the_envelope_with_one_record(client: httpx.AsyncClient) -> None:
    records = await listing(client, "ispcrm")
    response = await client.get(ISP_INVOICES, params={"id": records[3]["invoice_id"]}, headers=ISP_AUTH)
    assert response.json() == {"success": True, "data": [records[3]]}


# --- stats: narrow requests counted apart --------------------------------------------------------------


@pytest.mark.parametrize("provider", NARROW)
async def test_narrow_requests_are_counted_apart_from_list_requests(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    await narrow_request(client, provider, record_id(provider, records[0]))
    await narrow_request(client, provider, UNKNOWN[provider])  # a 404 is a narrow request too
    counts = await stats(client, provider)
    assert (counts["requests"], counts["list_requests"], counts["narrow_requests"]) == (3, 1, 2)


async def test_other_requests_are_neither(client: httpx.AsyncClient) -> None:
    records = await listing(client, "simplepay")
    await client.delete(f"/invoice/{records[0]['id']}", params={"v": 2}, headers=SP_AUTH)
    await make_account(client, "ispcrm", name="isp", count=1)
    await client.post("/api/v1/subscriber/Login", json={"username": "alice", "password": "wonderland"})
    sp, isp = await stats(client, "simplepay"), await stats(client, "isp")
    assert (sp["requests"], sp["list_requests"], sp["narrow_requests"]) == (2, 1, 0)
    assert (isp["requests"], isp["list_requests"], isp["narrow_requests"], isp["logins"]) == (1, 0, 0, 1)


# --- faults on narrow requests -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", NARROW)
async def test_a_list_fault_spares_narrow_requests(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    await arm(client, provider, kind="500")  # `endpoint` defaults to "list", as before it existed
    assert (await narrow_request(client, provider, record_id(provider, records[0]))).status_code == 200
    assert (await list_request(client, provider)).status_code == 500


@pytest.mark.parametrize("provider", NARROW)
async def test_a_narrow_fault_spares_list_requests(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    await arm(client, provider, kind="429", retry_after=3, endpoint="narrow", count=2)
    assert (await list_request(client, provider)).status_code == 200
    for _ in range(2):
        response = await narrow_request(client, provider, record_id(provider, records[0]))
        assert (response.status_code, response.headers["retry-after"]) == (429, "3")
    assert (await narrow_request(client, provider, record_id(provider, records[0]))).status_code == 200
    counts = await stats(client, provider)
    assert (counts["list_requests"], counts["narrow_requests"], counts["faults_injected"]) == (2, 3, 2)


@pytest.mark.parametrize("provider", NARROW)
async def test_an_any_fault_breaks_both(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    await arm(client, provider, kind="401", endpoint="any", count=2)
    assert (await narrow_request(client, provider, record_id(provider, records[0]))).status_code == 401
    assert (await list_request(client, provider)).status_code == 401
    assert (await list_request(client, provider)).status_code == 200


@pytest.mark.parametrize("provider", NARROW)
async def test_a_narrow_fault_comes_before_the_answer_for_an_unknown_invoice(
    client: httpx.AsyncClient, provider: str
) -> None:
    await listing(client, provider)
    await arm(client, provider, kind="500", endpoint="narrow")
    assert (await narrow_request(client, provider, UNKNOWN[provider])).status_code == 500
    unknown = await narrow_request(client, provider, UNKNOWN[provider])
    if provider == "cryptocloud":  # info leaves an unknown id out
        assert (unknown.status_code, unknown.json()["result"]) == (200, [])
    else:
        assert unknown.status_code == 404


@pytest.mark.parametrize("provider", NARROW)
async def test_narrow_malformed_json_and_record(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    wanted = record_id(provider, records[0])
    await arm(client, provider, kind="malformed_json", endpoint="narrow")
    truncated = await narrow_request(client, provider, wanted)
    assert truncated.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(truncated.content)
    await arm(client, provider, kind="malformed_record", endpoint="narrow")
    [broken] = narrow_records(provider, await narrow_request(client, provider, wanted))
    id_field = {"cryptocloud": "uuid", "simplepay": "id", "ispcrm": "invoice_id"}[provider]
    amount_field = "total" if provider == "simplepay" else "amount"
    assert broken != records[0]
    assert id_field not in broken or broken[amount_field] == "abc"


@pytest.mark.parametrize("provider", ["cryptocloud", "ispcrm"])
async def test_narrow_duplicate_records_in_a_list_answer(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider)
    await arm(client, provider, kind="duplicate_records", endpoint="narrow")
    stale, current = narrow_records(provider, await narrow_request(client, provider, record_id(provider, records[0])))
    assert current == records[0]
    assert record_id(provider, stale) == record_id(provider, current)
    assert stale["status"] != current["status"]


async def test_duplicate_records_leave_a_lone_record_alone(client: httpx.AsyncClient) -> None:
    records = await listing(client, "simplepay")
    await arm(client, "simplepay", kind="duplicate_records", endpoint="narrow")
    response = await narrow_request(client, "simplepay", records[0]["id"])
    assert response.json() == records[0]
    assert (await stats(client, "simplepay"))["faults_injected"] == 1


@pytest.mark.parametrize("endpoint", ["narrow", "any"])
async def test_a_narrow_fault_is_armed_as_given(client: httpx.AsyncClient, endpoint: str) -> None:
    await make_account(client, "simplepay")
    await arm(client, "simplepay", kind="slow", delay=0.01, endpoint=endpoint)
    [fault] = (await client.get("/_sandbox/accounts/simplepay/faults")).json()["faults"]
    assert fault["endpoint"] == endpoint


@pytest.mark.parametrize("endpoint", ["info", "List", "", None, 1])
async def test_an_unknown_endpoint_is_refused(client: httpx.AsyncClient, endpoint: Any) -> None:
    await make_account(client, "simplepay")
    response = await client.post("/_sandbox/accounts/simplepay/faults", json={"kind": "500", "endpoint": endpoint})
    assert response.status_code == 400
    assert "endpoint" in response.json()["error"]


# --- latency --------------------------------------------------------------------------------------------

LATENCY = 0.2


async def timed(request: Any) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = await request
    return response, time.monotonic() - started


@pytest.mark.parametrize("provider", NARROW)
async def test_latency_holds_list_and_narrow_requests(client: httpx.AsyncClient, provider: str) -> None:
    records = await listing(client, provider, latency_ms=int(LATENCY * 1000))
    listed, list_time = await timed(list_request(client, provider))
    narrowed, narrow_time = await timed(narrow_request(client, provider, record_id(provider, records[0])))
    assert (listed.status_code, narrowed.status_code) == (200, 200)
    assert list_time >= LATENCY
    assert narrow_time >= LATENCY


async def test_latency_holds_logins_and_smsonline(client: httpx.AsyncClient) -> None:
    await make_account(client, "ispcrm", latency_ms=int(LATENCY * 1000))
    await make_account(client, "smsonline", latency_ms=int(LATENCY * 1000))
    login = client.post("/api/v1/subscriber/Login", json={"username": "alice", "password": "wonderland"})
    payments = client.get("/v3/customers/u-100/payments", params={"apiKey": "sms-key"})
    for request in (login, payments):
        response, elapsed = await timed(request)
        assert response.status_code == 200
        assert elapsed >= LATENCY


async def test_latency_is_per_request_not_a_queue(client: httpx.AsyncClient) -> None:
    # Ten concurrent requests each wait their own latency, side by side: together they take well under
    # the ten latencies one after the other would.
    await make_account(client, "smsonline", latency_ms=int(LATENCY * 1000))
    started = time.monotonic()
    responses = await asyncio.gather(
        *(client.get("/v3/customers/u-100/payments", params={"apiKey": "sms-key"}) for _ in range(10))
    )
    assert {response.status_code for response in responses} == {200}
    assert LATENCY <= time.monotonic() - started < 5 * LATENCY
    assert (await stats(client, "smsonline"))["requests"] == 10


async def test_latency_is_shown_and_defaults_to_none(client: httpx.AsyncClient) -> None:
    assert (await make_account(client, "simplepay", name="fast"))["latency_ms"] == 0
    assert (await make_account(client, "simplepay", name="slow", api_key="k2", latency_ms=50))["latency_ms"] == 50


@pytest.mark.parametrize("latency", [-1, 60_001, "50", 0.5, True])
async def test_bad_latency_is_refused(client: httpx.AsyncClient, latency: Any) -> None:
    body = {"name": "x", "provider": "simplepay", "api_key": "k", "latency_ms": latency}
    response = await client.post("/_sandbox/accounts", json=body)
    assert response.status_code == 400
    assert "latency_ms" in response.json()["error"]
