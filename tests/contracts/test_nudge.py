"""Nudges from the operator's own systems (SMSOnline, ISP CRM): a bearer token or `?token=`."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from contracts.accounts import Account, Secret
from contracts.errors import CallbackMalformed, CallbackUnauthorized
from contracts.nudge import verify_account_nudge, verify_nudge
from contracts.wire import CallbackHint, CallbackRequest

TOKEN = Secret("nudge-token-0123456789")


def request(headers: dict[str, str] | None = None, query: dict[str, str] | None = None) -> CallbackRequest:
    return CallbackRequest(headers=headers or {}, query=query or {}, body=b"")


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({"authorization": "Bearer nudge-token-0123456789"}, {}, id="bearer"),
        pytest.param({"authorization": "bearer nudge-token-0123456789"}, {}, id="bearer-lower-case"),
        pytest.param({"authorization": "BEARER nudge-token-0123456789"}, {}, id="bearer-upper-case"),
        pytest.param({"authorization": "Bearer  nudge-token-0123456789 "}, {}, id="bearer-extra-spaces"),
        pytest.param({}, {"token": "nudge-token-0123456789"}, id="query"),
        pytest.param(
            {"authorization": "Basic dXNlcjpwYXNz"}, {"token": "nudge-token-0123456789"}, id="query-beside-basic"
        ),
        pytest.param({}, {"token": "nudge-token-0123456789", "other": "x"}, id="query-with-others"),
    ],
)
def test_accepted(headers: dict[str, str], query: dict[str, str]) -> None:
    assert verify_nudge(request(headers, query), TOKEN) == CallbackHint()


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({}, {}, id="nothing"),
        pytest.param({"authorization": "Bearer wrong-token"}, {}, id="wrong-bearer"),
        pytest.param({"authorization": "Bearer "}, {}, id="empty-bearer"),
        pytest.param({"authorization": "Bearer"}, {}, id="bearer-no-credential"),
        pytest.param({"authorization": "nudge-token-0123456789"}, {}, id="no-scheme"),
        pytest.param({"authorization": "Token nudge-token-0123456789"}, {}, id="other-scheme"),
        pytest.param({"authorization": "Bearer nudge-token-012345678"}, {}, id="prefix"),
        pytest.param({"authorization": "Bearer nudge-token-01234567890"}, {}, id="longer"),
        pytest.param({"authorization": "Bearer NUDGE-TOKEN-0123456789"}, {}, id="token-case"),
        pytest.param({}, {"token": ""}, id="empty-query"),
        pytest.param({}, {"token": "wrong"}, id="wrong-query"),
        pytest.param({}, {"Token": "nudge-token-0123456789"}, id="query-name-case"),
        pytest.param({}, {"callback_token": "nudge-token-0123456789"}, id="query-other-name"),
        pytest.param({"Authorization": "Bearer nudge-token-0123456789"}, {}, id="header-not-lower-cased"),
        pytest.param({"x-token": "nudge-token-0123456789"}, {}, id="other-header"),
        pytest.param(
            {"authorization": "Bearer wrong"}, {"token": "nudge-token-0123456789"}, id="a-wrong-bearer-is-not-rescued"
        ),
        pytest.param({"authorization": "Bearer nudge-token-0123456789\u00e9"}, {}, id="non-ascii"),
    ],
)
def test_refused(headers: dict[str, str], query: dict[str, str]) -> None:
    with pytest.raises(CallbackUnauthorized) as caught:
        verify_nudge(request(headers, query), TOKEN)
    assert caught.value.http_status == 401
    assert TOKEN.value not in str(caught.value)


def test_an_account_without_callback_token_accepts_no_nudges() -> None:
    for headers, query in [({"authorization": "Bearer "}, {}), ({}, {"token": ""}), ({}, {})]:
        with pytest.raises(CallbackUnauthorized, match="nudges are disabled") as caught:
            verify_nudge(request(headers, query), None)
        assert caught.value.http_status == 401


def test_an_account_is_nudged_with_its_callback_token() -> None:
    account = Account(name="sms", provider="smsonline", base_url="https://x", callback_token=TOKEN)
    now = datetime(2026, 11, 22, tzinfo=UTC)
    assert verify_account_nudge(account, request(query={"token": TOKEN.value}), now) == CallbackHint()
    with pytest.raises(CallbackUnauthorized, match="bad or missing callback token"):
        verify_account_nudge(account, request(query={"token": "wrong"}), now)
    with pytest.raises(CallbackUnauthorized, match="nudges are disabled"):
        verify_account_nudge(Account(name="sms", provider="smsonline", base_url="https://x"), request(), now)


def nudge(body: bytes) -> CallbackHint:
    return verify_nudge(CallbackRequest(headers={"authorization": f"Bearer {TOKEN.value}"}, query={}, body=body), TOKEN)


@pytest.mark.parametrize("body", [b"", b"  \n", b"\r\n"])
def test_a_nudge_without_a_body_names_no_invoice(body: bytes) -> None:
    assert nudge(body) == CallbackHint()


def test_a_nudge_names_its_invoices_each_once_in_order() -> None:
    body = json.dumps({"invoice_ids": ["372", "sess-9", "372", "Ä-1"]}).encode()
    assert nudge(body) == CallbackHint(invoice_ids=("372", "sess-9", "Ä-1"))


def test_a_nudge_may_name_up_to_100_invoices_of_up_to_128_characters() -> None:
    ids = [f"{n:0128d}" for n in range(100)]
    assert nudge(json.dumps({"invoice_ids": ids}).encode()).invoice_ids == tuple(ids)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "must be JSON"),
        (b"[]", "nothing else"),
        (b'{"invoice_ids": ["1"], "more": 1}', "nothing else"),
        (b'{"ids": ["1"]}', "nothing else"),
        (b'{"invoice_ids": "1"}', "a list of 1 to 100"),
        (b'{"invoice_ids": []}', "a list of 1 to 100"),
        (json.dumps({"invoice_ids": [str(n) for n in range(101)]}).encode(), "a list of 1 to 100"),
        (b'{"invoice_ids": [1]}', "printable text"),
        (b'{"invoice_ids": [""]}', "printable text"),
        (b'{"invoice_ids": [" 1"]}', "printable text"),
        (b'{"invoice_ids": ["a\\nb"]}', "printable text"),
        (json.dumps({"invoice_ids": ["x" * 129]}).encode(), "printable text"),
        (b'{"invoice_ids": [null]}', "printable text"),
    ],
)
def test_a_malformed_nudge_body_is_refused_400(body: bytes, reason: str) -> None:
    with pytest.raises(CallbackMalformed, match=reason) as refused:
        nudge(body)
    assert refused.value.http_status == 400


def test_the_token_is_checked_before_the_body() -> None:
    request = CallbackRequest(headers={"authorization": "Bearer wrong"}, query={}, body=b"{")
    with pytest.raises(CallbackUnauthorized):
        verify_nudge(request, TOKEN)
