from __future__ import annotations

import contextlib
import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from contracts import simplepay
from contracts.accounts import Account, Secret
from contracts.errors import (
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
from contracts.paging import SinglePage
from contracts.standard_webhooks import new_secret
from contracts.wire import CallbackHint, CallbackRequest, HttpResponse
from tests.contracts.support import answer, decimal_texts, fixture_bytes, fixture_json, json_values, mutations, rendered

API_KEY = "sp-api-key-0123456789"
WEBHOOK_SECRET = new_secret()
ACCOUNT = Account(
    name="store",
    provider="simplepay",
    base_url="https://sp.example",
    api_key=Secret(API_KEY),
    webhook_secret=Secret(WEBHOOK_SECRET),
)
TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
INVOICE_ID = "0b7d3c1e-5f2a-4e8b-9c61-2d4a7f0e9b13"


def fixture(name: str) -> list[Any]:
    records: list[Any] = fixture_json(f"simplepay/{name}")
    return records


def realistic(index: int) -> dict[str, Any]:
    record: dict[str, Any] = fixture("invoices-realistic.json")[index]
    return record


# --- the list ------------------------------------------------------------------------------------


def test_list_request() -> None:
    pager = simplepay.make_pager(ACCOUNT, TODAY, None)
    request = pager.next_request()
    assert request is not None
    assert (request.method, request.url, request.body) == ("GET", "https://sp.example/invoice?v=2", None)
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert API_KEY not in request.log_url


def test_list_request_names_the_app() -> None:
    account = Account(
        name="store", provider="simplepay", base_url="https://sp.example", api_key=Secret("k"), app_id="a&b c"
    )
    request = simplepay.make_pager(account, TODAY, None).next_request()
    assert request is not None
    assert request.url == "https://sp.example/invoice?v=2&app_id=a%26b+c"


def test_list_needs_an_api_key() -> None:
    with pytest.raises(ValueError, match="api_key"):
        simplepay.make_pager(Account(name="store", provider="simplepay", base_url="https://x"), TODAY, None)


def test_the_list_is_one_page() -> None:
    pager = simplepay.make_pager(ACCOUNT, TODAY, None)
    assert isinstance(pager, SinglePage)
    records = pager.feed(answer(fixture_bytes("simplepay/invoices-realistic.json")))
    assert len(records) == 6
    assert pager.next_request() is None


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer(b"", 401), ProviderAuthFailed),
        (answer({"message": "forbidden"}, 403), ProviderAuthFailed),
        (answer(b"", 404), ProviderNotFound),
        (answer({"status": "must be one of active, success"}, 400), ProviderRejected),
        (answer(b"Internal Server Error", 500), ProviderTransient),
        (answer(b"", 503), ProviderTransient),
        (answer(b'[{"id": "0b7d3c1e", "total": "1'), ProviderTransient),
        (answer(b""), ProviderTransient),
        (answer({"data": []}), ProviderTransient),
        (answer(b'"[]"'), ProviderTransient),
        (answer(b"null"), ProviderTransient),
    ],
)
def test_answers_are_classified(response: HttpResponse, error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        simplepay.make_pager(ACCOUNT, TODAY, None).feed(response)
    assert type(caught.value) is error
    assert API_KEY not in str(caught.value)


def test_rate_limit_keeps_retry_after() -> None:
    with pytest.raises(ProviderTransient) as caught:
        simplepay.make_pager(ACCOUNT, TODAY, None).feed(answer(b"", 429, {"retry-after": "120"}))
    assert caught.value.retry_after == "120"
    assert caught.value.delay(NOW) == 120.0


# --- records -------------------------------------------------------------------------------------


def test_documented_example_is_refused_for_its_placeholder_total() -> None:
    # The docs' example is verbatim (fixtures/simplepay/README.md): "total": "text" is a type placeholder.
    [record] = simplepay.make_pager(ACCOUNT, TODAY, None).feed(answer(fixture_bytes("simplepay/invoices.json")))
    with pytest.raises(RecordError) as caught:
        simplepay.translate(ACCOUNT, record)
    assert caught.value.field == "total"
    assert caught.value.record_id == "123e4567-e89b-12d3-a456-426614174000"


def test_currency_symbol_is_passed_on_as_sent_but_trimmed() -> None:
    record = {**realistic(0), "currency": {"symbol": " usdt ", "code": 1}}
    assert simplepay.translate(ACCOUNT, record).currency == "usdt"


def test_documented_example_with_real_amounts_translates() -> None:
    [record] = fixture("invoices.json")
    record = {**record, "total": "100.5", "paid": "0"}
    invoice = simplepay.translate(ACCOUNT, record)
    assert invoice.canonical() == {
        "key": "store:123e4567-e89b-12d3-a456-426614174000",
        "account": "store",
        "provider": "simplepay",
        "invoice_id": "123e4567-e89b-12d3-a456-426614174000",
        "status": "pending",
        "provider_status": "active",
        "amount": "100.50",
        "amount_paid": "0.00",
        "currency": "text",
        "order_id": None,
        "customer_id": "123e4567-e89b-12d3-a456-426614174000",
        "description": None,
        "created_at": "2025-05-29T02:27:04.723000Z",
        "due_at": None,
        "test_mode": None,
    }
    assert invoice.raw == record


def _expected(index: int, **fields: Any) -> dict[str, Any]:
    record = realistic(index)
    return {
        "key": f"store:{record['id']}",
        "account": "store",
        "provider": "simplepay",
        "invoice_id": record["id"],
        "provider_status": record["status"],
        "currency": record["currency"]["symbol"],
        "order_id": None,
        "customer_id": record["client_id"],
        "description": None,
        "due_at": None,
        "test_mode": None,
        **fields,
    }


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (0, _expected(0, status="pending", amount="150.00", amount_paid="0.00", created_at="2024-07-31T00:48:53Z")),
        (
            1,
            _expected(
                1,
                status="partially_paid",
                amount="150.00",
                amount_paid="49.999999",
                created_at="2024-07-31T01:02:03.123456Z",
            ),
        ),
        (2, _expected(2, status="paid", amount="0.015", amount_paid="0.015", created_at="2024-08-01T10:00:00Z")),
        (3, _expected(3, status="overpaid", amount="25.00", amount_paid="25.50", created_at="2024-08-02T12:00:00Z")),
        (4, _expected(4, status="expired", amount="10.00", amount_paid="0.00", created_at="2024-08-03T08:00:00Z")),
        (5, _expected(5, status="canceled", amount="10.00", amount_paid="0.00", created_at="2024-08-05T08:00:00Z")),
    ],
)
def test_realistic_records_translate(index: int, expected: dict[str, Any]) -> None:
    invoice = simplepay.translate(ACCOUNT, realistic(index))
    assert invoice.canonical() == expected
    assert invoice.raw == realistic(index)


