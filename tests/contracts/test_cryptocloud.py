from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import cryptocloud
from contracts.accounts import Account, Secret
from contracts.errors import (
    CallbackError,
    CallbackMalformed,
    CallbackUnauthorized,
    ProviderAuthFailed,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderTransient,
    RecordError,
)
from contracts.jsonio import dumps
from contracts.model import Status
from contracts.paging import Pager
from contracts.wire import CallbackRequest, HttpRequest, HttpResponse
from tests.contracts.support import (
    answer,
    decimal_texts,
    fixture_bytes,
    fixture_json,
    json_values,
    mutations,
    parsed,
    rendered,
)

API_KEY = "cc-api-key-0123456789"
SECRET_KEY = "cc-secret-key-" + "k" * 50  # long enough for PyJWT not to warn, for HS512 too
ACCOUNT = Account(
    name="shop",
    provider="cryptocloud",
    base_url="https://cc.example",
    api_key=Secret(API_KEY),
    secret_key=Secret(SECRET_KEY),
)
TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def page(records: list[Any], all_count: int | None) -> HttpResponse:
    body: dict[str, Any] = {"status": "success", "result": records}
    if all_count is not None:
        body["all_count"] = all_count
    return answer(body)


def sent(request: HttpRequest) -> dict[str, Any]:
    assert request.body is not None
    body: dict[str, Any] = json.loads(request.body)
    return body


def fixture_record() -> dict[str, Any]:
    # The docs' example with its `{...}` placeholders dropped: see fixtures/cryptocloud/README.md.
    record: dict[str, Any] = fixture_json("cryptocloud/invoice-list.json")["result"][0]
    return record


# --- the list request ----------------------------------------------------------------------------


def test_first_request_asks_for_the_lookback_window_and_one_page() -> None:
    request = cryptocloud.make_pager(ACCOUNT, TODAY, None).next_request()
    assert request is not None
    assert request.method == "POST"
    assert request.url == "https://cc.example/v2/invoice/merchant/list"
    assert request.headers == {"Authorization": f"Token {API_KEY}", "Content-Type": "application/json"}
    assert sent(request) == {"start": "15.11.2026", "end": "22.11.2026", "offset": 0, "limit": 100}
    assert API_KEY not in request.log_url


def test_lookback_window_crosses_months_and_can_be_empty() -> None:
    assert cryptocloud.list_window(date(2026, 3, 2), 3) == ("27.02.2026", "02.03.2026")
    assert cryptocloud.list_window(TODAY, 0) == ("22.11.2026", "22.11.2026")


def test_pager_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        cryptocloud.make_pager(Account(name="shop", provider="cryptocloud", base_url="https://x"), TODAY, None)


def test_next_request_is_repeatable_until_fed() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    assert pager.next_request() == pager.next_request()


# --- the documented example ----------------------------------------------------------------------


def test_documented_example_translates() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    records = pager.feed(answer(fixture_bytes("cryptocloud/invoice-list.json")))
    assert len(records) == 1
    invoice = cryptocloud.translate(ACCOUNT, records[0])
    assert invoice.canonical() == {
        "key": "shop:INV-XXXXXXXX",
        "account": "shop",
        "provider": "cryptocloud",
        "invoice_id": "INV-XXXXXXXX",
        "status": "pending",
        "provider_status": "created",
        "amount": "100.00",
        "amount_paid": "0.00",
        "currency": "USD",  # the example has no fiat_currency
        "order_id": "1111",
        "customer_id": None,
        "description": None,
        "created_at": "2023-01-01T12:00:00Z",
        "due_at": "2023-01-02T12:00:00Z",
        "test_mode": False,
    }
    assert [invoice.raw] == parsed(records)
    assert invoice.amount == Decimal("100.0")
    # One record of all_count=100: a short page is not the end.
    following = pager.next_request()
    assert following is not None
    assert sent(following)["offset"] == 1
    assert sent(following)["limit"] == 101


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("created", Status.PENDING),
        ("partial", Status.PARTIALLY_PAID),
        ("paid", Status.PAID),
        ("overpaid", Status.OVERPAID),
        ("canceled", Status.CANCELED),
        ("PAID", Status.PAID),
        (" Overpaid ", Status.OVERPAID),
        ("expired", Status.UNKNOWN),
        ("cancelled", Status.UNKNOWN),
    ],
)
def test_status_table(provider_status: str, status: Status) -> None:
    invoice = cryptocloud.translate(ACCOUNT, {**fixture_record(), "status": provider_status})
    assert invoice.status is status
    assert invoice.provider_status == provider_status


