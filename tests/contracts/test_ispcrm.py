"""ISP CRM: the documented invoices translated, login, the list request and its answers, nudges."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts import ispcrm
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
from contracts.jsonio import loads_exact
from contracts.model import Status
from contracts.money import format_amount
from contracts.wire import CallbackHint, HttpResponse
from tests.contracts.support import (
    NUDGE_CASES,
    NUDGE_TOKEN,
    answer,
    callback,
    decimal_texts,
    fixture_bytes,
    fixture_json,
    json_values,
    mutations,
    one_page,
    rendered,
    translated_or_record_error,
)

BASE_URL = "https://crm.example.net"
STATIC_TOKEN = "static-api-token-1"
SESSION_TOKEN = fixture_json("ispcrm-login.json")["token"]
TODAY = date(2023, 12, 2)
NOW = datetime(2023, 12, 2, 12, 0, tzinfo=UTC)
INVOICES = "ispcrm-invoices.json"


def account(**overrides: Any) -> Account:
    table = {
        "provider": "ispcrm",
        "base_url": BASE_URL,
        "currency": "usd",
        "token": STATIC_TOKEN,
        "callback_token": NUDGE_TOKEN,
    }
    return parse_account("isp", {**table, **overrides})


def login_account() -> Account:
    table = {"provider": "ispcrm", "base_url": BASE_URL, "currency": "EUR", "username": "alice", "password": "s3cr&t"}
    return parse_account("isp", table)


def documented_records() -> list[dict[str, Any]]:
    records = fixture_json(INVOICES)["data"]
    assert isinstance(records, list)
    return records


def records_of(response: HttpResponse, of: Account | None = None, session: str | None = None) -> list[object]:
    return one_page(ispcrm.make_pager(of or account(), TODAY, session), response)[1]


# --- the documented example ------------------------------------------------------------------------------


def expected(
    invoice_id: str, status: str, provider_status: str, amount: str, description: str, month: int
) -> dict[str, Any]:
    return {
        "key": f"isp:{invoice_id}",
        "account": "isp",
        "provider": "ispcrm",
        "invoice_id": invoice_id,
        "status": status,
        "provider_status": provider_status,
        "amount": amount,
        "amount_paid": None,
        "currency": "USD",
        "order_id": None,
        "customer_id": None,
        "description": description,
        "created_at": f"2023-{month}-01T10:00:00Z",
        "due_at": f"2023-{month}-15T10:00:00Z",
        "test_mode": None,
    }


def test_documented_example_translates_to_the_documented_invoices() -> None:
    records = records_of(answer(fixture_bytes(INVOICES)))
    invoices = [ispcrm.translate(account(), record) for record in records]
    assert [invoice.canonical() for invoice in invoices] == [
        expected("123", "paid", "Paid", "50.00", "Monthly Internet Subscription", 12),
        expected("124", "pending", "Pending", "30.00", "Monthly IPTV Subscription", 11),
    ]
    assert [invoice.amount for invoice in invoices] == [Decimal("50.00"), Decimal("30.00")]
    assert [str(invoice.amount) for invoice in invoices] == ["50.00", "30.00"]
    assert [invoice.raw for invoice in invoices] == documented_records()


def test_currency_comes_from_the_account() -> None:
    assert ispcrm.translate(account(currency="kes"), documented_records()[0]).currency == "KES"


@pytest.mark.parametrize("invoice_id", [123, "123"])
def test_integer_and_text_ids_are_the_same_invoice(invoice_id: object) -> None:
    invoice = ispcrm.translate(account(), {**documented_records()[0], "invoice_id": invoice_id})
    assert (invoice.invoice_id, invoice.key) == ("123", "isp:123")


def test_text_ids_are_kept_as_sent() -> None:
    assert ispcrm.translate(account(), {**documented_records()[0], "invoice_id": "INV-0042"}).invoice_id == "INV-0042"


@pytest.mark.parametrize(
    ("field", "value", "utc_text"),
    [
        ("date", "2023-12-01 10:00:00", "2023-12-01T10:00:00Z"),
        ("date", "2023-12-01T12:00:00+02:00", "2023-12-01T10:00:00Z"),
        ("date", "2023-12-01", "2023-12-01T00:00:00Z"),
        ("due_date", "2023-12-15T10:00:00.250Z", "2023-12-15T10:00:00.250000Z"),
    ],
)
def test_times_are_utc_zone_less_ones_read_as_utc(field: str, value: str, utc_text: str) -> None:
    canonical = ispcrm.translate(account(), {**documented_records()[0], field: value}).canonical()
    assert canonical["created_at" if field == "date" else "due_at"] == utc_text


def test_optional_fields_may_be_absent() -> None:
    invoice = ispcrm.translate(account(), {"invoice_id": 9, "amount": 10, "status": "Unpaid"})
    assert (invoice.description, invoice.created_at, invoice.due_at) == (None, None, None)
    assert (invoice.status, format_amount(invoice.amount)) == (Status.PENDING, "10.00")


# --- statuses --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("Paid", Status.PAID),
        ("PAID", Status.PAID),
        ("Pending", Status.PENDING),
        ("unpaid", Status.PENDING),
        ("Due", Status.PENDING),
        ("Overdue", Status.PENDING),
        ("Partially Paid", Status.PARTIALLY_PAID),
        ("partially  paid", Status.PARTIALLY_PAID),
        ("Partial", Status.PARTIALLY_PAID),
        ("Cancelled", Status.CANCELED),
        ("canceled", Status.CANCELED),
        ("Void", Status.CANCELED),
        ("Refunded", Status.REFUNDED),
        ("  Paid  ", Status.PAID),
    ],
)
def test_status_table(provider_status: str, status: Status) -> None:
    invoice = ispcrm.translate(account(), {**documented_records()[0], "status": provider_status})
    assert (invoice.status, invoice.provider_status) == (status, provider_status)


@pytest.mark.parametrize("provider_status", ["Draft", "Partially_Paid", "Refund", "Expired", "paid in full", "1"])
def test_unknown_statuses_map_to_unknown_and_are_kept(provider_status: str) -> None:
    invoice = ispcrm.translate(account(), {**documented_records()[0], "status": provider_status})
    assert (invoice.status, invoice.provider_status) == (Status.UNKNOWN, provider_status)


# --- bad records -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "record_id"),
    [
        ({"invoice_id": None}, "invoice_id", None),
        ({"invoice_id": Decimal("123.0")}, "invoice_id", None),
        ({"invoice_id": True}, "invoice_id", None),
        ({"status": None}, "status", "123"),
        ({"amount": None}, "amount", "123"),
        ({"amount": 50.0}, "amount", "123"),
        ({"amount": "fifty"}, "amount", "123"),
        ({"amount": Decimal("1E-999999999")}, "amount", "123"),
        ({"date": "01/12/2023"}, "date", "123"),
        ({"due_date": "9999-12-31T23:59:59-05:00"}, "due_date", "123"),
        ({"description": ["Internet"]}, "description", "123"),
    ],
)
def test_bad_fields_are_record_errors_naming_field_and_record(
    changes: dict[str, object], field: str, record_id: str | None
) -> None:
    with pytest.raises(RecordError) as caught:
        ispcrm.translate(account(), {**documented_records()[0], **changes})
    assert (caught.value.field, caught.value.record_id) == (field, record_id)


@settings(deadline=None)
@given(record=json_values)
def test_arbitrary_json_raises_nothing_but_record_error(record: object) -> None:
    translated_or_record_error(ispcrm.translate, account(), record)


@settings(deadline=None)
@given(record=st.sampled_from(documented_records()).flatmap(mutations))
def test_mutated_records_raise_nothing_but_record_error(record: dict[str, Any]) -> None:
    invoice = translated_or_record_error(ispcrm.translate, account(), record)
    if invoice is not None:
        assert invoice.invoice_id == str(record["invoice_id"])
        assert invoice.provider_status == str(record["status"])
        assert invoice.raw is record


def amount_answer(amount_text: str) -> HttpResponse:
    """One invoice whose amount is `amount_text` written as a JSON number, as the provider writes it."""
    return answer('{"success": true, "data": [{"invoice_id": 1, "status": "Paid", "amount": ' + amount_text + "}]}")


@given(text=decimal_texts)
def test_decimal_amounts_keep_every_digit(text: str) -> None:
    invoice = ispcrm.translate(account(), records_of(amount_answer(text))[0])
    assert format_amount(invoice.amount) == rendered(text)


@pytest.mark.parametrize(
    ("text", "amount_text"), [("50", "50.00"), ("50.0", "50.00"), ("0.00012", "0.00012"), ("5E+1", "50.00")]
)
def test_short_amounts_get_two_fraction_digits(text: str, amount_text: str) -> None:
    assert format_amount(ispcrm.translate(account(), records_of(amount_answer(text))[0]).amount) == amount_text


# --- login -----------------------------------------------------------------------------------------------


def test_login_request_shape() -> None:
    request = ispcrm.login_request(login_account())
    assert (request.method, request.url) == ("POST", f"{BASE_URL}/api/v1/subscriber/Login")
    assert request.headers["content-type"] == "application/json"
    assert request.body is not None
    assert loads_exact(request.body) == {"username": "alice", "password": "s3cr&t"}
    assert "s3cr&t" not in request.log_url


def test_login_needs_username_and_password() -> None:
    with pytest.raises(ValueError, match="username"):
        ispcrm.login_request(account())


def test_login_answer_gives_the_token() -> None:
    assert ispcrm.parse_login(answer(fixture_bytes("ispcrm-login.json"))) == SESSION_TOKEN
    assert SESSION_TOKEN.count(".") == 2


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (answer(fixture_bytes("ispcrm-login-refused.json"), 401), ProviderAuthFailed),
        (answer(b"", 403), ProviderAuthFailed),
        (answer(b"", 429, {"retry-after": "5"}), ProviderTransient),
        (answer(b"", 502), ProviderTransient),
        (answer({"message": "Login successful"}), ProviderTransient),
        (answer({"message": "Login successful", "token": ""}), ProviderTransient),
        (answer({"message": "Login successful", "token": 12345}), ProviderTransient),
        (answer({"token": "abc\r\nx-injected: 1"}), ProviderTransient),
        (answer({"token": "two words"}), ProviderTransient),
        (answer({"data": {"token": "nested"}}), ProviderTransient),
        (answer([SESSION_TOKEN]), ProviderTransient),
        (answer(fixture_bytes("ispcrm-login.json")[:-10]), ProviderTransient),
    ],
)
def test_login_answers_are_classified(response: HttpResponse, error: type[ProviderError]) -> None:
    with pytest.raises(error) as caught:
        ispcrm.parse_login(response)
    assert type(caught.value) is error


# --- the list request ------------------------------------------------------------------------------------


def test_list_request_shape_with_the_static_token() -> None:
    request, _ = one_page(ispcrm.make_pager(account(), TODAY, None), answer(fixture_bytes(INVOICES)))
    assert (request.method, request.url) == ("GET", f"{BASE_URL}/api/v1/subscriber/getCustomersInvoices")
    assert request.headers["authorization"] == f"Bearer {STATIC_TOKEN}"
    assert request.body is None
    assert STATIC_TOKEN not in request.log_url


def test_a_session_token_is_used_when_given() -> None:
    request = ispcrm.make_pager(login_account(), TODAY, SESSION_TOKEN).next_request()
    assert request is not None
    assert request.headers["authorization"] == f"Bearer {SESSION_TOKEN}"
    overriding = ispcrm.make_pager(account(), TODAY, SESSION_TOKEN).next_request()
    assert overriding is not None
    assert overriding.headers["authorization"] == f"Bearer {SESSION_TOKEN}"


def test_a_login_account_without_a_session_is_refused() -> None:
    with pytest.raises(ValueError, match="logs in: make_pager needs its session token"):
        ispcrm.make_pager(login_account(), TODAY, None)


# --- answers ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error", "words"),
    [
        (answer({"message": "Unauthenticated."}, 401), ProviderAuthFailed, "Unauthenticated."),
        (answer(b"", 403), ProviderAuthFailed, "403"),
        (answer(fixture_bytes("ispcrm-not-found.json"), 404), ProviderNotFound, "Subscriber not found"),
        (answer(b"slow down", 429, {"retry-after": "120"}), ProviderTransient, "429"),
        (answer({"success": False, "message": "Server Error"}, 500), ProviderTransient, "Server Error"),
        (answer({"success": False, "message": "The id must be an integer."}, 422), ProviderRejected, "integer"),
        (answer(fixture_bytes(INVOICES)[:-30]), ProviderTransient, "not JSON"),
        (answer({"success": False, "message": "Subscriber suspended"}), ProviderRejected, "Subscriber suspended"),
        (answer({"success": False}), ProviderRejected, "refused"),
        (answer(documented_records()), ProviderTransient, "envelope"),
        (answer({"ok": True, "body": []}), ProviderTransient, "envelope"),
        (answer({"success": 1, "data": []}), ProviderTransient, "envelope"),
        (answer({"success": True}), ProviderTransient, "without 'data'"),
        (answer({"success": True, "data": "none"}), ProviderTransient, "not a list"),
    ],
)
def test_answers_are_classified(response: HttpResponse, error: type[ProviderError], words: str) -> None:
    with pytest.raises(error) as caught:
        records_of(response)
    assert type(caught.value) is error
    assert words in str(caught.value)


def test_retry_after_is_carried() -> None:
    with pytest.raises(ProviderTransient) as caught:
        records_of(answer(b"", 429, {"retry-after": "120"}))
    assert caught.value.retry_after == "120"


@pytest.mark.parametrize(
    ("session", "token"),
    [
        pytest.param(None, STATIC_TOKEN, id="static"),
        # Short enough not to look like a token: only knowing it is in use keeps it out.
        pytest.param("sess-42", "sess-42", id="session"),
        pytest.param(SESSION_TOKEN, SESSION_TOKEN, id="session-jwt"),
    ],
)
def test_tokens_echoed_in_messages_are_left_out(session: str | None, token: str) -> None:
    response = answer({"success": False, "message": f"token {token} expired"}, 401)
    with pytest.raises(ProviderAuthFailed) as caught:
        records_of(response, session=session)
    assert token not in str(caught.value)
    assert "expired" not in str(caught.value)


@pytest.mark.parametrize("body", [{"success": True, "data": []}, {"success": True, "data": None}])
def test_no_invoices_means_no_records(body: dict[str, object]) -> None:
    assert records_of(answer(body)) == []


# --- nudges ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "query", "accepted"), NUDGE_CASES)
def test_nudges(headers: dict[str, str], query: dict[str, str], accepted: bool) -> None:
    request = callback(headers, query)
    if accepted:
        assert ispcrm.PROVIDER.verify_callback(account(), request, NOW) == CallbackHint()
        return
    with pytest.raises(CallbackUnauthorized) as caught:
        ispcrm.PROVIDER.verify_callback(account(), request, NOW)
    assert caught.value.http_status == 401


def test_without_a_callback_token_no_nudge_is_accepted() -> None:
    with pytest.raises(CallbackUnauthorized) as caught:
        ispcrm.PROVIDER.verify_callback(login_account(), callback({}, {"token": NUDGE_TOKEN}), NOW)
    assert caught.value.http_status == 401


def test_provider_value() -> None:
    provider = ispcrm.PROVIDER
    assert provider.name == "ispcrm"
    assert (provider.make_pager, provider.translate) == (ispcrm.make_pager, ispcrm.translate)
    assert (provider.login_request, provider.parse_login) == (ispcrm.login_request, ispcrm.parse_login)