@pytest.mark.parametrize(
    ("provider_status", "total", "paid", "status"),
    [
        ("active", "10", "0", Status.PENDING),
        ("active", "10", None, Status.PENDING),
        ("active", "10", "0.01", Status.PARTIALLY_PAID),
        ("ACTIVE", "10", "9.99", Status.PARTIALLY_PAID),
        ("active", "10", "10.00", Status.PENDING),  # fully paid, not yet flipped: the status word rules
        ("active", "10", "11", Status.PENDING),
        ("success", "10", "10", Status.PAID),
        ("success", "10", None, Status.PAID),
        ("success", "10", "9", Status.PAID),
        ("Success", "10", "10.000001", Status.OVERPAID),
        ("canceled", "10", "5", Status.CANCELED),
        ("closed", "10", "0", Status.EXPIRED),
        ("closed", "10", "11", Status.EXPIRED),
        ("refunded", "10", "10", Status.UNKNOWN),
    ],
)
def test_status_table(provider_status: str, total: str, paid: str | None, status: Status) -> None:
    record = {**realistic(0), "status": provider_status, "total": total, "paid": paid}
    invoice = simplepay.translate(ACCOUNT, record)
    assert invoice.status is status
    assert invoice.provider_status == provider_status


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"id": None}, "id"),
        ({"status": None}, "status"),
        ({"total": None}, "total"),
        ({"total": "ten"}, "total"),
        ({"paid": "text"}, "paid"),
        ({"paid": {"amount": "1"}}, "paid"),
        ({"currency": None}, "currency.symbol"),
        ({"currency": "USDT"}, "currency"),
        ({"currency": {"code": 1}}, "currency.symbol"),
        ({"currency": {"symbol": 1}}, "currency.symbol"),
        ({"currency": {"symbol": "  "}}, "currency.symbol"),
        ({"client_id": ["x"]}, "client_id"),
        ({"created_at": "last week"}, "created_at"),
    ],
)
def test_bad_fields_are_named(change: dict[str, Any], field: str) -> None:
    with pytest.raises(RecordError) as caught:
        simplepay.translate(ACCOUNT, {**realistic(0), **change})
    assert caught.value.field == field