def test_optional_fields_and_their_sources() -> None:
    record = {**fixture_record(), "fiat_currency": "EUR", "created": "2024-05-06 07:08:09", "test_mode": True}
    del record["amount_paid"]
    del record["expiry_date"]
    invoice = cryptocloud.translate(ACCOUNT, record)
    assert invoice.currency == "EUR"
    assert invoice.amount_paid is None
    assert invoice.due_at is None
    assert invoice.created_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)
    assert invoice.test_mode is True


@pytest.mark.parametrize(
    ("text", "rendered_time"),
    [
        ("2024-05-06 07:08:09.123456", "2024-05-06T07:08:09.123456Z"),
        ("2024-05-06 07:08:09.000000", "2024-05-06T07:08:09Z"),
        ("2024-05-06 07:08:09.12345678", "2024-05-06T07:08:09.123456Z"),  # the docs' "SS.FFFFFFFF"
    ],
)
def test_fractional_times_are_read(text: str, rendered_time: str) -> None:
    invoice = cryptocloud.translate(ACCOUNT, {**fixture_record(), "created": text, "expiry_date": text})
    assert invoice.canonical()["created_at"] == invoice.canonical()["due_at"] == rendered_time


@pytest.mark.parametrize("uuid", ["XXXXXXXX", "inv-XXXXXXXX", "INV-XXXXXXXX"])
def test_invoice_id_always_carries_the_prefix(uuid: str) -> None:
    assert cryptocloud.translate(ACCOUNT, {**fixture_record(), "uuid": uuid}).invoice_id == "INV-XXXXXXXX"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"uuid": None}, "uuid"),
        ({"uuid": ""}, "uuid"),
        ({"status": None}, "status"),
        ({"status": ["paid"]}, "status"),
        ({"amount": None}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": 100.0}, "amount"),  # a float has already lost digits
        ({"amount_paid": True}, "amount_paid"),
        ({"fiat_currency": {"code": "EUR"}}, "fiat_currency"),
        ({"created": "yesterday"}, "created"),
        ({"expiry_date": 20230102}, "expiry_date"),
        ({"test_mode": "false"}, "test_mode"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError) as caught:
        cryptocloud.translate(ACCOUNT, {**fixture_record(), **change})
    assert caught.value.field == field
    if field != "uuid":
        assert caught.value.record_id == "INV-XXXXXXXX"


def test_a_record_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(RecordError) as caught:
        cryptocloud.translate(ACCOUNT, ["INV-XXXXXXXX"])
    assert caught.value.field == "<record>"


@settings(max_examples=120)
@given(json_values)
def test_any_json_value_is_a_record_error_at_worst(value: object) -> None:
    with contextlib.suppress(RecordError):
        cryptocloud.translate(ACCOUNT, value)


@settings(max_examples=120)
@given(mutations(fixture_record()))
def test_a_broken_record_is_a_record_error_at_worst(record: dict[str, Any]) -> None:
    try:
        invoice = cryptocloud.translate(ACCOUNT, record)
    except RecordError:
        return
    invoice.canonical()  # what is accepted can also be rendered
    assert invoice.raw == record


@given(decimal_texts, st.booleans())
def test_amounts_round_trip_exactly(text: str, as_string: bool) -> None:
    value = json.dumps(text) if as_string else text
    body = (
        f'{{"status":"success","result":[{{"uuid":"INV-A","status":"paid","amount":{value},"amount_paid":{value}}}]}}'
    )
    [record] = cryptocloud.make_pager(ACCOUNT, TODAY, None).feed(answer(body.encode()))
    canonical = cryptocloud.translate(ACCOUNT, record).canonical()
    assert canonical["amount"] == canonical["amount_paid"] == rendered(text)
    assert Decimal(canonical["amount"]) == Decimal(text)


# --- paging --------------------------------------------------------------------------------------


def model_page(records: list[Any], offset: int, limit: int, mode: str, cap: int) -> list[Any]:
    """What a server answers: `limit` as the index of the last record ("index", the docs) or as a
    count ("count", the client libraries), at most `cap` records either way."""
    end = min(limit, offset + cap) if mode == "index" else offset + min(limit, cap)
    return records[offset:end]


Respond = Callable[[HttpRequest], HttpResponse]


def model_server(records: list[Any], mode: str, cap: int) -> Respond:
    """`mode` "strict" is the count reading on a server that refuses a limit over 100 outright."""

    def respond(request: HttpRequest) -> HttpResponse:
        asked = sent(request)
        if mode == "strict" and asked["limit"] > 100:
            return answer({"status": "error", "result": {"limit": "Ensure this value is <= 100."}}, 400)
        chosen = model_page(records, asked["offset"], asked["limit"], "index" if mode == "index" else "count", cap)
        return page(chosen, len(records))

    return respond


def drain(pager: Pager, respond: Respond, budget: int = 5_000) -> tuple[list[object], int]:
    """Every record the pager hands out, and how many requests that took."""
    found: list[object] = []
    for requests in range(budget):
        request = pager.next_request()
        if request is None:
            return found, requests
        found.extend(pager.feed(respond(request)))
    raise AssertionError("the pager did not stop")


def invoices(count: int, prefix: str = "A") -> list[dict[str, Any]]:
    return [{"uuid": f"INV-{prefix}{n:07d}", "status": "created", "amount": n} for n in range(count)]


def uuids(records: Sequence[object]) -> list[str]:
    return [record["uuid"] for record in records if isinstance(record, dict)]


@settings(max_examples=80, deadline=None)
@given(
    total=st.integers(0, 1000),
    cap=st.integers(1, 150),
    mode=st.sampled_from(["index", "count", "strict"]),
)
def test_every_invoice_once_under_either_reading(total: int, cap: int, mode: str) -> None:
    records = invoices(total)
    found, requests = drain(cryptocloud.make_pager(ACCOUNT, TODAY, None), model_server(records, mode, cap))
    assert uuids(parsed(found)) == uuids(records)
    per_page = min(cap, 100)
    pages = max(1, -(-total // per_page))
    refusals = 1 if mode == "strict" and total > per_page else 0
    assert requests <= pages + refusals  # no request wasted: all_count ends the listing, not an empty page


def test_a_full_last_page_ends_the_listing() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    pager.feed(page(invoices(100), 100))
    assert pager.next_request() is None


@settings(max_examples=60, deadline=None)
@given(total=st.integers(0, 1000), mode=st.sampled_from(["index", "count"]))
def test_every_invoice_once_from_the_sandbox_server(total: int, mode: str) -> None:
    # The sandbox reads the docs independently (it shares no code with contracts): agreeing with it
    # under both readings of `limit` is a check on both.
    from sandbox.cryptocloud import select_page

    records = invoices(total)

    def respond(request: HttpRequest) -> HttpResponse:
        asked = sent(request)
        return page(select_page(records, asked["offset"], asked["limit"], mode), len(records))

    found, requests = drain(cryptocloud.make_pager(ACCOUNT, TODAY, None), respond)
    assert uuids(parsed(found)) == uuids(records)
    assert requests == max(1, -(-total // 100))


@settings(max_examples=100, deadline=None)
@given(
    total=st.integers(0, 400),
    inserts=st.lists(st.integers(0, 19), max_size=30),  # fewer than a page between two pages
    cap=st.integers(20, 150),
    mode=st.sampled_from(["index", "count"]),
)
def test_a_listing_that_shifts_while_paging_yields_no_duplicates(
    total: int, inserts: list[int], cap: int, mode: str
) -> None:
    listing = invoices(total)  # newest first: new invoices push everything back
    fresh = iter(range(10**6))
    plan = iter(inserts)
    server = model_server(listing, mode, cap)

    def respond(request: HttpRequest) -> HttpResponse:
        response = server(request)
        for _ in range(next(plan, 0)):
            listing.insert(0, {"uuid": f"INV-N{next(fresh):07d}", "status": "created", "amount": 1})
        return response

    found, _ = drain(cryptocloud.make_pager(ACCOUNT, TODAY, None), respond)
    seen = uuids(parsed(found))
    assert len(seen) == len(set(seen))
    assert {f"INV-A{n:07d}" for n in range(total)} <= set(seen)


def test_a_server_that_ignores_offset_ends_the_listing() -> None:
    records = invoices(250)
    found, requests = drain(
        cryptocloud.make_pager(ACCOUNT, TODAY, None), lambda request: page(records[:100], len(records))
    )
    assert uuids(parsed(found)) == uuids(records[:100])
    assert requests == 2


def test_without_all_count_an_empty_page_ends_the_listing() -> None:
    records = invoices(150)

    def respond(request: HttpRequest) -> HttpResponse:
        asked = sent(request)
        return page(records[asked["offset"] : asked["limit"]], None)

    found, requests = drain(cryptocloud.make_pager(ACCOUNT, TODAY, None), respond)
    assert uuids(parsed(found)) == uuids(records)
    assert requests == 3


def test_repeats_within_a_page_are_dropped() -> None:
    record = fixture_record()
    assert parsed(cryptocloud.make_pager(ACCOUNT, TODAY, None).feed(page([record, record, dict(record)], 3))) == [
        record
    ]


def test_records_without_a_uuid_pass_through_but_never_keep_paging() -> None:
    broken = [{"status": "paid"}, {"uuid": ""}, "junk"]
    found, requests = drain(cryptocloud.make_pager(ACCOUNT, TODAY, None), lambda request: page(broken, 10**6))
    assert parsed(found) == broken
    assert requests == 1


def test_a_server_inventing_invoices_forever_is_given_up_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cryptocloud, "MAX_PAGES", 5)
    fresh = iter(range(10**6))
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    with pytest.raises(ProviderTransient, match="did not end"):
        drain(pager, lambda request: page(invoices(1, prefix=f"{next(fresh):03d}"), None))


def test_a_refused_long_limit_is_retried_once_as_a_page_size() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    pager.feed(page(invoices(100), 300))
    refusal = answer({"status": "error", "result": {"limit": "too large"}}, 400)
    assert pager.feed(refusal) == []
    retry = pager.next_request()
    assert retry is not None
    assert sent(retry) == {"start": "15.11.2026", "end": "22.11.2026", "offset": 100, "limit": 100}
    with pytest.raises(ProviderRejected):
        pager.feed(refusal)


def test_a_refusal_of_the_first_page_is_not_retried() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    with pytest.raises(ProviderRejected):
        pager.feed(answer({"status": "error", "result": {"start": "bad date"}}, 400))


def test_an_auth_failure_mid_listing_is_not_taken_for_a_limit_refusal() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    pager.feed(page(invoices(100), 300))
    with pytest.raises(ProviderAuthFailed):
        pager.feed(answer({"status": "error", "result": {"authorization": "Unauthorized request."}}, 401))


# --- answer classification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer({"detail": "no"}, 401), ProviderAuthFailed),
        (answer(b"", 403), ProviderAuthFailed),
        (answer(b"not found", 404), ProviderNotFound),
        (answer(b"<html>oops</html>", 500), ProviderTransient),
        (answer(b"", 502), ProviderTransient),
        (answer({"status": "error", "result": {"end": "before start"}}, 400), ProviderRejected),
        (answer({"status": "error", "result": {"authorization": "Unauthorized request."}}), ProviderAuthFailed),
        (answer({"status": "error", "result": {"end": "Must be later than start"}}), ProviderRejected),
        (answer({"status": "error", "result": "something"}), ProviderRejected),
        (answer(b'{"status": "success", "result": [{"uuid": "INV-1"'), ProviderTransient),
        (answer(b""), ProviderTransient),
        (answer([]), ProviderTransient),
        (answer({"status": "success"}), ProviderTransient),
        (answer({"status": "success", "result": {}}), ProviderTransient),
        (answer({"status": "pending", "result": []}), ProviderTransient),
        (answer({"status": "success", "result": [], "all_count": "100"}), ProviderTransient),
        (answer({"status": "success", "result": [], "all_count": -1}), ProviderTransient),
    ],
)
def test_answers_are_classified(response: HttpResponse, error: type[ProviderError]) -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    before = pager.next_request()
    with pytest.raises(error) as caught:
        pager.feed(response)
    assert type(caught.value) is error
    assert API_KEY not in str(caught.value)
    assert pager.next_request() == before  # nothing consumed: the same page can be asked for again


def test_rate_limit_keeps_retry_after() -> None:
    pager = cryptocloud.make_pager(ACCOUNT, TODAY, None)
    with pytest.raises(ProviderTransient) as caught:
        pager.feed(answer({"detail": "slow down"}, 429, {"retry-after": "30"}))
    assert caught.value.retry_after == "30"
    assert caught.value.delay(NOW) == 30.0


# --- the postback --------------------------------------------------------------------------------


def token(claims: dict[str, Any] | None = None, key: str = SECRET_KEY, algorithm: str = "HS256") -> str:
    payload = {"id": "8F3K2L1Q", "exp": int((NOW + timedelta(minutes=5)).timestamp())}
    return jwt.encode({**payload, **(claims or {})}, key, algorithm=algorithm)


def json_postback(fields: dict[str, Any], account: Account = ACCOUNT) -> Any:
    request = CallbackRequest({"content-type": "application/json"}, {}, dumps(fields))
    return cryptocloud.verify_callback(account, request, NOW)


def form_postback(body: bytes | str, content_type: str | None = "application/x-www-form-urlencoded") -> Any:
    headers = {} if content_type is None else {"content-type": content_type}
    raw = body.encode() if isinstance(body, str) else body
    return cryptocloud.verify_callback(ACCOUNT, CallbackRequest(headers, {}, raw), NOW)


def fields(**extra: Any) -> dict[str, Any]:
    return {"status": "success", "invoice_id": "ABCD1234", "amount_crypto": 1, "currency": "USDT_TRC20", **extra}


def test_json_postback_names_the_invoice_in_relay_form() -> None:
    hint = json_postback(fields(token=token()))
    assert hint.invoice_ids == ("INV-ABCD1234",)
    assert hint.delivery_id is None


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded; charset=utf-8", None])
def test_form_postback(content_type: str | None) -> None:
    body = urlencode({**fields(), "token": token(), "invoice_info": '{"uuid": "INV-ABCD1234"}'})
    assert form_postback(body, content_type).invoice_ids == ("INV-ABCD1234",)


def test_json_postback_without_content_type() -> None:
    assert form_postback(json.dumps(fields(token=token())), None).invoice_ids == ("INV-ABCD1234",)


@pytest.mark.parametrize(
    ("invoice_id", "claim", "hint"),
    [
        ("INV-ABCD1234", "X", "INV-ABCD1234"),
        (None, "8F3K2L1Q", "INV-8F3K2L1Q"),
        (None, "INV-8F3K2L1Q", "INV-8F3K2L1Q"),
        ("../../admin", "8F3K2L1Q", "INV-8F3K2L1Q"),
        ("", 12345678, "INV-12345678"),
        (None, None, None),
        ("INV-", {"nested": 1}, None),
    ],
)
def test_hint_falls_back_to_the_token_id(invoice_id: str | None, claim: object, hint: str | None) -> None:
    body = fields(token=token({"id": claim}))
    body["invoice_id"] = invoice_id
    assert json_postback(body).invoice_ids == (() if hint is None else (hint,))


def _header(alg: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"alg": alg, "typ": "JWT"}).encode()).rstrip(b"=").decode()


