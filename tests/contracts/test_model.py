"""The canonical invoice and the event envelope: shapes as the event contract shows them, JSON as delivered."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from contracts.jsonio import loads_exact
from contracts.model import (
    EVENT_TYPES,
    INVOICE_CREATED,
    INVOICE_UPDATED,
    Event,
    Invoice,
    Status,
    map_status,
    status_event_type,
)

#: The event contract's example event, field for field.
CONTRACT_EXAMPLE: dict[str, Any] = {
    "id": "evt_example",
    "type": "invoice.paid",
    "timestamp": "2026-11-22T10:00:00.123456Z",
    "data": {
        "sequence": 2,
        "previous_status": "pending",
        "invoice": {
            "key": "shop:INV-8F3K2L1Q",
            "account": "shop",
            "provider": "cryptocloud",
            "invoice_id": "INV-8F3K2L1Q",
            "status": "paid",
            "provider_status": "paid",
            "amount": "100.00",
            "amount_paid": "100.00",
            "currency": "USD",
            "order_id": "1111",
            "customer_id": None,
            "description": None,
            "created_at": "2026-11-22T09:58:00Z",
            "due_at": "2026-11-23T09:58:00Z",
            "test_mode": False,
            "raw": {},
        },
    },
}

INVOICE = Invoice(
    account="shop",
    provider="cryptocloud",
    invoice_id="INV-8F3K2L1Q",
    status=Status.PAID,
    provider_status="paid",
    amount=Decimal("100"),
    amount_paid=Decimal("100.0"),
    currency="USD",
    order_id="1111",
    created_at=datetime(2026, 11, 22, 12, 58, tzinfo=timezone(timedelta(hours=3))),
    due_at=datetime(2026, 11, 23, 9, 58, tzinfo=UTC),
    test_mode=False,
)
EVENT = Event(
    id="evt_example",
    type="invoice.paid",
    timestamp=datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=UTC),
    sequence=2,
    previous_status=Status.PENDING,
    invoice=INVOICE,
)


def test_event_to_dict_is_spec_example() -> None:
    assert EVENT.to_dict() == CONTRACT_EXAMPLE


def test_field_order_follows_spec() -> None:
    """Not required by JSON, but subscribers reading logs see fields in the contract's order."""
    document = EVENT.to_dict()
    assert list(document) == list(CONTRACT_EXAMPLE)
    assert list(document["data"]) == list(CONTRACT_EXAMPLE["data"])
    assert list(document["data"]["invoice"]) == list(CONTRACT_EXAMPLE["data"]["invoice"])


def test_canonical_is_to_dict_without_raw() -> None:
    invoice = dataclasses.replace(INVOICE, raw={"uuid": "INV-8F3K2L1Q"})
    assert invoice.canonical() == {k: v for k, v in invoice.to_dict().items() if k != "raw"}
    assert "raw" not in invoice.canonical()
    assert invoice.to_dict()["raw"] == {"uuid": "INV-8F3K2L1Q"}


def test_canonical_nulls_and_rendering() -> None:
    invoice = Invoice(
        account="acc-1",
        provider="smsonline",
        invoice_id="sess_1",
        status=Status.UNKNOWN,
        provider_status="Weird",
        amount=Decimal("0.00012"),
        amount_paid=None,
        currency="EUR",
    )
    assert invoice.canonical() == {
        "key": "acc-1:sess_1",
        "account": "acc-1",
        "provider": "smsonline",
        "invoice_id": "sess_1",
        "status": "unknown",
        "provider_status": "Weird",
        "amount": "0.00012",
        "amount_paid": None,
        "currency": "EUR",
        "order_id": None,
        "customer_id": None,
        "description": None,
        "created_at": None,
        "due_at": None,
        "test_mode": None,
    }


def test_key_is_account_and_invoice_id() -> None:
    assert INVOICE.key == "shop:INV-8F3K2L1Q"
    assert dataclasses.replace(INVOICE, account="b", invoice_id="x:y").key == "b:x:y"


