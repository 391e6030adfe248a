"""Provider answers: status codes to typed errors, bodies to JSON, `Retry-After`, the `{<flag>, <items>}`
envelope, and provider messages safe to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from contracts.answers import FlaggedEnvelope, json_body, raise_for_status, safe_message
from contracts.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderNotFound,
    ProviderPermanent,
    ProviderRejected,
    ProviderTransient,
)
from contracts.jsonio import dumps
from contracts.retry_after import parse_retry_after
from contracts.wire import HttpResponse
from tests.contracts.support import parsed

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def response(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None) -> HttpResponse:
    return HttpResponse(status=status, headers=headers or {}, body=body)


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_quiet(status: int) -> None:
    raise_for_status(response(status), "cryptocloud")


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, ProviderAuthFailed),
        (403, ProviderAuthFailed),
        (404, ProviderNotFound),
        (408, ProviderTransient),
        (425, ProviderTransient),
        (429, ProviderTransient),
        (500, ProviderTransient),
        (502, ProviderTransient),
        (503, ProviderTransient),
        (504, ProviderTransient),
        (599, ProviderTransient),
        (400, ProviderRejected),
        (405, ProviderRejected),
        (409, ProviderRejected),
        (410, ProviderRejected),
        (413, ProviderRejected),
        (422, ProviderRejected),
        (301, ProviderRejected),  # redirects are not followed: the request as built does not work
        (302, ProviderRejected),
        (304, ProviderRejected),
        (100, ProviderRejected),
    ],
)
def test_status_classes(status: int, error: type[ProviderError]) -> None:
    with pytest.raises(ProviderError) as caught:
        raise_for_status(response(status, b'{"secret": "body text"}'), "simplepay")
    assert type(caught.value) is error
    assert "simplepay" in str(caught.value)
    assert str(status) in str(caught.value)
    assert "body text" not in str(caught.value)


def test_permanent_and_transient_are_disjoint() -> None:
    for error in (ProviderAuthFailed, ProviderNotFound, ProviderRejected):
        assert issubclass(error, ProviderPermanent)
        assert not issubclass(error, ProviderTransient)
    assert not issubclass(ProviderTransient, ProviderPermanent)


def transient(status: int, retry_after: str | None) -> ProviderTransient:
    headers = {} if retry_after is None else {"retry-after": retry_after}
    with pytest.raises(ProviderTransient) as caught:
        raise_for_status(response(status, headers=headers), "smsonline")
    return caught.value


def test_retry_after_delta_seconds() -> None:
    error = transient(429, "120")
    assert error.retry_after == "120"
    assert error.delay(NOW) == 120.0


def test_retry_after_http_date() -> None:
    error = transient(503, format_datetime(NOW + timedelta(seconds=90), usegmt=True))
    assert error.delay(NOW) == 90.0
    assert error.delay(NOW + timedelta(seconds=30)) == 60.0


def test_retry_after_absent() -> None:
    error = transient(500, None)
    assert error.retry_after is None
    assert error.delay(NOW) is None


def test_retry_after_is_read_from_the_lower_case_header() -> None:
    with pytest.raises(ProviderTransient) as caught:
        raise_for_status(response(429, headers={"Retry-After": "5"}), "x")
    assert caught.value.delay(NOW) is None  # header names arrive lower-cased; anything else is not looked up


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("0", 0.0),
        ("5", 5.0),
        (" 30 ", 30.0),
        ("86400", 86400.0),
        ("Sun, 22 Nov 2026 10:01:00 GMT", 60.0),
        ("Sunday, 22-Nov-26 10:01:00 GMT", 60.0),  # RFC 850, obsolete but allowed
        ("Sun Nov 22 10:01:00 2026", 60.0),  # asctime
        ("Sun, 22 Nov 2026 13:01:00 +0300", 60.0),
        ("Sun, 22 Nov 2026 09:00:00 GMT", 0.0),  # in the past: no wait, never negative
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("5s", None),
        ("\u00b2", None),  # isdigit() is True for superscripts, float() refuses them
        ("\u0661\u0662", None),
        ("Sun, 32 Nov 2026 10:01:00 GMT", None),
        ("Sun, 22 Nov 99999 10:01:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_json_body_keeps_exact_numbers() -> None:
    body = json_body(response(200, b'{"result": [{"amount": 100.10, "count": 2}]}'), "cryptocloud")
    assert body == {"result": [{"amount": Decimal("100.10"), "count": 2}]}
    assert str(body["result"][0]["amount"]) == "100.10"


@pytest.mark.parametrize(
    "body",
    [
        b'{"result": [{"amount": 100.10',  # truncated mid-record
        b'{"result": [',
        b"",
        b"<html><body>502 Bad Gateway</body></html>",
        b'{"amount": NaN}',
        b"\xff\xfe",
    ],
)
def test_json_body_that_does_not_parse_is_transient(body: bytes) -> None:
    with pytest.raises(ProviderTransient) as caught:
        json_body(response(200, body), "ispcrm")
    assert "ispcrm" in str(caught.value)
    assert isinstance(caught.value.__cause__, ValueError)
    assert caught.value.delay(NOW) is None


# Provider messages safe to show.

SECRET = "sk_live_0123"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("Invalid API key", "Invalid API key"),
        ("  Subscriber not found \n", "Subscriber not found"),
        ("word " * 40, ("word " * 40).strip()),  # 199 characters once trimmed
        (None, None),
        (404, None),
        ({"message": "nested"}, None),
        ("", None),
        ("   ", None),
        ("word " * 41, None),  # 204 characters: longer than a message meant for people
        ("line one\nline two", None),
        ("bad\x00byte", None),
        ("token eyJhbGciOiJIUzI1NiJ9.e30 expired", None),  # a run of token characters: a key or a JWT
        (f"key {SECRET} refused", None),  # an account secret, however short
    ],
)
def test_safe_message(value: object, shown: str | None) -> None:
    assert safe_message(value, [SECRET]) == shown


def test_safe_message_ignores_empty_secrets() -> None:
    assert safe_message("Access denied", ["", SECRET]) == "Access denied"


# The `{<flag>, <items>}` envelope.

ENVELOPE = FlaggedEnvelope("prov", flag="ok", items="body", id_field="id", message_keys=("message", "error"))


def enveloped(document: object, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    return response(status, dumps(document), headers)


def test_envelope_records_are_the_items_as_sent() -> None:
    assert parsed(ENVELOPE.records(enveloped({"ok": True, "body": [{"id": 1}, 7]}))) == [{"id": 1}, 7]


@pytest.mark.parametrize("items", [[], None])
def test_envelope_without_items_has_no_records(items: object) -> None:
    assert ENVELOPE.records(enveloped({"ok": True, "body": items})) == []


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ([], "not its ok/body envelope"),
        ({"success": True, "body": []}, "not its ok/body envelope"),
        ({"ok": "true", "body": []}, "not its ok/body envelope"),
        ({"ok": True}, "without 'body'"),
        ({"ok": True, "body": {"id": 1}}, "'body' that is not a list"),
    ],
)
def test_envelope_shapes_that_are_not_the_envelope_are_transient(document: object, words: str) -> None:
    with pytest.raises(ProviderTransient, match=words):
        ENVELOPE.records(enveloped(document))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"ok": False}, "prov refused the request"),
        ({"ok": False, "message": "Access denied"}, "prov refused the request: Access denied"),
        ({"ok": False, "error": "No such user"}, "prov refused the request: No such user"),
        ({"ok": False, "message": "Access denied", "error": "other"}, "prov refused the request: Access denied"),
        ({"ok": False, "message": 5, "error": "No such user"}, "prov refused the request: No such user"),
        ({"ok": False, "message": f"bad key {SECRET}"}, "prov refused the request"),
    ],
)
def test_envelope_refusals_are_rejections_with_the_safe_reason(document: object, message: str) -> None:
    with pytest.raises(ProviderRejected) as caught:
        ENVELOPE.records(enveloped(document), secrets=[SECRET])
    assert str(caught.value) == message


def test_envelope_error_statuses_keep_their_class_and_gain_the_reason() -> None:
    with pytest.raises(ProviderNotFound) as caught:
        ENVELOPE.records(enveloped({"ok": False, "error": "User not found"}, 404))
    assert str(caught.value) == "prov answered 404: User not found"


def test_envelope_transient_errors_keep_retry_after_with_the_reason() -> None:
    with pytest.raises(ProviderTransient) as caught:
        ENVELOPE.records(enveloped({"message": "slow down"}, 429, {"retry-after": "30"}))
    assert str(caught.value) == "prov answered 429: slow down"
    assert caught.value.delay(NOW) == 30.0


@pytest.mark.parametrize("body", [b"", b"<html>oops</html>", b'{"message": "x"', b'["Server Error"]'])
def test_envelope_error_statuses_without_a_readable_reason_are_raised_as_classified(body: bytes) -> None:
    with pytest.raises(ProviderTransient) as caught:
        ENVELOPE.records(response(502, body))
    assert str(caught.value) == "prov answered 502"