def _confused_token(alg: str) -> str:
    """A token whose header claims `alg` but which is HMAC-signed with the secret key (key confusion)."""
    claims = token().split(".")[1]
    signing_input = f"{_header(alg)}.{claims}"
    mac = hmac.new(SECRET_KEY.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(token({"exp": int((NOW - timedelta(minutes=5)).timestamp())}), id="expired"),
        pytest.param(token(key="another-secret-key-" + "z" * 50), id="wrong-key"),
        pytest.param(token(key=API_KEY + "-padding-to-be-long-enough"), id="api-key-instead-of-secret"),
        pytest.param(jwt.encode({"id": "8F3K2L1Q", "exp": 2**40}, None, algorithm="none"), id="alg-none"),
        pytest.param(_confused_token("RS256"), id="rs256-header"),
        pytest.param(token(algorithm="HS512"), id="hs512"),
        pytest.param(token({"exp": None}), id="no-exp"),
        pytest.param(token() + "x", id="tampered"),
        pytest.param("", id="empty"),
        pytest.param(12345, id="not-text"),
    ],
)
def test_bad_tokens_are_unauthorized(bad: object) -> None:
    with pytest.raises(CallbackUnauthorized) as caught:
        json_postback(fields(token=bad))
    assert caught.value.http_status == 401


