"""`Provider.record_id` reads, without translating, the id that `translate` gives a record: the sync looks
up stored snapshots by it before deciding whether to translate at all."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contracts.account_file import parse_accounts
from contracts.errors import RecordError
from contracts.registry import provider_for
from tests.contracts.support import fixture_json, mutations

ACCOUNTS = parse_accounts(
    {
        "accounts": {
            "cc": {"provider": "cryptocloud", "api_key": "k"},
            "sp": {"provider": "simplepay", "api_key": "k"},
            "sms": {"provider": "smsonline", "user_id": "u", "api_key": "k"},
            "isp": {"provider": "ispcrm", "base_url": "https://crm.example", "currency": "EUR", "token": "t"},
        }
    },
    {},
)
RECORDS: dict[str, list[dict[str, Any]]] = {
    "cc": fixture_json("cryptocloud/invoice-list.json")["result"],
    "sp": fixture_json("simplepay/invoices-realistic.json"),
    "sms": fixture_json("smsonline-payments.json")["body"],
    "isp": fixture_json("ispcrm-invoices.json")["data"],
}


def check(name: str, record: object) -> None:
    account = ACCOUNTS[name]
    provider = provider_for(account.provider)
    try:
        invoice = provider.translate(account, record)
    except RecordError:
        return
    assert provider.record_id(record) == invoice.invoice_id


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_record_id_matches_translation_for_the_documented_records(name: str) -> None:
    for record in RECORDS[name]:
        check(name, record)
        assert provider_for(ACCOUNTS[name].provider).record_id(record) is not None


@pytest.mark.parametrize("name", sorted(RECORDS))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_record_id_matches_translation_for_altered_records(name: str, data: st.DataObject) -> None:
    record = data.draw(mutations(RECORDS[name][0]))
    check(name, record)


def test_cryptocloud_ids_are_normalized_like_the_translation() -> None:
    provider = provider_for("cryptocloud")
    assert provider.record_id({"uuid": "inv-ABC12345"}) == "INV-ABC12345"
    assert provider.record_id({"uuid": ""}) is None
    assert provider.record_id({}) is None
    assert provider.record_id("not a record") is None
