"""CryptoCloud's list and info endpoints: envelope, auth, validation, date window, both limit readings."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.cryptocloud import MAX_PAGE, page_bounds, select_page
from sandbox.state import Invoice, InvoiceBook
from tests.sandbox.conftest import make_account, new_invoice

AUTH = {"Authorization": "Token cc-key"}
LIST = "/v2/invoice/merchant/list"
INFO = "/v2/invoice/merchant/info"
UNAUTHORIZED = {"status": "error", "result": {"authorization": "Unauthorized request."}}
CREATED = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?$")
EXPIRY = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
UUID = re.compile(r"^INV-[A-Z0-9]{8}$")
WEEK = {"start": "15.11.2026", "end": "22.11.2026"}


async def page(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(LIST, headers=AUTH, json={**WEEK, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def test_list_envelope_and_records_look_like_the_docs(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=300)
    body = await page(client, offset=0, limit=100)
    assert set(body) == {"status", "result", "all_count"}
    assert body["status"] == "success"
    assert body["all_count"] == 300
    assert len(body["result"]) == 100
    for rec in body["result"]:
        assert UUID.match(rec["uuid"]), rec["uuid"]
        assert CREATED.match(rec["created"]), rec["created"]
        assert EXPIRY.match(rec["expiry_date"]), rec["expiry_date"]
        assert rec["status"] in {"created", "paid", "partial", "overpaid", "canceled"}
        assert rec["fiat_currency"] in {"USD", "EUR", "RUB"}
        for field in ("amount", "amount_usd", "amount_paid", "amount_to_pay", "fee", "received"):
            assert type(rec[field]) in {int, float}, field
        assert isinstance(rec["currency"], dict)
        assert isinstance(rec["currency"]["network"], dict)
        assert isinstance(rec["project"], dict)
        assert isinstance(rec["test_mode"], bool)
        assert isinstance(rec["order_id"], str)
    # some records print `created` without the fraction, as some documented examples do
    everything = (await page(client, offset=100, limit=200))["result"] + body["result"]
    assert any("." not in r["created"] for r in everything)
    assert any("." in r["created"] for r in everything)
    created = [r["created"] for r in body["result"]]
    assert created == sorted(created, reverse=True), "newest first"


async def test_status_specific_amounts(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=400)
    records = [r for off in range(0, 400, 100) for r in (await page(client, offset=off, limit=off + 100))["result"]]
    by_status: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        by_status.setdefault(rec["status"], []).append(rec)
    assert {"created", "paid", "partial", "overpaid", "canceled"} <= set(by_status)
    assert all(r["amount_paid"] == r["amount"] for r in by_status["paid"])
    assert all(0 < r["amount_paid"] < r["amount"] for r in by_status["partial"])
    assert all(r["amount_paid"] > r["amount"] for r in by_status["overpaid"])
    assert all(r["amount_paid"] == 0 for r in by_status["created"])
    assert all(r["date_finished"] is not None for r in by_status["paid"])


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Token wrong"}, {"Authorization": "Bearer cc-key"}, {"Authorization": "cc-key"}],
)
async def test_bad_or_missing_auth_is_401(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await make_account(client, "cryptocloud", count=3)
    for path in (LIST, INFO):
        response = await client.post(path, headers=headers, json=WEEK)
        assert response.status_code == 401
        assert response.json() == UNAUTHORIZED


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"end": "22.11.2026"}, "start"),
        ({"start": "15.11.2026"}, "end"),
        ({"start": "2026-11-15", "end": "22.11.2026"}, "start"),
        ({"start": "22.11.2026", "end": "15.11.2026"}, "end"),
        ({**WEEK, "offset": -1}, "offset"),
        ({**WEEK, "limit": "ten"}, "limit"),
    ],
)
async def test_validation_errors_name_the_field(client: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    await make_account(client, "cryptocloud", count=3)
    response = await client.post(LIST, headers=AUTH, json=body)
    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "error"
    assert field in answer["result"]
    assert isinstance(answer["result"][field], str)


async def test_defaults_are_offset_0_limit_10(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=30)
    body = await page(client)
    assert len(body["result"]) == 10
    assert body["all_count"] == 30


async def test_window_filters_on_created_date_inclusive(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=5)
    inside_first = await new_invoice(client, "cryptocloud", created="2026-11-01T00:00:00Z")
    inside_last = await new_invoice(client, "cryptocloud", created="2026-11-03T23:59:59.999999Z")
    await new_invoice(client, "cryptocloud", created="2026-10-31T23:59:59Z")
    await new_invoice(client, "cryptocloud", created="2026-11-04T00:00:00Z")
    response = await client.post(
        LIST, headers=AUTH, json={"start": "01.11.2026", "end": "03.11.2026", "offset": 0, "limit": 100}
    )
    body = response.json()
    assert body["all_count"] == 2
    assert [r["uuid"] for r in body["result"]] == [inside_last["id"], inside_first["id"]]
    one_day = await client.post(LIST, headers=AUTH, json={"start": "01.11.2026", "end": "01.11.2026"})
    assert [r["uuid"] for r in one_day.json()["result"]] == [inside_first["id"]]


async def test_index_mode_reads_limit_as_the_last_record_number(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=50)
    everything = (await page(client, offset=0, limit=100))["result"]
    second = await page(client, offset=10, limit=20)
    assert second["result"] == everything[10:20], "11th..20th"
    assert (await page(client, offset=10, limit=10))["result"] == []
    assert (await page(client, offset=20, limit=5))["result"] == []


async def test_count_mode_reads_limit_as_a_page_size(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=50, limit_mode="count")
    everything = (await page(client, offset=0, limit=100))["result"]
    assert (await page(client, offset=10, limit=20))["result"] == everything[10:30]
    assert (await page(client, offset=40, limit=20))["result"] == everything[40:50]


@pytest.mark.parametrize("mode", ["index", "count"])
async def test_at_most_100_records_per_request(client: httpx.AsyncClient, mode: str) -> None:
    await make_account(client, "cryptocloud", count=250, limit_mode=mode)
    body = await page(client, offset=0, limit=1000)
    assert len(body["result"]) == MAX_PAGE
    assert body["all_count"] == 250


async def test_info_accepts_ids_with_and_without_prefix(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", count=5)
    records = (await page(client, limit=5))["result"]
    ids = [records[0]["uuid"], records[1]["uuid"].removeprefix("INV-"), "INV-NOSUCH00"]
    response = await client.post(INFO, headers=AUTH, json={"uuids": ids})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "success"
    assert body["result"] == records[:2]
    too_many = await client.post(INFO, headers=AUTH, json={"uuids": ["INV-AAAAAAAA"] * 101})
    assert too_many.status_code == 400
    assert "uuids" in too_many.json()["result"]


async def test_accounts_are_told_apart_by_api_key(client: httpx.AsyncClient) -> None:
    await make_account(client, "cryptocloud", name="one", count=3)
    await make_account(client, "cryptocloud", name="two", count=7, api_key="other-key", seed=2)
    one = await client.post(LIST, headers=AUTH, json=WEEK)
    two = await client.post(LIST, headers={"Authorization": "Token other-key"}, json=WEEK)
    assert one.json()["all_count"] == 3
    assert two.json()["all_count"] == 7


def test_select_page_examples() -> None:
    records = list(range(1, 31))  # the 1st .. 30th record
    assert select_page(records, 10, 20, "index") == list(range(11, 21))
    assert select_page(records, 10, 20, "count") == list(range(11, 31))
    assert select_page(records, 0, 10, "index") == select_page(records, 0, 10, "count") == list(range(1, 11))
    with pytest.raises(ValueError):
        select_page(records, 0, 10, "pages")
    with pytest.raises(ValueError):
        select_page(records, -1, 10, "index")


@given(
    size=st.integers(0, 400),
    offset=st.integers(0, 500),
    limit=st.integers(0, 800),
    mode=st.sampled_from(["index", "count"]),
)
def test_select_page_matches_a_plain_oracle(size: int, offset: int, limit: int, mode: str) -> None:
    records = list(range(size))
    last = limit if mode == "index" else offset + limit  # exclusive, zero-based
    oracle = [r for i, r in enumerate(records) if offset <= i < last][:MAX_PAGE]
    assert select_page(records, offset, limit, mode) == oracle
    assert page_bounds(offset, limit, mode)[1] - page_bounds(offset, limit, mode)[0] <= MAX_PAGE


@given(size=st.integers(0, 450), step=st.integers(1, 120), mode=st.sampled_from(["index", "count"]))
def test_paging_as_each_reading_intends_sees_every_record_once(size: int, step: int, mode: str) -> None:
    records = list(range(size))
    seen: list[int] = []
    offset = 0
    while offset < size:
        chunk = select_page(records, offset, offset + step if mode == "index" else step, mode)
        assert chunk, "a page inside the window is never empty"
        seen.extend(chunk)
        offset += len(chunk)
    assert seen == records


@given(times=st.lists(st.integers(0, 50), max_size=60), lo=st.integers(-5, 55), width=st.integers(0, 60))
def test_book_window_is_newest_first_and_slices_like_a_list(times: list[int], lo: int, width: int) -> None:
    book = InvoiceBook()
    book.load(Invoice(f"k{i}", t, record={"n": i}) for i, t in enumerate(times))
    window = book.between(lo, lo + width)
    # oldest first by time, insertion order among equal times; the window reverses that
    expected = [k for _, _, k in sorted((t, i, f"k{i}") for i, t in enumerate(times) if lo <= t < lo + width)]
    expected.reverse()
    assert [inv.key for inv in window] == expected
    assert [window[i].key for i in range(len(window))] == expected
    for start in range(0, len(expected) + 2, 3):
        assert [inv.key for inv in window[start : start + 4]] == expected[start : start + 4]