def test_missing_token_is_unauthorized() -> None:
    with pytest.raises(CallbackUnauthorized) as caught:
        json_postback(fields())
    assert caught.value.http_status == 401


def test_without_a_secret_key_nothing_is_accepted() -> None:
    account = Account(name="shop", provider="cryptocloud", base_url="https://x", api_key=Secret(API_KEY))
    with pytest.raises(CallbackUnauthorized) as caught:
        json_postback(fields(token=token()), account)
    assert caught.value.http_status == 401


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"token": "abc"'),
        ("application/json", b'["token"]'),
        ("application/json", b"token=abc"),
        ("application/x-www-form-urlencoded", b'{"token": "abc"}'),
        ("application/x-www-form-urlencoded", b"token=a&token=b"),
        ("application/x-www-form-urlencoded", b"\xff\xfe=1"),
        (None, b"[1, 2]"),
    ],
)
def test_unreadable_bodies_are_malformed(content_type: str | None, body: bytes) -> None:
    with pytest.raises(CallbackMalformed) as caught:
        form_postback(body, content_type)
    assert caught.value.http_status == 400


def test_the_signed_token_is_checked_with_now_handed_in() -> None:
    body = fields(token=token())
    request = CallbackRequest({"content-type": "application/json"}, {}, json.dumps(body).encode())
    cryptocloud.verify_callback(ACCOUNT, request, NOW)
    with pytest.raises(CallbackError):
        cryptocloud.verify_callback(ACCOUNT, request, NOW + timedelta(hours=1))


def test_provider_value() -> None:
    assert cryptocloud.PROVIDER.name == "cryptocloud"
    assert cryptocloud.PROVIDER.translate is cryptocloud.translate
    assert cryptocloud.PROVIDER.verify_callback is cryptocloud.verify_callback
    assert isinstance(cryptocloud.PROVIDER.make_pager(ACCOUNT, TODAY, None), cryptocloud.ListPager)