@settings(max_examples=120)
@given(json_values)
def test_any_json_value_is_a_record_error_at_worst(value: object) -> None:
    with contextlib.suppress(RecordError):
        simplepay.translate(ACCOUNT, value)


@settings(max_examples=120)
@given(st.integers(0, 5).flatmap(lambda index: mutations(realistic(index))))
def test_a_broken_record_is_a_record_error_at_worst(record: dict[str, Any]) -> None:
    try:
        invoice = simplepay.translate(ACCOUNT, record)
    except RecordError:
        return
    invoice.canonical()
    assert invoice.raw == record


@settings(max_examples=100)
@given(mutations(realistic(1)["currency"]))
def test_a_broken_currency_is_a_record_error_at_worst(currency: dict[str, Any]) -> None:
    try:
        simplepay.translate(ACCOUNT, {**realistic(1), "currency": currency})
    except RecordError as exc:
        field = exc.field
    else:
        return
    assert field.startswith("currency")


@given(decimal_texts, decimal_texts)
def test_amounts_round_trip_exactly(total: str, paid: str) -> None:
    body = dumps([{**realistic(0), "total": total, "paid": paid}])
    [record] = simplepay.make_pager(ACCOUNT, TODAY, None).feed(answer(body))
    canonical = simplepay.translate(ACCOUNT, record).canonical()
    assert (canonical["amount"], canonical["amount_paid"]) == (rendered(total), rendered(paid))
    assert Decimal(canonical["amount"]) == Decimal(total)


# --- callbacks -----------------------------------------------------------------------------------


def message(event_type: object = "invoice.success", data: Any = None, **extra: Any) -> bytes:
    body = {"id": "evt-1", "type": event_type, "data": {"id": INVOICE_ID} if data is None else data, **extra}
    return dumps(body)


def standard_headers(
    body: bytes, *, secret: str = WEBHOOK_SECRET, at: datetime = NOW, msg_id: str = "msg_1"
) -> dict[str, str]:
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}


def x_signature(body: bytes, key: str = API_KEY) -> dict[str, str]:
    return {"x-version": "2", "x-signature": hmac.new(key.encode(), body, hashlib.sha256).hexdigest()}


def callback(headers: dict[str, str], body: bytes, account: Account = ACCOUNT) -> CallbackHint:
    return simplepay.verify_callback(account, CallbackRequest(headers, {}, body), NOW)


def refused(headers: dict[str, str], body: bytes, account: Account = ACCOUNT) -> CallbackUnauthorized:
    with pytest.raises(CallbackUnauthorized) as caught:
        callback(headers, body, account)
    assert caught.value.http_status == 401
    return caught.value


def test_standard_webhooks_callback() -> None:
    body = message()
    assert callback(standard_headers(body), body) == CallbackHint(invoice_ids=(INVOICE_ID,), delivery_id="msg_1")


@pytest.mark.parametrize("skew", [-299, 299])
def test_standard_webhooks_tolerates_five_minutes(skew: int) -> None:
    body = message()
    assert callback(standard_headers(body, at=NOW + timedelta(seconds=skew)), body).invoice_ids == (INVOICE_ID,)


@pytest.mark.parametrize("skew", [-301, 301, -86400])
def test_standard_webhooks_refuses_stale_or_future_timestamps(skew: int) -> None:
    body = message()
    refused(standard_headers(body, at=NOW + timedelta(seconds=skew)), body)


def test_standard_webhooks_wrong_secret() -> None:
    body = message()
    refused(standard_headers(body, secret=new_secret()), body)


def test_standard_webhooks_tampered_body() -> None:
    body = message()
    refused(standard_headers(body), message(data={"id": "another-invoice"}))


