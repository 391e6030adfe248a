"""The relay's narrow reads (contracts) against the sandbox's narrow endpoints: two independent readings of
the same documents. What a narrow read finds must translate to the invoice the list gives, and exactly the
ids the sandbox does not know must be left to a full read."""

from __future__ import annotations

import httpx
import pytest

from contracts.account_file import parse_account
from contracts.accounts import Account
from contracts.registry import provider_for
from contracts.wire import HttpRequest, HttpResponse
from tests.sandbox.conftest import NOW, make_account

BASE_URL = "http://sandbox"
ACCOUNTS: dict[str, Account] = {
    "cryptocloud": parse_account("cryptocloud", {"provider": "cryptocloud", "base_url": BASE_URL, "api_key": "cc-key"}),
    "simplepay": parse_account("simplepay", {"provider": "simplepay", "base_url": BASE_URL, "api_key": "sp-key"}),
    "ispcrm": parse_account(
        "ispcrm", {"provider": "ispcrm", "base_url": BASE_URL, "currency": "USD", "token": "fixed-token"}
    ),
}
FIXED_TOKEN_KEYS = {"ispcrm": {"username": None, "password": None, "token": "fixed-token"}}
UNKNOWN = {
    "cryptocloud": "INV-NOSUCH00",
    "simplepay": "00000000-0000-4000-8000-000000000000",
    "ispcrm": "999999",
}


async def send(client: httpx.AsyncClient, request: HttpRequest) -> HttpResponse:
    response = await client.request(request.method, request.url, headers=dict(request.headers), content=request.body)
    return HttpResponse(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


async def list_read(client: httpx.AsyncClient, account: Account) -> list[object]:
    pager = provider_for(account.provider).make_pager(account, NOW.date(), None)
    records: list[object] = []
    while (request := pager.next_request()) is not None:
        records.extend(pager.feed(await send(client, request)))
    return records


@pytest.mark.parametrize("provider", list(ACCOUNTS))
async def test_narrow_reads_of_the_sandbox_agree_with_its_list(client: httpx.AsyncClient, provider: str) -> None:
    await make_account(client, provider, count=130, **FIXED_TOKEN_KEYS.get(provider, {}))
    account, relay = ACCOUNTS[provider], provider_for(provider)
    assert relay.narrow_reader is not None
    listed = {relay.record_id(record): record for record in await list_read(client, account)}
    assert len(listed) == 130
    # More than one CryptoCloud batch, and an id the sandbox does not know.
    wanted = [*sorted(key for key in listed if key is not None)[:120], UNKNOWN[provider]]
    narrow = relay.narrow_reader(account, wanted, None)
    found: list[object] = []
    for index, request in enumerate(narrow.requests):
        found.extend(narrow.feed(index, await send(client, request)))
    assert narrow.not_found == [UNKNOWN[provider]]
    assert len(found) == 120
    for record in found:
        from_list = relay.translate(account, listed[relay.record_id(record)])
        from_narrow = relay.translate(account, record)
        assert (from_narrow.canonical(), from_narrow.raw) == (from_list.canonical(), from_list.raw)
    stats = (await client.get(f"/_sandbox/accounts/{provider}/stats")).json()
    assert stats["narrow_requests"] == len(narrow.requests) == (2 if provider == "cryptocloud" else 121)
