"""Narrow reads: just the invoices a callback named, from the same API as the list (CryptoCloud info,
SimplePay invoice details, ISP CRM `getCustomersInvoices?id=`); what each asks, what each answer yields,
which ids it leaves to a full read, and that a record read narrowly is the invoice the list gives."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import cryptocloud, ispcrm, simplepay, smsonline
from contracts.account_file import parse_account
from contracts.accounts import Account, Secret
from contracts.errors import ProviderAuthFailed, ProviderError, ProviderRejected, ProviderTransient
from contracts.jsonio import dumps
from contracts.narrow import NarrowRead
from contracts.provider import Provider
from contracts.records import RawRecord
from contracts.registry import PROVIDERS
from contracts.wire import HttpRequest, HttpResponse
from tests.contracts.support import answer, fixture_bytes, fixture_json, one_page

TODAY = date(2026, 11, 22)
CC_KEY = "cc-api-key-0123456789"
CC = Account(name="shop", provider="cryptocloud", base_url="https://cc.example", api_key=Secret(CC_KEY))
SP_KEY = "sp-api-key-0123456789"
SP = Account(name="store", provider="simplepay", base_url="https://sp.example", api_key=Secret(SP_KEY))
ISP_TOKEN = "static-api-token-1"
ISP_TABLE = {"provider": "ispcrm", "base_url": "https://crm.example.net", "currency": "USD", "token": ISP_TOKEN}
ISP = parse_account("isp", ISP_TABLE)
ISP_LOGIN = parse_account(
    "isp",
    {
        "provider": "ispcrm",
        "base_url": "https://crm.example.net",
        "currency": "EUR",
        "username": "a",
        "password": "pw-secret-9",
    },
)
SP_ID = "6f0c2a9d-3e71-4b58-a4d2-c8e19f7b0a65"
OTHER_SP_ID = "0b7d3c1e-5f2a-4e8b-9c61-2d4a7f0e9b13"


def narrow(provider: Provider, account: Account, ids: list[str], session: str | None = None) -> NarrowRead:
    assert provider.narrow_reader is not None
    return provider.narrow_reader(account, ids, session)


def values(records: list[object]) -> list[Any]:
    """Records handed out as the list hands them out (raw), parsed."""
    assert all(isinstance(record, RawRecord) for record in records), records
    return [record.value() for record in records if isinstance(record, RawRecord)]


def sent(body: bytes | None) -> Any:
    assert body is not None
    return json.loads(body)


def assert_same_invoice(provider: Provider, account: Account, listed: object, read: object) -> None:
    """What change detection compares (the canonical fields) and what an event carries (`raw`) alike."""
    from_list, from_narrow = provider.translate(account, listed), provider.translate(account, read)
    assert from_narrow.canonical() == from_list.canonical()
    assert from_narrow.raw == from_list.raw


def test_every_provider_but_smsonline_reads_narrowly() -> None:
    # SMSOnline has only its payment history: a hint there costs its one list request.
    assert smsonline.PROVIDER.narrow_reader is None
    assert {name for name, provider in PROVIDERS.items() if provider.narrow_reader is not None} == {
        "cryptocloud",
        "simplepay",
        "ispcrm",
    }


# --- CryptoCloud: POST merchant/info, 100 ids a request ----------------------------------------------


def info_answer(records: list[Any]) -> HttpResponse:
    return answer({"status": "success", "result": records})


def list_record(uuid: str = "INV-XXXXXXXX") -> dict[str, Any]:
    record: dict[str, Any] = fixture_json("cryptocloud/invoice-list.json")["result"][0]
    return {**record, "uuid": uuid}


def test_cryptocloud_asks_info_for_the_ids_in_their_prefixed_form() -> None:
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-AAAA1111", "BBBB2222", "inv-CCCC3333", "INV-AAAA1111"])
    [request] = read.requests
    assert (request.method, request.url) == ("POST", "https://cc.example/v2/invoice/merchant/info")
    assert request.headers == {"Authorization": f"Token {CC_KEY}", "Content-Type": "application/json"}
    # Each id once; the postback's bare form and any case of the prefix are the same invoice.
    assert sent(request.body) == {"uuids": ["INV-AAAA1111", "INV-BBBB2222", "INV-CCCC3333"]}
    assert CC_KEY not in request.log_url
    assert read.not_found == ["INV-AAAA1111", "INV-BBBB2222", "INV-CCCC3333"]


@pytest.mark.parametrize(("count", "batches"), [(1, [1]), (100, [100]), (101, [100, 1]), (250, [100, 100, 50])])
def test_cryptocloud_batches_at_most_100_ids_a_request(count: int, batches: list[int]) -> None:
    ids = [f"INV-{n:08d}" for n in range(count)]
    requests = narrow(cryptocloud.PROVIDER, CC, ids).requests
    asked = [sent(request.body)["uuids"] for request in requests]
    assert [len(batch) for batch in asked] == batches
    assert [each for batch in asked for each in batch] == ids


def test_cryptocloud_no_ids_no_request() -> None:
    read = narrow(cryptocloud.PROVIDER, CC, [])
    assert (read.requests, read.not_found) == ((), [])


def test_cryptocloud_info_record_is_the_list_record_and_the_same_invoice() -> None:
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-XXXXXXXX"])
    records = read.feed(0, info_answer([list_record()]))
    assert values(records) == [list_record()]
    assert read.not_found == []
    [listed] = cryptocloud.make_pager(CC, TODAY, None).feed(answer(fixture_bytes("cryptocloud/invoice-list.json")))
    assert_same_invoice(cryptocloud.PROVIDER, CC, listed, records[0])


def test_cryptocloud_ids_left_out_of_the_answer_are_not_found() -> None:
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-AAAA1111", "INV-BBBB2222", "INV-CCCC3333"])
    assert [record["uuid"] for record in values(read.feed(0, info_answer([list_record("INV-BBBB2222")])))] == [
        "INV-BBBB2222"
    ]
    assert read.not_found == ["INV-AAAA1111", "INV-CCCC3333"]


def test_cryptocloud_records_not_asked_for_are_dropped() -> None:
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-AAAA1111"])
    assert read.feed(0, info_answer([list_record("INV-ZZZZ9999")])) == []
    assert read.not_found == ["INV-AAAA1111"]


def test_cryptocloud_answers_are_matched_to_their_own_batch() -> None:
    ids = [f"INV-{n:08d}" for n in range(150)]
    read = narrow(cryptocloud.PROVIDER, CC, ids)
    # The second batch's answer holds an id of the first batch: it was not asked there.
    assert values(read.feed(1, info_answer([list_record(ids[0]), list_record(ids[120])]))) == [list_record(ids[120])]
    assert read.not_found == [each for each in ids if each != ids[120]]
    read.feed(0, info_answer([list_record(each) for each in ids[:100]]))
    assert read.not_found == [each for each in ids[100:] if each != ids[120]]


def test_cryptocloud_documented_info_example_is_left_to_the_list() -> None:
    # The info page's example record has no `created` and no `amount_paid`: translated, it would differ
    # from the list's record of the same invoice, so it is not taken.
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-XXXXXXXX"])
    assert read.feed(0, answer(fixture_bytes("cryptocloud/invoice-info.json"))) == []
    assert read.not_found == ["INV-XXXXXXXX"]


@pytest.mark.parametrize("missing", ["created", "amount_paid"])
@pytest.mark.parametrize("absent", [True, False], ids=["absent", "null"])
def test_cryptocloud_info_record_without_a_list_field_is_not_found(missing: str, absent: bool) -> None:
    record = list_record()
    if absent:
        del record[missing]
    else:
        record[missing] = None
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-XXXXXXXX"])
    assert read.feed(0, info_answer([record])) == []
    assert read.not_found == ["INV-XXXXXXXX"]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer({"status": "error", "result": {"authorization": "Unauthorized request."}}, 401), ProviderAuthFailed),
        (answer(b"", 403), ProviderAuthFailed),
        (answer({"status": "error", "result": {"authorization": "Unauthorized request."}}), ProviderAuthFailed),
        (answer(b"", 429, {"retry-after": "7"}), ProviderTransient),
        (answer(b"", 500), ProviderTransient),
        (answer(b"", 503), ProviderTransient),
        (
            answer({"status": "error", "result": {"uuids": "Ensure this field has no more than 100 elements."}}, 400),
            ProviderRejected,
        ),
        (answer({"status": "error", "result": {"uuids": "Invoice not found"}}), ProviderRejected),
        (answer(b"", 404), ProviderRejected),
        (answer(b'{"status": "success", "result": [', 200), ProviderTransient),
        (answer({"status": "success"}), ProviderTransient),
        (answer([]), ProviderTransient),
    ],
    ids=[
        "401",
        "403",
        "auth-envelope",
        "429",
        "500",
        "503",
        "400",
        "error-envelope",
        "404",
        "truncated",
        "no-result",
        "not-an-object",
    ],
)
def test_cryptocloud_info_errors(response: HttpResponse, error: type[ProviderError]) -> None:
    read = narrow(cryptocloud.PROVIDER, CC, ["INV-XXXXXXXX"])
    with pytest.raises(error) as raised:
        read.feed(0, response)
    assert type(raised.value) is error
    if response.status == 429:
        assert isinstance(raised.value, ProviderTransient)
        assert raised.value.retry_after == "7"
    assert read.not_found == ["INV-XXXXXXXX"]


# --- CryptoCloud: the list's pages, fetched concurrently ---------------------------------------------


def test_page_zero_is_the_pagers_first_request() -> None:
    query = cryptocloud.list_query(CC, TODAY)
    first = cryptocloud.make_pager(CC, TODAY, None).next_request()
    assert cryptocloud.page_request(query, 0) == first
    assert cryptocloud.page_request(query, 0, as_count=True) == first
    assert CC_KEY not in repr(query)


def test_page_requests_under_both_readings() -> None:
    query = cryptocloud.list_query(CC, TODAY)
    window = {"start": "15.11.2026", "end": "22.11.2026"}
    assert sent(cryptocloud.page_request(query, 3).body) == {**window, "offset": 300, "limit": 400}
    assert sent(cryptocloud.page_request(query, 3, as_count=True).body) == {**window, "offset": 300, "limit": 100}
    assert sent(cryptocloud.page_request(query, 2, page_size=40).body) == {**window, "offset": 80, "limit": 120}


@pytest.mark.parametrize(("all_count", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (250, 3), (1000, 10)])
def test_page_count(all_count: int, pages: int) -> None:
    assert cryptocloud.page_count(all_count) == pages


def listing_server(records: list[dict[str, Any]], reading: str, cap: int) -> Callable[[HttpRequest], HttpResponse]:
    """A list endpoint under one reading of `limit`, giving at most `cap` records a page. `index`: the
    documented one (the records up to the `limit`-th); `count`: a page size, capped; `strict`: a page size,
    and a `limit` over the documented 100 refused."""

    def respond(request: HttpRequest) -> HttpResponse:
        asked = sent(request.body)
        offset, limit = asked["offset"], asked["limit"]
        if reading == "strict" and limit > 100:
            return answer({"status": "error", "result": {"limit": "Ensure this value is <= 100."}}, 400)
        stop = min(limit, offset + cap) if reading == "index" else offset + min(limit, cap)
        return answer({"status": "success", "result": records[offset:stop], "all_count": len(records)})

    return respond


def fetch_concurrently(respond: Callable[[HttpRequest], HttpResponse], order: list[int]) -> list[object]:
    """A listing as a worker would fetch it: the first page, then every other page in any `order` (as
    concurrent answers may come), a page refused under the index reading asked again as a page size."""
    query = cryptocloud.list_query(CC, TODAY)
    found, all_count = cryptocloud.read_page(respond(cryptocloud.page_request(query, 0)))
    if not found or all_count is None or all_count <= len(found):
        return found
    page_size = len(found)  # the server's page, when it is shorter than the documented 100
    rest = list(range(1, cryptocloud.page_count(all_count, page_size)))
    as_count = False
    for page in sorted(rest, key=lambda page: order[page % len(order)] if order else 0):
        try:
            records, _ = cryptocloud.read_page(
                respond(cryptocloud.page_request(query, page, page_size=page_size, as_count=as_count))
            )
        except ProviderRejected:
            as_count = True
            records, _ = cryptocloud.read_page(
                respond(cryptocloud.page_request(query, page, page_size=page_size, as_count=True))
            )
        found.extend(records)
    return found


@settings(max_examples=100, deadline=None)
@given(
    total=st.integers(0, 2000),
    cap=st.integers(1, 100),
    reading=st.sampled_from(["index", "count", "strict"]),
    order=st.lists(st.integers(), max_size=30),
)
def test_concurrent_pages_give_every_invoice_exactly_once(total: int, cap: int, reading: str, order: list[int]) -> None:
    records = [{"uuid": f"INV-{n:08d}", "status": "created", "amount": n} for n in range(total)]
    found = fetch_concurrently(listing_server(records, reading, cap), order)
    assert Counter(record["uuid"] for record in values(found)) == Counter(record["uuid"] for record in records)


# --- SimplePay: GET /invoice/{id}?v=2, one id a request ---------------------------------------------


def realistic(index: int) -> dict[str, Any]:
    record: dict[str, Any] = fixture_json("simplepay/invoices-realistic.json")[index]
    return record


def test_simplepay_asks_each_invoice_by_id() -> None:
    read = narrow(simplepay.PROVIDER, SP, [SP_ID, OTHER_SP_ID, SP_ID])
    assert [(request.method, request.url) for request in read.requests] == [
        ("GET", f"https://sp.example/invoice/{SP_ID}?v=2"),
        ("GET", f"https://sp.example/invoice/{OTHER_SP_ID}?v=2"),
    ]
    assert all(
        request.headers == {"Authorization": f"Bearer {SP_KEY}", "Accept": "application/json"}
        for request in read.requests
    )
    assert read.not_found == [SP_ID, OTHER_SP_ID]


@pytest.mark.parametrize("odd", ["..", "not-a-uuid", f"{SP_ID}/cancel", SP_ID + "0", ""])
def test_simplepay_ids_that_are_not_uuids_are_not_sent_and_not_found(odd: str) -> None:
    read = narrow(simplepay.PROVIDER, SP, [odd, SP_ID])
    assert [request.url for request in read.requests] == [f"https://sp.example/invoice/{SP_ID}?v=2"]
    assert read.not_found == [odd, SP_ID]


def test_simplepay_account_limited_to_one_app_reads_its_list() -> None:
    account = Account(
        name="store", provider="simplepay", base_url="https://sp.example", api_key=Secret(SP_KEY), app_id="app-1"
    )
    read = narrow(simplepay.PROVIDER, account, [SP_ID])
    assert (read.requests, read.not_found) == ((), [SP_ID])


def test_simplepay_documented_details_answer_is_the_list_record() -> None:
    documented: dict[str, Any] = fixture_json("simplepay/invoice.json")
    read = narrow(simplepay.PROVIDER, SP, [documented["id"]])
    assert values(read.feed(0, answer(fixture_bytes("simplepay/invoice.json")))) == [documented]
    assert documented == fixture_json("simplepay/invoices.json")[0]
    assert read.not_found == []


@pytest.mark.parametrize("index", range(6))
def test_simplepay_details_translate_to_the_invoice_the_list_gives(index: int) -> None:
    listed = one_page(
        simplepay.make_pager(SP, TODAY, None), answer(fixture_bytes("simplepay/invoices-realistic.json"))
    )[1][index]
    record = realistic(index)
    read = narrow(simplepay.PROVIDER, SP, [record["id"]])
    # Spaced and ordered as a details answer may be: only the content counts.
    [found] = read.feed(0, answer(json.dumps(record, indent=2, sort_keys=True)))
    assert_same_invoice(simplepay.PROVIDER, SP, listed, found)


def test_simplepay_404_is_not_found_not_an_error() -> None:
    read = narrow(simplepay.PROVIDER, SP, [SP_ID, OTHER_SP_ID])
    assert read.feed(0, answer(b"", 404)) == []
    assert values(read.feed(1, answer({**realistic(0), "id": OTHER_SP_ID}))) == [{**realistic(0), "id": OTHER_SP_ID}]
    assert read.not_found == [SP_ID]


def test_simplepay_a_details_answer_for_another_invoice_finds_nothing() -> None:
    read = narrow(simplepay.PROVIDER, SP, [SP_ID])
    assert read.feed(0, answer({**realistic(0), "id": OTHER_SP_ID})) == []
    assert read.not_found == [SP_ID]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer(b"", 401), ProviderAuthFailed),
        (answer(b"", 403), ProviderAuthFailed),
        (answer(b"", 429), ProviderTransient),
        (answer(b"", 502), ProviderTransient),
        (answer({"v": "must be 2"}, 400), ProviderRejected),
        (answer(b"", 409), ProviderRejected),
        (answer(b'{"id": "', 200), ProviderTransient),
        (answer(b"\xff", 200), ProviderTransient),
        (answer([realistic(0)]), ProviderTransient),
        (answer(b"null"), ProviderTransient),
    ],
    ids=["401", "403", "429", "502", "400", "409", "truncated", "not-utf8", "array", "null"],
)
def test_simplepay_details_errors(response: HttpResponse, error: type[ProviderError]) -> None:
    read = narrow(simplepay.PROVIDER, SP, [SP_ID])
    with pytest.raises(error) as raised:
        read.feed(0, response)
    assert type(raised.value) is error
    assert read.not_found == [SP_ID]


# --- ISP CRM: getCustomersInvoices?id=, one id a request ---------------------------------------------


def test_ispcrm_asks_each_invoice_by_its_id() -> None:
    read = narrow(ispcrm.PROVIDER, ISP, ["123", "124", "123"])
    assert [(request.method, request.url) for request in read.requests] == [
        ("GET", "https://crm.example.net/api/v1/subscriber/getCustomersInvoices?id=123"),
        ("GET", "https://crm.example.net/api/v1/subscriber/getCustomersInvoices?id=124"),
    ]
    assert all(
        request.headers == {"authorization": f"Bearer {ISP_TOKEN}", "accept": "application/json"}
        for request in read.requests
    )
    assert read.not_found == ["123", "124"]


def test_ispcrm_uses_the_login_session() -> None:
    [request] = narrow(ispcrm.PROVIDER, ISP_LOGIN, ["123"], "session-jwt").requests
    assert request.headers["authorization"] == "Bearer session-jwt"
    with pytest.raises(ValueError, match="session token"):
        narrow(ispcrm.PROVIDER, ISP_LOGIN, ["123"])


@pytest.mark.parametrize("odd", ["12a", "-1", "1.0", "", "١٢٣", "1&id=2", "9" * 20])
def test_ispcrm_ids_that_are_not_numbers_are_not_sent_and_not_found(odd: str) -> None:
    read = narrow(ispcrm.PROVIDER, ISP, [odd, "7"])
    assert [parse_qs(urlsplit(request.url).query) for request in read.requests] == [{"id": ["7"]}]
    assert read.not_found == [odd, "7"]


def test_ispcrm_documented_answer_yields_only_the_invoice_asked_for() -> None:
    # The documentation shows one example answer for the whole list and for `?id=123` alike: it holds
    # invoices 123 and 124.
    documented = fixture_json("ispcrm-invoices.json")["data"]
    read = narrow(ispcrm.PROVIDER, ISP, ["123"])
    records = read.feed(0, answer(fixture_bytes("ispcrm-invoices.json")))
    assert values(records) == [documented[0]]
    assert read.not_found == []
    listed = one_page(ispcrm.make_pager(ISP, TODAY, None), answer(fixture_bytes("ispcrm-invoices.json")))[1]
    assert_same_invoice(ispcrm.PROVIDER, ISP, listed[0], records[0])


def test_ispcrm_documented_404_is_not_found() -> None:
    read = narrow(ispcrm.PROVIDER, ISP, ["123", "999"])
    assert read.feed(1, answer(fixture_bytes("ispcrm-not-found.json"), 404)) == []
    assert read.not_found == ["123", "999"]


def test_ispcrm_empty_answer_is_not_found() -> None:
    read = narrow(ispcrm.PROVIDER, ISP, ["123"])
    assert read.feed(0, answer({"success": True, "data": []})) == []
    assert read.not_found == ["123"]


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer({"success": False, "message": "Unauthorized"}, 401), ProviderAuthFailed),
        (answer(b"", 403), ProviderAuthFailed),
        (answer({"success": False, "message": "Too Many Attempts."}, 429), ProviderTransient),
        (answer({"success": False, "message": "Server Error"}, 500), ProviderTransient),
        (answer({"message": "The id must be an integer."}, 422), ProviderRejected),
        (answer({"success": False, "message": "Invoice is archived"}), ProviderRejected),
        (answer(b'{"success": true, "data": [', 200), ProviderTransient),
        (answer({"success": True}), ProviderTransient),
    ],
    ids=["401", "403", "429", "500", "422", "refused", "truncated", "no-data"],
)
def test_ispcrm_narrow_errors(response: HttpResponse, error: type[ProviderError]) -> None:
    read = narrow(ispcrm.PROVIDER, ISP, ["123"])
    with pytest.raises(error) as raised:
        read.feed(0, response)
    assert type(raised.value) is error
    assert read.not_found == ["123"]


def test_ispcrm_errors_show_the_crms_message_but_never_the_session_token() -> None:
    read = narrow(ispcrm.PROVIDER, ISP_LOGIN, ["123"], "tok-42")
    with pytest.raises(ProviderRejected) as raised:
        read.feed(0, answer({"success": False, "message": "Invoice is archived"}))
    assert "Invoice is archived" in str(raised.value)
    with pytest.raises(ProviderRejected) as raised:
        read.feed(0, answer({"success": False, "message": "session tok-42 expired"}))
    assert "tok-42" not in str(raised.value)


# --- what every narrow read shares -------------------------------------------------------------------


def test_a_repeated_record_comes_out_as_sent() -> None:
    # Duplicates in one answer are the worker's to count and drop, as for a list page.
    read = narrow(ispcrm.PROVIDER, ISP, ["123"])
    record = {"invoice_id": 123, "amount": 1, "status": "Paid"}
    assert values(read.feed(0, answer(dumps({"success": True, "data": [record, record]})))) == [record, record]