def test_raw_does_not_take_part_in_equality() -> None:
    other = dataclasses.replace(INVOICE, raw={"different": True})
    assert other == INVOICE
    assert hash(other) == hash(INVOICE)
    assert dataclasses.replace(INVOICE, amount=Decimal("100.01")) != INVOICE


#: A provider record as received, compactly written: numbers with trailing zeros, tiny and huge numbers,
#: nesting, non-ASCII text.
RAW_TEXT = (
    '{"uuid":"INV-1","amount":100.10,"fee":0.00000001,"crypto":0.000000000000000001,"int":42,'
    '"big":123456789012345678901234567890,"zero":0.0,"neg":-5.50,"exp":1E+5,'
    '"nested":{"list":[1,2.50,null,true,false,"x"],"empty":{}},"text":"caf\u00e9 \u2713"}'
).encode()


def test_to_json_is_json_with_string_amounts_and_exact_raw() -> None:
    raw = loads_exact(RAW_TEXT)
    invoice = dataclasses.replace(
        INVOICE, amount=Decimal("100.10"), amount_paid=Decimal("0.000000000000000001"), raw=raw
    )
    event = dataclasses.replace(EVENT, invoice=invoice)
    body = event.to_json()
    assert isinstance(body, bytes)
    parsed = json.loads(body)
    assert parsed["data"]["invoice"]["amount"] == "100.10"
    assert parsed["data"]["invoice"]["amount_paid"] == "0.000000000000000001"
    # Every number of the provider's record comes out as the very text it came in as.
    assert body[body.index(b'"raw":') :] == b'"raw":' + RAW_TEXT + b"}}}"
    assert parsed["data"]["invoice"]["raw"]["text"] == "caf\u00e9 \u2713"
    reparsed = loads_exact(body)["data"]["invoice"]["raw"]
    assert reparsed == raw
    assert str(reparsed["amount"]) == "100.10"


def test_to_json_matches_to_dict() -> None:
    assert json.loads(EVENT.to_json()) == EVENT.to_dict()
    assert b" " not in EVENT.to_json().replace(b"INV-8F3K2L1Q", b"")  # compact


def test_event_timestamp_is_utc_z() -> None:
    event = dataclasses.replace(EVENT, timestamp=datetime(2026, 11, 22, 13, 0, tzinfo=timezone(timedelta(hours=3))))
    assert event.to_dict()["timestamp"] == "2026-11-22T10:00:00Z"


def test_first_sight_previous_status_is_null() -> None:
    event = dataclasses.replace(EVENT, type=INVOICE_CREATED, sequence=1, previous_status=None)
    assert event.to_dict()["data"]["previous_status"] is None
    assert b'"previous_status":null' in event.to_json()


def test_event_types() -> None:
    assert EVENT_TYPES == (
        "invoice.created",
        "invoice.updated",
        "invoice.pending",
        "invoice.partially_paid",
        "invoice.paid",
        "invoice.overpaid",
        "invoice.canceled",
        "invoice.expired",
        "invoice.failed",
        "invoice.refunded",
        "invoice.unknown",
    )
    assert INVOICE_UPDATED == "invoice.updated"
    assert {status_event_type(status) for status in Status} == set(EVENT_TYPES) - {INVOICE_CREATED, INVOICE_UPDATED}


TABLE = {"paid": Status.PAID, "partial": Status.PARTIALLY_PAID, "partially paid": Status.PARTIALLY_PAID}


@pytest.mark.parametrize(
    ("provider_status", "status"),
    [
        ("paid", Status.PAID),
        ("PAID", Status.PAID),
        ("Paid", Status.PAID),
        (" paid\n", Status.PAID),
        ("Partially Paid", Status.PARTIALLY_PAID),
        ("partial", Status.PARTIALLY_PAID),
        ("unpaid", Status.UNKNOWN),
        ("", Status.UNKNOWN),
        ("paid!", Status.UNKNOWN),
    ],
)
def test_map_status(provider_status: str, status: Status) -> None:
    assert map_status(provider_status, TABLE) is status
