"""Provider answers: status codes to typed errors, bodies to JSON, and `Retry-After`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import pytest

from contracts.answers import json_body, raise_for_status
from contracts.errors import (
    ProviderAuthFailed,
    ProviderError,
    ProviderNotFound,
    ProviderPermanent,
    ProviderRejected,
    ProviderTransient,
)
from contracts.retry_after import parse_retry_after
from contracts.wire import HttpResponse

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