def test_standard_webhooks_missing_one_header() -> None:
    body = message()
    headers = standard_headers(body)
    del headers["webhook-signature"]
    refused(headers, body)


def test_standard_webhooks_without_webhook_secret() -> None:
    account = Account(name="store", provider="simplepay", base_url="https://x", api_key=Secret(API_KEY))
    body = message()
    refused(standard_headers(body), body, account)


def test_x_signature_callback() -> None:
    body = message()
    assert callback(x_signature(body), body) == CallbackHint(invoice_ids=(INVOICE_ID,), delivery_id="evt-1")


def test_x_signature_in_capitals_is_the_same_signature() -> None:
    body = message()
    headers = x_signature(body)
    headers["x-signature"] = headers["x-signature"].upper()
    assert callback(headers, body).invoice_ids == (INVOICE_ID,)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(x_signature(message(), key="another-key"), id="wrong-key"),
        pytest.param(x_signature(message(), key=WEBHOOK_SECRET), id="webhook-secret-as-key"),
        pytest.param(x_signature(message(data={"id": "another-invoice"})), id="tampered"),
        pytest.param({"x-signature": ""}, id="empty"),
        pytest.param({"x-signature": "v1,abc"}, id="garbage"),
        pytest.param({}, id="no-signature-headers"),
        pytest.param({"authorization": f"Bearer {API_KEY}"}, id="bearer-is-not-a-signature"),
    ],
)
def test_x_signature_refusals(headers: dict[str, str]) -> None:
    refused(headers, message())


def test_x_signature_without_api_key() -> None:
    account = Account(name="store", provider="simplepay", base_url="https://x", webhook_secret=Secret(WEBHOOK_SECRET))
    body = message()
    refused(x_signature(body), body, account)


def test_either_scheme_verifying_is_enough_when_both_arrive() -> None:
    body = message()
    bad_standard = standard_headers(body, secret=new_secret())
    assert callback({**bad_standard, **x_signature(body)}, body).invoice_ids == (INVOICE_ID,)
    assert callback({**standard_headers(body), **x_signature(body, key="wrong")}, body).delivery_id == "msg_1"
    refused({**bad_standard, **x_signature(body, key="wrong")}, body)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    body = b"not json at all"
    refused(x_signature(b"something else"), body)
    assert callback(standard_headers(body), body) == CallbackHint(delivery_id="msg_1")
    assert callback(x_signature(body), body) == CallbackHint()


@pytest.mark.parametrize(
    ("body", "invoice_id", "delivery_id"),
    [
        (message("invoice.created"), INVOICE_ID, "evt-1"),
        (message("Invoice.Canceled"), INVOICE_ID, "evt-1"),
        (message("transaction.created", {"id": "tx-1", "invoice_id": INVOICE_ID}), INVOICE_ID, "evt-1"),
        (message("transaction.created", {"id": "tx-1"}), None, "evt-1"),
        (message("app.updated"), None, "evt-1"),
        (message("invoice.success", {"id": 42}), None, "evt-1"),
        (message("invoice.success", {"id": "../../admin"}), None, "evt-1"),
        (message("invoice.success", [INVOICE_ID]), None, "evt-1"),
        (message(7), None, "evt-1"),
        (dumps({"type": "invoice.success", "data": {"id": INVOICE_ID}}), INVOICE_ID, None),
        (message(id={"nested": "id"}), INVOICE_ID, None),
        (dumps([INVOICE_ID]), None, None),
    ],
)
def test_hints(body: bytes, invoice_id: str | None, delivery_id: str | None) -> None:
    assert callback(x_signature(body), body) == CallbackHint(
        invoice_ids=() if invoice_id is None else (invoice_id,), delivery_id=delivery_id
    )


def test_standard_webhooks_id_wins_over_the_body_id() -> None:
    body = message()
    assert callback(standard_headers(body, msg_id="msg_2"), body).delivery_id == "msg_2"


def test_provider_value() -> None:
    assert simplepay.PROVIDER.name == "simplepay"
    assert simplepay.PROVIDER.translate is simplepay.translate
    assert simplepay.PROVIDER.verify_callback is simplepay.verify_callback
    assert simplepay.PROVIDER.make_pager is simplepay.make_pager
