"""SMSOnline: the documented payment history translated, the list request and its answers, nudges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import smsonline
from contracts.account_file import parse_account
from contracts.accounts import Account
from contracts.errors import (
    CallbackUnauthorized,
    ProviderAuthFailed,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderTransient,
    RecordError,
)
from contracts.model import Status
from contracts.money import format_amount
from contracts.wire import CallbackHint, HttpResponse
from tests.contracts.support import (
    NUDGE_CASES,
    NUDGE_TOKEN,
    answer,
    callback,
    fixture_bytes,
    fixture_json,
    json_values,
    mutations,
    one_page,
    parsed,
    translated_or_record_error,
)

API_KEY = "sk_live_4f9Qx&z=1/2"
TODAY = date(2025, 5, 16)
NOW = datetime(2025, 5, 16, 12, 0, tzinfo=UTC)
#: The documented example: `smsonline-payments.json` is the documented 200 body with its trailing comma
#: removed (the documented JSON is invalid as printed); see fixtures/README.md.
SEED = "smsonline-payments.json"


def account(**overrides: Any) -> Account:
    table = {"provider": "smsonline", "user_id": "u-1001", "api_key": API_KEY, "callback_token": NUDGE_TOKEN}
    return parse_account("shop", {**table, **overrides})


def documented_record() -> dict[str, Any]:
    record = fixture_json(SEED)["body"][0]
    assert isinstance(record, dict)
    return record


def records_of(response: HttpResponse, of: Account | None = None) -> list[object]:
    return one_page(smsonline.make_pager(of or account(), TODAY, None), response)[1]


# --- the documented example ------------------------------------------------------------------------------


def test_documented_example_translates_to_the_documented_invoice() -> None:
    records = records_of(answer(fixture_bytes(SEED)))
    assert len(records) == 1
    invoice = smsonline.translate(account(), records[0])
    assert invoice.canonical() == {
        "key": "shop:sessionId",
        "account": "shop",
        "provider": "smsonline",
        "invoice_id": "sessionId",
        "status": "canceled",
        "provider_status": "cancel",
        "amount": "5.00",
        "amount_paid": None,
        "currency": "USD",
        "order_id": None,
        "customer_id": "userId",
        "description": None,
        "created_at": "2025-05-15T18:37:30Z",
        "due_at": "2025-05-15T19:37:30Z",
        "test_mode": None,
    }
    assert invoice.status is Status.CANCELED
    assert invoice.amount == Decimal("5.00")
    assert invoice.raw == documented_record()


@pytest.mark.parametrize(
    ("zone", "created", "due"),
    [
        ("UTC", "2025-05-15T18:37:30Z", "2025-05-15T19:37:30Z"),
        ("Europe/Moscow", "2025-05-15T15:37:30Z", "2025-05-15T16:37:30Z"),
        ("America/New_York", "2025-05-15T22:37:30Z", "2025-05-15T23:37:30Z"),
        ("Asia/Kolkata", "2025-05-15T13:07:30Z", "2025-05-15T14:07:30Z"),
    ],
)
def test_zone_less_times_are_read_in_the_account_zone(zone: str, created: str, due: str) -> None:
    canonical = smsonline.translate(account(timezone=zone), documented_record()).canonical()
    assert (canonical["created_at"], canonical["due_at"]) == (created, due)


@pytest.mark.parametrize(
    ("overrides", "amount", "currency"),
    [
        ({}, "5.00", "USD"),
        ({"amount_unit": "cents"}, "5.00", "USD"),
        ({"amount_unit": "units"}, "500.00", "USD"),
        ({"amount_unit": "units", "currency": "rub"}, "500.00", "RUB"),
        ({"currency": "EUR"}, "5.00", "EUR"),
    ],
)
def test_amount_unit_and_currency_come_from_the_account(overrides: dict[str, str], amount: str, currency: str) -> None:
    invoice = smsonline.translate(account(**overrides), documented_record())
    assert (format_amount(invoice.amount), invoice.currency) == (amount, currency)


def test_fractional_cents_keep_every_digit() -> None:
    invoice = smsonline.translate(account(), {**documented_record(), "amount": Decimal("5.5")})
    assert format_amount(invoice.amount) == "0.055"


def test_optional_fields_may_be_absent() -> None:
    record = {"sesid": "s-2", "status": "pending", "amount": 100}
    invoice = smsonline.translate(account(), record)
    assert (invoice.customer_id, invoice.created_at, invoice.due_at) == (None, None, None)
    assert invoice.status is Status.PENDING


def test_pay_id_and_method_stay_in_raw_only() -> None:
    record = {**documented_record(), "payId": "PAY-77", "method": "cryptomus", "status": "paid"}
    invoice = smsonline.translate(account(), record)
    assert (invoice.order_id, invoice.description, invoice.amount_paid) == (None, None, None)
    assert (invoice.raw["payId"], invoice.raw["method"]) == ("PAY-77", "cryptomus")


# --- statuses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("paid", Status.PAID),
        ("success", Status.PAID),
        ("paid_over", Status.OVERPAID),
        ("wrong_amount", Status.PARTIALLY_PAID),
        ("cancel", Status.CANCELED),
        ("fail", Status.FAILED),
        ("system_fail", Status.FAILED),
        ("refund_paid", Status.REFUNDED),
        ("confirm_check", Status.PENDING),
        ("check", Status.PENDING),
        ("process", Status.PENDING),
        ("pending", Status.PENDING),
        ("created", Status.PENDING),
        ("PAID", Status.PAID),
        ("Paid_Over", Status.OVERPAID),
        (" Cancel ", Status.CANCELED),
    ],
)
def test_status_table(provider_status: str, status: Status) -> None:
    invoice = smsonline.translate(account(), {**documented_record(), "status": provider_status})
    assert (invoice.status, invoice.provider_status) == (status, provider_status)


@pytest.mark.parametrize("provider_status", ["refund_process", "refund_fail", "expired", "canceled", "paid!", "7"])
def test_unknown_statuses_map_to_unknown_and_are_kept(provider_status: str) -> None:
    invoice = smsonline.translate(account(), {**documented_record(), "status": provider_status})
    assert (invoice.status, invoice.provider_status) == (Status.UNKNOWN, provider_status)


# --- bad records -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "record_id"),
    [
        ({"sesid": None}, "sesid", None),
        ({"sesid": ""}, "sesid", ""),
        ({"sesid": ["s"]}, "sesid", None),
        ({"status": None}, "status", "sessionId"),
        ({"status": {"code": 1}}, "status", "sessionId"),
        ({"amount": None}, "amount", "sessionId"),
        ({"amount": "five"}, "amount", "sessionId"),
        ({"amount": 5.0}, "amount", "sessionId"),
        ({"amount": Decimal("1E+999999999")}, "amount", "sessionId"),
        ({"created": "yesterday"}, "created", "sessionId"),
        ({"expires_at": 1747334250}, "expires_at", "sessionId"),
        ({"userId": {"id": 1}}, "userId", "sessionId"),
    ],
)
def test_bad_fields_are_record_errors_naming_field_and_record(
    changes: dict[str, object], field: str, record_id: str | None
) -> None:
    with pytest.raises(RecordError) as caught:
        smsonline.translate(account(), {**documented_record(), **changes})
    assert (caught.value.field, caught.value.record_id) == (field, record_id)


def test_a_time_before_year_one_in_utc_is_a_record_error() -> None:
    record = {**documented_record(), "created": "0001-01-01 00:00:00"}
    with pytest.raises(RecordError) as caught:
        smsonline.translate(account(timezone="Europe/Moscow"), record)
    assert caught.value.field == "created"


@pytest.mark.parametrize("record", [None, 500, "sessionId", ["sessionId"]])
def test_a_record_that_is_not_an_object_is_a_record_error(record: object) -> None:
    with pytest.raises(RecordError, match="expected an object"):
        smsonline.translate(account(), record)


@settings(deadline=None)
@given(record=json_values)
def test_arbitrary_json_raises_nothing_but_record_error(record: object) -> None:
    translated_or_record_error(smsonline.translate, account(), record)


@settings(deadline=None)
@given(record=mutations(documented_record()), zone=st.sampled_from(["UTC", "Europe/Moscow", "America/Los_Angeles"]))
def test_mutated_records_raise_nothing_but_record_error(record: dict[str, Any], zone: str) -> None:
    invoice = translated_or_record_error(smsonline.translate, account(timezone=zone), record)
    if invoice is not None:
        assert invoice.invoice_id == str(record["sesid"])
        assert invoice.provider_status == str(record["status"])
        assert invoice.raw is record


@given(cents=st.integers(min_value=-(10**40), max_value=10**40))
def test_integer_cents_come_out_exact(cents: int) -> None:
    body = b'{"ok": true, "body": [{"sesid": "s", "status": "paid", "amount": %d}]}' % cents
    records = records_of(answer(body))
    invoice = smsonline.translate(account(), records[0])
    sign = "-" if cents < 0 else ""
    assert format_amount(invoice.amount) == f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"
    as_units = smsonline.translate(account(amount_unit="units"), records[0])
    assert format_amount(as_units.amount) == f"{cents}.00"


# --- the list request ------------------------------------------------------------------------------------


def test_list_request_shape_and_masked_log_url() -> None:
    request, _ = one_page(smsonline.make_pager(account(user_id="u 1/2"), TODAY, None), answer(fixture_bytes(SEED)))
    endpoint = "https://api-x.smsonline.cloud/v3/customers/u%201%2F2/payments"
    assert request.method == "GET"
    assert request.url == f"{endpoint}?apiKey=sk_live_4f9Qx%26z%3D1%2F2"
    assert request.log_url == f"{endpoint}?apiKey=***"
    assert request.body is None
    assert request.headers == {"accept": "application/json"}


def test_log_url_never_holds_the_key_in_any_form() -> None:
    request = smsonline.list_request(account())
    quoted = quote(API_KEY, safe="")
    assert quoted in request.url
    for form in (API_KEY, quoted, "sk_live_4f9Qx"):
        assert form not in request.log_url


def test_base_url_comes_from_the_account() -> None:
    request = smsonline.list_request(account(base_url="http://127.0.0.1:8765/"))
    assert request.url.startswith("http://127.0.0.1:8765/v3/customers/u-1001/payments?apiKey=")


def test_an_account_built_without_credentials_is_refused() -> None:
    incomplete = Account(name="shop", provider="smsonline", base_url="https://api-x.smsonline.cloud", user_id="u")
    with pytest.raises(ValueError, match="api_key"):
        smsonline.make_pager(incomplete, TODAY, None)


# --- answers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (answer({"ok": False, "message": "Invalid API key"}, 401), ProviderAuthFailed, "Invalid API key"),
        (answer(b"", 403), ProviderAuthFailed, "403"),
        (answer({"ok": False, "message": "User not found"}, 404), ProviderNotFound, "User not found"),
        (answer(b"Too Many Requests", 429, {"retry-after": "30"}), ProviderTransient, "429"),
        (answer(b"<html>oops</html>", 500), ProviderTransient, "500"),
        (answer({"ok": False, "error": "apiKey is malformed"}, 400), ProviderRejected, "apiKey is malformed"),
        (answer(fixture_bytes(SEED)[:-20]), ProviderTransient, "not JSON"),
        (answer(b""), ProviderTransient, "not JSON"),
        (answer({"ok": False, "message": "Access denied"}), ProviderRejected, "Access denied"),
        (answer({"ok": False, "body": "No such user"}), ProviderRejected, "No such user"),
        (answer({"ok": False}), ProviderRejected, "refused"),
        (answer([{"sesid": "s"}]), ProviderTransient, "envelope"),
        (answer({"success": True, "data": []}), ProviderTransient, "envelope"),
        (answer({"ok": "true", "body": []}), ProviderTransient, "envelope"),
        (answer({"ok": True}), ProviderTransient, "without 'body'"),
        (answer({"ok": True, "body": {"sesid": "s"}}), ProviderTransient, "not a list"),
    ],
)
def test_answers_are_classified(response: HttpResponse, error: type[ProviderError], words: str) -> None:
    with pytest.raises(error) as caught:
        records_of(response)
    assert type(caught.value) is error
    assert words in str(caught.value)


@pytest.mark.parametrize("body", [b"", b'{"ok": false, "message": "Too many requests"}'])
def test_retry_after_is_carried(body: bytes) -> None:
    with pytest.raises(ProviderTransient) as caught:
        records_of(answer(body, 429, {"retry-after": "30"}))
    assert caught.value.retry_after == "30"
    assert caught.value.delay(NOW) == 30.0


@pytest.mark.parametrize(
    "message",
    [
        pytest.param(f"apiKey {API_KEY} is revoked", id="echoed-key"),
        pytest.param("session eyJhbGciOiJIUzI1NiJ9eyJzdWIiOiIxIn0 expired", id="token-like"),
        pytest.param("word " * 45, id="too-long"),
        pytest.param("bad\nkey", id="not-printable"),
    ],
)
@pytest.mark.parametrize("status", [200, 401])
def test_provider_messages_that_may_hold_secrets_are_left_out(message: str, status: int) -> None:
    with pytest.raises(ProviderError) as with_message:
        records_of(answer({"ok": False, "message": message}, status))
    with pytest.raises(ProviderError) as without_message:
        records_of(answer({"ok": False}, status))
    assert str(with_message.value) == str(without_message.value)


@pytest.mark.parametrize("body", [{"ok": True, "body": []}, {"ok": True, "body": None}])
def test_an_empty_history_has_no_records(body: dict[str, object]) -> None:
    assert records_of(answer(body)) == []


def test_records_are_handed_out_as_sent_for_translation_one_by_one() -> None:
    records = records_of(answer({"ok": True, "body": [7, documented_record()]}))
    assert parsed(records) == [7, documented_record()]
    with pytest.raises(RecordError):
        smsonline.translate(account(), records[0])
    assert smsonline.translate(account(), records[1]).invoice_id == "sessionId"


# --- nudges ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "query", "accepted"), NUDGE_CASES)
def test_nudges(headers: dict[str, str], query: dict[str, str], accepted: bool) -> None:
    request = callback(headers, query)
    if accepted:
        assert smsonline.PROVIDER.verify_callback(account(), request, NOW) == CallbackHint()
        return
    with pytest.raises(CallbackUnauthorized) as caught:
        smsonline.PROVIDER.verify_callback(account(), request, NOW)
    assert caught.value.http_status == 401


def test_without_a_callback_token_no_nudge_is_accepted() -> None:
    closed = parse_account("shop", {"provider": "smsonline", "user_id": "u-1001", "api_key": API_KEY})
    with pytest.raises(CallbackUnauthorized) as caught:
        smsonline.PROVIDER.verify_callback(closed, callback({"authorization": f"Bearer {NUDGE_TOKEN}"}), NOW)
    assert caught.value.http_status == 401


def test_provider_value() -> None:
    provider = smsonline.PROVIDER
    assert (provider.name, provider.translate, provider.make_pager) == (
        "smsonline",
        smsonline.translate,
        smsonline.make_pager,
    )
    assert (provider.login_request, provider.parse_login) == (None, None)
